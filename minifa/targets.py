"""Targets as arrays: integer labels to one-hot rows."""

from .backend import get_array_module


def one_hot(y, k, dtype):
    """onehot(y)   (n,) integer labels -> (n, k), on y's device, in ``dtype``."""
    return get_array_module(y).eye(k, dtype=dtype)[y]
