"""Files written whole or not at all."""

import glob
import io
import json
import os
import tempfile
from contextlib import contextmanager

import numpy


@contextmanager
def atomic_write(path, mode="wb"):
    """Write ``path`` through a hidden temporary file in the same folder, flushed
    to disk and renamed over ``path`` only once complete: an error or a kill
    mid-write leaves the previous file (or none), never a partial one. A
    temporary left by a killed writer is removed the next time."""
    path = os.path.abspath(path)
    folder, name = os.path.split(path)
    for stale in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(name)}.tmp-*")):
        os.unlink(stale)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.tmp-", dir=folder)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # the permissions open() would give, not mkstemp's 0600
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_npz(path, meta, arrays):
    """Host ``arrays`` and a JSON-able ``meta`` in one ``.npz`` at ``path``,
    atomically; nothing is pickled."""
    encoded = numpy.frombuffer(json.dumps(meta).encode(), dtype=numpy.uint8)
    with atomic_write(path) as f:
        numpy.savez(f, **arrays, meta=encoded)


def read_npz(path):
    """``(meta, arrays)`` from a file ``write_npz`` wrote, read whole before it is
    parsed and without unpickling. Raises what open, numpy and json raise on a
    missing, truncated or foreign file; callers say what it means for them."""
    with open(path, "rb") as f:
        blob = f.read()
    with numpy.load(io.BytesIO(blob), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays.pop("meta").tobytes().decode())
    return meta, arrays
