"""`kbapp fs ...`: encrypted folders (issue 16): ls, stat, read, write, cp, mv, rm, mkdir,
history, restore, status, sync, share.

A thin shell over `app.files` (kbapp/client/fs/) and the copies in client/fs/copy.py and
export.py. A write returns once the sealed blocks and the journal row are on disk; reads
show only what the folder's judge and the transparency log verified. Any lie from the
server exits 3 (main.py's handler for VerificationError), a usage mistake 2; names and text
from other people are printed escaped (no control or bidi character reaches the terminal).
"""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import os
import re
import stat
import sys
from pathlib import Path

from kbapp.cli.argv import json_flag
from kbapp.core import errors
from kbapp.core.display import one_line

EXIT_USAGE = 2


def add_parser(sub) -> None:
    s = sub.add_parser("fs", help="encrypted folders: /private/alice,bob, /public/alice, /team/acme")
    c = s.add_subparsers(dest="fs_cmd", required=True)

    def cmd(name: str, help: str) -> argparse.ArgumentParser:
        return json_flag(c.add_parser(name, help=help))

    p = cmd("ls", "list a folder or directory (-l: size, time, writer)")
    p.add_argument("path")
    p.add_argument("-l", dest="long", action="store_true", help="long listing")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--rev", type=int, default=None, help="as of this folder revision")
    g.add_argument("--time", default=None, help="as of this time (ISO 8601, or seconds since the epoch)")
    p = cmd("stat", "one entry: type, size, time, writer, revision")
    p.add_argument("path")
    p.add_argument("--rev", type=int, default=None)
    p = cmd("read", "read PATH to DEST (default: stdout)")
    p.add_argument("path")
    p.add_argument("dest", nargs="?", default=None)
    p.add_argument("--rev", type=int, default=None)
    p = cmd("write", "write a local file (or '-' for stdin) to PATH; returns once journaled (and uploaded)")
    p.add_argument("path")
    p.add_argument("local", help="local file, or - for stdin")
    p.add_argument("--no-upload", action="store_true", help="only journal it (upload later: kbapp fs sync)")
    p = cmd("cp", "copy SRC to DST, either side local or a folder path")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("-r", "--recursive", action="store_true", help="copy directories")
    p.add_argument("-f", "--force", action="store_true", help="replace local files that are already there")
    p.add_argument("--no-upload", action="store_true", help="only journal (upload later: kbapp fs sync)")
    p = cmd("mv", "move or rename (across folders: copy, then remove)")
    p.add_argument("src")
    p.add_argument("dst")
    p = cmd("rm", "remove a file (-r: a directory and everything in it)")
    p.add_argument("path")
    p.add_argument("-r", "--recursive", action="store_true")
    p = cmd("mkdir", "make a directory (-p: and its parents, no error if it exists)")
    p.add_argument("path")
    p.add_argument("-p", "--parents", action="store_true")
    p = cmd("history", "the verified revisions that changed PATH: who, when, what")
    p.add_argument("path")
    p = cmd("restore", "write PATH as it was at revision N (a new change)")
    p.add_argument("path")
    p.add_argument("--rev", type=int, required=True)
    p = cmd("rollback", "roll a whole folder back to revision N with a new revision (a head no one can read)")
    p.add_argument("folder")
    p.add_argument("--rev", type=int, required=True)
    cmd("status", "the local journal and uploads: pending files and bytes, speed, ETA, errors")
    p = cmd("sync", "upload everything pending and wait for it")
    p.add_argument("--timeout", type=float, default=None, help="seconds to wait at most")
    p = cmd("share", "who reads and writes the folder of PATH, from the verified team")
    p.add_argument("path")
    from .fs_mount import add_arguments as mount_arguments
    mount_arguments(cmd("mount", "mount every folder at DIR through FUSE until Ctrl+C (needs libfuse3)"))


shown = one_line          # another writer's name as one safe line (kbapp/core/display.py)


