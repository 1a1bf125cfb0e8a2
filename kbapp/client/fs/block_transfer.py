"""Blocks to and from the server, several requests at once.

One request at a time left the connection idle while each side hashed and wrote a block
(docs/benchmarks.md "Encrypted folders"). The server checks every block on its own (its
SHA-256 is its id) and a revision is posted only once all of its blocks are in, so the
order of the block requests does not matter:

* `put_blocks`: the journal's blocks of a batch and its new directory blocks, up to
  `BATCH_BLOCKS` in one `POST .../blocks:put` (server/folder_batch.py; the server checks
  each block as a single PUT), `PUT_WINDOW` requests in flight (pooled keep-alive
  connections), read from the journal on a worker thread; the first error cancels the rest
  and is raised as it is;
* `Prefetch`: a reader's next blocks (ids in reading order) fetched `GET_WINDOW` at a time
  ahead of it, each kept only if it hashes to its id; the reading thread takes them in
  order and the core opens and checks them as before. A file too big for the disk cache is
  read without filling it (`keep=False`): its blocks would evict each other, and everything
  else, before any could be read again.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from urllib.parse import quote

from kbapp.core import errors

from .blockio import pool

PUT_WINDOW = 3                # batch requests in flight
BATCH_BLOCKS = 4              # blocks per batch request (2 MiB: the server takes up to 16)
GET_WINDOW = 6                # requests in flight
AHEAD = 16                    # blocks fetched and not yet read (8 MiB)
HEAD = 36                     # a batched block's id and size


async def first_error(coros) -> list:
    """Run the coroutines together; their results in order, or the first exception raised
    (the others cancelled)."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    if not tasks:
        return []
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for t in tasks:
            if t.done() and not t.cancelled() and t.exception() is not None:
                raise t.exception()
        return [t.result() for t in tasks]
    finally:
        for t in tasks:
            if not t.done():
                t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def put_blocks(api, folder_id: str, journal, block_ids, extra=(), *, team_id: str | None = None,
                     kind: int | None = None, window: int = PUT_WINDOW) -> int:
    """Send the journal blocks `block_ids` and the (pointer, stored) pairs `extra`; bytes sent."""
    gate = asyncio.Semaphore(window)
    given = {ptr.id.hex(): stored for ptr, stored in extra}
    ids = list(dict.fromkeys([*block_ids, *given]))
    params = {"team": team_id, "kind": kind} if team_id is not None else None
    path = f"/v1/folders/{quote(folder_id, safe='')}/blocks:put"

    def frames(batch: list[str]) -> list[bytes]:
        parts = []
        for bid in batch:
            stored = given.get(bid)
            if stored is None:
                stored = journal.get_block(bid)
                if stored is None:
                    raise errors.NotFound(f"journal block {bid[:16]} is missing from disk")
            parts += [bytes.fromhex(bid) + len(stored).to_bytes(4, "big"), stored]
        return parts

    async def one(batch: list[str]) -> int:
        async with gate:
            parts = await asyncio.get_running_loop().run_in_executor(pool("upload", PUT_WINDOW), frames, batch)
            size = sum(map(len, parts))

            async def body():
                for i in range(len(parts)):
                    yield parts[i]
            try:                    # streamed, not joined; the blocks go with `parts` (httpx's request
                api._fs_json(*await api._fs("POST", path, content=body, params=params, length=size))
            finally:                # objects can outlive the call in reference cycles)
                parts.clear()
            return size - HEAD * len(batch)

    return sum(await first_error([one(ids[i:i + BATCH_BLOCKS]) for i in range(0, len(ids), BATCH_BLOCKS)]))


class Prefetch:
    """Blocks of one folder fetched ahead of a reader on another thread. `plan(ids)` (any
    thread) queues ids in reading order; `take(id)` (the reader's thread) waits for one.
    Children are planned when their parent is read, so they go first (the reading order is
    depth first); the block the reader waits for always starts, whatever the limits. Local
    blocks (journal, block cache) are read, and fetched ones cached, on one worker thread
    (the disk cache is not built for many threads), the rest come from the server."""

    def __init__(self, cache, loop: asyncio.AbstractEventLoop, *, window: int = GET_WINDOW, ahead: int = AHEAD,
                 keep: bool = True):
        self.cache, self.loop = cache, loop         # tree_io.BlockCache: api, folder id, journal, disk
        self.keep = keep and cache.disk is not None  # fetched blocks go to the disk cache
        self.window, self.ahead = window, ahead
        self._cond = threading.Condition()
        self._ready: dict[str, bytes] = {}
        self._errors: dict[str, BaseException] = {}
        self._queue: list[str] = []                 # planned, not started
        self._busy: set[str] = set()                # started, not ready
        self._wanted: str | None = None             # what the reader waits for
        self._tasks: set[asyncio.Task] = set()
        self._closed = False

    def plan(self, ids) -> None:
        """Queue ids to read next, ahead of what was queued before."""
        with self._cond:
            known = self._busy | set(self._ready) | set(self._queue)
            self._queue[:0] = [i for i in dict.fromkeys(ids) if i not in known]
        self.loop.call_soon_threadsafe(self._pump)

    def _pump(self) -> None:
        """Start fetches while fewer than `window` run and fewer than `ahead` wait unread (loop)."""
        with self._cond:
            if self._closed:
                return
            w = self._wanted
            if w is not None and w in self._queue:
                self._queue.remove(w)
                self._start(w)
            while (self._queue and len(self._busy) < self.window
                   and len(self._busy) + len(self._ready) < self.ahead):
                self._start(self._queue.pop(0))

    def _start(self, i: str) -> None:
        self._busy.add(i)
        task = self.loop.create_task(self._fetch(i))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fetch(self, i: str) -> None:
        disk = pool("cache", 1)
        try:
            data = await self.loop.run_in_executor(disk, self.cache.journal.get_block, i)
            if data is None:
                data = await self.cache.api.fs_get_block(self.cache.folder_id, i)
                if self.keep:                          # it checks the hash (BlockIdMismatch) before keeping
                    await self.loop.run_in_executor(disk, self.cache.disk.put, i, data)
                elif await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest()) != i:
                    raise errors.BlockIdMismatch(f"block {i[:16]} served with bytes of another hash")
                self.cache.fetched += 1
            with self._cond:
                self._ready[i] = data
        except BaseException as e:  # noqa: BLE001 - handed to the reader
            with self._cond:
                self._errors[i] = e
        finally:
            with self._cond:
                self._busy.discard(i)
                self._cond.notify_all()
        self._pump()

    def take(self, i: str) -> bytes:
        """The block's bytes (blocking the calling thread, never the loop's); planned first if
        it was not."""
        with self._cond:
            if not (i in self._ready or i in self._busy or i in self._queue or i in self._errors):
                self._queue.insert(0, i)
            self._wanted = i
        self.loop.call_soon_threadsafe(self._pump)
        with self._cond:
            while i not in self._ready and i not in self._errors:
                if self._closed:
                    raise errors.NotFound("the read was stopped")
                self._cond.wait(1.0)
            data = self._ready.pop(i, None)
            err = self._errors.pop(i, None)
            self._wanted = None
        self.loop.call_soon_threadsafe(self._pump)
        if err is not None:
            raise err
        return data

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._ready.clear()
            self._cond.notify_all()
