"""Copies between the local disk and encrypted folders (`kbapp fs cp`, `mv` across folders).

Local -> folder: the local tree is scanned first, without following symlinks; symlinks and
special files (fifos, devices, sockets) are skipped with a notice, and a name a folder
cannot hold (not UTF-8, controls, reserved on Windows...), two names that become one
folder name (`café` written two ways), a tree deeper than a folder holds or a directory
that cannot be read refuses the whole copy before any byte is written, naming every such
path, so a copy is never silently partial. Each file is then opened as the scan saw it
(local_read.py: never through a symlink swapped in since, never a fifo) and journaled by
`app.files.write` (acknowledged once durable: `on_file` hears of it); a file that vanished,
changed or cannot be read is listed in `failed` and the others go on. Directories and
files are uploaded together at the end. Folder -> local is `export.py`; folder -> folder goes through a
private temporary directory (export, then import).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import shutil
import stat as st
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from kbapp.core import errors
from kbapp.core.fs.names import MAX_PATH_DEPTH, normalise_component, split_path

from .export import export
from ..local_read import identity, open_regular, shown_path

Notice = Callable[[str], None]


def is_folder_path(text: str) -> bool:
    """A folder path (`/private/...`, `/public/...`, `/team/...`) rather than a local one."""
    return any(text == f"/{k}" or text.startswith(f"/{k}/") for k in ("private", "public", "team"))


def join(folder_path: str, *names: str) -> str:
    return "/".join([folder_path.rstrip("/"), *names])


@dataclass
class LocalScan:
    files: list[tuple[tuple[str, ...], Path]] = field(default_factory=list)   # (names below the root, local)
    dirs: list[tuple[str, ...]] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    refused: list[dict] = field(default_factory=list)
    bytes: int = 0
    ids: dict = field(default_factory=dict)           # local Path -> (st_dev, st_ino) as scanned


def _name(raw: str, local: Path, scan: LocalScan) -> str | None:
    """The folder name for a local name, or None (refused and listed)."""
    try:
        os.fsencode(raw).decode("utf-8")
    except UnicodeDecodeError:
        scan.refused.append({"path": shown_path(local),
                             "reason": "the name is not UTF-8: rename it"})
        return None
    try:
        return normalise_component(raw)
    except errors.BadPathName as e:
        scan.refused.append({"path": str(local), "reason": str(e)})
        return None


def scan_local(src: Path, notice: Notice) -> LocalScan:
    """What a copy of `src` (a file or a directory) would write, without following symlinks."""
    scan = LocalScan()
    info = os.lstat(src)
    if st.S_ISREG(info.st_mode):
        scan.files.append(((), src))
        scan.bytes = info.st_size
        scan.ids[src] = identity(info)
        return scan
    if not st.S_ISDIR(info.st_mode):
        raise errors.LocalTypeRefused(f"{str(src)!r} is not a regular file or directory")
    stack: list[tuple[tuple[str, ...], Path]] = [((), src)]
    while stack:
        rel, d = stack.pop()
        try:
            with os.scandir(d) as it:
                items = sorted(it, key=lambda e: e.name)
        except OSError as e:
            scan.refused.append({"path": shown_path(d), "reason": f"cannot read this directory: {e.strerror or e}"})
            continue
        names: dict[str, Path] = {}
        for item in items:
            local = Path(item.path)
            try:
                info = item.stat(follow_symlinks=False)
            except OSError:                      # gone since the listing: nothing to copy
                continue
            mode = info.st_mode
            if st.S_ISLNK(mode) or not (st.S_ISREG(mode) or st.S_ISDIR(mode)):
                kind = "symlink" if st.S_ISLNK(mode) else "special file"
                scan.skipped.append({"path": str(local), "reason": kind})
                notice(f"skipped {kind} {str(local)!r}")
                continue
            name = _name(item.name, local, scan)
            if name is None:
                continue
            if name in names:                    # NFC: two local files would be one in the folder
                scan.refused.append({"path": shown_path(local), "reason": f"the same folder name as "
                                     f"{shown_path(names[name])!r} ({name!r}): rename one of them"})
                continue
            names[name] = local
            if len(rel) + 1 > MAX_PATH_DEPTH:
                scan.refused.append({"path": shown_path(local), "reason": f"deeper than the {MAX_PATH_DEPTH} "
                                     "names a folder path holds"})
                continue
            if st.S_ISDIR(mode):
                scan.dirs.append(rel + (name,))
                stack.append((rel + (name,), local))
            else:
                scan.files.append((rel + (name,), local))
                scan.bytes += info.st_size
                scan.ids[local] = identity(info)
    return scan


async def folder_is_dir(files, path: str) -> bool | None:
    """True for a directory, False for a file, None if nothing is at `path`."""
    if not split_path(path)[1]:
        return True
    try:
        if hasattr(files, "stat"):
            return (await files.stat(path))["type"] == "dir"
        rows = await files.ls(path)
    except errors.NotFound:
        return None
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return not (len(rows) == 1 and rows[0]["name"] == last and rows[0]["type"] != "dir")


def _write_kw(files, info: os.stat_result) -> dict:
    """The local mtime and executable bit, where the engine's write takes them."""
    params = inspect.signature(files.write).parameters
    kw = {"mtime_ns": info.st_mtime_ns} if "mtime_ns" in params else {}
    if "executable" in params and info.st_mode & st.S_IXUSR:
        kw["executable"] = True
    return kw


