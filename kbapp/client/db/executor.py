"""A database file behind one thread: nothing touches SQLite on the caller's thread.

Every statement of a `Database` runs on its own single worker thread: writes are
serialised there (SQLite allows one writer; queuing them in order beats retrying on
SQLITE_BUSY), and the event loop, the GUI's Qt thread included, only awaits a future
(`await db.run(fn, ...)`). `call()` is the blocking form for synchronous callers
(the CLI's set-up, tests); on the db thread itself it runs inline, so a store method
can be called both ways. `submit()` queues a write nobody waits for (a preference):
it still lands before anything queued after it, and `close()` drains the queue.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Callable, Sequence, TypeVar

from kbapp.core import errors

from .engine import open_engine
from .migrations import Step, migrate

log = logging.getLogger(__name__)
T = TypeVar("T")


class Database:
    def __init__(self, path: Path, steps: Sequence[Step] = (), *, name: str = "database"):
        self.path = Path(path)
        self.name = name
        self._steps = tuple(steps)
        self._ident: int | None = None
        self._closed = False
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"kbapp-db-{name}", initializer=self._mark)
        self.engine = None

    def _mark(self) -> None:
        self._ident = threading.get_ident()

    def _open(self) -> None:
        self.engine = open_engine(self.path)
        migrate(self.engine, self._steps, what=f"{self.name} {self.path}")

    # -- opening ---------------------------------------------------------------

    def open_sync(self) -> "Database":
        """Open (engine, migrations) on the db thread, waiting for it."""
        self.call(self._open)
        return self

    async def open(self) -> "Database":
        """Open (engine, migrations) on the db thread; the loop keeps going."""
        await self.run(self._open)
        return self

    # -- running work ------------------------------------------------------------

    @property
    def on_thread(self) -> bool:
        return threading.get_ident() == self._ident

    def _check_open(self) -> None:
        if self._closed:
            raise errors.DatabaseClosed(f"the {self.name} is closed")

    def call(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run `fn` on the db thread and wait for it (inline when already there)."""
        if self.on_thread:
            return fn(*args, **kwargs)
        self._check_open()
        return self._pool.submit(fn, *args, **kwargs).result()

    async def run(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run `fn` on the db thread; the caller's loop is free meanwhile."""
        self._check_open()
        return await asyncio.get_running_loop().run_in_executor(self._pool, partial(fn, *args, **kwargs))

    def submit(self, fn: Callable[..., object], *args, **kwargs) -> Future:
        """Queue `fn` without waiting (a failure is logged: nobody awaits it)."""
        self._check_open()
        fut = self._pool.submit(fn, *args, **kwargs)
        fut.add_done_callback(lambda f: f.exception() and log.error("%s: queued write failed: %s",
                                                                     self.name, f.exception()))
        return fut

    def close(self) -> None:
        """Finish the queued work, dispose of the engine, end the thread (idempotent)."""
        if self._closed:
            return
        if self.engine is not None:
            self._pool.submit(self.engine.dispose).result()
        self._closed = True
        self._pool.shutdown(wait=True)
