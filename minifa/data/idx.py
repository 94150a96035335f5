"""IDX files (LeCun's format for MNIST, also Fashion-MNIST's), raw or gzip, and
the folder of four such files both datasets come as."""

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy

from ..errors import DataError
from .dataset import Dataset, pixels
from .download import download_files, not_a_folder

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
FIX = "delete it and download again (or pass --data-dir to a folder of intact copies)"
_CHUNK = 1 << 20


def read_idx(path, fix=FIX):
    """Read one unsigned-byte IDX file, raw or gzip-compressed, into a uint8 array.

    ``fix`` ends every error message: what the user should do.
    """
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
                return _read_idx_stream(f, path, size, is_gzip, fix)
    except DataError:
        raise
    except (OSError, EOFError, zlib.error) as e:
        what = "corrupt or truncated gzip stream" if is_gzip else "cannot read"
        detail = getattr(e, "strerror", None) or e
        raise DataError(f"{path}: {what} ({detail}); {fix}") from e


def _read_idx_stream(f, path, size, is_gzip, fix):
    """Parse the IDX stream ``f`` whose whole length is ``size`` (mod 2^32 for gzip)."""

    def fail(problem):
        return DataError(f"{path}: {problem}; {fix}")

    head = f.read(4)
    if len(head) < 4 or head[:2] != b"\0\0":
        raise fail(f"bad magic number {head.hex() or 'empty'} (not an IDX file)")
    if head[2] != 0x08:
        raise fail(f"IDX type code 0x{head[2]:02x} is not unsigned byte (0x08)")
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
    if n > 2**34:
        raise fail(f"corrupt header: it announces {n} bytes of data")
    if is_gzip and (n - held) % 2**32:
        # The size in gzip's trailer disagrees; a file cut short ends in compressed
        # data, not a trailer, so only reading the stream tells which it is.
        got, complete = _stream_length(f)
        if not complete:
            raise fail(f"truncated: the gzip stream breaks off after {got} of the expected "
                       f"{n} bytes of data")
        if got < n:
            raise fail(f"truncated: expected {n} bytes of data, found {got}")
        if got > n:
            raise fail(f"{got - n} trailing bytes after the expected {n} bytes of data")
        raise fail("corrupt gzip trailer (its size field disagrees with the data)")
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


def _stream_length(f):
    """``(bytes left in f, whether it ended cleanly)``, reading without keeping."""
    got = 0
    try:
        while chunk := f.read(_CHUNK):
            got += len(chunk)
    except EOFError:  # the compressed stream ends before its end-of-stream marker
        return got, False
    return got, True


def find(folder):
    """Map each of the four files to its path in ``folder`` (.gz preferred) or None."""
    found = {}
    for stem in FILES:
        paths = [folder / (stem + ".gz"), folder / stem]
        found[stem] = next((p for p in paths if p.is_file()), None)
    return found


def check_folder(folder, title):
    """DataError if ``folder`` names a file (a folder that does not exist is fine)."""
    if folder.exists() and not folder.is_dir():
        raise not_a_folder(folder, f"the four {title} files")


def load_folder(folder, *, name, title, mirrors, md5, download_missing, scaled, hint,
                classes=()):
    """The Dataset ``name`` from the four IDX files of ``title`` in ``folder``,
    first downloading missing ones (checked against ``md5``, stem -> MD5 of
    the .gz) from ``mirrors`` when ``download_missing``. ``hint`` ends the
    messages about missing files: what else the user can do."""
    folder = Path(folder).expanduser()
    check_folder(folder, title)
    paths = find(folder)
    missing = [stem for stem, p in paths.items() if p is None]
    if missing:
        found = f" ({len(FILES) - len(missing)} of {len(FILES)} found)" if \
            len(missing) < len(FILES) else ""
        where = f"{title} files missing in {folder}: {', '.join(missing)}{found}"
        if not download_missing:
            raise DataError(f"{where} (.gz or raw); download them there or {hint}")

        def fail(reason):
            return DataError(f"{where}, and the download failed ({reason}); download the "
                             f"{title} .gz files into {folder}, or {hint}")

        download_files(folder, {stem + ".gz": md5[stem] for stem in missing}, mirrors, fail)
        paths = find(folder)
    fix = f"delete it and download again (or pass --data-dir to a folder holding the four " \
          f"{title} files)"
    x_train, y_train = _split(paths[FILES[0]], paths[FILES[1]], scaled, fix)
    x_test, y_test = _split(paths[FILES[2]], paths[FILES[3]], scaled, fix)
    source = f"{title} from {folder} ({len(y_train)} train / {len(y_test)} test)"
    return Dataset(x_train, y_train, x_test, y_test, source, name, (1, 28, 28), 10,
                   None if scaled else 255.0, tuple(classes))


def _split(images_path, labels_path, scaled, fix):
    images, labels = read_idx(images_path, fix), read_idx(labels_path, fix)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        shape = "x".join(map(str, images.shape))
        raise DataError(f"{images_path}: images are {shape}, expected n x 28 x 28; {fix}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(
            f"{labels_path}: {labels.size} labels for {len(images)} images in {images_path}; "
            f"{fix}"
        )
    bad = int(numpy.count_nonzero(labels > 9))
    if bad:
        raise DataError(f"{labels_path}: {bad} labels outside 0..9; {fix}")
    return pixels(images.reshape(len(images), 784), 255, scaled), labels.astype(numpy.int64)
