"""Private files and folders: 0700 folders and 0600 files whatever the umask, made before
anyone writes to them, and older looser ones tightened (POSIX only).

Here rather than in kbapp/client because both the profile (client.sqlite3, the keystore)
and the photo index (kbapp/ml/photodb.py) need the one rule, and ml may not import
client; no numpy or onnxruntime here, so the GUI imports it at start-up.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def _tighten(path: Path, mode: int) -> None:
    """chmod to `mode` when group or others have any access (never through a symlink)."""
    if os.name != "posix":
        return
    with contextlib.suppress(FileNotFoundError):
        st = os.lstat(path)
        if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o077:
            os.chmod(path, mode)


def private_dir(path: str | os.PathLike) -> Path:
    """Create `path` (and missing parents) as 0700, and tighten it if it exists looser."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists() and p.parent != p:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):   # only the folders made here: a parent like /tmp keeps its mode
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=DIR_MODE)
        _tighten(d, DIR_MODE)
    _tighten(path, DIR_MODE)
    return path


def private_file(path: str | os.PathLike) -> Path:
    """Create `path` empty as 0600 if missing (so SQLite, which gives its -wal, -shm and
    -journal files the database's mode, never makes a readable one); tighten it and
    those side files if they exist looser."""
    path = Path(path)
    private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), FILE_MODE))
    for p in (path, *(path.with_name(path.name + s) for s in SQLITE_SIDE_FILES)):
        _tighten(p, FILE_MODE)
    return path
