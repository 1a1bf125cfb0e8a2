"""Typing indicators: `app.chat.typing(conv)` tells the server, its `typing` push hints
become ChatTyping events.

A typing hint is a hint alone (kind `typing`, subject `<conv_id>:<uid>` on `team:<id>`):
nothing signs it, so the server can make one up or drop it. The rule is only that it names
a conversation of that team we know and a member of its verified team state, by the name
that state (or a verified message) gives; anything else is dropped. Sending is
rate-limited here (one per conversation every SEND_EVERY seconds) so a fast typist
costs the server one request per pause, not one per key.
"""

from __future__ import annotations

import logging
import re

from kbapp.core import errors
from kbapp.core.uid import uid_for

from .models import ChatTyping

log = logging.getLogger(__name__)

SEND_EVERY = 3.0             # seconds between two typing notices of one conversation
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_NAME = re.compile(r"[a-z0-9_]{1,32}")


class Typing:
    def __init__(self, svc):
        self.svc, self.ctx = svc, svc.ctx
        self._last_sent: dict[str, float] = {}     # conv id -> when we last told the server

    async def send(self, conv: str) -> bool:
        """Tell the others we are typing in `conv`; False when it was said less than
        SEND_EVERY seconds ago (nothing sent)."""
        row = await self.svc.conv(conv, network=False)
        now = float(self.ctx.clock())
        last = self._last_sent.get(row.conv_id)
        if last is not None and 0 <= now - last < SEND_EVERY:
            return False
        self._last_sent[row.conv_id] = now
        if not self.ctx.api:
            await self.ctx.connect()
        await self.ctx.api.chat_typing(row.conv_id)
        return True

    async def heard(self, topic: str, subject: str) -> ChatTyping | None:
        """A typing hint: the ChatTyping it stands for (emitted), or None when it names no
        conversation of that team we know, no member, or ourselves."""
        team_id = topic.partition(":")[2]
        conv_id, _, uid = subject.partition(":")
        if not (_HEX32.match(conv_id) and _HEX32.match(uid)) or uid == self.ctx.uid:
            return None
        row = await self.svc.store.aio.conv(conv_id)
        st = self.svc.teams._team_states().get(row.team_id) if row is not None else None
        if row is None or row.team_id != team_id or st is None or uid not in st.members:
            return None
        name = await self._username(row, uid)
        if name is None:
            return None
        ev = ChatTyping(conv_id, uid, name)
        self.ctx.events.emit(ev)
        return ev

    async def _username(self, row, uid: str) -> str | None:
        """The member's name from verified sources only: the loaded team's users, a verified
        message of theirs here, or a name in the conversation's own name (uid = hash of name)."""
        hit = self.svc._teams_cache.get(row.team_id)
        user = hit[0].users.get(uid) if hit is not None else None
        if user is not None and getattr(user, "username", None):
            return user.username
        for m in reversed(await self.svc.store.aio.messages(row.conv_id, limit=200)):
            if m.sender_uid == uid and m.status == "ok" and m.sender:
                return m.sender
        for word in _NAME.findall(row.name.lower()):
            try:
                if uid_for(word) == uid:
                    return word
            except errors.KbappError:
                continue
        return None


def of(svc) -> Typing:
    found = svc.__dict__.get("_typing")
    if found is None:
        found = svc.__dict__["_typing"] = Typing(svc)
    return found


__all__ = ["SEND_EVERY", "Typing", "of"]
