"""Layers: each has ``forward(x)`` and ``backward(delta)``; a learning rule is
the ``feedback`` a layer sends down."""

from .activations import ReLU, Sigmoid, Tanh
from .base import Layer, Parameter
from .binary import (
    BinaryLinear,
    HardSigmoid,
    HardTanh,
    SignSTE,
    StochasticSignSTE,
    clamp_weights,
)
from .conv import Conv2d, FAConv2d, Flatten, MaxPool2d, Reshape
from .direct import DFALinear, DRTPLinear
from .learned_feedback import KPLinear, WMLinear
from .linear import FALinear, Linear
from .radial import FARadial, Radial
from .sign_symmetry import BRSFLinear, FRSFLinear, USFLinear

__all__ = [
    "BRSFLinear",
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
    "DFALinear",
    "DRTPLinear",
    "FALinear",
    "FARadial",
    "FRSFLinear",
    "KPLinear",
    "Layer",
    "Linear",
    "Parameter",
    "Radial",
    "ReLU",
    "Sigmoid",
    "Tanh",
    "USFLinear",
    "WMLinear",
]
