"""Sending in two steps, for a caller that queues several messages without waiting for each.

`ChatService.send(..., wait=False)` puts the message in the outbox (in the order called)
and returns; `deliver` then waits for that entry as `send(wait=True)` would have: the
outbox flushed (oldest first, one flush at a time, so the order holds), the conversation
synced so the message is stored as verified, and ChatOutboxChanged with how it ended.
The Chat page queues under its own lock and delivers outside it: typing the next message
never waits on the server's answer to the last one.
"""

from __future__ import annotations

from kbapp.core import errors

from .models import SendResult


async def deliver(svc, conv_id: str, outbox_id: str) -> SendResult:
    row = await svc.store.aio.conv(conv_id)
    if row is None:
        raise errors.NotFound(f"no conversation {conv_id} in the local store")
    return await svc._flush_one(row, outbox_id)
