"""Initial values: the model's dtype, checked once, and Glorot-uniform draws made
on the host from a given ``numpy.random.Generator``, cast once to that dtype
and copied to the device once.
"""

import math

import numpy

from .backend import get_backend
from .errors import InputError

DTYPES = ("float32", "float64")


def check_dtype(dtype):
    """The numpy dtype for ``"float32"`` or ``"float64"``; anything else is an error."""
    try:
        name = numpy.dtype(dtype).name if dtype is not None else "float32"
    except TypeError:
        name = str(dtype)
    if name not in DTYPES:
        raise InputError(f"dtype {name!r} is not supported: use one of {', '.join(DTYPES)}")
    return numpy.dtype(name)


def glorot_uniform(rng, shape, dtype="float32", backend=None):
    """U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010).

    A matrix's fans are its two sizes, whichever way round it is stored, so
    ``W`` (in, out) and ``B`` (out, in) share one scale; a filter bank
    (c_out, c_in, kh, kw) has fan_in = c_in*kh*kw and fan_out = c_out*kh*kw.
    """
    field = math.prod(shape[2:])  # 1 for a matrix, kh*kw for filters
    fan_in, fan_out = shape[1] * field, shape[0] * field
    a = (6.0 / (fan_in + fan_out)) ** 0.5
    host = rng.uniform(-a, a, size=shape).astype(check_dtype(dtype))
    return get_backend(backend).asarray(host)


def zeros(shape, dtype="float32", backend=None):
    """Zeros on the backend's device."""
    return get_backend(backend).xp.zeros(shape, dtype=check_dtype(dtype))
