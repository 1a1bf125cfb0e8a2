"""Errors of `kbapp fs mount` (kbapp/client/fs/mount.py) and the Files page's drops, importable from errors.py."""

from __future__ import annotations

from .errors import KbappError

__all__ = ["DropRefused", "MountLinkRefused", "MountStale", "MountUnavailable"]


class MountUnavailable(KbappError):
    """FUSE cannot be used here (no libfuse3, no /dev/fuse, the extra not installed): the
    message says how to get it; the Files page works without it."""

    code = "FS_MOUNT_UNAVAILABLE"


class MountLinkRefused(KbappError):
    """A symlink another writer stored points outside its folder (absolute, or `..` above the
    folder's root): the mount refuses to hand it to the kernel, which would follow it."""

    code = "FS_MOUNT_LINK_REFUSED"


class MountStale(KbappError):
    """The mount point still holds a dead mount (its process was killed) that could not be
    cleaned: the message says the `fusermount3 -uz` command to run."""

    code = "FS_MOUNT_STALE"


class DropRefused(KbappError):
    """A drop on the Files page refused whole before anything was queued: more entries than
    one drop takes, or a local tree deeper than a folder path may be."""

    code = "FS_DROP_REFUSED"
