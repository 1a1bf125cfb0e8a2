"""Group commit of user chain writes: posts and signups that queued for the write lock
are stored together, in one epoch (one transaction, one log leaf, one signed checkpoint).

Why: every write to the Merkle state holds `service.lock` for a whole epoch. When one
account posts back to back, each signup arriving meanwhile waited for the post ahead of
it and then made an epoch of its own, and twenty signups arriving together made twenty
epochs in a row, the last waiting for all the others. Now whatever queued while the lock
was held goes in with the next epoch: a writer waits for at most one epoch ahead of it.

Each write is still judged on its own: its batch (validated before the lock, `prepare`)
is used only if its chain's stored tail has not moved, otherwise it is validated again
here; a refused write is answered with its own error and stores nothing, the others go
on. A failure while storing (a key another write of the group also claims) rolls the
whole epoch back and every write of the group is then stored alone, in order, as before.
A group holds one write per account (a second one waits for the next group), at most
MAX_GROUP writes.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from functools import partial

from starlette.concurrency import run_in_threadpool

from kbapp.core import errors

from .chains import stored_tails
from .service import Batch, Service

MAX_GROUP = 16
IDLE_EXIT = 30.0      # seconds a validation thread waits for work before it ends


@dataclass
class Pending:
    uid: str
    body: dict
    signup: bool
    batch: Batch | None
    future: asyncio.Future = field(repr=False, default=None)


def _one(service: Service, item: Pending):
    try:
        return service.append_links(item.uid, item.body, signup=item.signup, batch=item.batch)
    except (errors.KbappError, ValueError) as e:
        return e.with_traceback(None)


def append_group(service: Service, items: list[Pending]) -> list:
    """Store `items` (distinct accounts) in one epoch; per item its answer or its error.
    Call under service.lock, in a worker thread."""
    if len(items) == 1:
        return [_one(service, items[0])]
    results: list = [None] * len(items)
    stored: list[tuple[int, Batch]] = []
    try:
        with service.engine.connect() as conn:
            with service._epoch(conn) as apply:
                tails = stored_tails(conn, [item.uid for item in items])
                for i, item in enumerate(items):
                    batch = item.batch
                    try:
                        if batch is None or tails.get(item.uid, (0, None)) != batch.base_tail:
                            batch = service.validate(conn, item.uid, item.body, signup=item.signup)
                    except (errors.KbappError, ValueError) as e:
                        # refused: nothing of it was written. Without its traceback: that holds
                        # this frame (results -> e -> frame -> results), a cycle only the full
                        # collector frees, and the server freezes what is alive (gc_policy.py)
                        results[i] = e.with_traceback(None)
                        continue
                    stored.append((i, batch))
                if stored:   # one statement per table for the whole group (batch_store.py)
                    apply(service.store_batches(conn, [b for _, b in stored], int(service.clock())))
    except Exception:  # noqa: BLE001 - the epoch was rolled back: each write alone, as before
        return [_one(service, item) for item in items]
    for i, batch in stored:
        service.chains.put(batch.state, batch.note)
        results[i] = {"uid": batch.uid, "seqno": batch.tail.seqno, "log_size": service.log.size}
    return results


class FairWorker:
    """One thread that runs calls in turns by key (an account's uid): round robin over the
    keys with calls waiting, in arrival order within a key.

    Why turns: with one FIFO, four clients posting refused links under one uid as fast as
    they could kept four calls ahead of every signup (and the account's own 16-link post,
    about 10 ms, among them): a signup waited 36 ms at the median for 2 ms of validation.
    Now it waits for at most one call of each other account with calls waiting."""

    def __init__(self, name: str):
        self.name = name
        self._queues: OrderedDict[str, deque] = OrderedDict()
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, key: str, fn) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._cv:
            self._queues.setdefault(key, deque()).append((fn, future, loop))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            self._cv.notify()
        return future

    def _next(self):
        """The next call; None after IDLE_EXIT seconds with nothing to do (the thread then ends,
        and the next submit starts another: a stopped embedded server's worker, its service
        and its last call are not kept alive by a thread waiting for ever)."""
        with self._cv:
            if not self._queues:
                self._cv.wait_for(lambda: self._queues, timeout=IDLE_EXIT)
            if not self._queues:
                self._thread = None
                return None
            key, calls = next(iter(self._queues.items()))
            call = calls.popleft()
            if calls:
                self._queues.move_to_end(key)      # its next call after one of every other key's
            else:
                del self._queues[key]
            return call

    def _run(self) -> None:
        while (call := self._next()) is not None:
            fn, future, loop = call
            call = None
            if future.cancelled():
                continue
            try:
                outcome, failed = fn(), False
            except BaseException as e:  # noqa: BLE001 - handed to the waiting request
                outcome, failed = e, True
            try:
                loop.call_soon_threadsafe(_settle, future, outcome, failed)
            except RuntimeError:        # that request's event loop is closed: nobody waits
                pass
            fn = future = loop = outcome = None     # nothing of a finished call outlives it here


async def enqueue(owner, item):
    """Queue `item` (its `future` made) on `owner._queue`, start `owner._drain` unless it runs,
    and wait for the item's answer (raised when it is an exception)."""
    owner._queue.append(item)
    if owner._task is None or owner._task.done():
        owner._task = asyncio.create_task(owner._drain())
    result = await item.future
    if isinstance(result, BaseException):
        raise result
    return result


async def run_group(waiting: list, fn, *args) -> list:
    """`fn(*args)` on a worker thread: its per-item results, or its exception for each item of
    `waiting` (each has a `future`); a cancel reaches every waiting future and is raised."""
    try:
        return await run_in_threadpool(fn, *args)
    except BaseException as e:  # noqa: BLE001 - each waiting writer hears it
        if isinstance(e, asyncio.CancelledError):
            for item in waiting:
                if not item.future.done():
                    item.future.set_exception(e)
            raise
        return [e] * len(waiting)


def answer(waiting: list, results: list) -> None:
    """Each item's result to its future, unless its request went away."""
    for item, result in zip(waiting, results):
        if not item.future.done():
            item.future.set_result(result)


def _settle(future: asyncio.Future, outcome, failed: bool) -> None:
    if future.cancelled():
        return
    if failed:
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class GroupCommit:
    """The queue in front of the write lock for user chain writes (one per service), and the
    one thread that validates them.

    Why one validation thread: playback is CPU-bound Python. Validated on the shared worker
    threads, several posts at once took the GIL from each other and from every lookup in
    between (each of a lookup's database calls gives the GIL up and waits for it again,
    up to the interpreter's 5 ms switch interval behind each CPU-bound thread); on one
    thread they take it from one thread at a time, in arrival order."""

    def __init__(self, service: Service, max_group: int = MAX_GROUP):
        self.service, self.max_group = service, max_group
        self._queue: list[Pending] = []
        self._task: asyncio.Task | None = None
        self._validator = FairWorker("kbapp-validate")
        self.groups = self.writes = 0          # epochs made and writes stored through here (tests)

    async def prepare(self, uid: str, body: dict, *, signup: bool) -> Batch | None:
        """service.prepare (validation without the lock) on the validation thread, when it
        is short: a signup, or a post on a chain whose verified state is cached. A chain
        not cached (after a restart, or pushed out of the cache) is played back whole,
        seconds at 8,000 links, and anyone can cause that by posting under its uid: that
        goes to the shared worker threads as before, never in front of everyone's posts."""
        call = partial(self.service.prepare, uid, body, signup=signup)
        if not signup and self.service.chains.get(uid) is None:
            return await run_in_threadpool(call)
        return await self._validator.submit(uid.lower(), call)

    async def append(self, uid: str, body: dict, *, signup: bool, batch: Batch | None) -> dict:
        return await enqueue(self, Pending(uid, body, signup, batch, asyncio.get_running_loop().create_future()))

    def _take(self) -> list[Pending]:
        """The oldest writes, one per account, up to max_group; the rest keep their order.
        A write whose request is gone (cancelled while queued) is dropped, as it was when
        it waited for the lock itself."""
        group, seen, rest = [], set(), []
        for item in self._queue:
            if item.future.cancelled():
                continue
            if len(group) < self.max_group and item.uid.lower() not in seen:
                group.append(item)
                seen.add(item.uid.lower())
            else:
                rest.append(item)
        self._queue = rest
        return group

    async def _drain(self) -> None:
        while self._queue:
            async with self.service.lock:
                group = self._take()
                if not group:
                    continue
                results = await run_group(group, append_group, self.service, group)
            self.groups += 1
            self.writes += sum(1 for r in results if isinstance(r, dict))
            answer(group, results)
