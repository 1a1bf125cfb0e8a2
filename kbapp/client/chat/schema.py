"""The chat store's schema: tables, migrations, row types and their conversions.

Kept apart from store.py (the queries) for the size rule; store.py re-exports every name.
`messages` holds what the reader rules said of each message (status `ok`, `withheld`, `bad`,
`exploded`, `no_key`, with the error code) and the decrypted body of valid ones; the FTS5
table `messages_fts` indexes their text as it now reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import orjson
from sqlalchemy import (BigInteger, Column, Integer, LargeBinary, MetaData, String, Table, Text, UniqueConstraint)

from ..db import Step

metadata = MetaData()

conversations = Table(
    "conversations", metadata,
    Column("conv_id", String(32), primary_key=True),
    Column("team_id", String(32), nullable=False, index=True),
    Column("topic_type", Integer, nullable=False),
    Column("topic_id", String(32), nullable=False),
    Column("kind", String(16), nullable=False),          # "implicit" (a DM / group DM) or "team"
    Column("team_name", Text, nullable=False),
    Column("channel", Text, nullable=False),             # "general", or the latest valid metadata's name
    Column("topic", Text, nullable=False),
    Column("cursor", BigInteger, nullable=False),        # every msg_id up to here is stored
    Column("last_msg_id", BigInteger, nullable=False),   # the server's word (inbox): a hint
    Column("read_upto", BigInteger, nullable=False),
    Column("muted", Integer, nullable=False),
    Column("judge_state", LargeBinary, nullable=True),   # the reader rules' memory between syncs
    Column("updated_at", BigInteger, nullable=False),
)

messages = Table(
    "messages", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),   # = the FTS rowid
    Column("conv_id", String(32), nullable=False),
    Column("msg_id", BigInteger, nullable=False),
    Column("status", String(12), nullable=False),        # ok | withheld | bad
    Column("error_code", String(48), nullable=True),
    Column("error", Text, nullable=True),
    Column("type", String(24), nullable=False),
    Column("sender_uid", String(32), nullable=False),
    Column("sender_kid", String(70), nullable=False),
    Column("sender", String(32), nullable=False),         # the verified username ("" when bad)
    Column("ctime", BigInteger, nullable=False),          # the server's, informational
    Column("compose_time", BigInteger, nullable=False),   # the sender's clock, informational
    Column("key_gen", Integer, nullable=False),
    Column("header_hash", String(64), nullable=False),
    Column("prev", Text, nullable=False),                 # JSON list of the msg ids it points at
    Column("supersedes", BigInteger, nullable=True),
    Column("deletes", Text, nullable=False),              # JSON list of msg ids
    Column("reply_to", BigInteger, nullable=True),
    Column("thread_root", BigInteger, nullable=True),
    Column("outbox_id", String(32), nullable=False),
    Column("body", Text, nullable=True),                  # the decrypted body map, JSON (bytes as hex)
    Column("text", Text, nullable=True),                  # as it reads now: edits applied, None when deleted
    Column("edited", Integer, nullable=False),
    Column("deleted_by", BigInteger, nullable=True),
    Column("explodes_at", BigInteger, nullable=True),
    Column("mentions", Text, nullable=False, server_default=""),   # " uid uid @channel " (signed body)
    UniqueConstraint("conv_id", "msg_id", name="uq_messages_conv_msg"),
)

outbox = Table(
    "outbox", metadata,
    Column("outbox_id", String(32), primary_key=True),
    Column("conv_id", String(32), nullable=False, index=True),
    Column("payload", Text, nullable=False),      # what to send (kind, body, options), JSON
    Column("sealed", Text, nullable=True),        # the sealed request once made: every retry sends these bytes
    Column("state", String(12), nullable=False),  # pending | sending | sent | failed
    Column("attempts", Integer, nullable=False),
    Column("next_try", BigInteger, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("retryable", Integer, nullable=False),
    Column("msg_id", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
)

# Small local values (the inbox version): not trusted state, only where to ask from.
meta = Table(
    "meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

SCHEMA_VERSION = 2
STATUSES = ("ok", "withheld", "bad", "exploded", "no_key")
OUTBOX_STATES = ("pending", "sending", "sent", "failed")


def _v1(conn) -> None:
    """Version 1 (a new file gets today's tables here; step 2 then finds its column there)."""
    metadata.create_all(conn)
    conn.exec_driver_sql("CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5("
                         "text, tokenize='unicode61 remove_diacritics 2')")


def _mentions_column(conn) -> None:
    """Version 2: who a message mentions (from its signed body), for unread-mention counts;
    rows stored before it are filled from their bodies."""
    have = {r[1] for r in conn.exec_driver_sql("PRAGMA table_info(messages)")}
    if "mentions" in have:
        return                                   # a file made at version 2's tables
    conn.exec_driver_sql("ALTER TABLE messages ADD COLUMN mentions TEXT NOT NULL DEFAULT ''")
    for r in conn.exec_driver_sql("SELECT id, body FROM messages WHERE body IS NOT NULL AND type = 'text'").all():
        body = json.loads(r.body)
        marks = mention_marks(body.get("mentions") or (), bool(body.get("channel_mention")))
        if marks:
            conn.exec_driver_sql("UPDATE messages SET mentions = ? WHERE id = ?", (marks, r.id))


MIGRATIONS = (Step(1, "chat: conversations, messages, outbox, FTS5 index", _v1),
              Step(2, "chat: mentions of each message, for unread-mention counts", _mentions_column))


def mention_marks(uids, channel: bool) -> str:
    """The stored form: " uid uid @channel " (spaces around each, so LIKE '% uid %' is exact)."""
    words = [u for u in uids if isinstance(u, str)] + (["@channel"] if channel else [])
    return (" " + " ".join(words) + " ") if words else ""


@dataclass(frozen=True)
class ConvRow:
    conv_id: str
    team_id: str
    topic_type: int
    topic_id: str
    kind: str
    team_name: str
    channel: str = "general"
    topic: str = ""
    cursor: int = 0
    last_msg_id: int = 0
    read_upto: int = 0
    muted: bool = False
    judge_state: bytes | None = field(default=None, repr=False)
    updated_at: int = 0

    @property
    def name(self) -> str:
        """How people type it: `alice,bob` for a DM, `acme#general` for a channel."""
        return self.team_name if self.kind == "implicit" else f"{self.team_name}#{self.channel}"


@dataclass(frozen=True)
class MessageRow:
    conv_id: str
    msg_id: int
    status: str
    type: str
    sender_uid: str = ""
    sender_kid: str = ""
    sender: str = ""
    ctime: int = 0
    compose_time: int = 0
    key_gen: int = 0
    header_hash: str = ""
    prev: tuple = ()
    supersedes: int | None = None
    deletes: tuple = ()
    reply_to: int | None = None
    thread_root: int | None = None
    outbox_id: str = ""
    body: dict | None = None
    text: str | None = None
    edited: bool = False
    deleted_by: int | None = None
    explodes_at: int | None = None
    mentions: str = ""                   # mention_marks() of the signed body
    error_code: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class OutboxRow:
    outbox_id: str
    conv_id: str
    payload: dict
    state: str = "pending"
    attempts: int = 0
    next_try: int = 0
    last_error: str | None = None
    retryable: bool = True
    msg_id: int | None = None
    created_at: int = 0
    sealed: dict | None = None


@dataclass(frozen=True)
class SearchHit:
    conv_id: str
    msg_id: int
    sender: str
    text: str
    snippet: str
    ctime: int


def _jsonable(obj):
    if isinstance(obj, bytes):
        return {"$hex": obj.hex()}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def _from_jsonable(obj):
    if isinstance(obj, dict):
        if set(obj) == {"$hex"}:
            return bytes.fromhex(obj["$hex"])
        return {k: _from_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_from_jsonable(v) for v in obj]
    return obj


def _dumps(obj) -> str:
    """JSON text (orjson: a sync stores thousands of rows; json for what orjson refuses)."""
    try:
        return orjson.dumps(obj).decode()
    except TypeError:
        return json.dumps(obj)


def _msg_values(m: MessageRow) -> dict:
    if m.status not in STATUSES:
        raise ValueError(f"message status {m.status!r}")
    return dict(conv_id=m.conv_id, msg_id=m.msg_id, status=m.status, error_code=m.error_code,
                error=(m.error or None) and m.error[:1000], type=m.type, sender_uid=m.sender_uid,
                sender_kid=m.sender_kid, sender=m.sender, ctime=m.ctime, compose_time=m.compose_time,
                key_gen=m.key_gen, header_hash=m.header_hash, prev=_dumps(list(m.prev)),
                supersedes=m.supersedes, deletes=_dumps(list(m.deletes)), reply_to=m.reply_to, thread_root=m.thread_root,
                outbox_id=m.outbox_id, body=None if m.body is None else _dumps(_jsonable(m.body)),
                text=m.text, edited=int(m.edited), deleted_by=m.deleted_by, explodes_at=m.explodes_at,
                mentions=m.mentions)


def _msg(r) -> MessageRow:
    return MessageRow(conv_id=r.conv_id, msg_id=r.msg_id, status=r.status, type=r.type, sender_uid=r.sender_uid,
                      sender_kid=r.sender_kid, sender=r.sender, ctime=r.ctime, compose_time=r.compose_time,
                      key_gen=r.key_gen, header_hash=r.header_hash, prev=tuple(json.loads(r.prev)),
                      supersedes=r.supersedes, deletes=tuple(json.loads(r.deletes)), reply_to=r.reply_to, thread_root=r.thread_root,
                      outbox_id=r.outbox_id, body=None if r.body is None else _from_jsonable(orjson.loads(r.body)),
                      text=r.text, edited=bool(r.edited), deleted_by=r.deleted_by, explodes_at=r.explodes_at,
                      mentions=r.mentions, error_code=r.error_code, error=r.error)


def _conv(r) -> ConvRow:
    return ConvRow(conv_id=r.conv_id, team_id=r.team_id, topic_type=r.topic_type, topic_id=r.topic_id,
                   kind=r.kind, team_name=r.team_name, channel=r.channel, topic=r.topic, cursor=r.cursor,
                   last_msg_id=r.last_msg_id, read_upto=r.read_upto, muted=bool(r.muted),
                   judge_state=getattr(r, "judge_state", None), updated_at=r.updated_at)


def _out(r) -> OutboxRow:
    return OutboxRow(outbox_id=r.outbox_id, conv_id=r.conv_id, payload=_from_jsonable(json.loads(r.payload)),
                     state=r.state, attempts=r.attempts, next_try=r.next_try, last_error=r.last_error,
                     retryable=bool(r.retryable), msg_id=r.msg_id, created_at=r.created_at,
                     sealed=None if r.sealed is None else json.loads(r.sealed))


# What a message contributes to the index: text, and an attachment's file name.
def indexed_text(m: MessageRow) -> str | None:
    """The words search finds a message by. An edited text's row may have no body of its own
    (the server drops a superseded body; a reader who syncs after the edit never sees it):
    its text column, which the verified edit wrote, is what it reads now."""
    if m.status != "ok" or m.deleted_by is not None:
        return None
    if m.type == "text":
        return m.text
    if m.body is None:
        return None
    if m.type == "attachment":
        return str(m.body.get("name") or "")
    return None


def fts_query(query: str) -> str:
    """The user's words as FTS5 prefix terms, each quoted: no FTS syntax reaches SQLite."""
    words = [w for w in "".join(c if c.isalnum() else " " for c in query).split() if w][:16]
    return " ".join('"' + w.replace('"', "") + '"*' for w in words)


def _normal(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA synchronous=NORMAL")
    finally:
        cur.close()


