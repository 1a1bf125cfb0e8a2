"""Opening a local file to copy it into a folder, or to attach it to a message, safely.

Why not `Path.open`: it follows a symlink and it blocks on a fifo. A tree is scanned first
(`copy.scan_local`, which skips symlinks and special files) and its files are read later;
anything that swaps a scanned file for a symlink to `~/.ssh/id_rsa` or for a fifo in
between would have had that file's bytes uploaded, or the event loop stuck in `open()`.
Here the open never follows a symlink and never waits (O_NOFOLLOW | O_NONBLOCK), the
opened descriptor must be a regular file, and, when the scan saw it, the same one.
"""

from __future__ import annotations

import errno
import os
import stat as st
from pathlib import Path
from typing import BinaryIO

from kbapp.core import errors

_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def shown_path(path) -> str:
    """A local path as text, whatever its bytes (a name that is not UTF-8 shows as \\xNN)."""
    return os.fsdecode(os.fspath(path)).encode("utf-8", "backslashreplace").decode()


def identity(info: os.stat_result) -> tuple[int, int]:
    """What says "the same file" between a scan and a read."""
    return info.st_dev, info.st_ino


def open_regular(path: Path | str, expect: tuple[int, int] | None = None) -> BinaryIO:
    """`path` opened for reading: a regular file, not through a symlink, and the scanned one
    when `expect` (its `identity`) is given. LocalTypeRefused, LocalChanged or LocalReadFailed
    otherwise, each naming the path."""
    shown = shown_path(path)
    try:
        fd = os.open(path, _FLAGS)
    except OSError as e:
        if e.errno == errno.ELOOP:
            if expect is not None:
                raise errors.LocalChanged(f"{shown!r} became a symlink after it was scanned: not copied") from None
            raise errors.LocalTypeRefused(f"{shown!r} is a symlink: copy what it points to instead") from None
        if e.errno == errno.EISDIR:
            raise errors.LocalTypeRefused(f"{shown!r} is a directory, not a file") from None
        raise errors.LocalReadFailed(f"cannot read {shown!r}: {e.strerror or e}") from None
    try:
        info = os.fstat(fd)
        if not st.S_ISREG(info.st_mode):
            if expect is not None:
                raise errors.LocalChanged(f"{shown!r} is no longer a regular file: not copied")
            raise errors.LocalTypeRefused(f"{shown!r} is not a regular file (a fifo, device, socket or directory)")
        if expect is not None and identity(info) != tuple(expect):
            raise errors.LocalChanged(f"{shown!r} was replaced by another file after it was scanned: not copied")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
