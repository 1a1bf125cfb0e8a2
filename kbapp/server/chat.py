"""Chat on the server: checks of a posted message's shape, and the queries behind the chat routes.

The server cannot open a message (sealed header and body, docs/protocol.md), so it
checks only what it can: shapes and sizes, that the conversation id derives from the
posted team and topic, that the sender hints name the read token's user and device,
and membership from the team member hints it keeps. It numbers messages 1, 2, 3...
per conversation without gaps: the id is taken by an UPDATE ... RETURNING on the
conversation row, which holds that row's lock (PostgreSQL) or the write lock (SQLite)
to the commit, and the inbox version is bumped last in the same transaction so
versions commit in order. It deletes bodies only where a reader would accept the
deletion: an edit by the same sender, a delete by the same sender or a team admin
(none in implicit teams), a delete_history by a team admin (its unsigned `upto` cue: the
content bodies up to there), a delete_mine by anyone (the same cue: the poster's own content
bodies), an exploding lifetime run out; the blobs those messages named
go with them (chat_blobs.py). Readers verify everything again (core/chat).
"""

from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.engine import Connection, Engine

from kbapp.core import errors
from kbapp.core.chat.body import DELETING, SUPERSEDING
from kbapp.core.chat.ids import conv_id_for
from kbapp.core.encoding import b64decode, b64encode, loads_json
from kbapp.core.keys import parse_kid
from kbapp.core.teams import Role

from . import chat_blobs, db
from .chat_tables import chat_vers, conversations, messages

MAX_HEADER = 4096               # bytes of a sealed header
MAX_BODY = 80 * 1024            # bytes of a sealed body (64 KiB of text, padded and sealed)
MAX_TARGETS = 100               # messages one delete names
MAX_LIFETIME = 7 * 24 * 3600    # an exploding message lives at most a week
MAX_ID = 1 << 53
MAX_KEY_GEN = (1 << 31) - 1        # the columns are 32-bit: a larger one failed only at the insert
PAGE_DEFAULT, PAGE_MAX = 100, 500
PAGE_BYTES = 4 << 20            # a page stops growing here (the client caps answers at 8 MiB)
INBOX_MAX = 1000                # conversations per inbox answer; more: ask again with its vers
CHANNELS_MAX = 1000
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_TYPE = re.compile(r"^[a-z][a-z_]{0,23}$")
_FIELDS = {"team_id", "topic_type", "topic_id", "key_gen", "ek_gen", "header", "body", "hints", "blobs", "upto"}
_OPTIONAL = {"ek_gen", "blobs", "upto"}     # blobs, upto: unsigned cues for what the server may delete
HISTORY_TYPES = ("text", "attachment", "edit", "reaction")   # what a delete_history drops (names, pins stay)
_REQUIRED_HINTS = ("type", "sender_uid", "sender_kid", "outbox_id")
_OPTIONAL_HINTS = ("supersedes", "deletes", "reply_to", "thread_root", "lifetime")


def check_conv_id(conv_id: object) -> str:
    if not isinstance(conv_id, str) or not _HEX32.match(conv_id):
        raise errors.EncodingError("a conversation id is 32 lowercase hex digits")
    return conv_id


def _hex32(value: object, what: str) -> str:
    if not isinstance(value, str) or not _HEX32.match(value):
        raise errors.EncodingError(f"{what} is 32 lowercase hex digits")
    return value


