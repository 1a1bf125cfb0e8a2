"""Collecting a folder's unreferenced blocks on a writer's signed request (core/fs/gc.py).

The server cannot read trees, so it cannot tell which blocks a revision references; a writer's
client can, and lists the blocks referenced only by revisions <= `upto`. The server applies
what it can check, in one transaction: the request is signed by the read token's user and live
device, a writer of the team; `upto` is below the head and at least the collection delay old
by the server's clock (14 days by default: a reader offline for less still finds every block of
the revisions it has yet to read); every listed block is held by the folder. A block put (or put
again) after revision `upto` was accepted is kept whatever the list says: a later revision may
need it. Revisions themselves are kept; usage is refunded to the uploader and the team; bytes
no other folder or blob holds leave the blob store.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update

from kbapp.core import errors
from kbapp.core.fs.gc import GcRequest
from kbapp.core.teams import Role

from .folder_tables import folder_blocks, folder_revisions, folders
from .folders import FolderStore, _usage_add

CHUNK = 500                         # ids per IN (...) query


def check_request(req: GcRequest, folder_id: str, uid: str, kid: str, eldest_seqno: int) -> None:
    if req.folder_id.hex() != folder_id:
        raise errors.FolderIdMismatch("the gc request is signed for another folder", 400)
    if req.uid != uid or req.kid != kid or req.eldest_seqno != eldest_seqno:
        raise errors.FolderWriterMismatch("a gc request's writer is the read token's user and device", 403)


def collect(store: FolderStore, req: GcRequest, now: int, delay: int) -> dict:
    """Delete what may go; {"deleted": n, "bytes": freed, "kept": [ids put again since upto]}."""
    fid = req.folder_id.hex()
    ids = req.block_ids()
    with store._charging, store.engine.begin() as conn:
        q = select(folders).where(folders.c.folder_id == fid)
        if store.engine.dialect.name == "postgresql":
            q = q.with_for_update()
        row = conn.execute(q).first()
        if row is None:
            raise errors.NotFound(f"no folder {fid}")
        if store.role(conn, row.team_id, req.uid) < Role.WRITER:
            raise errors.FolderNotWriter("only a writer of the team collects its folders' blocks", 403)
        if req.head > row.head or req.upto >= row.head:
            raise errors.FolderGcRefused(f"upto {req.upto} must be below the head {row.head} the writer walked", 400)
        upto_ctime = conn.execute(select(folder_revisions.c.ctime).where(
            (folder_revisions.c.folder_id == fid) & (folder_revisions.c.revision == req.upto))).scalar()
        if upto_ctime is None:
            raise errors.FolderGcRefused(f"no revision {req.upto}", 400)
        if now - upto_ctime < delay:
            raise errors.FolderGcTooEarly(
                f"revision {req.upto} is {now - upto_ctime} s old; its blocks may go after {delay} s", 403)
        held = {}
        for i in range(0, len(ids), CHUNK):
            part = ids[i:i + CHUNK]
            for b in conn.execute(select(folder_blocks).where(
                    (folder_blocks.c.folder_id == fid) & folder_blocks.c.block_id.in_(part))):
                held[b.block_id] = b
        missing = [b for b in ids if b not in held]
        if missing:
            raise errors.FolderGcRefused(f"the folder holds no block {missing[0][:16]} (and {len(missing) - 1} more)",
                                         400)
        gone = [b for b in held.values() if b.ctime <= upto_ctime]
        kept = sorted(b.block_id for b in held.values() if b.ctime > upto_ctime)
        freed = 0
        for b in gone:
            conn.execute(delete(folder_blocks).where(
                (folder_blocks.c.folder_id == fid) & (folder_blocks.c.block_id == b.block_id)))
            _usage_add(conn, f"u:{b.uploader_uid}", -b.size)
            _usage_add(conn, f"t:{row.team_id}", -b.size)
            freed += b.size
        conn.execute(update(folders).where(folders.c.folder_id == fid).values(bytes=folders.c.bytes - freed))
    for b in gone:                              # after the commit: bytes no row holds any more
        store._drop_if_orphan(b.block_id)
    return {"folder_id": fid, "upto": req.upto, "deleted": len(gone), "bytes": freed, "kept": kept}
