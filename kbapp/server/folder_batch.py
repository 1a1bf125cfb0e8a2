"""Several folder blocks in one request: `POST /v1/folders/{fid}/blocks:put`.

One PUT per 512 KiB block paid, per block, a request, a read-token check, a role query, two
transactions and two fsyncs in a row; a big upload spent most of its time there
(docs/benchmarks.md "Encrypted folders"). A batch carries up to `BATCH_PUT_MAX` blocks:

    body = (id: 32 bytes, raw SHA-256 | size: u32 big-endian | the stored block) * n

and is checked exactly as single puts are, all before anything is kept: the frame is exact
(no trailing bytes, no empty or oversize block, no id twice), every block hashes to its id
(`FolderBlockMismatch`), the uploader is a writer of the team. The new blocks are then
written to the blob store at once (each fsynced before its rename; concurrent fsyncs share
the disk's commits), and one transaction touches the blocks the folder already held, checks
the quotas for the new bytes together and records them. A refused batch keeps nothing
(blobs no row names are deleted again). It counts as one write against `folder_rate`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from kbapp.core import errors
from kbapp.core.fs.blocks import MAX_STORED
from kbapp.core.teams import Role

from .folder_tables import folder_blocks, folders
from .folders import FolderStore, check_block

BATCH_PUT_MAX = 16
HEAD = 36                                          # id (32) + size (4)
BATCH_PUT_BYTES = BATCH_PUT_MAX * (HEAD + MAX_STORED)
_writers = ThreadPoolExecutor(8, thread_name_prefix="kbapp-folder-blobs")


def parse_batch(body: bytes) -> list[tuple[str, bytes]]:
    """[(block id hex, stored bytes)] of a batch body, or a typed refusal."""
    if len(body) > BATCH_PUT_BYTES:
        raise errors.TooLarge(f"a block batch is at most {BATCH_PUT_BYTES} bytes")
    view, out, seen, o = memoryview(body), [], set(), 0
    while o < len(view):
        if len(out) == BATCH_PUT_MAX:
            raise errors.EncodingError(f"a block batch holds at most {BATCH_PUT_MAX} blocks")
        if len(view) - o < HEAD:
            raise errors.EncodingError("a block batch ends inside a block's header")
        bid = bytes(view[o:o + 32]).hex()
        n = int.from_bytes(view[o + 32:o + HEAD], "big")
        if not 0 < n <= MAX_STORED:
            raise errors.EncodingError(f"a folder block is 1 to {MAX_STORED} bytes, not {n}")
        if len(view) - o - HEAD < n:
            raise errors.EncodingError("a block batch ends inside a block")
        if bid in seen:
            raise errors.EncodingError("a block batch names a block twice")
        seen.add(bid)
        out.append((bid, bytes(view[o + HEAD:o + HEAD + n])))
        o += HEAD + n
    if not out:
        raise errors.EncodingError("a block batch holds at least one block")
    return out


def _held_now(store: FolderStore, folder_id: str, ids: list[str]) -> set[str]:
    """The ids the folder holds already, their `ctime` made now (as a single put's touch)."""
    with store._charging, store.engine.begin() as conn:
        held = store.holds(conn, folder_id, ids)
        if held:
            conn.execute(update(folder_blocks).where(
                (folder_blocks.c.folder_id == folder_id) & folder_blocks.c.block_id.in_(sorted(held)))
                .values(ctime=int(store.clock())))
        return held


def _charge_all(store: FolderStore, folder_id: str, team_id: str, kind: int, todo, uid: str) -> set[str]:
    """Record the blocks not held yet, quotas checked for their bytes together; the new ids."""
    for _ in range(3):
        try:
            with store._charging, store.engine.begin() as conn:
                store.ensure_folder(conn, folder_id, team_id, kind)
                if store.engine.dialect.name == "postgresql":   # processes sharing a database
                    conn.execute(select(folders.c.folder_id).where(folders.c.folder_id == folder_id)
                                 .with_for_update())
                have = store.holds(conn, folder_id, [b for b, _ in todo])
                fresh = [(b, d) for b, d in todo if b not in have]
                size = sum(len(d) for _, d in fresh)
                if fresh:
                    store._check_quota(conn, uid, team_id, size)
                    now = int(store.clock())
                    conn.execute(insert(folder_blocks), [
                        {"folder_id": folder_id, "block_id": b, "size": len(d), "uploader_uid": uid, "ctime": now}
                        for b, d in fresh])
                    store._charge(conn, folder_id, uid, team_id, size)
                return {b for b, _ in fresh}
        except IntegrityError:                   # a twin created the folder or a block row first
            continue
    raise errors.Conflict("concurrent uploads collided; put again")


def put_blocks(store: FolderStore, folder_id: str, team_id: str, kind: int, blocks, uid: str) -> dict[str, bool]:
    """Store a parsed batch under a folder: {id: new?}. Everything is checked before anything
    is kept; a refusal after the blobs were written deletes those no row names."""
    for bid, data in blocks:
        check_block(bid, data)
    with store.engine.connect() as conn:
        if store.role(conn, team_id, uid) < Role.WRITER:
            raise errors.FolderNotWriter("only a writer of the team puts blocks in its folders", 403)
    held = _held_now(store, folder_id, [b for b, _ in blocks])
    todo = [(b, d) for b, d in blocks if b not in held]
    writes = [_writers.submit(store.blobs.put, b, [d]) for b, d in todo]
    try:
        for w in writes:
            w.result()
        new = _charge_all(store, folder_id, team_id, kind, todo, uid) if todo else set()
    except BaseException:
        for w in writes:
            w.exception()                        # every write has ended before anything is deleted
        for b, _ in todo:
            store._drop_if_orphan(b)
        raise
    return {b: b in new for b, _ in blocks}
