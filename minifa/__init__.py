"""minifa: feedback alignment and its relatives in plain array code.

Every forward and backward equation is a visible line of NumPy (or CuPy)
code; see docs/feedback-alignment.md for the map from equation to function.
"""

from . import backend, checkpoint, model
from .backend import get_backend
from .data import DataLoader, load_mnist
from .diagnostics import Diagnostics, diagnose
from .errors import BackendError, DataError, InputError, MinifaError, TrainingStopped
from .init import streams
from .layers import (
    BinaryLinear,
    BRSFLinear,
    Conv2d,
    DFALinear,
    DRTPLinear,
    FAConv2d,
    FALinear,
    FARadial,
    Flatten,
    FRSFLinear,
    HardSigmoid,
    HardTanh,
    KPLinear,
    Layer,
    Linear,
    MaxPool2d,
    OutputSignal,
    Parameter,
    Radial,
    ReLU,
    Reshape,
    SignSTE,
    StochasticSignSTE,
    Tanh,
    USFLinear,
    WMLinear,
    clamp_weights,
)
from .losses import SoftmaxCrossEntropy
from .model import RULES, Sequential, mlp
from .optim import SGD, Adam, WarmupDecay
from .training import evaluate, train, train_step

__version__ = "0.1.0"

__all__ = [
    "Adam",
    "BinaryLinear",
    "Conv2d",
    "FAConv2d",
    "Flatten",
    "HardSigmoid",
    "HardTanh",
    "MaxPool2d",
    "Reshape",
    "SignSTE",
    "StochasticSignSTE",
    "clamp_weights",
    "BRSFLinear",
    "DFALinear",
    "DRTPLinear",
    "FARadial",
    "FRSFLinear",
    "KPLinear",
    "OutputSignal",
    "Radial",
    "USFLinear",
    "WMLinear",
    "WarmupDecay",
    "BackendError",
    "DataError",
    "DataLoader",
    "Diagnostics",
    "FALinear",
    "InputError",
    "Layer",
    "Linear",
    "MinifaError",
    "Parameter",
    "RULES",
    "ReLU",
    "Tanh",
    "SGD",
    "Sequential",
    "SoftmaxCrossEntropy",
    "TrainingStopped",
    "checkpoint",
    "backend",
    "diagnose",
    "evaluate",
    "get_backend",
    "load_mnist",
    "mlp",
    "model",
    "streams",
    "train",
    "train_step",
]
