"""Which blobs a chat message names, so they leave the server with the message's body.

Only message bodies name blobs, and the server cannot read them; so the poster adds an
unsigned cue to the post, `blobs` (at most an attachment and its preview). The server takes
it only for blobs that poster uploaded (the `blobs` table's row of the read token's user,
else CHAT_BLOB_NOT_YOURS): nobody gets another's blob deleted by naming it. When the
message's body is dropped (a delete, an edit, a delete_history, an explosion) its rows go,
the poster's upload row goes with the last of them (its quota comes back), and a blob that
no chat row, no upload row and no folder block holds any more is deleted from the store.

A client that leaves the cue out only keeps its own blob on the server (unreadable once the
body is gone: its keys were only there); readers never see the cue.
"""

from __future__ import annotations

import logging

from sqlalchemy import and_, delete, insert, select, tuple_
from sqlalchemy.engine import Connection

from kbapp.core import errors

from . import blob_tables
from .blobstore import check_blob_id
from .chat_tables import blob_refs

log = logging.getLogger(__name__)

MAX_BLOBS = 2                      # an attachment and its preview


def parse_blobs(raw: object) -> tuple[str, ...]:
    """The post's `blobs` cue: at most MAX_BLOBS distinct blob ids."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_BLOBS:
        raise errors.EncodingError(f"blobs is a list of at most {MAX_BLOBS} blob ids")
    try:
        out = tuple(sorted({check_blob_id(b) for b in raw}))
    except errors.KbappError:
        raise errors.EncodingError("blobs holds blob ids (64 lowercase hex digits)") from None
    if len(out) != len(raw):
        raise errors.EncodingError("blobs names each blob once")
    return out


def check(conn: Connection, uid: str, blob_ids: tuple[str, ...]) -> None:
    """Each of a message's blobs must be one the poster uploaded (before anything is written)."""
    for b in blob_ids:
        if not blob_tables.holds(conn, uid, b):
            raise errors.ChatBlobNotYours(f"blob {b[:16]}... was not uploaded by the poster", 403)


def attach(conn: Connection, conv_id: str, msg_id: int, uid: str, blob_ids: tuple[str, ...]) -> None:
    """Record the message's blobs (`check`ed first)."""
    if blob_ids:
        conn.execute(insert(blob_refs), [{"conv_id": conv_id, "msg_id": msg_id, "blob_id": b, "uid": uid}
                                         for b in blob_ids])


def release(conn: Connection, conv_id: str, msg_ids: list[int]) -> list[str]:
    """Forget the blobs of messages whose bodies were dropped; the blob ids nobody holds any
    more (to delete from the store once the transaction committed)."""
    if not msg_ids:
        return []
    rows = conn.execute(select(blob_refs.c.blob_id, blob_refs.c.uid).where(
        (blob_refs.c.conv_id == conv_id) & blob_refs.c.msg_id.in_(msg_ids))).all()
    if not rows:
        return []
    conn.execute(delete(blob_refs).where((blob_refs.c.conv_id == conv_id) & blob_refs.c.msg_id.in_(msg_ids)))
    return _orphans(conn, rows)


def release_pairs(conn: Connection, pairs: list[tuple[str, int]]) -> list[str]:
    """`release` for (conv_id, msg_id) pairs of many conversations (the exploding sweep)."""
    if not pairs:
        return []
    cond = tuple_(blob_refs.c.conv_id, blob_refs.c.msg_id).in_(pairs)
    rows = conn.execute(select(blob_refs.c.blob_id, blob_refs.c.uid).where(cond)).all()
    if not rows:
        return []
    conn.execute(delete(blob_refs).where(cond))
    return _orphans(conn, rows)


def held_anywhere(conn: Connection, blob_id: str) -> bool:
    """Whether anything keeps these bytes: an upload charged to an account, a message naming
    them, or a folder (blobs and folder blocks share one store)."""
    from .folder_tables import folder_blocks
    return bool(chat_holds(conn, blob_id)
                or conn.execute(select(folder_blocks.c.block_id).where(folder_blocks.c.block_id == blob_id)
                                .limit(1)).first())


def chat_holds(conn: Connection, blob_id: str) -> bool:
    """Whether the bytes are a chat blob (an upload charged to an account or named by a
    message): what the blob routes serve. A folder's blocks are served only by the folder
    routes, to the folder's readers."""
    return bool(blob_tables.anyone_holds(conn, blob_id)
                or conn.execute(select(blob_refs.c.msg_id).where(blob_refs.c.blob_id == blob_id).limit(1)).first())


def _orphans(conn: Connection, rows) -> list[str]:
    out = []
    for blob_id, uid in sorted(set((r.blob_id, r.uid) for r in rows)):
        still = conn.execute(select(blob_refs.c.msg_id).where(
            and_(blob_refs.c.blob_id == blob_id, blob_refs.c.uid == uid)).limit(1)).first()
        if still is None:                 # the uploader's last message naming it: the quota comes back
            conn.execute(delete(blob_tables.blobs).where(
                (blob_tables.blobs.c.uid == uid) & (blob_tables.blobs.c.blob_id == blob_id)))
        if not held_anywhere(conn, blob_id) and blob_id not in out:
            out.append(blob_id)
    return out


def delete_bytes(store, blob_ids: list[str]) -> int:
    """After the commit: the orphaned blobs out of the store (a failure is logged: the bytes
    are unreadable without the body that held their keys)."""
    n = 0
    if store is None:
        return 0
    for b in blob_ids:
        try:
            n += bool(store.delete(b))
        except Exception:  # noqa: BLE001 - the body is gone already; the next sweep cannot find it, log it
            log.exception("could not delete chat blob %s", b)
    return n
