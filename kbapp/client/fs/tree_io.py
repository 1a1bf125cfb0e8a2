"""Blocks for the core's synchronous tree readers.

core/fs reads trees through a synchronous `fetch(ptr)`; the server is async. `BlockCache.load`
therefore brings every block under a pointer in first (the journal's own blocks and the
persistent block cache from disk, the rest in batches of 64 from the server, each kept only
if it hashes to its id, and then written to the disk cache), level by level; the core then
reads and checks them all again (ids, MACs, offsets, sizes). Nothing here trusts a block: it
only moves bytes. Tree edits live in overlay.py.
"""

from __future__ import annotations

import hashlib
from kbapp.core import errors
from kbapp.core.encoding import b64decode
from kbapp.core.fs.blocks import INDIRECT, BlockPointer, open_block
from kbapp.core.fs.dirs import Entry, read_dir
from kbapp.core.fs.tree import parse_indirect

BATCH = 64


class BlockCache:
    """The blocks of one folder this operation needs, by id (hex)."""

    def __init__(self, api, folder_id: str, journal, keys, disk=None):
        self.api, self.folder_id, self.journal, self.keys = api, folder_id, journal, keys
        self.disk = disk if disk is not None else getattr(journal, "cache", None)
        self.blocks: dict[str, bytes] = {}
        self.fetched = 0                           # blocks that needed the server

    def _keep(self, i: str, data: bytes) -> None:
        self.blocks[i] = data
        self.fetched += 1
        if self.disk is not None:
            self.disk.put(i, data)

    def add(self, ptr: BlockPointer, stored: bytes) -> None:
        self.blocks[ptr.id.hex()] = stored

    def fetch(self, ptr: BlockPointer) -> bytes:
        data = self.blocks.get(ptr.id.hex())
        if data is None:
            raise errors.NotFound(f"block {ptr.id.hex()[:16]} was not loaded")
        return data

    async def _get(self, ids: list[str]) -> None:
        todo = [i for i in dict.fromkeys(ids) if i not in self.blocks]
        for i in list(todo):
            local = self.journal.get_block(i)
            if local is not None:
                self.blocks[i] = local
                todo.remove(i)
        rounds = 0
        while todo:
            rounds += 1
            if rounds > 10_000:
                raise errors.EncodingError("the server keeps deferring blocks")
            batch, todo = todo[:BATCH], todo[BATCH:]
            ans = await self.api.fs_get_blocks(self.folder_id, batch)
            later = [i for i in ans["later"] if isinstance(i, str) and i in batch]
            for i in batch:
                raw = ans["blocks"].get(i)
                if i in later:
                    continue
                if not isinstance(raw, str):
                    raise errors.BlockMissing(f"the server does not serve block {i[:16]} of this folder")
                data = b64decode(raw, max_size=1 << 20)
                if hashlib.sha256(data).hexdigest() != i:
                    raise errors.BlockIdMismatch(f"block {i[:16]} served with bytes of another hash")
                self._keep(i, data)
            if later and len(later) == len(batch):
                # nothing served this round: ask one at a time so progress is certain
                for i in later:
                    try:
                        data = await self.api.fs_get_block(self.folder_id, i)
                    except errors.NotFound as e:
                        raise errors.BlockMissing(f"the server does not serve block {i[:16]} of this "
                                                  "folder") from e
                    if hashlib.sha256(data).hexdigest() != i:
                        raise errors.BlockIdMismatch(f"block {i[:16]} served with bytes of another hash")
                    self._keep(i, data)
            else:
                todo = later + todo

    async def load(self, root: BlockPointer) -> None:
        """Every block under `root` (a file's or a directory encoding's tree) into the cache."""
        frontier = [root]
        for _ in range(4):                         # data, level 1, level 2: at most three levels
            if not frontier:
                return
            await self._get([p.id.hex() for p in frontier])
            nxt = []
            for p in frontier:
                if p.kind == INDIRECT:
                    _level, children = parse_indirect(open_block(p, self.fetch(p), self.keys), p)
                    nxt += [c for _, c in children]
            frontier = nxt
        if frontier:
            raise errors.TreeTooDeep("an indirect tree deeper than the core allows")

    async def read_dir(self, ptr: BlockPointer) -> dict[str, Entry]:
        await self.load(ptr)
        return read_dir(ptr, self.fetch, self.keys)
