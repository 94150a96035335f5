"""CIFAR-10 (Krizhevsky 2009), "CIFAR-10 python version": 60,000 32x32 colour
images in ten classes, as the tarball ``cifar-10-python.tar.gz`` or its
extracted folder ``cifar-10-batches-py/``.

Each of ``data_batch_1`` .. ``data_batch_5`` (train) and ``test_batch`` is a
pickled dict: ``data`` (n, 3072) uint8 rows, channel-major (1024 red, then
green, then blue values, each row by row), and ``labels``, n ints in 0..9.
Pickles can run code, so they are read by an unpickler that builds plain
containers and NumPy arrays only and refuses everything else.
"""

import io
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy

from ..errors import DataError
from .dataset import Dataset, pixels
from .download import cache_folder, download_files, not_a_folder

ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST = "test_batch"
BATCHES = (*TRAIN, TEST)
# Tried in order; tests point this at file:// folders so they never touch the network.
MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)
MD5 = {ARCHIVE: "c58f30108f718f92721af3b95e74349a"}  # as published on the CIFAR page
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck")
FIX = f"delete it and download again (or pass --data-dir to a folder holding {ARCHIVE})"
_MAX_BATCH_BYTES = 1 << 28  # a real batch pickle is 31 MB; refuse to read absurd members


def _allowed():
    """What a pickled NumPy array needs, by the names pickles use (NumPy 1 and 2)."""
    import _codecs

    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # NumPy 1
        from numpy.core import multiarray, numeric
    found = {}
    for prefix in ("numpy.core", "numpy._core"):
        found[(f"{prefix}.multiarray", "_reconstruct")] = multiarray._reconstruct
        found[(f"{prefix}.numeric", "_frombuffer")] = numeric._frombuffer
    found[("numpy", "ndarray")] = numpy.ndarray
    found[("numpy", "dtype")] = numpy.dtype
    found[("_codecs", "encode")] = _codecs.encode  # bytes in protocol-2 pickles from Python 3
    return found


class _Refused(Exception):
    pass


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that builds dicts, lists, tuples, strings, numbers and NumPy
    arrays, and nothing else: ``find_class`` refuses every other global."""

    def find_class(self, module, name):
        found = _allowed().get((module, name))
        if found is None:
            raise _Refused(f"{module}.{name}")
        return found


def read_batch(blob, where):
    """``(x uint8 (n, 3072), y int64 (n,))`` from one batch pickle's bytes."""
    try:
        # encoding="bytes": the official batches were pickled by Python 2
        batch = SafeUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except _Refused as e:
        raise DataError(f"{where}: refused to unpickle {e} (a CIFAR-10 batch holds only a "
                        f"dict of arrays and lists; this file could run code); {FIX}") from None
    except Exception as e:  # any damage shows up as some exception of the pickle machinery
        raise DataError(f"{where}: not a CIFAR-10 batch (truncated or corrupt pickle: "
                        f"{type(e).__name__}); {FIX}") from None
    if not isinstance(batch, dict):
        raise DataError(f"{where}: not a CIFAR-10 batch (a pickled {type(batch).__name__}, "
                        f"not a dict); {FIX}")
    x = batch.get(b"data", batch.get("data"))
    y = batch.get(b"labels", batch.get("labels"))
    if not isinstance(x, numpy.ndarray) or x.dtype != numpy.uint8 or x.ndim != 2 \
            or x.shape[1] != 3072:
        got = f"{x.dtype} {x.shape}" if isinstance(x, numpy.ndarray) else type(x).__name__
        raise DataError(f"{where}: 'data' is {got}, expected uint8 (n, 3072) rows; {FIX}")
    try:
        y = numpy.asarray(y)
    except (TypeError, ValueError):
        y = numpy.asarray(None)
    if y.ndim != 1 or y.dtype.kind not in "iu" or len(y) != len(x):
        raise DataError(f"{where}: 'labels' are not {len(x)} integers, one per image; {FIX}")
    bad = int(numpy.count_nonzero((y < 0) | (y > 9)))
    if bad:
        raise DataError(f"{where}: {bad} labels outside 0..9; {FIX}")
    return x, y.astype(numpy.int64)


