"""Re-sealing pending writes after the folder's key rotated (a member was removed).

A write is sealed when it is journalled, under the team's newest key generation *then*. If
a member is removed (the team key rotates) before it is uploaded, its blocks would reach
the server under the old generation, which the removed member holds: content written or
still pending at removal time would be one leaked pointer away from them (a pointer's half
is all they would lack). So before a batch is uploaded, each pending write whose content
root names an older generation than the folder's newest is read back from the journal
(checked, under the old key) and sealed again under the newest, its row pointed at the new
blocks in one transaction, and the old blocks released (pins.py: unless another entry
names them). A restore names blocks already on the server: those were readable by every
member of their time and are left as they are.
"""

from __future__ import annotations

import asyncio
import json

from kbapp.core import errors
from kbapp.core.encoding import pack, unpack
from kbapp.core.fs.blocks import BlockPointer
from kbapp.core.fs.tree import TreeWriter, iter_data


def row_ptr(row) -> BlockPointer:
    return BlockPointer.from_wire(unpack(row.root, max_size=256, max_depth=2))


def _stale(rows, gen: int) -> list:
    return [r for r in rows if r.op == "write" and r.blocks and row_ptr(r).key_gen < gen]


def _repoint(journal, entry_id: int, root: bytes, blocks: list[str]) -> bool:
    with journal.db.engine.begin() as conn:
        n = conn.exec_driver_sql("UPDATE entries SET root = ?, blocks = ? WHERE id = ? AND "
                                 "state IN ('pending', 'failed')", (root, json.dumps(blocks), entry_id)).rowcount
    return n == 1


async def _reseal_one(files, f, row) -> int:
    """Seal one row's content again under f.gen; the bytes the journal grew by."""
    journal, pins = files.journal, files.pins
    old = row_ptr(row)
    w = TreeWriter(**f.seal_kw())
    ids: list[str] = []

    def fetch(ptr):
        data = journal.get_block(ptr.id.hex())
        if data is None:
            raise errors.NotFound(f"journal block {ptr.id.hex()[:16]} is missing from disk")
        return data

    def keep(pairs) -> int:
        n = 0
        for ptr, stored in pairs:
            pins.pin(ptr.id.hex())
            ids.append(ptr.id.hex())
            journal.put_block(ptr.id.hex(), stored)
            n += len(stored)
        return n

    def work():
        kept = sum(keep(w.write(chunk)) for chunk in iter_data(old, fetch, f.keys))
        root, rest = w.finish()
        kept += keep(rest)
        journal.settle(ids)                     # durable (files and directories fsynced) before the row names them
        return root, kept

    try:
        root, kept = await asyncio.to_thread(work)
        if not await journal.db.run(_repoint, journal, row.id, pack(root.to_wire()), ids):
            raise errors.Conflict(f"journal entry {row.id} changed while it was re-sealed")
    except BaseException:
        await pins.release(journal, ids, pinned=True)
        raise
    pins.unpin(ids)
    freed = await pins.release(journal, row.blocks)
    return kept - freed


async def reseal(files, f, rows) -> list:
    """`rows` with every write sealed under an older generation than `f.gen` re-sealed (read
    again from the journal); the others as they are."""
    if f.keys is None:
        return rows
    stale = _stale(rows, f.gen)
    if not stale:
        return rows
    for r in stale:
        files.used = max(0, files.used + await _reseal_one(files, f, r))
    files._stale(f.folder_id)
    fresh = {r.id: r for r in await files.journal.of_folder(rows[0].folder, ("pending", "failed"))}
    return [fresh.get(r.id, r) for r in rows]
