"""Who uploaded which blob (chat attachments): the table and its queries (migration 0008).

The blob store (blobstore.py) holds bytes by content address and knows no owner; this
table charges each upload to the account that made it, for the per-account quota, and
keeps the size and time a later sweep needs ("blobs unreferenced for 24 h": the server
cannot tell which message names a blob, docs/server.md). Keyed first by uid, the shard
key of a distributed deployment; the blob_id index answers "does anyone still hold it".
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table, case, func, insert, select
from sqlalchemy.engine import Connection

from .db import metadata

blobs = Table(
    "blobs", metadata,
    Column("uid", String(32), primary_key=True),        # the uploader (read token's uid)
    Column("blob_id", String(64), primary_key=True),    # SHA-256 hex of the bytes
    Column("size", BigInteger, nullable=False),
    Column("ctime", BigInteger, nullable=False),
    Index("ix_blobs_blob_id", "blob_id"),
)


MIN_CHARGE = 4096     # bytes a blob counts at least: a file on disk takes a block and an inode


def charged(size: int) -> int:
    """What one blob of `size` bytes counts against the quota (300 two-byte blobs counted 600
    bytes while they took 1.2 MB and 300 inodes; found in review)."""
    return max(size, MIN_CHARGE)


def used(conn: Connection, uid: str) -> int:
    """Bytes charged to `uid` (each of its uploads once, at least MIN_CHARGE each)."""
    each = case((blobs.c.size < MIN_CHARGE, MIN_CHARGE), else_=blobs.c.size)
    return int(conn.execute(select(func.coalesce(func.sum(each), 0)).where(blobs.c.uid == uid)).scalar())


def holds(conn: Connection, uid: str, blob_id: str) -> bool:
    return conn.execute(select(blobs.c.size).where((blobs.c.uid == uid) & (blobs.c.blob_id == blob_id))
                        ).first() is not None


def anyone_holds(conn: Connection, blob_id: str) -> bool:
    return conn.execute(select(blobs.c.uid).where(blobs.c.blob_id == blob_id).limit(1)).first() is not None


def record(conn: Connection, uid: str, blob_id: str, size: int, ctime: int) -> None:
    """Charge an upload to `uid` (once per blob: an upload of a blob it holds is free)."""
    if not holds(conn, uid, blob_id):
        conn.execute(insert(blobs).values(uid=uid, blob_id=blob_id, size=size, ctime=ctime))
