"""Files written whole or not at all."""

import glob
import os
import tempfile
from contextlib import contextmanager


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
