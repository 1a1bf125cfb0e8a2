"""The provisioning mailbox: a few opaque messages per channel, for minutes.

Two devices of one user meet here to add a device (kex). The server only sees
a channel id (a hash of the shared phrase) and secretboxes it cannot open; it
can drop or delay messages, which stalls provisioning, but cannot forge any.
"""

from __future__ import annotations

import re
import time

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Engine

from kbapp.core import errors
from kbapp.core.encoding import b64decode, b64encode

from . import db

TTL = 600
MAX_MESSAGES = 16
MAX_MESSAGE = 16 * 1024
CHANNEL = re.compile(r"^[0-9a-f]{32,64}$")


class Mailbox:
    def __init__(self, engine: Engine, clock=time.time):
        self.engine, self.clock = engine, clock

    @staticmethod
    def _channel(channel: str) -> str:
        if not isinstance(channel, str) or not CHANNEL.match(channel):
            raise errors.EncodingError("a mailbox channel is 32 to 64 lowercase hex digits")
        return channel

    def post(self, channel: str, msg_b64: str) -> dict:
        channel = self._channel(channel)
        msg = b64decode(msg_b64, max_size=MAX_MESSAGE)
        if not msg:
            raise errors.EncodingError("empty mailbox message")
        now = int(self.clock())
        with self.engine.begin() as conn:
            conn.execute(delete(db.kex_messages).where(db.kex_messages.c.created < now - TTL))
            count = conn.execute(select(func.count()).select_from(db.kex_messages)
                                 .where(db.kex_messages.c.channel == channel)).scalar()
            if count >= MAX_MESSAGES:
                raise errors.Conflict("this provisioning channel is full")
            conn.execute(insert(db.kex_messages).values(channel=channel, idx=count, msg=msg, created=now))
        return {"index": count}

    def read(self, channel: str, after: int) -> dict:
        channel = self._channel(channel)
        now = int(self.clock())
        with self.engine.connect() as conn:
            rows = conn.execute(select(db.kex_messages.c.idx, db.kex_messages.c.msg).where(
                (db.kex_messages.c.channel == channel) & (db.kex_messages.c.idx >= after)
                & (db.kex_messages.c.created >= now - TTL)).order_by(db.kex_messages.c.idx)).all()
        return {"messages": [{"index": i, "msg": b64encode(m)} for i, m in rows]}
