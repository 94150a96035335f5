"""Minibatches: a seeded shuffle per epoch, drawn on the host, gathered on the device."""

from ..backend import backend_of, get_backend
from ..errors import InputError
from ..init import as_rng


def check_data(x, y, n_features=None, n_classes=None, what="data"):
    """Validate a dataset where it enters: shapes, dtypes, finite values, label range.

    Reads the arrays once (a sync on a GPU), so it runs outside any batch loop.
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
    if x.dtype.kind != "f":
        raise InputError(
            f"{what}: x is {x.dtype.name}; convert it to float32 (e.g. pixels / 255)"
        )
    if y.dtype.kind not in "iu":
        raise InputError(f"{what}: labels are {y.dtype.name}; they must be integers")
    xp = backend_of(x).xp
    n_bad = int(x.size - xp.isfinite(x).sum())
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
    """

    def __init__(self, x, y, batch_size=64, shuffle=True, drop_last=True, seed=0, backend=None):
        if backend is not None:
            backend = get_backend(backend)
            x = x if backend.owns(x) else backend.asarray(x)
            y = y if backend.owns(y) else backend.asarray(y)
        self.backend = backend_of(x)
        self.backend.check(y, "labels y")
        batch_size = int(batch_size)
        if batch_size < 1:
            raise InputError(f"batch size must be at least 1, got {batch_size}")
        check_data(x, y, what="DataLoader")
        if drop_last and batch_size > x.shape[0]:
            raise InputError(
                f"batch size {batch_size} is larger than the {x.shape[0]} samples and the last "
                "partial batch is dropped, so there would be no batch: lower --batch-size"
            )
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.rng = as_rng(seed, 0)

    def __len__(self):
        n, bs = self.x.shape[0], self.batch_size
        return n // bs if self.drop_last else -(-n // bs)

    def __iter__(self):
        n, bs = self.x.shape[0], self.batch_size
        if self.shuffle:
            order = self.backend.asarray(self.rng.permutation(n))  # one copy per epoch
        for i in range(len(self)):
            if self.shuffle:
                idx = order[i * bs:(i + 1) * bs]
                yield self.x[idx], self.y[idx]
            else:
                yield self.x[i * bs:(i + 1) * bs], self.y[i * bs:(i + 1) * bs]


__all__ = ["DataLoader", "check_data"]
