"""Minibatches: a seeded shuffle per epoch, drawn on the host, gathered on the device."""

import math

from .. import fast
from ..backend import backend_of, get_backend
from ..errors import InputError
from ..init import check_dtype
from ..seeding import as_rng


def check_data(x, y, n_features=None, n_classes=None, what="data", integer_x=False,
               dtype=None):
    """Validate a dataset where it enters: shapes, dtypes, finite values, label range.

    ``integer_x`` accepts unsigned-integer x (pixels a DataLoader scales per
    batch); ``dtype``, a model's, is the one float x must already have (data that
    no DataLoader casts). Reads the arrays once (a sync on a GPU), so it runs outside any
    batch loop.
    """
    if x.ndim != 2:
        raise InputError(f"{what}: x must be 2-D (samples, features), got shape {tuple(x.shape)}")
    if y.ndim != 1:
        raise InputError(f"{what}: y must be 1-D integer labels, got shape {tuple(y.shape)}")
    if x.shape[0] != y.shape[0]:
        raise InputError(
            f"{what}: x has {x.shape[0]} samples but y has {y.shape[0]} labels; they must match"
        )
    if x.shape[0] == 0:
        raise InputError(f"{what}: no samples")
    if n_features is not None and x.shape[1] != n_features:
        raise InputError(
            f"{what}: samples have {x.shape[1]} features but the model expects {n_features}"
        )
    if x.dtype.kind != "f" and not (integer_x and x.dtype.kind == "u"):
        loader = what in ("data", "training data")  # scale= is a DataLoader's, not a test pair's
        raise InputError(
            f"{what}: x is {x.dtype.name}; convert it to float32 (e.g. pixels / 255)"
            + (", or give the DataLoader scale=255 for unsigned-integer pixels" if loader else "")
        )
    if dtype is not None and x.dtype.kind == "f" and x.dtype != dtype:
        raise InputError(f"{what}: x is {x.dtype.name} but the model holds {dtype.name} "
                         f"weights: convert it once with .astype('{dtype.name}')")
    if y.dtype.kind not in "iu":
        raise InputError(f"{what}: labels are {y.dtype.name}; they must be integers")
    xp = backend_of(x).xp
    n_bad = int(x.size - xp.isfinite(x).sum()) if x.dtype.kind == "f" else 0
    if n_bad:
        raise InputError(f"{what}: x holds {n_bad} NaN or infinite values; clean or drop them")
    if n_classes is not None:
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= n_classes:
            raise InputError(
                f"{what}: labels span {lo}..{hi} but the model has {n_classes} outputs "
                f"(labels must be 0..{n_classes - 1})"
            )


class DataLoader:
    """Minibatches of ``(x, y)`` for one pass over the data per iteration.

    Each epoch draws a fresh permutation from its own generator (``seed``: an
    int or a ``numpy.random.Generator``) on the host and copies it to the
    device once; the batches are gathered there. ``drop_last`` drops the final
    partial batch. ``backend`` copies host data onto that backend once, here.

    ``scale`` serves unsigned-integer x (uint8 pixels, a quarter of float32's
    memory): each batch is ``x[idx] / scale`` in ``dtype``, the same numbers
    as dividing the whole set up front. ``check=False`` skips the entry checks
    of data a caller has checked already (they read every value once).
    """

    def __init__(self, x, y, batch_size=64, shuffle=True, drop_last=True, seed=0, backend=None,
                 scale=None, dtype="float32", check=True):
        if backend is not None:
            backend = get_backend(backend)
            x = x if backend.owns(x) else backend.asarray(x)
            y = y if backend.owns(y) else backend.asarray(y)
        self.backend = backend_of(x)
        self.backend.check(y, "labels y")
        batch_size = int(batch_size)
        if batch_size < 1:
            raise InputError(f"batch size must be at least 1, got {batch_size}")
        if (scale is not None) != (x.dtype.kind != "f"):
            raise InputError(
                f"DataLoader: x is {x.dtype.name}; give scale= (e.g. 255 for pixels) exactly "
                "when x holds unsigned integers, and float x without it"
            )
        if check:
            check_data(x, y, what="DataLoader", integer_x=scale is not None)
        if drop_last and batch_size > x.shape[0]:
            raise InputError(
                f"batch size {batch_size} is larger than the {x.shape[0]} samples and the last "
                "partial batch is dropped, so there would be no batch: lower batch_size "
                "(--batch-size) or keep the partial batch (drop_last=False, --keep-last)"
            )
        self.x, self.y = x, y
        self.scale = None if scale is None else float(scale)
        if self.scale is not None and not (math.isfinite(self.scale) and self.scale > 0):
            raise InputError(f"DataLoader: scale must be a positive finite number (e.g. 255), "
                             f"got {scale}")
        self.dtype = check_dtype(dtype)
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.rng = as_rng(seed)

    def __len__(self):
        n, bs = self.x.shape[0], self.batch_size
        return n // bs if self.drop_last else -(-n // bs)

    def __iter__(self):
        return self.batches()

    def batches(self, start=0):
        """One epoch's batches from batch ``start`` on (a resumed epoch skips the
        first ``start``; its permutation is drawn exactly as before).

        ``epoch_rng_state`` keeps the generator's state from before this epoch's
        draw, so a checkpoint taken mid-epoch can replay it.
        """
        n, bs = self.x.shape[0], self.batch_size
        self.epoch_rng_state = self.rng.bit_generator.state
        if self.shuffle:
            order = self.backend.asarray(self.rng.permutation(n))  # one copy per epoch
        for i in range(start, len(self)):
            idx = order[i * bs:(i + 1) * bs] if self.shuffle else slice(i * bs, (i + 1) * bs)
            yield self.rows(idx), self.y[idx]

    def rows(self, idx):
        """Rows ``idx`` of x as the model takes them, ``features(x[idx])``."""
        fused = None if self.scale is None or not self.shuffle else \
            fast.scaled_rows(self.x, idx, self.scale, self.dtype)  # the line below, one loop
        return self.features(self.x[idx]) if fused is None else fused

    def features(self, x):
        """A batch as the model takes it: integer pixels divided by ``scale``."""
        if self.scale is None:
            return x
        return self.backend.xp.divide(x, self.scale, dtype=self.dtype)


__all__ = ["DataLoader", "check_data"]
