"""Journal block files written off the sealing thread, made durable together.

Per 512 KiB block the engine pads, seals and hashes, then keeps the block in a file. Done
in line, each block waited on the disk twice (the file's fsync, then its directory's)
before the next was sealed, so a big write ran at a fraction of what the disk does
(docs/benchmarks.md "Encrypted folders"). `DurableBlocks` writes, fsyncs and renames each
block file on a worker thread, many at once (concurrent fsyncs share the filesystem's
journal commits), with at most `MAX_INFLIGHT` blocks in memory, while the caller seals the
next; `settle(ids)` waits for those files and fsyncs their directories once each. The
journal calls it before the row naming the blocks commits, so the promise stays: a
committed (acknowledged) entry never names a block the disk lost.

Sealing itself stays on one thread: sealing on a pool was measured slower (more CPU and
more wall time on 2 cores; the threads hand the GIL back and forth around each C call).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Iterable

IO_WORKERS = 8
MAX_INFLIGHT = 16                  # blocks handed to the disk and not yet written (8 MiB)

_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def pool(name: str, workers: int) -> ThreadPoolExecutor:
    """One shared pool per purpose for the process (threads start lazily, as needed)."""
    with _pools_lock:
        p = _pools.get(name)
        if p is None:
            p = _pools[name] = ThreadPoolExecutor(workers, thread_name_prefix=f"kbapp-fs-{name}")
        return p


def fsync_dir(path: Path) -> None:
    if os.name == "nt":
        return                                   # directories cannot be opened for fsync there
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(block_id: str, path: Path, stored: bytes) -> None:
    """The block's file, complete and fsynced before its name appears (a crash leaves a stray
    temp file at worst, never a short block under its id). The id is the one the sealer
    computed from these bytes (not hashed again: every read checks it)."""
    if path.exists():
        return
    tmp = path.with_name(f".{block_id}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(stored)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)


class DurableBlocks:
    """Block files written in the background; `settle` makes a set of them durable."""

    def __init__(self, max_inflight: int = MAX_INFLIGHT):
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_inflight)
        self._pending: dict[str, tuple[Future, Path]] = {}   # written or in flight, directory not fsynced

    def put(self, block_id: str, path: Path, stored: bytes) -> None:
        """Start writing one block (blocks while `max_inflight` are in flight); errors come out
        of `settle`. The same id twice is written once."""
        self._slots.acquire()
        with self._lock:
            old = self._pending.get(block_id)
            if old is not None and not (old[0].done() and old[0].exception() is not None):
                self._slots.release()            # written or being written (a failed one is tried again)
                return
            fut = pool("io", IO_WORKERS).submit(_write_file, block_id, path, stored)
            self._pending[block_id] = (fut, path)
        fut.add_done_callback(lambda _f: self._slots.release())

    def in_flight(self, block_id: str) -> bool:
        with self._lock:
            return block_id in self._pending

    def settle(self, block_ids: Iterable[str]) -> None:
        """Wait until these blocks are written and fsynced, then fsync their directories (once
        each, together); the first write error is raised (the blocks stay unsettled then)."""
        with self._lock:
            mine = {b: self._pending[b] for b in dict.fromkeys(block_ids) if b in self._pending}
        first: BaseException | None = None
        for fut, _path in mine.values():         # every write ended before raising: a block still in
            try:                                 # flight then would pass for written to the next put
                fut.result()
            except BaseException as e:  # noqa: BLE001 - the first is raised below
                first = first or e
        if first is not None:
            raise first
        dirs = {path.parent for _fut, path in mine.values()}
        for done in [pool("io", IO_WORKERS).submit(fsync_dir, d) for d in dirs]:
            done.result()
        with self._lock:
            for b in mine:
                self._pending.pop(b, None)

    def forget(self, block_ids: Iterable[str]) -> None:
        """Wait for these writes to end (errors ignored) and stop tracking them: before the
        files are deleted, so no write still in flight recreates one."""
        with self._lock:
            mine = [(b, self._pending[b][0]) for b in block_ids if b in self._pending]
        for b, fut in mine:
            try:
                fut.result()
            except Exception:  # noqa: BLE001 - a failed write leaves nothing to delete
                pass
            with self._lock:
                self._pending.pop(b, None)
