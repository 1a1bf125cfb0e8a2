"""Export a folder path (a file or a whole directory) to a local directory, never outside it.

Names in a folder come from other writers through an untrusted server, so the disk is the
thing to protect: every path goes through core `names.export_relpath` (`..`, `/`, NUL,
controls, bidi overrides, reserved Windows names, too deep) and every directory through
`names.check_export_names` (two names one disk would merge); the target directory is opened
once and everything below it is created relative to an open directory (`dir_fd`), with
`O_NOFOLLOW` (a symlink already on the disk is never followed) and `O_EXCL` (a file is never
opened twice); content goes to a temp name and is then linked (no overwrite) or renamed
(`overwrite=True`) into place, so no half file is ever visible. Symlinks in the folder are
skipped with a notice. Refused entries are listed; the rest is written; then
`ExportRefused` names what was refused. The local disk's own refusals (a file or symlink in
the way, no permission, a name too long there) are listed in `failed` and the walk goes on
(`ExportIncomplete` at the end); a full disk stops it at once (`LocalDiskFull`), a read-only
or failing disk too (`LocalWriteFailed`): the temp file of the file being written is removed.
"""

from __future__ import annotations

import errno
import os
import secrets
import unicodedata
from pathlib import Path
from typing import Callable

from kbapp.core import errors
from kbapp.core.fs.names import MAX_PATH_DEPTH, check_export_names, export_relpath, split_path

from .overlay import Overlay
from .reading import row_of

MAX_ENTRIES = 1_000_000              # entries one export walks (a directory DAG can explode)
# What another writer can do to a tree that we refuse entry by entry (the rest is exported);
# any other verification failure (the server lying) stops the export at once.
_REFUSED = (errors.BadPathName, errors.BadDirectory, errors.UnsafeExport, errors.TreeTooDeep,
            errors.TreeTooLarge)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_STOP = {errno.EROFS, errno.EIO}                            # every later write would fail the same way
_NO_LINK = {errno.EPERM, errno.EOPNOTSUPP, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP), errno.EMLINK}
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


class _Source:
    """The verified tree at one folder path, pinned when the export starts: a snapshot of the
    local view taken then (the verified head with this device's pending changes on top, or a
    parked view) gives every listing and every file's pointer, and each file is streamed
    from the pointer it had then (flat memory). Revisions landing mid-export (another writer)
    or local writes meanwhile change nothing: the export is one consistent tree."""

    def __init__(self, files, path: str):
        self.files = files
        self.path = path.rstrip("/") if path.count("/") > 2 else path
        self.snap = None                                   # a frozen copy of the local view

    def full(self, rel: tuple[str, ...]) -> str:
        return "/".join((self.path.rstrip("/"),) + rel) if rel else self.path

    async def start(self) -> dict | None:
        """The row at the path; None for a folder root (a directory without an entry)."""
        self.comps = split_path(self.path)[1]
        self.folder, comps, ov = await self.files._view(self.path)
        self.snap, self.at = _freeze(ov), tuple(comps)
        if not self.at:
            return None                                    # a folder's or a parked view's root
        e = await self.snap.entry(self.at)
        if e is None:
            raise errors.NotFound(f"no {self.path!r}")
        return row_of(e, self.at in self.snap.touched)

    async def entries(self, rel: tuple[str, ...]) -> dict[str, dict]:
        here = self.at + rel
        out = {}
        for e in (await self.snap.dir(here)).values():
            row = out[e.name] = row_of(e, here + (e.name,) in self.snap.touched)
            if e.is_dir and e.ptr is not None:
                row["_block"] = bytes(e.ptr.id)           # the directory's block: a DAG names it twice
        return out

    async def chunks(self, rel: tuple[str, ...]):
        e = await self.snap.entry(self.at + rel)
        if e is None or e.ptr is None or e.is_dir:
            raise errors.NotFound(f"no file {self.full(rel)!r}")
        async for piece in self.files.read_entry(self.folder, e):
            yield piece


def _freeze(ov: Overlay) -> Overlay:
    """A copy of an overlay that later edits of the original (local writes) leave alone; the
    directories it has not read yet load from the same verified, immutable blocks."""
    snap = Overlay(ov.root, ov.load, writer=ov.writer, now_ns=ov.now)
    snap.dirs = {p: dict(d) for p, d in ov.dirs.items()}
    snap.touched = set(ov.touched)
    return snap


