"""Which files are photos, finding them under folders, and reading them safely.

Plain `os` only: the GUI checks a dropped file's name with it before the ML packages
are loaded.

A folder is the user's, but what is in it may not be: a symlink to /dev/zero, a FIFO
named pipe.jpg, a symlink out to somebody else's files, a symlinked folder that leads
back into itself, names that are not UTF-8. So:

* only regular files are read, and never more than a cap (`read_regular`): the type
  is checked before opening and again on the opened descriptor, which is opened
  non-blocking so a FIFO cannot hang the run;
* names are whatever bytes the file system holds (str with surrogateescape, as `os`
  gives them; photodb.py stores them so they round-trip);
* symlinks are followed only to places inside the chosen folders, unless the user
  asks (`follow_symlinks`); folders are entered once (device, inode), so a loop ends;
* what is left out, and why, comes back as `Scan.skipped` (typed reason codes).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from kbapp.core import errors

MAX_FILE_BYTES = 256 << 20   # the pipeline's cap on one photo file (imaging.DEFAULT_MAX_BYTES)
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".jfif"}
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


@dataclass
class Scan:
    files: dict[str, os.stat_result] = field(default_factory=dict)   # path -> stat (of the target)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (path, error code, reason)

    def skip(self, path: str, err: type[errors.ImageError], why: str) -> None:
        self.skipped.append((path, err.code, why))


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTS


def _inside(real: str, roots: list[str]) -> bool:
    return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def scan_images(roots: Iterable[Path], *, follow_symlinks: bool = False) -> Scan:
    """Every image file under the roots (files given directly count too), with its stat,
    and every image-named entry left out with its reason. Hidden names are not walked."""
    roots = [Path(r) for r in roots]
    real_roots = [os.path.realpath(r) for r in roots]
    scan = Scan()
    seen: set[tuple[int, int]] = set()
    for root in roots:
        try:
            st = os.stat(root)
        except OSError as e:
            scan.skip(str(root), errors.ImageError, f"cannot read ({e.strerror or e})")
            continue
        if stat.S_ISDIR(st.st_mode):
            _walk(str(root), st, real_roots, follow_symlinks, seen, scan)
        elif is_image_name(root.name):
            if stat.S_ISREG(st.st_mode):
                scan.files[str(root)] = st
            else:
                scan.skip(str(root), errors.NotARegularFile, "not a regular file")
    return scan


def _walk(top: str, top_st: os.stat_result, roots: list[str], follow: bool,
          seen: set[tuple[int, int]], scan: Scan) -> None:
    stack = [(top, top_st)]
    while stack:
        d, dst = stack.pop()
        key = (dst.st_dev, dst.st_ino)
        if key in seen:
            continue
        seen.add(key)
        try:
            entries = list(os.scandir(d))
        except OSError as e:
            scan.skip(d, errors.ImageError, f"cannot list folder ({e.strerror or e})")
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = entry.path
            try:
                lst = entry.stat(follow_symlinks=False)
            except OSError:
                continue   # gone since the listing
            if stat.S_ISLNK(lst.st_mode):
                _symlink(path, roots, follow, seen, scan, stack)
            elif stat.S_ISDIR(lst.st_mode):
                stack.append((path, lst))
            elif is_image_name(entry.name):
                if stat.S_ISREG(lst.st_mode):
                    scan.files[path] = lst
                else:
                    scan.skip(path, errors.NotARegularFile, "not a regular file (a FIFO, device or socket)")


def _symlink(path: str, roots: list[str], follow: bool, seen: set[tuple[int, int]], scan: Scan,
             stack: list) -> None:
    image = is_image_name(os.path.basename(path))
    try:
        st = os.stat(path)
    except OSError as e:
        if image:
            if e.errno == errno.ELOOP:  # a link that leads (back) to itself
                scan.skip(path, errors.SymlinkLoop, "symlink loop")
            else:
                scan.skip(path, errors.BrokenSymlink, "symlink to nothing")
        return
    inside = _inside(os.path.realpath(path), roots)
    if stat.S_ISDIR(st.st_mode):
        if follow:
            if (st.st_dev, st.st_ino) in seen:
                scan.skip(path, errors.SymlinkLoop, "symlinked folder already walked (a loop)")
            else:
                stack.append((path, st))
        elif not inside:
            scan.skip(path, errors.SymlinkOutside, "symlinked folder outside the chosen folders "
                                                   "(not followed; --follow-symlinks to index it)")
        # a symlinked folder inside the chosen ones is walked at its real place
        return
    if not image:
        return
    if not inside and not follow:
        scan.skip(path, errors.SymlinkOutside, "symlink to a file outside the chosen folders "
                                               "(not followed; --follow-symlinks to index it)")
    elif not stat.S_ISREG(st.st_mode):
        scan.skip(path, errors.NotARegularFile, "symlink to something that is not a regular file")
    else:
        scan.files[path] = st


def walk_images(roots: Iterable[Path], *, follow_symlinks: bool = False) -> dict[str, os.stat_result]:
    """The files of `scan_images`, without the reasons."""
    return scan_images(roots, follow_symlinks=follow_symlinks).files


# --- reading ---------------------------------------------------------------------------------


def open_regular(path: str | os.PathLike) -> tuple[int, os.stat_result]:
    """An open descriptor of a regular file, with its fstat, or `NotARegularFile`.

    Checked twice: by name first (a device is never opened: opening some has side
    effects), then on the descriptor (the name may have been swapped in between).
    Non-blocking, so that a FIFO that slipped through still cannot hang the caller."""
    name = os.path.basename(os.fspath(path))
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise errors.NotARegularFile(f"{name}: not a regular file")
    fd = os.open(path, _OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise errors.NotARegularFile(f"{name}: not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def read_regular(path: str | os.PathLike, max_bytes: int) -> bytes:
    """The whole of a regular file of at most `max_bytes` (else `ImageTooLarge`),
    never reading more than one byte past the cap, even from a file that grows."""
    fd, st = open_regular(path)
    name = os.path.basename(os.fspath(path))
    with os.fdopen(fd, "rb") as f:
        if st.st_size > max_bytes:
            raise errors.ImageTooLarge(f"{name}: file is {st.st_size} bytes (limit {max_bytes})")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise errors.ImageTooLarge(f"{name}: file grew past the limit of {max_bytes} bytes")
    return data


def sha256_regular(path: str | os.PathLike, max_bytes: int) -> str:
    """sha256 of a regular file, read in chunks, refusing one past `max_bytes`."""
    fd, _ = open_regular(path)
    h = hashlib.sha256()
    n = 0
    with os.fdopen(fd, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            n += len(chunk)
            if n > max_bytes:
                raise errors.ImageTooLarge(f"{os.path.basename(os.fspath(path))}: over {max_bytes} bytes")
            h.update(chunk)
    return h.hexdigest()
