"""minifa: feedback alignment and its relatives in plain array code.

Every forward and backward equation is written as the NumPy (or CuPy) code
that computes it; minifa/fast.py holds the fast paths, tested equal to them.
docs/feedback-alignment.md maps each equation to its function.
"""

from . import backend, checkpoint, gradcheck, layers, losses, model, seeding
from .backend import get_backend
from .data import DataLoader, Dataset, load_dataset, load_mnist
from .diagnostics import Diagnostics, diagnose
from .errors import (
    BackendError,
    DataError,
    GradientCheckError,
    InputError,
    MinifaError,
    TrainingStopped,
)
from .evaluation import evaluate
from .layers import *  # noqa: F403  (the names in layers.__all__)
from .losses import MeanSquaredError, SigmoidCrossEntropy, SoftmaxCrossEntropy
from .model import RULES, Sequential, mlp
from .optim import SGD, Adam, WarmupDecay
from .seeding import seed, streams
from .training import train, train_step
from .weights import load_weights, save_weights

__version__ = "0.1.0"

__all__ = [
    "Adam",
    "BackendError",
    "DataError",
    "DataLoader",
    "Dataset",
    "Diagnostics",
    "GradientCheckError",
    "InputError",
    "MeanSquaredError",
    "MinifaError",
    "RULES",
    "SGD",
    "Sequential",
    "SigmoidCrossEntropy",
    "SoftmaxCrossEntropy",
    "TrainingStopped",
    "WarmupDecay",
    "backend",
    "checkpoint",
    "diagnose",
    "evaluate",
    "get_backend",
    "gradcheck",
    "load_mnist",
    "losses",
    "mlp",
    "model",
    "seed",
    "seeding",
    "load_dataset",
    "load_weights",
    "save_weights",
    "streams",
    "train",
    "train_step",
]
__all__ += layers.__all__  # every layer, activation and Parameter
