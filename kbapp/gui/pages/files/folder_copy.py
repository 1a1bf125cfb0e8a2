"""Copying a file from one encrypted folder path to another, streamed: flat memory.

`app.files.write` reads its source with `read(n)` on a worker thread (a chunk at a time, so a
big file never blocks the loop); `app.files.open_read` yields the decrypted chunks of a file
on the loop. `FolderReader` joins the two: each `read` asks the loop for the next chunk, so at
most a chunk or two of a 2 GB file is in memory, and the transfer row's `done` moves with it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque

from kbapp.core import errors

ROWS_MIME = "application/x-kbapp-folder-paths"      # rows dragged or cut inside the app: their folder paths
_ISSUED: deque[str] = deque(maxlen=64)              # tokens this process put on its own drags and clipboard


def rows_mime_data(paths: list[str]) -> bytes:
    """A fresh token, then the paths. Any program can put our MIME type on a drag or on the
    clipboard: without the token, a drop of "/private/alice/taxes.pdf" on a public folder
    would move that file where everyone reads it."""
    token = secrets.token_hex(16)
    _ISSUED.append(token)
    return "\n".join([token, *paths]).encode()


def rows_from_mime(mime) -> list[str]:
    """The folder paths a drag or the clipboard of ours carries ([] when it carries none);
    RowsRefused when they come without a token this process issued."""
    if mime is None or not mime.hasFormat(ROWS_MIME):
        return []
    lines = bytes(mime.data(ROWS_MIME)).decode("utf-8", "replace").split("\n")
    if not lines or not any(secrets.compare_digest(lines[0], t) for t in _ISSUED):
        raise errors.RowsRefused("folder paths offered by another program were not taken (only files dragged or "
                                 "copied in this app's Files page move or paste as folder files)")
    return [p for p in lines[1:] if p.startswith("/")]


class FolderReader:
    """A binary reader over an async chunk iterator, read from a worker thread."""

    def __init__(self, chunks, loop: asyncio.AbstractEventLoop, transfer=None):
        self.chunks, self.loop, self.t = chunks, loop, transfer
        self.buf = bytearray()
        self.end = False
        self.pending = None                  # the loop's __anext__ being waited for (a concurrent future)

    def _next(self) -> bytes | None:
        self.pending = asyncio.run_coroutine_threadsafe(self.chunks.__anext__(), self.loop)
        try:
            return self.pending.result()
        except StopAsyncIteration:
            return None

    def read(self, n: int = -1) -> bytes:
        while not self.end and (n < 0 or len(self.buf) < n):
            chunk = self._next()
            if chunk is None:
                self.end = True
            else:
                self.buf += chunk
        cut = len(self.buf) if n < 0 else min(n, len(self.buf))
        out = bytes(self.buf[:cut])
        del self.buf[:cut]
        if self.t is not None:
            self.t.done += len(out)
        return out


async def copy_in_folders(files, t) -> None:
    """Journal a copy of the folder file `t.origin` at `t.dest`, streamed."""
    chunks = files.open_read(t.origin)
    reader = FolderReader(chunks, asyncio.get_running_loop(), t)
    try:
        await files.write(t.dest, reader, upload=False)
    finally:
        reader.end = True                    # cancelled: a read still running on its thread stops here
        if reader.pending is not None and not reader.pending.done():
            try:                             # the chunk it waits for comes; then the reader can close
                await asyncio.wait_for(asyncio.wrap_future(reader.pending), 30)
            except (Exception, asyncio.CancelledError):  # noqa: BLE001 - closing whatever it brought
                pass
        try:
            await chunks.aclose()            # stops open_read's worker thread
        except RuntimeError:
            pass
