"""Explicit randomness: every draw comes from a seeded ``numpy.random.Generator``.

A run's seed spawns independent streams (``streams``); a layer built without a
Generator draws from the package's default stream, which ``seed(n)`` restarts.
"""

from collections import namedtuple

import numpy

from .errors import InputError

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


def generators(layer):
    """``{name: Generator}``: every random generator ``layer`` holds as an attribute
    (what checkpoints save, and what diagnostics and checks rewind)."""
    return {name: g for name, g in vars(layer).items() if isinstance(g, numpy.random.Generator)}