def _when(ns: object) -> str:
    if not isinstance(ns, int) or ns <= 0:
        return "-"
    try:
        return dt.datetime.fromtimestamp(ns / 1e9, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    except (ValueError, OverflowError, OSError):      # a writer's claim past year 9999: shown, not a crash
        return f"@{ns // 10**9}s"


def _ls_text(rows: list[dict], long: bool = False) -> str:
    if not rows:
        return "(empty)"
    out = []
    for r in sorted(rows, key=lambda r: r["name"]):
        mark = " *" if r.get("pending") else ""
        if long:
            out.append(f"{r['type']:<7} {r.get('size', 0):>12}  {_when(r.get('mtime'))}  "
                       f"{str(r.get('writer', ''))[:12]:<12}  {shown(r['name'])}{mark}")
        else:
            out.append(f"{r['type']:<7} {r.get('size', 0):>12}  {shown(r['name'])}{mark}")
    return "\n".join(out)


def _parse_time(text: str) -> int:
    """Seconds since the epoch from digits or ISO 8601 (UTC unless it says otherwise)."""
    if text.isdigit():
        return int(text)
    t = dt.datetime.fromisoformat(text)
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return int(t.timestamp())


async def _write_dest(dest: str, pieces) -> int:
    """Streamed to a temp name beside DEST, fsynced and renamed: never a half file at DEST."""
    target = Path(dest)
    if target.is_dir():                  # found before anything is fetched, not by the rename
        raise errors.LocalTypeRefused(f"{shown(dest)!r} is a directory: name the file to write")
    try:
        mode = os.stat(target).st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        return await _stream_into(target, pieces)     # a fifo, /dev/stdout, a terminal: written, never replaced
    tmp = target.with_name(f".{target.name[:32]}.kbapp-{os.getpid()}.tmp")     # never past NAME_MAX
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    size = 0
    try:
        with os.fdopen(fd, "wb") as f:
            async for piece in pieces:
                f.write(piece)
                size += len(piece)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return size


_STD_PATH = re.compile(r"/dev/(stdout|stderr|tty)|/dev/fd/\d+|/proc/self/fd/\d+")


async def _stream_into(target: Path, pieces) -> int:
    """Into something that is not a regular file (`fs read X /dev/stdout`, a fifo of yours,
    `>(cmd)`): opened for writing as it is, streamed, never renamed over (that replaced a
    device node or a fifo with a plain file). Decrypted bytes go only where the user meant:
    a node is written to only if it is a fifo or a character device this user owns (one
    planted in a shared directory by someone else is refused), or one of the process's own
    streams; no symlink is followed except those `/dev/fd` paths; a fifo nobody reads is an
    error, not a wait."""
    import fcntl

    text = str(target)
    own_stream = _STD_PATH.fullmatch(text) is not None
    flags = os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | (0 if own_stream else os.O_NOFOLLOW)
    try:
        fd = os.open(target, flags)
    except OSError as e:
        if e.errno == errno.ENXIO:
            raise errors.LocalWriteFailed(f"{shown(text)!r}: no program is reading it (a fifo without a reader, "
                                          "or a socket)") from None
        raise errors.LocalWriteFailed(f"{shown(text)!r} could not be opened for writing: {e.strerror}") from None
    try:
        info = os.fstat(fd)
        shared_device = stat.S_ISCHR(info.st_mode) and info.st_mode & stat.S_IWOTH    # /dev/null, /dev/tty
        if not (stat.S_ISFIFO(info.st_mode) or stat.S_ISCHR(info.st_mode)) or \
                (not own_stream and not shared_device and info.st_uid != os.geteuid()):
            raise errors.LocalTypeRefused(f"{shown(text)!r} is not a file, nor a fifo or device of yours: "
                                          "not written (name a new file)")
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    size = 0
    with os.fdopen(fd, "wb") as f:
        async for piece in pieces:
            f.write(piece)
            size += len(piece)
    return size


def _need(files, method: str):
    fn = getattr(files, method, None)
    if fn is None:
        raise errors.NotSupported(f"`kbapp fs {method}` needs the folder engine's {method} (not built yet)")
    return fn


def _note(args):
    """Notices (skipped symlinks and special files) go to stderr, never into --json output."""
    return lambda m: print(f"kbapp: {shown(m)}", file=sys.stderr)


def _usage(msg: str) -> int:
    print(f"kbapp fs: {msg}", file=sys.stderr)
    return EXIT_USAGE


async def _cp(app, args, emit) -> int:
    from kbapp.client.fs.copy import copy, is_folder_path

    if not is_folder_path(args.src) and not is_folder_path(args.dst):
        return _usage("one side of cp is a folder path (/private/..., /public/..., /team/...)")

    def acked(row: dict) -> None:               # one line per acknowledged (journaled) file, at once
        if not getattr(args, "json", False):
            print(f"journaled {shown(row['path'])} ({row['size']} bytes)", flush=True)
        else:
            print(f"kbapp: journaled {shown(row['path'])}", file=sys.stderr, flush=True)

    out = await copy(app.files, args.src, args.dst, recursive=args.recursive, overwrite=args.force,
                     upload=not args.no_upload, notice=_note(args), on_file=acked)
    n = len(out.get("written", []))
    failed = out.get("failed") or []
    emit(args, out, f"copied {n} file(s), {out.get('bytes', 0)} bytes"
                    + (f", skipped {len(out['skipped'])}" if out.get("skipped") else "")
                    + (f", {len(failed)} NOT copied (changed or unreadable since the scan): "
                       + "; ".join(shown(f["local"]) for f in failed[:10]) if failed else ""))
    return 1 if failed else 0


async def _mv(app, args, emit) -> int:
    from kbapp.client.fs.copy import copy, is_folder_path
    from kbapp.core.fs.names import split_path

    if not (is_folder_path(args.src) and is_folder_path(args.dst)):
        return _usage("mv moves within encrypted folders; use cp to or from the local disk")
    files = app.files
    if split_path(args.src)[0] == split_path(args.dst)[0]:
        out = await _need(files, "mv")(args.src, args.dst)
    else:                                        # across folders: copy, then remove once uploaded
        out = await copy(files, args.src, args.dst, recursive=True, notice=_note(args))
        if out.get("failed") or out.get("skipped"):     # never remove what was not copied (symlinks too)
            n = len(out.get("failed") or []) + len(out.get("skipped") or [])
            raise errors.LocalReadFailed(f"not moved: {n} entr{'y' if n == 1 else 'ies'} could not be copied "
                                         f"(symlinks are not copied across folders); {shown(args.src)} is left "
                                         f"as it was and the copy is at {shown(args.dst)}")
        await _need(files, "rm")(args.src, recursive=True)
    emit(args, out, f"moved {shown(args.src)} -> {shown(args.dst)}")
    return 0


def _history_text(rows: list[dict]) -> str:
    if not rows:
        return "(no revisions)"
    return "\n".join(f"r{r.get('revision')}  {_when((r.get('time') or 0) * 10**9)}  "
                     f"{shown(r.get('username') or r.get('writer', '?')):<16} {r.get('op', ''):<8} "
                     + (f"to r{r.get('rolled_back_to')}" if r.get("op") == "rollback" else f"{r.get('size', '')}")
                     for r in rows)


def _share_text(out: dict) -> str:
    lines = [f"folder {shown(out.get('folder', ''))}"]
    for role in ("writers", "readers"):
        people = out.get(role)
        if people is None:
            continue
        names = ", ".join(shown(p.get("username", p) if isinstance(p, dict) else p) for p in people) or "-"
        lines.append(f"{role}: {names}")
    return "\n".join(lines)


async def _status(files, args, emit) -> int:
    st = await files.status()
    extra = ""
    if st.get("speed_bps"):
        extra = f", {st['speed_bps'] / 1e6:.1f} MB/s, ETA {st.get('eta_s') or 0:.0f} s"
    if st.get("paused"):
        extra += " (paused)"
    failed = st.get("failed")
    emit(args, st, f"{st['pending']} file(s) pending upload ({st['pending_bytes']} bytes), "
                    f"{st['uploaded']} uploaded" + (f", {len(failed) if isinstance(failed, list) else failed} "
                                                    f"failed" if failed else "") + extra)
    return 0


async def _read(files, args, emit) -> int:
    kw = {"rev": args.rev} if args.rev is not None else {}
    pieces = files.open_read(args.path, **kw)           # streamed: memory stays flat
    if args.dest is not None:
        size = await _write_dest(args.dest, pieces)
        emit(args, {"path": args.path, "size": size, "dest": args.dest},
             f"read {shown(args.path)} ({size} bytes) -> {args.dest}")
    elif getattr(args, "json", False):
        size = 0
        async for piece in pieces:
            size += len(piece)
        emit(args, {"path": args.path, "size": size}, "")
    else:
        async for piece in pieces:
            sys.stdout.buffer.write(piece)
        sys.stdout.buffer.flush()
    return 0


def _check_user_paths(args) -> None:
    """Folder paths the user typed, checked before anything runs: a typo (`..`, a bad folder
    name) is the user's input (FS_PATH_REFUSED, exit 1), not a writer's hostile name (exit 3)."""
    from kbapp.client.fs.copy import is_folder_path
    from kbapp.core.fs.names import split_path

    for attr in ("path", "src", "dst", "folder"):
        v = getattr(args, attr, None)
        if isinstance(v, str) and is_folder_path(v):
            try:
                split_path(v)
            except (errors.BadPathName, errors.BadFolderName) as e:
                raise errors.FsPathRefused(f"{shown(v)}: {e}") from None


async def run(app, args, emit) -> int:
    files = app.files
    c = args.fs_cmd
    _check_user_paths(args)
    if c == "status":
        return await _status(files, args, emit)
    if not app.connected:
        await app.connect()
    if c == "write":
        data = sys.stdin.buffer if args.local == "-" else Path(args.local)     # stdin streamed: flat memory
        if isinstance(data, Path) and not data.is_file():
            raise errors.NotFound(f"no local file {args.local!r}")
        out = await files.write(args.path, data, upload=not args.no_upload)
        emit(args, out, f"{out['state']}: {shown(args.path)} ({out['size']} bytes)")
        return 0
    if c == "read":
        return await _read(files, args, emit)
    if c == "ls":
        kw = {}
        if args.rev is not None:
            kw["rev"] = args.rev
        if args.time is not None:
            try:
                kw["time"] = _parse_time(args.time)
            except ValueError:
                return _usage(f"--time {args.time!r}: ISO 8601 (2026-12-07T08:00) or seconds since the epoch")
        rows = await files.ls(args.path, **kw)
        emit(args, rows, _ls_text(rows, args.long))
        return 0
    if c == "stat":
        row = await _need(files, "stat")(args.path, **({"rev": args.rev} if args.rev is not None else {}))
        emit(args, row, "\n".join(f"{k}: {shown(v)}" for k, v in row.items()))
        return 0
    if c == "cp":
        return await _cp(app, args, emit)
    if c == "mv":
        return await _mv(app, args, emit)
    if c == "rm":
        out = await _need(files, "rm")(args.path, recursive=args.recursive)
        emit(args, out, f"removed {shown(args.path)}")
        return 0
    if c == "mkdir":
        out = await _need(files, "mkdir")(args.path, parents=args.parents)
        emit(args, out, f"made {shown(args.path)}")
        return 0
    if c == "history":
        rows = await _need(files, "history")(args.path)
        emit(args, rows, _history_text(rows))
        return 0
    if c == "restore":
        out = await _need(files, "restore")(args.path, args.rev)
        emit(args, out, f"restored {shown(args.path)} as of revision {args.rev}")
        return 0
    if c == "rollback":
        out = await _need(files, "rollback")(args.folder, args.rev)
        emit(args, out, f"rolled {shown(args.folder)} back to revision {args.rev} (as revision {out['revision']})")
        return 0
    if c == "sync":
        from kbapp.client.fs.copy import upload_all
        out = await upload_all(files, args.timeout)
        emit(args, out, "everything is uploaded")
        return 0
    if c == "mount":
        from .fs_mount import run as mount
        return await mount(app, args, emit)
    if c == "share":
        out = await _need(files, "share")(args.path)
        emit(args, out, _share_text(out))
        return 0
    raise errors.NotSupported(f"kbapp fs {c}")