def _clash_groups(names) -> set[str]:
    """The names that collide with another on a case-insensitive or normalising disk."""
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(unicodedata.normalize("NFKC", n).casefold(), []).append(n)
    return {n for g in groups.values() if len(g) > 1 for n in g}


class Exporter:
    """One export: counts, the refused list and the notices, filled as it goes."""

    def __init__(self, *, overwrite: bool = False, windows: bool | None = None,
                 notice: Callable[[str], None] | None = None):
        if os.open not in os.supports_dir_fd or os.link not in os.supports_dir_fd:
            raise errors.NotSupported("exporting needs openat/linkat (dir_fd): not on this platform yet")
        self.overwrite = overwrite
        self.windows = os.name == "nt" if windows is None else windows
        self.notice = notice or (lambda _m: None)
        self.written: list[str] = []
        self.skipped: list[dict] = []
        self.refused: list[dict] = []
        self.failed: list[dict] = []
        self.local: Path | None = None          # the local directory the relative paths start at
        self.bytes = 0
        self.seen = 0
        self.dir_blocks: set[bytes] = set()     # directory blocks walked: each at most once

    def _refuse(self, rel, e: errors.KbappError) -> None:
        self.refused.append({"path": "/".join(rel) or ".", "code": e.code, "reason": str(e)})

    def _fail(self, rel, e: errors.KbappError) -> None:
        path = "/".join(rel) or "."
        local = str(self.local.joinpath(*rel)) if self.local is not None else path
        self.failed.append({"path": path, "local": local, "code": e.code, "reason": str(e)})

    def report(self) -> dict:
        return {"written": self.written, "skipped": self.skipped, "refused": self.refused, "failed": self.failed,
                "bytes": self.bytes}

    def finish(self) -> dict:
        if self.refused:
            raise errors.ExportRefused(_listed(self.refused, "refused", len(self.written), self.failed),
                                       refused=self.refused, written=self.written, failed=self.failed)
        if self.failed:
            raise errors.ExportIncomplete(_listed(self.failed, "not written (the local disk refused)",
                                                  len(self.written), ()),
                                          failed=self.failed, written=self.written)
        return self.report()

    def disk_error(self, e: OSError, name: str) -> errors.KbappError:
        """The local disk's refusal as a typed error; a full disk carries what was written."""
        if e.errno in _FULL:
            return errors.LocalDiskFull(f"the local disk is full ({e.strerror}) while writing {name[:60]!r}; "
                                        f"{len(self.written)} file(s) were written before it", written=self.written)
        return errors.LocalWriteFailed(f"{name[:60]!r} could not be written on the local disk: {e.strerror or e}",
                                       stop=e.errno in _STOP)

    # -- the disk side ----------------------------------------------------------------------

    def open_subdir(self, parent_fd: int, name: str) -> int:
        """`name` under an open directory, made if missing; a symlink or file there is refused."""
        try:
            os.mkdir(name, 0o700, dir_fd=parent_fd)
        except FileExistsError:
            pass
        except OSError as e:
            raise self.disk_error(e, name) from None
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        except (NotADirectoryError, FileNotFoundError) as e:
            raise errors.LocalExists(f"{name[:60]!r} on the disk is not a directory (a symlink or file is "
                                     f"in the way: {e.strerror})") from None
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise errors.LocalExists(f"{name[:60]!r} on the disk is a symlink: not followed") from None
            raise self.disk_error(e, name) from None

    def room_for(self, dir_fd: int, name: str, size: int | None) -> None:
        """A file that cannot fit, with a little room kept free, is not started: listed in
        `failed` (a writer's huge file does not fill the disk or stop the others); a disk that
        fills anyway stops the export at the real ENOSPC."""
        if not size or os.statvfs not in os.supports_fd:
            return
        st = os.statvfs(dir_fd)
        free = st.f_bavail * st.f_frsize
        keep = min(256 << 20, st.f_blocks * st.f_frsize // 50)      # 2 % of the disk, at most 256 MiB
        if size > free - keep:
            raise errors.LocalWriteFailed(f"{name[:60]!r} is {size} bytes: it does not fit on the local disk "
                                          f"({free} bytes free)")

    async def write_file(self, dir_fd: int, name: str, pieces, *, mtime: int | None, executable: bool) -> int:
        """Stream `pieces` into a temp file beside `name`, fsync, then put it in place atomically.
        Only the disk's own errors are the disk's: a failed read (network, the block cache)
        propagates as what it is."""
        tmp = f".{name[:32]}.{secrets.token_hex(6)}.kbapp-part"
        try:
            fd = os.open(tmp, _FILE_FLAGS, 0o700 if executable else 0o600, dir_fd=dir_fd)
        except OSError as e:
            raise self.disk_error(e, name) from None
        size = 0
        try:
            try:
                async for piece in pieces:
                    _write_all(fd, piece, self, name)
                    size += len(piece)
                _disk(lambda: os.fsync(fd), self, name)
                if mtime:
                    _disk(lambda: os.utime(fd, ns=(mtime, mtime)), self, name)
            finally:
                os.close(fd)
            if self.overwrite:
                _disk(lambda: os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd), self, name)
            else:
                _link_new(tmp, name, dir_fd, self)
        except BaseException:
            _drop(tmp, dir_fd)
            raise
        self.bytes += size
        return size

    # -- the walk ---------------------------------------------------------------------------

    async def listing(self, src: _Source, rel: tuple[str, ...]) -> dict[str, dict] | None:
        """A directory's rows, or None (refused and listed) if another writer made it unsafe."""
        try:
            return await src.entries(rel)
        except _REFUSED as e:
            self._refuse(rel, e)
            return None

    async def tree(self, src: _Source, dir_fd: int, entries: dict[str, dict], rel: tuple[str, ...]) -> None:
        """Every entry of a directory (already listed) under the open local directory `dir_fd`."""
        clash = set()
        try:
            check_export_names(entries)
        except errors.UnsafeExport:
            clash = _clash_groups(entries)
        for name, e in entries.items():
            here = rel + (name,)
            self.seen += 1
            if self.seen > MAX_ENTRIES:
                raise errors.TreeTooLarge(f"an export walks at most {MAX_ENTRIES} entries")
            if name in clash:
                self._refuse(here, errors.UnsafeExport("another name here is the same on a case-insensitive disk"))
                continue
            if e["type"] == "symlink":
                self.skipped.append({"path": "/".join(here), "reason": "symlink"})
                self.notice(f"skipped symlink {'/'.join(here)!r}")
                continue
            try:
                export_relpath(here, entry_type=e["type"], windows=self.windows)
                if e["type"] == "dir" and len(here) >= MAX_PATH_DEPTH:
                    raise errors.TreeTooDeep(f"a directory {MAX_PATH_DEPTH} names deep holds more names")
            except _REFUSED as x:
                self._refuse(here, x)
                continue
            if e["type"] == "dir":
                block = e.get("_block")
                if block is not None and block in self.dir_blocks:
                    # honest writers give every directory a block of its own (random halves): one
                    # named twice is a DAG, which walked as a tree writes far more than the folder holds
                    self._refuse(here, errors.TreeTooLarge("this directory is another one's block again "
                                                           "(a tree that repeats itself): not written twice"))
                    continue
                if block is not None:
                    self.dir_blocks.add(block)
                sub_entries = await self.listing(src, here)
                if sub_entries is None:
                    continue                          # nothing made on the disk for a refused directory
                try:
                    sub = self.open_subdir(dir_fd, name)
                except (errors.LocalExists, errors.LocalWriteFailed) as x:
                    self._fail_or_stop(here, x)
                    continue
                try:
                    await self.tree(src, sub, sub_entries, here)
                finally:
                    os.close(sub)
                continue
            try:
                self.room_for(dir_fd, name, e.get("size"))
                await self.write_file(dir_fd, name, src.chunks(here), mtime=e.get("mtime"),
                                      executable=e["type"] == "exec")
            except (errors.LocalExists, errors.LocalWriteFailed) as x:
                self._fail_or_stop(here, x)
                continue
            self.written.append("/".join(here))

    def _fail_or_stop(self, rel, e: errors.KbappError) -> None:
        """One entry the local disk would not take is listed; a full, read-only or failing disk stops."""
        if isinstance(e, errors.LocalWriteFailed) and e.stop:
            raise e
        self._fail(rel, e)