async def import_local(files, src: Path, dst: str, *, recursive: bool = False, upload: bool = True,
                       notice: Notice = lambda _m: None, on_file: Callable[[dict], None] | None = None) -> dict:
    """Copy the local `src` to the folder path `dst` (into it if it is a directory, as `cp`)."""
    src = Path(src)
    scan = scan_local(src, notice)
    if scan.refused:
        shown = "; ".join(f"{r['path']}: {r['reason']}" for r in scan.refused[:10])
        raise errors.LocalNameRefused(f"nothing copied: {len(scan.refused)} local name(s) a folder cannot hold "
                                      f"or director(y/ies) that cannot be read ({shown})")
    is_dir = st.S_ISDIR(os.lstat(src).st_mode)
    if is_dir and not recursive:
        raise errors.LocalTypeRefused(f"{str(src)!r} is a directory (use -r)")
    where = await folder_is_dir(files, dst)
    if where or dst.endswith("/"):
        top = _name(Path(os.path.abspath(src)).name, src, scan)     # `cp -r . DST` or `..`: the directory's own name
        if top is None:
            raise errors.LocalNameRefused(f"nothing copied: {scan.refused[-1]['reason']} ({scan.refused[-1]['path']})")
        base = join(dst, top)
    else:
        base = dst.rstrip("/")
    written, failed = [], []

    def fail(path: str, local, e: errors.KbappError) -> None:
        failed.append({"path": path, "local": shown_path(local), "reason": str(e), "code": e.code})
        notice(f"not copied: {e}")

    try:
        if is_dir and hasattr(files, "mkdir"):
            await files.mkdir(base, parents=True, upload=False)
            for rel in scan.dirs:
                try:
                    await files.mkdir(join(base, *rel), parents=True, upload=False)
                except (errors.FsPathRefused, errors.PathExists) as e:     # a file of the folder in the way
                    fail(join(base, *rel), src.joinpath(*rel), e)
        for rel, local in scan.files:
            path = join(base, *rel) if rel else base
            try:
                out = await _write_one(files, path, local, scan, upload)
            except (errors.LocalTypeRefused, errors.LocalReadFailed, errors.FsPathRefused) as e:
                fail(path, local, e)          # this file only: changed, unreadable, or something in the way
                continue
            row = {"path": path, "size": out.get("size"), "entry": out.get("entry"), "local": str(local)}
            written.append(row)
            if on_file is not None:
                on_file(row)
    except Exception:                         # (a Ctrl-C or a cancel stops at once: nothing more is sent)
        if upload and written:                # what was journaled still goes out (then the error is told)
            with contextlib.suppress(errors.KbappError):
                await upload_all(files)
        raise
    result = {"written": written, "skipped": scan.skipped, "failed": failed, "dest": base,
              "bytes": sum(r.get("size") or 0 for r in written)}
    if upload:
        result["upload"] = await upload_all(files)
    return result


async def _write_one(files, path: str, local: Path, scan, upload: bool) -> dict:
    """One local file journaled at `path`. A journal at its cap is emptied by an upload first
    (when the copy uploads): a tree bigger than the cap is copied in several uploads instead
    of stopping at the same file on every try."""
    try:
        return await _journal_one(files, path, local, scan)
    except errors.JournalFull:
        if not upload:
            raise
    await upload_all(files)
    return await _journal_one(files, path, local, scan)


