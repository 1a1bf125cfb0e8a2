"""The outbox: a message is written down before it is sent, and sent exactly once.

    pending --flush--> sending --posted--> sent
                          |
                          +--network down, busy, rate limited--> pending (retry at next_try, backoff)
                          +--refused for good (403/409)---------> failed, not retryable (shown; `retry` refuses)
                          +--any other failure------------------> failed, retryable (`retry` puts it back)

The entry is in the local store before anything goes out, so a message typed while
the server is down is shown as pending and survives a restart. Its `outbox_id` is
signed in the header and the server answers a second post of the same outbox id with
the first one's msg_id: a retry after a lost answer (or a crash between post and
commit) never makes a second message. The sealed request is kept once made, so a
retry sends the very same bytes. An entry found in `sending` when the app starts was
interrupted mid-post: it goes back to pending (the post is idempotent).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Awaitable, Callable

from kbapp.core import errors

from .store import ChatStore, OutboxRow

log = logging.getLogger(__name__)

BASE_DELAY, MAX_DELAY = 2, 300     # seconds: 2, 4, 8, ... capped at 5 minutes
# Failures worth another try: the server was not reached or asked us to wait.
RETRYABLE = (errors.NetworkError, errors.RateLimited, errors.ServerBusy, errors.RequestTimeout)


def backoff(attempts: int) -> int:
    """Seconds to wait after `attempts` failed tries (deterministic: tests drive the clock)."""
    return min(MAX_DELAY, BASE_DELAY * (2 ** max(0, min(attempts - 1, 16))))


def is_permanent(exc: BaseException) -> bool:
    """A refusal no retry of the same sealed bytes can turn around: we may not post there (our
    verified role, or the server's 403), or the server holds a conflicting message (409)."""
    if isinstance(exc, (errors.PostNotAllowed, errors.ReadNotAllowed, errors.Conflict)):
        return True
    return isinstance(exc, errors.ServerError) and getattr(exc, "status", 0) in (403, 409)


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, RETRYABLE):
        return True
    # a 5xx is the server's trouble, not the message's
    return isinstance(exc, errors.ServerError) and getattr(exc, "status", 0) >= 500


# send(entry) -> the msg_id the server gave it (sealing once, keeping the sealed request).
Sender = Callable[[OutboxRow], Awaitable[int]]
NOT_CLAIMED = object()      # Outbox.send_now: nothing was claimed


