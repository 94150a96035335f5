"""Checked downloads shared by every dataset: mirrors tried in order, each file's
MD5 verified before it is renamed into place, nothing partial left behind."""

import hashlib
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPException
from pathlib import Path

from ..errors import DataError

TIMEOUT_S = 10


def cache_folder(name):
    """``$XDG_CACHE_HOME/minifa/<name>`` (default ``~/.cache/minifa/<name>``)."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "minifa" / name


def not_a_folder(folder, what):
    """The one-line error for a data folder that names a file."""
    return DataError(f"{folder} is a file, not a folder: pass the folder that holds {what} "
                     "(--data-dir DIR)")


def fetch(url, dest, md5):
    """Copy ``url`` to ``dest`` if its MD5 is ``md5``; on any failure, Ctrl-C
    included, no partial file is left."""
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
        if os.path.exists(tmp):
            os.unlink(tmp)


def reason(e):
    """A failed download's cause in a few words."""
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code}"
    if isinstance(e, urllib.error.URLError):
        return str(e.reason)
    return str(e) or type(e).__name__


def download_files(folder, md5, mirrors, fail):
    """Fetch every file ``name`` of ``md5`` (name -> MD5) into ``folder`` from
    the first of ``mirrors`` (base URLs) that serves it intact.

    ``fail(reason)`` builds the DataError raised when a file cannot be had; a
    failed download also removes the folders it created.
    """
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise fail(f"cannot create the folder: {e.strerror or e}") from e
    try:
        for name, digest in md5.items():
            reasons = []
            for mirror in mirrors:
                try:
                    fetch(mirror + name, folder / name, digest)
                    break
                except (OSError, ValueError, HTTPException) as e:
                    host = urllib.parse.urlsplit(mirror).netloc or mirror
                    reasons.append(f"{host}: {reason(e)}")
            else:
                why = "; ".join(reasons) or "no mirrors configured"
                raise fail(" ".join(f"{name}: {why}".split()))
    except BaseException:
        for p in created:  # a failed download leaves no folders behind either
            if p.is_dir() and not any(p.iterdir()):
                p.rmdir()
        raise
