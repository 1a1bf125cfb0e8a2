"""Errors of copying between encrypted folders and the local disk (kbapp/client/fs/export.py, copy.py).

Kept out of errors.py for the size rule and importable from there like every other error.
A tree another writer made unsafe to write to disk is a verification failure (exit 3); a
local file in the way or a local name we cannot store is the user's disk, not an attack.
"""

from __future__ import annotations

from .errors import KbappError
from .errors_fs import UnsafeExport

__all__ = ["ExportIncomplete", "ExportRefused", "LocalChanged", "LocalDiskFull", "LocalExists",
           "LocalNameRefused", "LocalReadFailed", "LocalTypeRefused", "LocalWriteFailed"]


class ExportRefused(UnsafeExport):
    """Some entries of an exported tree were refused (hostile or unsafe names, too deep);
    the safe ones were written, the refused ones are listed in `refused` and the message."""

    code = "FS_EXPORT_REFUSED"

    def __init__(self, message: str, *, refused=(), written=(), failed=()):
        super().__init__(message)
        self.refused = list(refused)
        self.written = list(written)
        self.failed = list(failed)                  # what the local disk refused besides


class ExportIncomplete(KbappError):
    """An exported tree was written except for entries the local disk would not take (a file
    or symlink in the way, no permission, a name too long there): each is listed in `failed`
    with its reason, the rest was written."""

    code = "FS_EXPORT_INCOMPLETE"

    def __init__(self, message: str, *, failed=(), written=()):
        super().__init__(message)
        self.failed = list(failed)
        self.written = list(written)


class LocalExists(KbappError):
    """The export would replace a local file (or symlink) that is already there: refused
    unless the user asked to overwrite."""

    code = "FS_LOCAL_EXISTS"


class LocalWriteFailed(KbappError):
    """The local disk refused one write of an export (no permission, a name too long there,
    read-only); nothing half-written is left behind. `stop`: every later write would fail the
    same way (read-only, I/O error), so the export stops rather than listing each."""

    code = "FS_LOCAL_WRITE"

    def __init__(self, message: str, *, stop: bool = False):
        super().__init__(message)
        self.stop = stop


class LocalDiskFull(LocalWriteFailed):
    """The local disk (or the user's quota on it) is full: the export stops, its temp file
    removed; what was written before stays, listed in `written`."""

    code = "FS_LOCAL_FULL"

    def __init__(self, message: str, *, written=()):
        super().__init__(message, stop=True)
        self.written = list(written)


class LocalNameRefused(KbappError):
    """A local file name a folder cannot store (not UTF-8, a control character, reserved...)."""

    code = "FS_LOCAL_NAME"


class LocalTypeRefused(KbappError):
    """A local path that is not a regular file or directory (symlink, fifo, device, socket)."""

    code = "FS_LOCAL_TYPE"


class LocalChanged(LocalTypeRefused):
    """A local file was replaced between the scan of a copy and its read (by a symlink, a fifo,
    another file): not read, so nothing outside what was scanned is ever copied."""

    code = "FS_LOCAL_CHANGED"


class LocalReadFailed(KbappError):
    """A local file or directory could not be read (gone, no permission, a name too long...)."""

    code = "FS_LOCAL_READ"
