"""Layers: each has ``forward(x)`` and ``backward(delta)``."""

from .activations import ReLU
from .base import Layer, Parameter
from .linear import FALinear, Linear

__all__ = ["FALinear", "Layer", "Linear", "Parameter", "ReLU"]
