"""Chat storage (migration 0007): conversations, messages and the inbox version counter.

Tables live on db.metadata so one Alembic history and one schema check cover them.
Both are keyed first by conv_id (messages) or by conv_id and team_id (conversations):
the sharding key of a Citus-style split (docs/server.md). The server stores headers
and bodies as opaque sealed bytes; `hints` are the copies it needs to index and to
delete superseded or exploded bodies, and every reader checks them against the
signed header.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, String, Table, Text, UniqueConstraint

from .db import metadata

conversations = Table(
    "chat_conversations", metadata,
    Column("conv_id", String(32), primary_key=True),
    Column("team_id", String(32), nullable=False),
    Column("topic_type", Integer, nullable=False),
    Column("topic_id", String(32), nullable=False),
    Column("created_by", String(32), nullable=False),
    Column("ctime", BigInteger, nullable=False),
    Column("last_msg_id", BigInteger, nullable=False),     # bumped under the row's lock: ids without gaps
    Column("vers", BigInteger, nullable=False),            # chat_vers at this conversation's last post
    Index("ix_chat_conversations_team_vers", "team_id", "vers"),
)

messages = Table(
    "chat_messages", metadata,
    Column("conv_id", String(32), primary_key=True),
    Column("msg_id", BigInteger, primary_key=True, autoincrement=False),
    Column("ctime", BigInteger, nullable=False),            # the server's clock: informational only
    Column("sender_uid", String(32), nullable=False),
    Column("sender_kid", String(70), nullable=False),
    Column("outbox_id", String(32), nullable=False),
    Column("key_gen", Integer, nullable=False),
    Column("ek_gen", Integer, nullable=True),
    Column("type", String(24), nullable=False),
    Column("header", LargeBinary, nullable=True),           # NULL once exploded
    Column("body", LargeBinary, nullable=True),             # NULL once deleted, edited away or exploded
    Column("hints", Text, nullable=False),                  # canonical JSON of the wire hints
    Column("superseded_by", BigInteger, nullable=True),
    Column("expires_at", BigInteger, nullable=True, index=True),
    UniqueConstraint("conv_id", "outbox_id", name="uq_chat_messages_outbox"),
)

# Which blobs a message's attachment names (migration 0011): the post's unsigned `blobs`
# cue, accepted only for blobs the poster uploaded (blobs table). When the message's body is
# dropped (deleted, edited away, history deleted, exploded) its rows go, and a blob no row
# and no uploader holds any more leaves the blob store (server/chat_blobs.py).
blob_refs = Table(
    "chat_blob_refs", metadata,
    Column("conv_id", String(32), primary_key=True),
    Column("msg_id", BigInteger, primary_key=True, autoincrement=False),
    Column("blob_id", String(64), primary_key=True),
    Column("uid", String(32), nullable=False),             # the poster, who uploaded it
    Index("ix_chat_blob_refs_blob_id", "blob_id"),
)

# One row (id 1): bumped by every post, in the post's transaction and as its last
# statement, so versions commit in order and `inbox?since=` never skips a late commit.
chat_vers = Table(
    "chat_vers", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("vers", BigInteger, nullable=False),
)
