"""Which journal blocks are still needed: a block is deleted only when nothing else names it.

A block's id is its content address, so two journal entries can name the same block: a
public folder's blocks are clear and deterministic (the same 512 KiB twice is one block),
and any local dedup would do the same for encrypted ones. Deleting "the blocks of this
write" (a write refused by the disk cap part-way, an uploaded batch moving to the cache)
must therefore spare every block that another unfinished entry (pending, failed, parked)
names, or that a write still in progress has kept but not yet journalled: otherwise that
entry can no longer be uploaded or read (issue 16, threat-model.md "Folder engine
correctness").

In-progress writes *pin* each block before they keep it. `release` checks the pins and the
journal rows on the journal's db thread under one lock, so a row committing or a pin
appearing between the check and the deletion cannot be missed: rows commit on that same
thread, and a write drops its pins only after its row has committed.
"""

from __future__ import annotations

import json
import threading
from collections import Counter


class BlockPins:
    def __init__(self):
        self._lock = threading.Lock()
        self._held: Counter = Counter()

    def pin(self, block_id: str) -> None:
        with self._lock:
            self._held[block_id] += 1

    def unpin(self, block_ids) -> None:
        with self._lock:
            for b in block_ids:
                self._held[b] -= 1
                if self._held[b] <= 0:
                    del self._held[b]

    def _named_by_rows(self, journal) -> set[str]:
        with journal.db.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT blocks FROM entries WHERE state != 'uploaded'").fetchall()
        return {b for (raw,) in rows for b in json.loads(raw)}

    def _release(self, journal, block_ids, keep, unpin_after: bool) -> int:
        with self._lock:
            if unpin_after:
                for b in block_ids:
                    self._held[b] -= 1
                    if self._held[b] <= 0:
                        del self._held[b]
            needed = self._named_by_rows(journal) | set(self._held)
            return journal.drop_blocks(sorted({b for b in block_ids if b not in needed}), keep)

    async def release(self, journal, block_ids, keep=None, *, pinned: bool = False) -> int:
        """Delete the blocks of `block_ids` that no unfinished entry and no other write in
        progress needs (handed to `keep` first, as `Journal.drop_blocks`); the bytes freed.
        `pinned`: the ids are this caller's own pins, dropped in the same step."""
        ids = list(block_ids)
        if not ids:
            return 0
        return await journal.db.run(self._release, journal, ids, keep, pinned)
