"""`kbapp fs mount DIR`: every folder as a real filesystem, through FUSE (mfusepy, libfuse3).

The kernel calls us on FUSE's own thread; each call becomes one `app.files` coroutine run
on the app's asyncio loop (`run_coroutine_threadsafe`), so the mount reads and writes
through the same verified engine and journal as the CLI and the Files page: a file written
here is acknowledged when the journal has it (at close), then uploaded in the background.

Layout: `/private`, `/public`, `/team`, then one directory per folder we know
(`known_folders`) and any other folder opened by name (`cd /mnt/private/alice,carol`).
Reads of an open file are served from a private spool (a temporary file: flat memory
for big files); writes go to a spool too and are handed to the journal on release.
Attributes are cached for a second: `ls -l` of a big directory is one listing, not one
call per name.

Another writer is not trusted: a name the core's `check_component` refuses never reaches the
kernel (logged), a symlink is shown only when its target stays inside its folder (an absolute
or `../..` target is refused: the kernel would follow it out of the mount), and a read-only
member gets EACCES at open/create/mkdir time, before any byte is spooled. A mount left
behind by a killed process ("Transport endpoint is not connected") is lazily unmounted by the
next `Mount.start`, or the error says the `fusermount3 -uz` to run.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import posixpath
import stat
import tempfile
import threading
import time
from dataclasses import dataclass, field

from kbapp.core import errors
from kbapp.core.fs.names import KINDS, MAX_PATH_DEPTH, check_component, parse_folder_name

log = logging.getLogger(__name__)

TTL = 1.0                 # seconds an attribute or listing is trusted
CALL_TIMEOUT = 600.0      # one kernel call waits at most this long for the engine

try:                                        # an optional extra: `pip install 'kbapp[mount]'`
    import mfusepy as fuse
    MISSING = None
except (ImportError, OSError) as e:        # OSError: the module is there, libfuse3 is not
    fuse = None
    MISSING = str(e)

HOW_TO_GET_FUSE = ("Mounting needs FUSE: install libfuse3 (Debian/Ubuntu: sudo apt install fuse3) and the "
                   "mount extra (pip install 'kbapp[mount]'). The Files page works without it.")


def available() -> str | None:
    """None when a mount can work here, else the reason in words."""
    if fuse is None:
        return f"{HOW_TO_GET_FUSE} ({MISSING})"
    if not os.path.exists("/dev/fuse"):
        return f"{HOW_TO_GET_FUSE} (/dev/fuse is missing)"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "/dev/fuse is there but this user may not use it (ask for access to it, e.g. the fuse group)"
    return None


def _errno_of(e: BaseException) -> int:
    if isinstance(e, errors.NotFound):
        return errno.ENOENT
    if isinstance(e, (errors.FolderNotWriter, errors.MountLinkRefused)):
        return errno.EACCES
    if isinstance(e, errors.ReadOnlyView):
        return errno.EROFS
    if isinstance(e, errors.TreeTooDeep):
        return errno.ENAMETOOLONG
    if isinstance(e, errors.JournalFull if hasattr(errors, "JournalFull") else ()):
        return errno.ENOSPC
    if isinstance(e, errors.FsPathRefused):
        msg = str(e)
        return (errno.ENOTEMPTY if "not empty" in msg else errno.ENOTDIR if "not a directory" in msg
                else errno.EISDIR if "is a directory" in msg else errno.EINVAL)
    if isinstance(e, (errors.BadPathName, getattr(errors, "BadFolderName", errors.BadPathName))):
        return errno.EINVAL
    if isinstance(e, errors.VerificationError):
        return errno.EIO
    if isinstance(e, errors.KbappError):
        msg = str(e).lower()
        if "not empty" in msg:
            return errno.ENOTEMPTY
        if "exists" in msg:
            return errno.EEXIST
        if "not a directory" in msg:
            return errno.ENOTDIR
        return errno.EIO
    return errno.EIO


@dataclass
class _Open:
    path: str
    spool: object                       # a temporary file holding the content
    dirty: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


def _caller_tid() -> int | None:
    """The kernel thread id of the process thread whose call this is (FUSE's context pid)."""
    try:
        return int(fuse.fuse_get_context()[2])
    except Exception:                       # noqa: BLE001 - no context outside a FUSE call
        return None


def _mode(row: dict) -> int:
    t = row.get("type")
    if t == "dir":
        return stat.S_IFDIR | 0o755
    if t == "symlink":
        return stat.S_IFLNK | 0o777
    return stat.S_IFREG | (0o755 if t == "exec" else 0o644)


_Base = fuse.Operations if fuse is not None else object


class FolderFS(_Base):
    """The FUSE operations over `app.files` (runs on FUSE's thread; the engine on `loop`)."""

    use_ns = True
    loop_tid: int | None = None     # the native id of the thread running `loop` (set by Mount)

    def __init__(self, app, loop: asyncio.AbstractEventLoop):
        self.app, self.loop = app, loop
        self.uid, self.gid = os.getuid(), os.getgid()
        self._attr: dict[str, tuple[float, dict | None]] = {}
        self._dirs: dict[str, tuple[float, list[dict]]] = {}
        self._known: tuple[float, list[str]] = (0.0, [])
        self._fh: dict[int, _Open] = {}
        self._next = 1
        self._lock = threading.Lock()
        self._born = time.monotonic()

    # -- plumbing -------------------------------------------------------------------------

    def _call(self, coro):
        if self.loop_tid is not None and _caller_tid() == self.loop_tid:
            # The engine's own thread (the GUI's, when the app mounts) touched the mount, e.g. a
            # file dialog listing it: waiting for that thread's loop would wait forever.
            coro.close()
            raise fuse.FuseOSError(errno.EDEADLK)
        try:
            return asyncio.run_coroutine_threadsafe(coro, self.loop).result(CALL_TIMEOUT)
        except BaseException as e:          # noqa: BLE001: every error becomes an errno for the kernel
            if isinstance(e, fuse.FuseOSError):
                raise
            log.info("mount: %s", e)
            raise fuse.FuseOSError(_errno_of(e)) from None

    def forget(self, path: str | None = None) -> None:
        """Drop cached attributes and listings (a folder changed; we wrote)."""
        if path is None:
            self._attr.clear()
            self._dirs.clear()
            return
        parent = path.rsplit("/", 1)[0] or "/"
        for p in (path, parent):
            self._attr.pop(p, None)
            self._dirs.pop(p, None)

    def _split(self, path: str) -> tuple[str | None, str | None]:
        """(kind, folder path) for `/kind/...`; (None, None) for the root."""
        parts = path.strip("/").split("/")
        if not parts[0]:
            return None, None
        if parts[0] not in KINDS:
            raise fuse.FuseOSError(errno.ENOENT)
        if len(parts) == 1:
            return parts[0], None
        try:
            return parts[0], str(parse_folder_name(f"/{parts[0]}/{parts[1]}"))
        except errors.KbappError:
            raise fuse.FuseOSError(errno.ENOENT) from None

    def _known_folders(self) -> list[str]:
        t, names = self._known
        if time.monotonic() - t > TTL * 10:
            from .known import known_folders
            me = self.app.ctx.username or ""
            names = self._call(known_folders(self.app.files, self.app.teams, me))
            self._known = (time.monotonic(), names)
        return names

    def _listing(self, path: str) -> list[dict]:
        hit = self._dirs.get(path)
        if hit and time.monotonic() - hit[0] < TTL:
            return hit[1]
        # a folder and head verified while this mount is up, at most TTL ago, will do: a walk down
        # a deep tree is not a team load and a head sync per directory (256 levels: 79 s -> 15 s)
        rows = self._call(self.app.files.ls(path, max_age=min(TTL, time.monotonic() - self._born)))
        now = time.monotonic()
        self._dirs[path] = (now, rows)
        for r in rows:
            self._attr[f"{path}/{r['name']}"] = (now, r)
        return rows

    def _dir_attr(self) -> dict:
        now = time.time_ns()
        return {"st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2, "st_uid": self.uid, "st_gid": self.gid,
                "st_atime": now, "st_mtime": now, "st_ctime": now}

    # -- reading the tree -----------------------------------------------------------------

    def getattr(self, path, fh=None):
        if fh is not None and fh in self._fh:
            o = self._fh[fh]
            with o.lock:
                size = os.fstat(o.spool.fileno()).st_size
            a = self._dir_attr() | {"st_mode": stat.S_IFREG | 0o644, "st_nlink": 1, "st_size": size}
            return a
        kind, folder = self._split(path)
        if folder is None or path.rstrip("/") == folder.rstrip("/"):
            return self._dir_attr()
        if path[len(folder):].strip("/").count("/") >= MAX_PATH_DEPTH:    # a hostile tree deeper than a path
            raise fuse.FuseOSError(_errno_of(errors.TreeTooDeep(f"a path is at most {MAX_PATH_DEPTH} names deep")))
        hit = self._attr.get(path)
        if hit is None or time.monotonic() - hit[0] >= TTL:
            parent, name = path.rsplit("/", 1)
            rows = self._listing(parent)
            row = next((r for r in rows if r.get("name") == name), None)
            self._attr[path] = (time.monotonic(), row)
            hit = self._attr[path]
        row = hit[1]
        if row is None:
            raise fuse.FuseOSError(errno.ENOENT)
        mtime = int(row.get("mtime") or 0)
        return {"st_mode": _mode(row), "st_nlink": 2 if row.get("type") == "dir" else 1,
                "st_size": int(row.get("size") or 0), "st_uid": self.uid, "st_gid": self.gid,
                "st_mtime": mtime, "st_ctime": mtime, "st_atime": mtime}

    def readdir(self, path, fh):
        kind, folder = self._split(path)
        if kind is None:
            return [".", "..", *KINDS]
        if folder is None:
            prefix = f"/{kind}/"
            return [".", "..", *(p[len(prefix):] for p in self._known_folders() if p.startswith(prefix))]
        try:
            rows = self._listing(path.rstrip("/"))
        except fuse.FuseOSError as e:
            if e.errno == errno.ENOENT and path.rstrip("/") == folder:
                return [".", ".."]          # a folder never written is empty
            raise
        return [".", "..", *self._safe_names(path, rows)]

    def _safe_names(self, path: str, rows: list[dict]) -> list[str]:
        """The names the kernel may get: what the core's name rules accept (a hostile writer's
        `..`, `a/b`, NUL, bidi or 300-byte name is left out, and logged)."""
        out, bad = [], []
        for r in rows:
            name = r.get("name")
            try:
                out.append(check_component(name))
            except errors.KbappError:
                bad.append(repr(name)[:60])
        if bad:
            log.warning("mount: %d name(s) in %s refused by the name rules and not shown: %s",
                        len(bad), path, ", ".join(bad[:5]))
        return out

    def readlink(self, path):
        """The target of a symlink, only if it stays inside its folder: relative, and never
        above the folder's root once `..` are applied (the kernel follows what we return)."""
        kind, folder = self._split(path)
        if folder is None:
            raise fuse.FuseOSError(errno.EINVAL)
        self.getattr(path)
        row = (self._attr.get(path) or (0, None))[1]
        if row is None or row.get("type") != "symlink" or not isinstance(row.get("target"), str):
            raise fuse.FuseOSError(errno.EINVAL)
        target = row["target"]
        inside = path[len(folder):].strip("/").split("/")[:-1]       # the link's directory in the folder
        resolved = posixpath.normpath(posixpath.join("/".join(inside) or ".", target))
        if target.startswith("/") or resolved == ".." or resolved.startswith("../") or "\0" in target:
            log.warning("mount: symlink %s -> %r leaves its folder: refused", path, target[:80])
            raise fuse.FuseOSError(_errno_of(errors.MountLinkRefused(f"{path} points outside its folder")))
        return target

    def _check_writable(self, path: str) -> None:
        """EACCES (or EROFS for a read-only view) now, before a byte is spooled, for a member
        who cannot write this folder (a reader, `alice#bob` for bob)."""
        self._split(path)
        self._call(self.app.files.check_writable(path))

    # -- files ----------------------------------------------------------------------------

    def _new_fh(self, o: _Open) -> int:
        with self._lock:
            fh = self._next
            self._next += 1
            self._fh[fh] = o
        return fh

    def open(self, path, flags):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC):
            self._check_writable(path)
        spool = tempfile.TemporaryFile()
        if not flags & os.O_TRUNC:
            async def fill():
                async for chunk in self.app.files.open_read(path):
                    await asyncio.to_thread(spool.write, chunk)
            self._call(fill())
        writing = flags & (os.O_WRONLY | os.O_RDWR)
        return self._new_fh(_Open(path, spool, dirty=bool(writing and flags & os.O_TRUNC)))

    def create(self, path, mode, fi=None):
        self._check_writable(path)
        return self._new_fh(_Open(path, tempfile.TemporaryFile(), dirty=True))

    def read(self, path, size, offset, fh):
        o = self._fh[fh]
        with o.lock:
            o.spool.seek(offset)
            return o.spool.read(size)

    def write(self, path, data, offset, fh):
        o = self._fh[fh]
        with o.lock:
            o.spool.seek(offset)
            o.spool.write(data)
            o.dirty = True
        return len(data)

    def truncate(self, path, length, fh=None):
        if fh is not None and fh in self._fh:
            o = self._fh[fh]
            with o.lock:
                o.spool.truncate(length)
                o.dirty = True
            return 0
        fh = self.open(path, os.O_RDWR)
        try:
            return self.truncate(path, length, fh)
        finally:
            self.release(path, fh)

    def flush(self, path, fh):
        return self._commit(fh)

    def fsync(self, path, datasync, fh):
        return self._commit(fh)

    def _commit(self, fh) -> int:
        o = self._fh.get(fh)
        if o is None or not o.dirty:
            return 0
        with o.lock:
            o.spool.seek(0)
            self._call(self.app.files.write(o.path, o.spool, upload=False))
            o.dirty = False
        self.forget(o.path)
        return 0

    def release(self, path, fh):
        try:
            self._commit(fh)
        finally:
            o = self._fh.pop(fh, None)
            if o is not None:
                o.spool.close()
        return 0

    # -- the tree -------------------------------------------------------------------------

    def mkdir(self, path, mode):
        self._check_writable(path)
        self._call(self.app.files.mkdir(path))
        self.forget(path)

    def rmdir(self, path):
        self._call(self.app.files.rm(path))
        self.forget(path)

    def unlink(self, path):
        self._call(self.app.files.rm(path))
        self.forget(path)

    def rename(self, old, new):
        self._call(self.app.files.mv(old, new))
        self.forget(old)
        self.forget(new)

    def chmod(self, path, mode):
        return 0

    def chown(self, path, uid, gid):
        return 0

    def utimens(self, path, times=None):
        return 0

    def statfs(self, path):
        return {"f_bsize": 4096, "f_frsize": 4096, "f_blocks": 1 << 30, "f_bfree": 1 << 29,
                "f_bavail": 1 << 29, "f_namemax": 255}