def _int(value: object, what: str, low: int, high: int, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if type(value) is not int or not low <= value <= high:
        raise errors.EncodingError(f"{what} is an integer in {low}..{high}")
    return value


def _sealed(value: object, what: str, cap: int) -> bytes:
    if not isinstance(value, str):
        raise errors.EncodingError(f"{what} is base64 text")
    if len(value) > (cap + 2) // 3 * 4:
        raise errors.TooLarge(f"{what} is over {cap} bytes")
    raw = b64decode(value, max_size=cap)
    if not raw:
        raise errors.EncodingError(f"{what} is empty")
    if len(raw) > cap:
        raise errors.TooLarge(f"{what} is over {cap} bytes")
    return raw


@dataclass(frozen=True)
class Post:
    """A posted message, its shape checked; `hints` normalised (every key present)."""

    conv_id: str
    team_id: str
    topic_type: int
    topic_id: str
    key_gen: int
    ek_gen: int | None
    header: bytes
    body: bytes
    hints: dict
    blobs: tuple[str, ...] = ()            # the attachment's blobs (chat_blobs.py), the poster's uploads
    upto: int | None = None                # a delete_history's reach (the signed body says it to readers)

    @property
    def targets(self) -> list[int]:
        """The messages whose bodies this post removes: an edit's target, a delete's targets."""
        out = list(self.hints["deletes"])
        if self.hints["type"] == "edit" and self.hints["supersedes"] is not None:
            out.append(self.hints["supersedes"])
        return sorted(set(out))


def parse_hints(raw: object, uid: str, kid: str) -> dict:
    if not isinstance(raw, dict) or not set(raw) <= set(_REQUIRED_HINTS + _OPTIONAL_HINTS):
        raise errors.EncodingError(f"hints is an object with keys among {_REQUIRED_HINTS + _OPTIONAL_HINTS}")
    if any(k not in raw for k in _REQUIRED_HINTS):
        raise errors.EncodingError(f"hints need {_REQUIRED_HINTS}")
    if not isinstance(raw["type"], str) or not _TYPE.match(raw["type"]):
        raise errors.EncodingError("hints.type is a short lowercase name")
    sender_uid = _hex32(raw["sender_uid"], "hints.sender_uid")
    if not isinstance(raw["sender_kid"], str) or len(raw["sender_kid"]) > 70:
        raise errors.EncodingError("hints.sender_kid is a hex key id")
    try:
        sender_kid = parse_kid(raw["sender_kid"]).hex
    except errors.KbappError:
        raise errors.EncodingError("hints.sender_kid is not a key id") from None
    if sender_uid != uid or sender_kid != kid:
        raise errors.ChatSenderMismatch("a message's sender is the read token's user and device", 403)
    deletes = raw.get("deletes") or []
    if not isinstance(deletes, list) or len(deletes) > MAX_TARGETS:
        raise errors.EncodingError(f"hints.deletes is a list of at most {MAX_TARGETS} message ids")
    if deletes and raw["type"] not in DELETING:
        raise errors.EncodingError("only a delete names messages to delete")
    if raw.get("supersedes") is not None and raw["type"] not in SUPERSEDING:
        raise errors.EncodingError("only an edit or a reaction names a message it supersedes")
    return {
        "type": raw["type"], "sender_uid": sender_uid, "sender_kid": sender_kid,
        "outbox_id": _hex32(raw["outbox_id"], "hints.outbox_id"),
        "supersedes": _int(raw.get("supersedes"), "hints.supersedes", 1, MAX_ID, optional=True),
        "deletes": sorted({_int(t, "hints.deletes[]", 1, MAX_ID) for t in deletes}),
        "reply_to": _int(raw.get("reply_to"), "hints.reply_to", 1, MAX_ID, optional=True),
        "thread_root": _int(raw.get("thread_root"), "hints.thread_root", 1, MAX_ID, optional=True),
        "lifetime": _int(raw.get("lifetime"), "hints.lifetime", 1, MAX_LIFETIME, optional=True),
    }


def parse_post(conv_id: str, body: dict, uid: str, kid: str) -> Post:
    """A post's fields checked (shapes, sizes, sender) and its conversation id re-derived."""
    if not set(body) <= _FIELDS or any(k not in body for k in _FIELDS - _OPTIONAL):
        raise errors.EncodingError(f"a chat post has exactly the fields {sorted(_FIELDS)}")
    team_id = _hex32(body["team_id"], "team_id")
    topic_id = _hex32(body["topic_id"], "topic_id")
    topic_type = _int(body["topic_type"], "topic_type", 1, 255)
    try:
        derived = conv_id_for(team_id, topic_type, topic_id).hex()
    except errors.KbappError as e:
        raise errors.EncodingError(f"cannot derive a conversation id: {e}") from None
    if derived != check_conv_id(conv_id):
        raise errors.ChatConvIdMismatch("the conversation id does not derive from its team and topic", 400)
    hints = parse_hints(body["hints"], uid, kid)
    upto = _int(body.get("upto"), "upto", 1, MAX_ID, optional=True)
    if upto is not None and hints["type"] not in ("delete_history", "delete_mine"):
        raise errors.EncodingError("only a delete_history or delete_mine names how far it reaches (upto)")
    blobs = chat_blobs.parse_blobs(body.get("blobs"))
    if blobs and hints["type"] != "attachment":
        raise errors.EncodingError("only an attachment names blobs")
    return Post(conv_id, team_id, topic_type, topic_id,
                _int(body["key_gen"], "key_gen", 1, MAX_KEY_GEN),
                _int(body.get("ek_gen"), "ek_gen", 0, MAX_KEY_GEN, optional=True),
                _sealed(body["header"], "header", MAX_HEADER), _sealed(body["body"], "body", MAX_BODY),
                hints, blobs, upto)


def _wire(row, now: int) -> dict:
    """A stored message as served; an exploded one (lifetime run out) without its body. Its
    header stays (sealed under the long-term team key: sender, time, lifetime, no content), so
    a reader who comes later verifies that the message was exploding and its lifetime is over,
    rather than seeing a message the server withheld."""
    gone = row.expires_at is not None and row.expires_at <= now
    return {"v": 1, "conv_id": row.conv_id, "msg_id": row.msg_id, "ctime": row.ctime, "key_gen": row.key_gen,
            "ek_gen": row.ek_gen, "header": None if row.header is None else b64encode(row.header),
            "body": None if gone or row.body is None else b64encode(row.body),
            "hints": loads_json(row.hints), "superseded_by": row.superseded_by}


def _conv(row) -> dict:
    return {"conv_id": row.conv_id, "team_id": row.team_id, "topic_type": row.topic_type,
            "topic_id": row.topic_id, "last_msg_id": row.last_msg_id, "vers": row.vers}


_CONV_COLS = (conversations.c.conv_id, conversations.c.team_id, conversations.c.topic_type,
              conversations.c.topic_id, conversations.c.last_msg_id, conversations.c.vers)


# The queries of every request, built once (SQLAlchemy then reuses their compiled forms).
_Q_ROLE = select(db.team_members.c.role).where((db.team_members.c.team_id == bindparam("t"))
                                                & (db.team_members.c.uid == bindparam("u")))
_Q_IMPLICIT = select(db.teams.c.implicit).where(db.teams.c.team_id == bindparam("t"))
_Q_TEAM_OF = select(conversations.c.team_id).where(conversations.c.conv_id == bindparam("c"))


class ChatStore:
    """The chat queries; each call is one short transaction of its own (no service lock)."""

    def __init__(self, engine: Engine, clock, blobs=None):
        self.engine, self.clock, self.blobs = engine, clock, blobs    # blobs: the BlobStore (chat_blobs.py)
        # SQLite has one writer: queue this process's chat writes on a lock (woken at once)
        # rather than in SQLite's busy handler, which sleeps up to 100 ms between tries.
        sqlite = engine.dialect.name == "sqlite"
        self._writing = threading.Lock() if sqlite else contextlib.nullcontext()

    # -- who may do what ----------------------------------------------------------------------

    @staticmethod
    def role(conn: Connection, team_id: str, uid: str) -> Role:
        """The uid's role in the team by the member hints kept from the verified team chain."""
        label = conn.execute(_Q_ROLE, {"t": team_id, "u": uid}).scalar()
        return Role.NONE if label is None else Role.parse(label)

    @staticmethod
    def implicit(conn: Connection, team_id: str) -> bool:
        return bool(conn.execute(_Q_IMPLICIT, {"t": team_id}).scalar())

    def team_of(self, conn: Connection, conv_id: str) -> str | None:
        return conn.execute(_Q_TEAM_OF, {"c": conv_id}).scalar()

    # -- writes (the posts: chat_posts.py) ----------------------------------------------------

    def sweep(self, conv_id: str | None = None) -> int:
        """Drop the body of exploded messages (all, or one conversation's), and the blobs their
        attachments named; how many messages. The header stays (see `_wire`)."""
        now = int(self.clock())
        cond = and_(messages.c.expires_at <= now, messages.c.body.is_not(None))
        if conv_id is not None:
            cond = and_(messages.c.conv_id == conv_id, cond)
        with self._writing, self.engine.begin() as conn:
            gone = conn.execute(update(messages).where(cond).values(body=None)
                                .returning(messages.c.conv_id, messages.c.msg_id)).all()
            orphans = chat_blobs.release_pairs(conn, [(r.conv_id, r.msg_id) for r in gone])
        chat_blobs.delete_bytes(self.blobs, orphans)
        return len(gone)

    # -- reads ----------------------------------------------------------------------------------

    def page(self, conv_id: str, *, after: int | None, before: int | None, limit: int) -> tuple[list, int, bool]:
        """(messages, last msg_id, any exploded served?) ascending after `after`, or descending before `before`."""
        now = int(self.clock())
        q = select(messages).where(messages.c.conv_id == conv_id)
        if before is not None:
            q = q.where(messages.c.msg_id < before).order_by(messages.c.msg_id.desc())
        else:
            q = q.where(messages.c.msg_id > (after or 0)).order_by(messages.c.msg_id)
        out, size, exploded = [], 0, False
        with self.engine.connect() as conn:
            last = conn.execute(select(conversations.c.last_msg_id)
                                .where(conversations.c.conv_id == conv_id)).scalar() or 0
            for row in conn.execute(q.limit(limit)):
                size += len(row.header or b"") + len(row.body or b"") + len(row.hints)
                if out and size > PAGE_BYTES:
                    break
                exploded |= row.expires_at is not None and row.expires_at <= now and row.body is not None
                out.append(_wire(row, now))
                last = max(last, row.msg_id)     # a post committed between the two reads
        return out, last, exploded

    def inbox(self, uid: str, since: int) -> tuple[list, int]:
        """Conversations of the uid's teams changed after `since`, and the version to ask from next."""
        with self.engine.connect() as conn:
            head = conn.execute(select(chat_vers.c.vers).where(chat_vers.c.id == 1)).scalar() or 0
            if since > head:                 # a version this server never gave: everything again
                since = 0
            mine = select(db.team_members.c.team_id).where(
                (db.team_members.c.uid == uid) & (db.team_members.c.role != Role.NONE.label))
            rows = conn.execute(select(*_CONV_COLS).where(
                conversations.c.team_id.in_(mine) & (conversations.c.vers > since) & (conversations.c.vers <= head))
                .order_by(conversations.c.vers).limit(INBOX_MAX)).all()
        return [_conv(r) for r in rows], rows[-1].vers if len(rows) == INBOX_MAX else head

    def channels(self, team_id: str) -> list:
        with self.engine.connect() as conn:
            rows = conn.execute(select(*_CONV_COLS).where(conversations.c.team_id == team_id)
                                .order_by(conversations.c.ctime, conversations.c.conv_id).limit(CHANNELS_MAX)).all()
        return [_conv(r) for r in rows]
