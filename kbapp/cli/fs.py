"""`kbapp fs ...`: encrypted folders (preview, issue 16): write, read, ls, status.

A thin shell over `app.files` (kbapp/client/fs/). A write returns once the sealed blocks and
the journal row are on disk, then uploads; `read` and `ls` show only what the folder's
judge and the transparency log verified. Any lie from the server exits 3 (main.py's handler
for VerificationError); names and text from other people are printed as plain text.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kbapp.cli.argv import json_flag
from kbapp.core import errors


def add_parser(sub) -> None:
    s = sub.add_parser("fs", help="encrypted folders (preview): /private/alice,bob, /public/alice, /team/acme")
    c = s.add_subparsers(dest="fs_cmd", required=True)

    def cmd(name: str, help: str) -> argparse.ArgumentParser:
        p = c.add_parser(name, help=help)
        return json_flag(p)

    p = cmd("write", "write a local file (or '-' for stdin) to PATH; returns once journaled and uploaded")
    p.add_argument("path")
    p.add_argument("local", help="local file, or - for stdin")
    p.add_argument("--no-upload", action="store_true", help="only journal it (upload later)")
    p = cmd("read", "read PATH to DEST (default: stdout)")
    p.add_argument("path")
    p.add_argument("dest", nargs="?", default=None)
    p = cmd("ls", "list a folder or directory")
    p.add_argument("path")
    cmd("status", "the local journal: what is pending upload")


def _ls_text(rows: list[dict]) -> str:
    if not rows:
        return "(empty)"
    return "\n".join(f"{r['type']:<7} {r['size']:>12}  {r['name'].encode('unicode_escape').decode()}"
                     for r in sorted(rows, key=lambda r: r["name"]))


def _write_dest(dest: str, data: bytes) -> None:
    """Written to a temp name beside DEST and renamed: never a half file at DEST."""
    target = Path(dest)
    tmp = target.with_name(f".{target.name}.kbapp-{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


async def run(app, args, emit) -> int:
    files = app.files
    c = args.fs_cmd
    if c == "status":
        st = await files.status()
        emit(args, st, f"{st['pending']} file(s) pending upload ({st['pending_bytes']} bytes), "
                        f"{st['uploaded']} uploaded")
        return 0
    if not app.connected:
        await app.connect()
    if c == "write":
        data = sys.stdin.buffer.read() if args.local == "-" else Path(args.local)
        if isinstance(data, Path) and not data.is_file():
            raise errors.NotFound(f"no local file {args.local!r}")
        out = await files.write(args.path, data, upload=not args.no_upload)
        emit(args, out, f"{out['state']}: {args.path} ({out['size']} bytes)")
        return 0
    if c == "read":
        data = await files.read(args.path)
        if args.dest is None:
            if getattr(args, "json", False):
                emit(args, {"path": args.path, "size": len(data)}, "")
            else:
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
        else:
            _write_dest(args.dest, data)
            emit(args, {"path": args.path, "size": len(data), "dest": args.dest},
                 f"read {args.path} ({len(data)} bytes) -> {args.dest}")
        return 0
    if c == "ls":
        rows = await files.ls(args.path)
        emit(args, rows, _ls_text(rows))
        return 0
    raise errors.NotSupported(f"kbapp fs {c}")
