"""Errors of `kbapp fs mount` (kbapp/client/fs/mount.py), importable from errors.py."""

from __future__ import annotations

from .errors import KbappError

__all__ = ["MountUnavailable"]


class MountUnavailable(KbappError):
    """FUSE cannot be used here (no libfuse3, no /dev/fuse, the extra not installed): the
    message says how to get it; the Files page works without it."""

    code = "FS_MOUNT_UNAVAILABLE"
