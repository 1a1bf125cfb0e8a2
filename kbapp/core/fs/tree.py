"""Files as trees of blocks: direct (one data block) or indirect (up to two levels).

An indirect block's data is `pack([level, [[offset, pointer], ...]])`: level 1 lists data
blocks, level 2 lists level-1 blocks, at most FANOUT children each, offsets starting at 0
and each the sum of the sizes before it. Two levels hold FANOUT² × MAX_DATA ≈ 8 TiB. A
directory's encoding (dirs.py) is stored the same way, so a 10,000-entry directory spans
blocks like any file.

`TreeWriter` seals as the bytes come (memory: one block plus at most two pointer lists);
`iter_data` reads back one block at a time, checking every id, offset and size against
the parent that names it, so a reordered, truncated or swapped block is caught where it is.
The caller supplies randomness (`halves`) and I/O (`fetch`): nothing here touches a disk.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Mapping

from ..encoding import pack, unpack
from ..errors import BadDirectory, EncodingError, TooLarge
from .blocks import BLOCK_SIZE, DATA, INDIRECT, MAX_DATA, BlockPointer, open_block, seal_block

FANOUT = 4096
MAX_LEVEL = 2
MAX_FILE = FANOUT * FANOUT * MAX_DATA

Sealed = tuple[BlockPointer, bytes]
Fetch = Callable[[BlockPointer], bytes]


def pack_indirect(level: int, children: list[BlockPointer]) -> bytes:
    rows, offset = [], 0
    for c in children:
        rows.append([offset, c.to_wire()])
        offset += c.size
    return pack([level, rows])


def parse_indirect(data: bytes, ptr: BlockPointer) -> tuple[int, list[tuple[int, BlockPointer]]]:
    """(level, [(offset, child)]) of an indirect block, checked against the pointer naming it."""
    try:
        obj = unpack(data, max_size=BLOCK_SIZE, max_depth=None)
    except EncodingError as e:
        raise BadDirectory(f"indirect block: {e}") from None
    if not isinstance(obj, list) or len(obj) != 2 or type(obj[0]) is not int or not isinstance(obj[1], list):
        raise BadDirectory("an indirect block is [level, [[offset, pointer], ...]]")
    level, rows = obj
    if not 1 <= level <= MAX_LEVEL:
        raise BadDirectory(f"indirect level {level} (at most {MAX_LEVEL})")
    if not 1 <= len(rows) <= FANOUT:
        raise BadDirectory(f"an indirect block lists 1 to {FANOUT} children")
    out, offset = [], 0
    for row in rows:
        if not isinstance(row, list) or len(row) != 2 or row[0] != offset or type(row[0]) is not int:
            raise BadDirectory(f"child offsets are consecutive sums (expected {offset})")
        child = BlockPointer.from_wire(row[1])
        if child.kind != (DATA if level == 1 else INDIRECT) or child.size == 0:
            raise BadDirectory(f"a level-{level} block lists non-empty "
                               f"{'data' if level == 1 else 'level-1'} blocks only")
        out.append((offset, child))
        offset += child.size
    if offset != ptr.size:
        raise BadDirectory(f"the children hold {offset} bytes, the pointer says {ptr.size}")
    if pack(obj) != bytes(data):
        raise BadDirectory("an indirect block is not in its canonical encoding")
    return level, out


class TreeWriter:
    """Seal a byte stream into blocks as it comes: `write` returns the blocks ready so far,
    `finish` the rest and the root pointer. Blocks come out children first, so uploading them
    in order never leaves a parent naming a block the server lacks."""

    def __init__(self, *, folder_key: bytes | None, key_gen: int = 0, halves: Callable[[], bytes] | None = None):
        if (folder_key is None) != (halves is None):
            raise ValueError("an encrypted folder needs halves (a random source); a public one none")
        self._key, self._gen, self._halves = folder_key, key_gen, halves
        self._buf = bytearray()
        self._l1: list[BlockPointer] = []
        self._l2: list[BlockPointer] = []
        self.size = 0

    def _seal(self, data: bytes, kind: int, size: int | None = None) -> Sealed:
        half = self._halves() if self._halves is not None else None
        return seal_block(data, kind=kind, size=size, folder_key=self._key, key_gen=self._gen, half=half)

    def _group(self, level: int, children: list[BlockPointer]) -> Sealed:
        return self._seal(pack_indirect(level, children), INDIRECT, sum(c.size for c in children))

    def _data_block(self, data: bytes, out: list[Sealed]) -> None:
        if len(self._l2) == FANOUT:
            raise TooLarge(f"a file holds at most {FANOUT * FANOUT * MAX_DATA} bytes")
        sealed = self._seal(data, DATA)
        out.append(sealed)
        self._l1.append(sealed[0])
        if len(self._l1) == FANOUT:
            group = self._group(1, self._l1)
            out.append(group)
            self._l2.append(group[0])
            self._l1 = []

    def write(self, data: bytes) -> list[Sealed]:
        out: list[Sealed] = []
        self._buf += data
        self.size += len(data)
        while len(self._buf) >= MAX_DATA:
            chunk = bytes(self._buf[:MAX_DATA])
            del self._buf[:MAX_DATA]
            self._data_block(chunk, out)
        return out

    def finish(self) -> tuple[BlockPointer, list[Sealed]]:
        out: list[Sealed] = []
        if self._buf or (not self._l1 and not self._l2):
            self._data_block(bytes(self._buf), out)
            self._buf = bytearray()
        if not self._l2:
            if len(self._l1) == 1:
                return self._l1[0], out
            root = self._group(1, self._l1)
            return root[0], out + [root]
        if self._l1:
            group = self._group(1, self._l1)
            out.append(group)
            self._l2.append(group[0])
        if len(self._l2) == 1:
            return self._l2[0], out
        root = self._group(2, self._l2)
        return root[0], out + [root]


def write_all(chunks: Iterable[bytes], **kw) -> tuple[BlockPointer, list[Sealed]]:
    """Every block of a (small) stream and its root: for tests and directories."""
    w = TreeWriter(**kw)
    blocks: list[Sealed] = []
    for c in chunks:
        blocks += w.write(c)
    root, rest = w.finish()
    return root, blocks + rest


def split(chunks: Iterable[bytes], size: int = MAX_DATA) -> Iterator[bytes]:
    """Re-cut any stream of byte strings into pieces of exactly `size` (the last shorter)."""
    buf = bytearray()
    for c in chunks:
        buf += c
        while len(buf) >= size:
            yield bytes(buf[:size])
            del buf[:size]
    if buf:
        yield bytes(buf)


def iter_data(root: BlockPointer, fetch: Fetch, folder_keys: Mapping[int, bytes] | None) -> Iterator[bytes]:
    """The bytes under `root`, one data block at a time, every block checked on the way."""
    if root.kind == DATA:
        yield open_block(root, fetch(root), folder_keys)
        return
    stack = [(root, MAX_LEVEL + 1)]           # (pointer, the level its parent had)
    while stack:
        ptr, parent_level = stack.pop()
        data = open_block(ptr, fetch(ptr), folder_keys)
        if ptr.kind == DATA:
            yield data
            continue
        level, children = parse_indirect(data, ptr)
        if level >= parent_level:
            raise BadDirectory(f"a level-{level} block under a level-{parent_level} one")
        stack.extend((c, level) for _, c in reversed(children))


def read_all(root: BlockPointer, fetch: Fetch, folder_keys: Mapping[int, bytes] | None, *,
             max_size: int) -> bytes:
    """The whole content, refused before any fetch if the pointer says more than `max_size`."""
    if root.size > max_size:
        raise TooLarge(f"{root.size} bytes is over the limit of {max_size}")
    out = bytearray()
    for chunk in iter_data(root, fetch, folder_keys):
        out += chunk
    return bytes(out)