class Outbox:
    """Runs the entries of one store through `send`, one flush at a time."""

    def __init__(self, store: ChatStore, send: Sender, *, clock=time.time):
        self.store, self.send, self.clock = store, send, clock
        self._flush_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.recovered = False

    async def recover(self) -> None:
        """After a crash: an entry caught `sending` goes back to pending (idempotent post)."""
        if self.recovered:
            return
        self.recovered = True
        for e in await self.store.aio.outbox_list(states=("sending",)):
            await self.store.aio.outbox_update(e.outbox_id, expect=("sending",), state="pending",
                                               next_try=int(self.clock()))

    async def add(self, conv_id: str, outbox_id: str, payload: dict) -> OutboxRow:
        row = await self.store.aio.outbox_add(OutboxRow(outbox_id=outbox_id, conv_id=conv_id, payload=payload,
                                                        next_try=int(self.clock()), created_at=int(self.clock())))
        self._wake.set()
        return row

    async def retry(self, outbox_id: str) -> OutboxRow:
        """Put a failed (or waiting) entry back to be sent now; the row to send (a new id for one the
        server acknowledged and did not deliver: store.outbox_renew)."""
        old = await self.store.aio.outbox_get(outbox_id)
        if old is not None and old.state == "failed" and not old.retryable:
            raise errors.OutboxRefused(f"outbox entry {outbox_id} was refused for good ({old.last_error}): "
                                       "it is not sent again")
        if old is not None and old.state == "failed" and old.msg_id is not None:   # acknowledged, not delivered
            row = await self.store.aio.outbox_renew(outbox_id, os.urandom(16).hex(), int(self.clock()))
        else:
            row = await self.store.aio.outbox_update(outbox_id, expect=("failed", "pending"), state="pending",
                                                     next_try=int(self.clock()), retryable=True)
        if row is None:
            raise errors.NotFound(f"no failed or pending outbox entry {outbox_id}")
        self._wake.set()
        return row

    async def flush(self, conv_id: str | None = None, *, force: bool = False) -> list[OutboxRow]:
        """Send every due entry (all pending ones with `force`), oldest first; returns them as
        they ended. One flush at a time: a second waits, then finds nothing left to do. In a
        conversation, an entry behind one still waiting out its backoff waits too: messages
        queued together are posted in the order they were written."""
        await self.recover()
        async with self._flush_lock:
            out = []
            now = int(self.clock())
            waiting: set[str] = set()                # conversations whose oldest entry waits out its backoff
            for e in await self.store.aio.outbox_list(conv_id, states=("pending",)):
                if e.conv_id in waiting or (not force and e.next_try > now):
                    waiting.add(e.conv_id)           # a later message never overtakes it
                    continue
                done = await self._send_one(e)
                if done is None:                     # discarded meanwhile (app.chat.discard)
                    continue
                out.append(done)
                if done.state == "pending":          # the server is unreachable: the rest would fail too
                    break
            return out

    async def _send_one(self, e: OutboxRow) -> OutboxRow:
        sending = await self.store.aio.outbox_update(e.outbox_id, expect=("pending",), state="sending",
                                                     attempts=e.attempts + 1)
        if sending is None:
            return await self.store.aio.outbox_get(e.outbox_id)
        return await self._post(sending, self.send)

    async def send_now(self, claim: Callable[[], Awaitable[OutboxRow | None]], send: Sender):
        """`claim()` claims one entry itself (`sending`: store.outbox_claim_sealed, which claims
        nothing when an entry of its conversation is ahead or in flight); then it is posted, as
        a flush would. Both under the flush lock: no flush posts another entry of the
        conversation in between. NOT_CLAIMED when `claim()` claimed nothing (the caller flushes
        the usual way); else how the entry ended (None: it left `sending` meanwhile)."""
        await self.recover()
        async with self._flush_lock:
            sending = await claim()
            return NOT_CLAIMED if sending is None else await self._post(sending, send)

    async def _post(self, sending: OutboxRow, send: Sender) -> OutboxRow:
        e = sending
        try:
            msg_id = await send(sending)
        except asyncio.CancelledError:
            await self.store.aio.outbox_update(e.outbox_id, expect=("sending",), state="pending")
            raise
        except errors.KbappError as exc:
            if is_retryable(exc):
                wait = backoff(sending.attempts)
                log.info("outbox %s: %s; retry in %s s", e.outbox_id, exc, wait)
                return await self.store.aio.outbox_update(
                    e.outbox_id, expect=("sending",), state="pending", next_try=int(self.clock()) + wait,
                    last_error=f"{exc.code}: {exc}", retryable=True)
            return await self.store.aio.outbox_update(e.outbox_id, expect=("sending",), state="failed",
                                                      last_error=f"{exc.code}: {exc}",
                                                      retryable=not is_permanent(exc))
        return await self.store.aio.outbox_update(e.outbox_id, expect=("sending",), state="sent", msg_id=msg_id,
                                                  last_error=None)

    # -- the background runner -------------------------------------------------------------

    def start(self) -> None:
        """Keep flushing in the background: on `add`/`retry`, on `wake()` (a push, the
        server back) and when the earliest backoff ends."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="kbapp-chat-outbox")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping
                pass

    async def _run(self) -> None:
        while True:
            try:
                await self.flush()
            except errors.KbappError as e:
                log.info("outbox flush: %s", e)
            waiting = await self.store.aio.outbox_list(states=("pending",))
            delay = min((max(0, e.next_try - int(self.clock())) for e in waiting), default=60)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), max(0.05, min(delay, 60)))
            except asyncio.TimeoutError:
                pass