class Mount:
    """A mounted `FolderFS` on a thread of its own; `close()` unmounts cleanly."""

    def __init__(self, app, mountpoint, loop: asyncio.AbstractEventLoop | None = None):
        reason = available()
        if reason is not None:
            raise errors.MountUnavailable(reason)
        self.mountpoint = os.fspath(mountpoint)
        self.ops = FolderFS(app, loop or asyncio.get_running_loop())
        self.ops.loop_tid = threading.get_native_id()      # made on the loop's thread (async callers)
        self._thread = threading.Thread(target=self._serve, name="kbapp-fuse", daemon=True)
        self.error: BaseException | None = None

    def _serve(self) -> None:
        try:
            fuse.FUSE(self.ops, self.mountpoint, foreground=True, nothreads=True, fsname="kbapp",
                      default_permissions=True)
        except BaseException as e:          # noqa: BLE001: reported by start()/close()
            self.error = e

    async def _clean_stale(self) -> None:
        """A mount left by a killed process answers ENOTCONN: unmount it lazily, or say how."""
        try:
            await asyncio.to_thread(os.stat, self.mountpoint)
            return
        except OSError as e:
            if e.errno != errno.ENOTCONN:
                return
        proc = await asyncio.create_subprocess_exec("fusermount3", "-uz", self.mountpoint,
                                                    stderr=asyncio.subprocess.DEVNULL)
        await proc.wait()
        if proc.returncode != 0:
            raise errors.MountStale(f"{self.mountpoint} holds a dead mount (its process was killed): "
                                    f"run `fusermount3 -uz {self.mountpoint}` (or `umount -l`), then mount again")
        log.warning("mount: cleaned a dead mount left at %s", self.mountpoint)

    async def start(self, timeout: float = 10.0) -> "Mount":
        await self._clean_stale()
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not os.path.ismount(self.mountpoint):
            if self.error is not None or not self._thread.is_alive():
                raise RuntimeError(f"the mount failed: {self.error or 'FUSE stopped'}")
            if time.monotonic() > deadline:
                raise RuntimeError("the mount did not appear in time")
            await asyncio.sleep(0.05)
        return self

    async def close(self) -> None:
        if os.path.ismount(self.mountpoint):
            proc = await asyncio.create_subprocess_exec("fusermount3", "-u", self.mountpoint)
            await proc.wait()
            if proc.returncode != 0:
                proc = await asyncio.create_subprocess_exec("fusermount3", "-uz", self.mountpoint)
                await proc.wait()
        await asyncio.to_thread(self._thread.join, 10)
