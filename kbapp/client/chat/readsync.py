"""Read markers shared between a user's devices.

Reading a conversation on one device moves its local marker (the store keeps it forward
only) and tells the server, which passes it to the user's other devices as a push hint
(`user:<uid>` kind `read`, subject `<conv_id>:<upto>`; server/routes/chat.py keeps
nothing). A device that hears one takes it as a hint, never as trusted state:

* forward only (the store refuses to move a marker back);
* never past what this device verified: a marker ahead of the local cursor first syncs
  the conversation, then is capped at the cursor, so a made-up `upto` of 10^12 cannot
  make messages that arrive later look read;
* only for a conversation this device has, in a well-formed subject.

What remains: the server can make a conversation look read up to what this device
already has (as it can drop the push hints that would have told us of new messages), never
hide a message, and never make one look unread.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

from kbapp.core import errors

from ..events import Event

log = logging.getLogger(__name__)

_SUBJECT = re.compile(r"^([0-9a-f]{32}):([0-9]{1,15})$")


@dataclass(frozen=True)
class ChatReadChanged(Event):
    """This device's read marker of `conv_id` moved because another device of ours read it."""

    conv_id: str
    upto: int


async def mark_read(svc, conv_id: str):
    """Mark read here (up to the verified cursor) and, if the marker moved, tell our other
    devices (best effort: offline, they keep their own count)."""
    before = await svc.store.aio.conv(conv_id)
    view = await svc.mark_read(conv_id)
    if before is not None and view.read_upto > before.read_upto and svc.ctx.store.get("uid"):
        try:
            if not svc.ctx.api:
                await svc.ctx.connect()
            await svc.ctx.api.chat_read(conv_id, view.read_upto)
        except errors.KbappError as e:
            log.info("chat: read marker of %s not shared: %s", conv_id, e)
    return view


async def heard(svc, subject: str) -> int | None:
    """Apply a `read` hint: the new marker, or None when it changes nothing (or is malformed)."""
    m = _SUBJECT.match(subject or "")
    if m is None:
        return None
    conv_id, upto = m.group(1), int(m.group(2))
    row = await svc.store.aio.conv(conv_id)
    if row is None or upto <= row.read_upto:
        return None
    if upto > row.cursor:
        try:
            row = await svc.sync_conv(row)        # what the other device read, verified here first
        except errors.KbappError as e:
            log.info("chat: sync after a read hint: %s", e)
            row = await svc.store.aio.conv(conv_id)
    capped = min(upto, row.cursor)
    if capped <= row.read_upto:
        return None
    await svc.store.aio.set_conv(conv_id, read_upto=capped)
    svc.ctx.events.emit(ChatReadChanged(conv_id, capped))
    return capped


def listen(svc) -> None:
    """Install the `read` hint listener on the profile's event bus (once per ChatService)."""
    if svc.__dict__.get("_read_listening"):
        return
    svc.__dict__["_read_listening"] = True
    from ..sync import PushHint

    def on_event(ev) -> None:
        if not isinstance(ev, PushHint) or ev.kind != "read":
            return
        uid = svc.ctx.store.get("uid")
        if not uid or ev.topic != f"user:{uid}":
            return
        try:
            asyncio.get_running_loop().create_task(_quiet(heard(svc, ev.subject)))
        except RuntimeError:
            pass                                  # no loop: nothing to apply it on
    svc.ctx.events.on(on_event)


async def _quiet(coro) -> None:
    try:
        await coro
    except errors.KbappError as e:
        log.info("chat: read hint: %s", e)