def _read_folder(folder):
    missing = [name for name in BATCHES if not (folder / name).is_file()]
    if missing:
        raise DataError(f"CIFAR-10 batches missing in {folder}: {', '.join(missing)}; "
                        f"put all six there, or {ARCHIVE} in the folder above")
    batches = {}
    for name in BATCHES:
        path = folder / name
        try:
            blob = path.read_bytes()
        except OSError as e:
            raise DataError(f"{path}: cannot read ({e.strerror or e}); {FIX}") from e
        batches[name] = read_batch(blob, path)
    return batches


def _read_archive(path):
    """The six batches read straight from the tarball: nothing is extracted to
    disk, so no member's name can write anywhere; only regular files with the
    six expected names are read."""
    wanted = {f"{FOLDER}/{name}": name for name in BATCHES}
    batches = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                name = wanted.get(member.name)
                if name is None or name in batches:
                    continue
                where = f"{path}:{member.name}"
                if not member.isfile():
                    raise DataError(f"{where}: not a regular file; {FIX}")
                if member.size > _MAX_BATCH_BYTES:
                    raise DataError(f"{where}: {member.size} bytes, too large for a batch; "
                                    f"{FIX}")
                blob = tar.extractfile(member).read()
                batches[name] = read_batch(blob, where)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        if isinstance(e, DataError):
            raise
        detail = str(getattr(e, "strerror", None) or e).splitlines()[0].rstrip(":")
        raise DataError(f"{path}: truncated or corrupt archive ({detail}); {FIX}") from None
    missing = [f"{FOLDER}/{name}" for name in BATCHES if name not in batches]
    if missing:
        raise DataError(f"{path}: not the CIFAR-10 python archive, it lacks "
                        f"{', '.join(missing)}; {FIX}")
    return batches


def load_cifar10(data_dir=None, download=True, scaled=True):
    """CIFAR-10 from ``data_dir`` (default ``~/.cache/minifa/cifar10``): its
    ``cifar-10-batches-py/`` folder, the six batches themselves, or
    ``cifar-10-python.tar.gz``, which is downloaded (MD5-checked) when none
    is there and ``download``."""
    folder = Path(data_dir).expanduser() if data_dir is not None else cache_folder("cifar10")
    if folder.exists() and not folder.is_dir():
        raise not_a_folder(folder, f"{ARCHIVE} or {FOLDER}/")
    if (folder / FOLDER).is_dir():
        where, batches = folder / FOLDER, _read_folder(folder / FOLDER)
    elif any((folder / name).is_file() for name in BATCHES):
        where, batches = folder, _read_folder(folder)
    else:
        archive = folder / ARCHIVE
        if not archive.is_file():
            what = f"CIFAR-10 not found in {folder} (neither {FOLDER}/ nor {ARCHIVE})"
            hint = (f"download {ARCHIVE} from https://www.cs.toronto.edu/~kriz/cifar.html "
                    f"into {folder}, or pass --data-dir DIR")
            if not download:
                raise DataError(f"{what}; {hint}")
            download_files(folder, MD5, MIRRORS,
                     lambda reason: DataError(f"{what}, and the download failed ({reason}); "
                                              f"{hint}"))
        where, batches = archive, _read_archive(archive)
    x_train = numpy.concatenate([batches[name][0] for name in TRAIN])
    y_train = numpy.concatenate([batches[name][1] for name in TRAIN])
    x_test, y_test = batches[TEST]
    source = f"CIFAR-10 from {where} ({len(y_train)} train / {len(y_test)} test)"
    return Dataset(pixels(x_train, 255, scaled), y_train, pixels(x_test, 255, scaled), y_test,
                   source, "cifar10", (3, 32, 32), 10, None if scaled else 255.0, CLASSES)
