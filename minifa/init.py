"""Seeded initialisation: every draw happens on the host from a named
``numpy.random.Generator``, is cast once to the model's dtype, and is copied to
the device once.
"""

from collections import namedtuple

import numpy

from .backend import get_backend
from .errors import InputError

DTYPES = ("float32", "float64")

Streams = namedtuple("Streams", "weights feedback shuffle noise")
Streams.__doc__ = """Independent generators for one run, spawned from a single seed.

Separate streams mean that, say, adding a feedback matrix does not shift the
forward weights a seed produces.
"""


def check_seed(seed):
    """A seed must be a non-negative integer (what numpy.random.SeedSequence takes)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, numpy.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def streams(seed=0):
    """``Streams(weights, feedback, shuffle, noise)`` spawned from ``seed``."""
    children = numpy.random.SeedSequence(check_seed(seed)).spawn(len(Streams._fields))
    return Streams(*(numpy.random.default_rng(s) for s in children))


_default = {"seed": numpy.random.SeedSequence(0)}


def seed(n=0):
    """Restart the package's default stream: the generators handed to layers built
    without ``rng`` (and other seeds left at None) are drawn from it in turn, so
    two such layers differ, and the same script gives the same numbers in every
    fresh process. ``minifa.seed(n)`` makes the draws that follow those of seed n."""
    _default["seed"] = numpy.random.SeedSequence(check_seed(n))


def as_rng(rng):
    """A Generator from a Generator, an int seed, or None: the next independent
    child of the package's default stream (see ``seed``)."""
    if isinstance(rng, numpy.random.Generator):
        return rng
    if rng is None:
        return numpy.random.default_rng(_default["seed"].spawn(1)[0])
    return numpy.random.default_rng(check_seed(rng))


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

    For a 2-D ``shape`` the fans are its two sizes, whichever way round it is
    stored, so ``W`` (in, out) and ``B`` (out, in) share one scale.
    """
    fan_in, fan_out = shape[0], shape[-1]
    a = (6.0 / (fan_in + fan_out)) ** 0.5
    host = rng.uniform(-a, a, size=shape).astype(check_dtype(dtype))
    return get_backend(backend).asarray(host)


def zeros(shape, dtype="float32", backend=None):
    """Zeros on the backend's device."""
    return get_backend(backend).xp.zeros(shape, dtype=check_dtype(dtype))
