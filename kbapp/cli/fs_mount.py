"""`kbapp fs mount DIR`: mount every folder at DIR until Ctrl+C (or SIGTERM), then unmount.

While mounted, the background uploader runs, so what programs write through the mount is
acknowledged by the journal at close and uploaded soon after; on the way out the mount is
taken down first (no new writes), then what is pending is uploaded for up to `--drain`
seconds (the journal keeps the rest for the next `kbapp fs sync`).
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from kbapp.core import errors


def add_arguments(p) -> None:
    p.add_argument("dir", help="an empty directory to mount the folders at")
    p.add_argument("--drain", type=float, default=30.0,
                   help="seconds to keep uploading after unmounting (default 30; the rest waits in the journal)")


async def run(app, args, emit) -> int:
    from kbapp.client.fs import mount as fs_mount

    target = Path(args.dir)
    if not target.is_dir():
        raise errors.NotFound(f"{args.dir!r} is not a directory")
    if os.path.ismount(target) or any(target.iterdir()):
        raise errors.Conflict(f"{args.dir!r} is not empty (or already mounted): mount on an empty directory")
    if not app.connected:
        await app.connect()
    app.files.start()
    m = await fs_mount.Mount(app, target).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    emit(args, {"mounted": str(target)}, f"mounted your folders at {target} (Ctrl+C to unmount; if this "
                                         f"process is killed: fusermount3 -u {target})")
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await m.close()
    try:
        await app.files.sync(timeout=args.drain)
        left = 0
    except errors.KbappError:
        left = (await app.files.status()).get("pending", 0)
    emit(args, {"unmounted": str(target), "pending": left},
         f"unmounted {target}" + (f"; {left} change(s) still to upload: kbapp fs sync" if left else ""))
    return 0