def _listed(rows: list[dict], what: str, written: int, failed) -> str:
    shown = "; ".join(f"{r['path']!r}: {r['code']}" for r in rows[:20])
    more = f" (and {len(rows) - 20} more)" if len(rows) > 20 else ""
    also = f", {len(failed)} not written by the local disk" if failed else ""
    return f"{len(rows)} entr{'y' if len(rows) == 1 else 'ies'} {what}, {written} file(s) written{also}: {shown}{more}"


def _disk(op, x: "Exporter", name: str):
    """A disk operation of the export, its OSError as the disk's typed error."""
    try:
        return op()
    except IsADirectoryError:
        raise errors.LocalExists(f"{name[:60]!r} is a directory on the disk: not replaced") from None
    except OSError as e:
        raise x.disk_error(e, name) from None


def _write_all(fd: int, piece, x: "Exporter", name: str) -> None:
    view = memoryview(piece)
    while view:
        view = view[_disk(lambda: os.write(fd, view), x, name):]


def _drop(tmp: str, dir_fd: int) -> None:
    try:
        os.unlink(tmp, dir_fd=dir_fd)
    except FileNotFoundError:
        pass


def _link_new(tmp: str, name: str, dir_fd: int, x: "Exporter") -> None:
    """Put the finished temp file in place without replacing anything: `linkat`, or on a disk
    without hard links (FAT, some network and FUSE filesystems) a rename after checking the
    name is free."""
    try:
        os.link(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
    except FileExistsError:
        raise errors.LocalExists(f"{name[:60]!r} is already there (use --force to replace it)") from None
    except OSError as e:
        if e.errno not in _NO_LINK:
            raise x.disk_error(e, name) from None
        try:
            os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            _disk(lambda: os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd), x, name)
            return
        except OSError as e:
            raise x.disk_error(e, name) from None
        raise errors.LocalExists(f"{name[:60]!r} is already there (use --force to replace it)") from None
    _disk(lambda: os.unlink(tmp, dir_fd=dir_fd), x, name)


