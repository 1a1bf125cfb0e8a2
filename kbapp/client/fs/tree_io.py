"""Blocks for the core's synchronous tree readers, and the directory edit of one file write.

core/fs reads trees through a synchronous `fetch(ptr)`; the server is async. `BlockCache.load`
therefore brings every block under a pointer in first (the journal's own blocks from disk,
the rest in batches of 64 from the server, each kept only if it hashes to its id), level by
level; the core then reads and checks them all again (ids, MACs, offsets, sizes). Nothing
here trusts a block: it only moves bytes.
"""

from __future__ import annotations

import hashlib
from typing import Callable

from kbapp.core import errors
from kbapp.core.encoding import b64decode
from kbapp.core.fs.blocks import INDIRECT, BlockPointer, open_block
from kbapp.core.fs.dirs import DIR, Entry, pack_dir, read_dir
from kbapp.core.fs.revision import Op
from kbapp.core.fs.tree import parse_indirect, write_all

BATCH = 64


class BlockCache:
    """The blocks of one folder this operation needs, by id (hex)."""

    def __init__(self, api, folder_id: str, journal, keys):
        self.api, self.folder_id, self.journal, self.keys = api, folder_id, journal, keys
        self.blocks: dict[str, bytes] = {}

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
                    raise errors.NotFound(f"the server does not serve block {i[:16]} of this folder")
                data = b64decode(raw, max_size=1 << 20)
                if hashlib.sha256(data).hexdigest() != i:
                    raise errors.BlockIdMismatch(f"block {i[:16]} served with bytes of another hash")
                self.blocks[i] = data
            if later and len(later) == len(batch):
                # nothing served this round: ask one at a time so progress is certain
                for i in later:
                    data = await self.api.fs_get_block(self.folder_id, i)
                    if hashlib.sha256(data).hexdigest() != i:
                        raise errors.BlockIdMismatch(f"block {i[:16]} served with bytes of another hash")
                    self.blocks[i] = data
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


async def put_file(cache: BlockCache, root: BlockPointer | None, path: tuple[str, ...], entry: Entry, *,
                   seal_kw: Callable[[], dict], mtime: int, writer: bytes):
    """The new root directory with `entry` at `path` (missing directories made): (root pointer,
    [(pointer, stored)] of the new directory blocks, children first, ops)."""
    chain: list[dict[str, Entry]] = [await cache.read_dir(root) if root is not None else {}]
    ops: list[Op] = []
    for i, name in enumerate(path[:-1]):
        e = chain[-1].get(name)
        if e is None:
            ops.append(Op("mkdir", tuple(path[:i + 1])))
            chain.append({})
        elif e.type == DIR:
            chain.append(await cache.read_dir(e.ptr))
        else:
            raise errors.BadPathName(f"{'/'.join(path[:i + 1])!r} is a file, not a directory")
    old = chain[-1].get(path[-1])
    if old is not None and old.type == DIR:
        raise errors.BadPathName(f"{'/'.join(path)!r} is a directory")
    chain[-1][path[-1]] = entry
    ops.append(Op("write", tuple(path), entry=entry))
    blocks: list = []
    ptr = None
    for depth in range(len(chain) - 1, -1, -1):
        entries = chain[depth]
        if ptr is not None:
            name = path[depth]
            entries[name] = Entry(name, DIR, ptr, ptr.size, mtime, writer)
        ptr, stored = write_all([pack_dir(entries.values())], **seal_kw())
        blocks += stored
    for p, s in blocks:
        cache.add(p, s)
    return ptr, blocks, ops