async def _journal_one(files, path: str, local: Path, scan) -> dict:
    stream = await asyncio.to_thread(open_regular, local, scan.ids.get(local))
    try:
        return await files.write(path, stream, upload=False, **_write_kw(files, os.fstat(stream.fileno())))
    finally:
        stream.close()


async def upload_all(files, timeout: float | None = None) -> dict:
    """Everything pending, uploaded (`sync` when the engine has it)."""
    if hasattr(files, "sync"):
        return await files.sync(timeout=timeout)
    return await files.upload()


async def copy(files, src: str, dst: str, *, recursive: bool = False, overwrite: bool = False, upload: bool = True,
               notice: Notice = lambda _m: None, on_file: Callable[[dict], None] | None = None) -> dict:
    """`kbapp fs cp SRC DST`: either side local or a folder path."""
    s_folder, d_folder = is_folder_path(src), is_folder_path(dst)
    if not s_folder and not d_folder:
        raise errors.NotSupported("one side of `kbapp fs cp` is a folder path (/private/..., /public/..., /team/...)")
    if not s_folder:
        return await import_local(files, Path(src), dst, recursive=recursive, upload=upload, notice=notice,
                                  on_file=on_file)
    src_dir = await folder_is_dir(files, src)
    if src_dir is None:
        raise errors.NotFound(f"no {src!r}")
    if src_dir and not recursive:
        raise errors.LocalTypeRefused(f"{src!r} is a directory (use -r)")
    if not d_folder:
        return await export(files, src, dst, overwrite=overwrite, notice=notice)
    async with _staging(files) as tmp:
        name = src.rstrip("/").rsplit("/", 1)[-1] if split_path(src)[1] else "root"
        staged = Path(tmp) / name
        exported = await export(files, src, staged, notice=notice)
        out = await import_local(files, staged, dst, recursive=True, upload=upload, notice=notice, on_file=on_file)
    out["skipped"] = list(exported.get("skipped") or []) + list(out.get("skipped") or [])   # symlinks: not copied
    return out


STAGING = "cp-staging"          # under the profile: decrypted copies between two folders, swept at start


@contextlib.asynccontextmanager
async def _staging(files):
    """A private directory for a folder-to-folder copy's decrypted files: in the profile (not
    /tmp: a crash there left plaintext where nothing would sweep it, on a disk often small),
    removed afterwards. Each has a lock file beside it (`<dir>.lock`, never among the copied
    names), locked while its copy runs; a directory whose lock is free belongs to a copy that
    was killed and is removed before the next one starts (a lock, not a pid: pids repeat, and
    one process may run two copies). The sweep and the making of a new directory happen under
    one lock of the whole area, so no sweep meets a directory not yet locked."""
    home = getattr(getattr(files, "ctx", None), "home", None)
    if home is None:
        with tempfile.TemporaryDirectory(prefix="kbapp-cp-") as tmp:
            yield tmp
        return
    tmp, fd = await asyncio.to_thread(_stage_open, Path(home) / STAGING)
    try:
        yield str(tmp)
    finally:
        await asyncio.to_thread(_stage_close, tmp, fd)


def _stage_open(root: Path) -> tuple[Path, int]:
    import fcntl

    root.mkdir(mode=0o700, exist_ok=True)
    area = _lock_fd(root / ".area.lock")
    try:
        fcntl.flock(area, fcntl.LOCK_EX)
        for old in root.iterdir():
            if old.is_dir() and not old.is_symlink():
                fd = _lock_fd(root / f"{old.name}.lock")
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue                              # a copy running now
                finally:
                    os.close(fd)
                shutil.rmtree(old, ignore_errors=True)
                (root / f"{old.name}.lock").unlink(missing_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root))
        fd = _lock_fd(root / f"{tmp.name}.lock")
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)    # new and unknown to others: never held
        return tmp, fd
    finally:
        os.close(area)


def _stage_close(tmp: Path, fd: int) -> None:
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp.parent / f"{tmp.name}.lock").unlink(missing_ok=True)
    os.close(fd)


def _lock_fd(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