def _open_target(target: Path) -> int:
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    return os.open(target, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


async def export(files, path: str, dest: str | Path, *, overwrite: bool = False, windows: bool | None = None,
                 notice: Callable[[str], None] | None = None) -> dict:
    """Copy the folder path `path` to the local `dest`, the way `cp -r` does: into `dest` if it is
    an existing directory, else as `dest`. {"written": [relative paths], "skipped": [...],
    "refused": [], "bytes": n}; ExportRefused (after writing the rest) if anything was refused."""
    split_path(path)                                  # a bad folder path is the user's typo: before any I/O
    x = Exporter(overwrite=overwrite, windows=windows, notice=notice)
    src = _Source(files, path)
    entry = await src.start()
    dest = Path(dest)
    top = src.comps[-1] if src.comps else None
    if dest.is_dir():
        parent, name = dest, top
    else:
        parent, name = dest.parent, dest.name
    if entry is not None and entry["type"] == "symlink":
        raise errors.UnsafeExport(f"{path!r} is a symlink: not exported")
    if name is None:                                  # a folder root into a new directory: dest itself
        parent, name = dest, None
    fd = _open_target(parent)
    x.local = parent / name if name is not None else parent
    try:
        if entry is None or entry["type"] == "dir":
            entries = await x.listing(src, ())
            if entries is not None and name is None:
                await x.tree(src, fd, entries, ())
            elif entries is not None:
                if dest.is_dir() and top is not None:
                    export_relpath((name,), entry_type="dir", windows=x.windows)
                sub = x.open_subdir(fd, name)
                try:
                    await x.tree(src, sub, entries, ())
                finally:
                    os.close(sub)
        else:
            if dest.is_dir():
                export_relpath((name,), entry_type=entry["type"], windows=x.windows)
            await x.write_file(fd, name, src.chunks(()), mtime=entry.get("mtime"), executable=entry["type"] == "exec")
            x.written.append(name)
    finally:
        os.close(fd)
    return x.finish()
