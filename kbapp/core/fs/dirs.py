"""Directories: a strict, canonical list of entries, stored like a file (tree.py).

A directory's bytes are `pack([1, [entry, ...]])`, entries sorted by the UTF-8 bytes of
their names, each name once, each entry `[name, type, pointer|nil, size, mtime, writer,
target|nil]`: a file or executable (pointer to its content, size = the pointer's), a
directory (pointer to its encoding), or a symlink (its target text; no pointer). Names are
checked like any path component (names.py) when the directory is *read*: another writer
is as untrusted as the server.

`walk` visits a tree depth first with caps on depth and on nodes: block ids are hashes, so
a cycle cannot be built, but one directory block named a thousand times under itself can
(a DAG that explodes when walked); both caps turn that into TreeTooDeep / TreeTooLarge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping

from ..encoding import pack, unpack
from ..errors import BadDirectory, BadPathName, EncodingError, TooLarge, TreeTooDeep, TreeTooLarge
from .blocks import BlockPointer
from .names import MAX_PATH_DEPTH, check_component
from .tree import Fetch, read_all

VERSION = 1
FILE, EXEC, DIR, SYMLINK = 1, 2, 3, 4
TYPES = {FILE: "file", EXEC: "exec", DIR: "dir", SYMLINK: "symlink"}
MAX_ENTRIES = 100_000
MAX_DIR_BYTES = 32 << 20
MAX_TARGET = 4096
MAX_NODES = 1_000_000                 # entries a walk visits
MAX_MTIME = (1 << 63) - 1             # nanoseconds since the epoch
UID_SIZE = 16


@dataclass(frozen=True)
class Entry:
    name: str
    type: int
    ptr: BlockPointer | None
    size: int
    mtime: int                        # ns since the epoch, as the writer said
    writer: bytes                     # uid of the last writer of this entry
    target: str | None = None         # symlinks only

    @property
    def is_dir(self) -> bool:
        return self.type == DIR

    @property
    def type_name(self) -> str:
        return TYPES[self.type]

    def to_wire(self) -> list:
        return [self.name, self.type, None if self.ptr is None else self.ptr.to_wire(), self.size,
                self.mtime, self.writer, self.target]


def check_entry(w: object) -> Entry:
    """An Entry from its wire form, every field and the type's rules checked."""
    if not isinstance(w, list) or len(w) != 7:
        raise BadDirectory("an entry is [name, type, pointer, size, mtime, writer, target]")
    name, typ, ptr, size, mtime, writer, target = w
    if not isinstance(name, str):
        raise BadPathName("directory entry: a name is a msgpack string (UTF-8), not bytes")
    try:
        name = check_component(name)
    except BadPathName as e:
        raise BadPathName(f"directory entry: {e}") from None
    if type(typ) is not int or typ not in TYPES:
        raise BadDirectory(f"unknown entry type {typ!r}")
    if type(size) is not int or size < 0 or type(mtime) is not int or not 0 <= mtime <= MAX_MTIME:
        raise BadDirectory("size and mtime are non-negative integers")
    if not isinstance(writer, bytes) or len(writer) != UID_SIZE:
        raise BadDirectory("an entry's writer is a 16-byte uid")
    if typ == SYMLINK:
        if ptr is not None or not isinstance(target, str) or not 0 < len(target.encode("utf-8", "replace")) \
                <= MAX_TARGET or "\0" in target or size != len(target.encode("utf-8", "replace")):
            raise BadDirectory("a symlink has a short target (no NUL), its length as size, and no pointer")
        return Entry(name, typ, None, size, mtime, writer, target)
    if ptr is None or target is not None:
        raise BadDirectory("a file or directory entry has a pointer and no target")
    p = BlockPointer.from_wire(ptr)
    if p.size != size:
        raise BadDirectory(f"entry {name[:40]!r} says {size} bytes, its pointer {p.size}")
    if typ == DIR and size > MAX_DIR_BYTES:
        raise BadDirectory(f"a directory encoding is at most {MAX_DIR_BYTES} bytes")
    return Entry(name, typ, p, size, mtime, writer, None)


def _key(name: str) -> bytes:
    return name.encode("utf-8")


def pack_dir(entries) -> bytes:
    """The canonical encoding of a directory (entries sorted by name; names checked, unique)."""
    entries = sorted(entries, key=lambda e: _key(e.name))
    if len(entries) > MAX_ENTRIES:
        raise TooLarge(f"a directory holds at most {MAX_ENTRIES} entries")
    for a, b in zip(entries, entries[1:]):
        if a.name == b.name:
            raise BadDirectory(f"two entries named {a.name[:40]!r}")
    data = pack([VERSION, [check_entry(e.to_wire()).to_wire() for e in entries]])
    if len(data) > MAX_DIR_BYTES:
        raise TooLarge(f"a directory encoding is at most {MAX_DIR_BYTES} bytes")
    return data


def parse_dir(data: bytes) -> dict[str, Entry]:
    """name -> Entry, from exactly the canonical encoding; BadDirectory / BadPathName otherwise."""
    if len(data) > MAX_DIR_BYTES:
        raise BadDirectory(f"a directory encoding is at most {MAX_DIR_BYTES} bytes")
    try:
        obj = unpack(data, max_size=MAX_DIR_BYTES, max_depth=None)
    except EncodingError as e:
        raise BadDirectory(f"directory: {e}") from None
    if not isinstance(obj, list) or len(obj) != 2 or obj[0] != VERSION or not isinstance(obj[1], list):
        raise BadDirectory("a directory is [1, [entry, ...]]")
    if len(obj[1]) > MAX_ENTRIES:
        raise BadDirectory(f"a directory holds at most {MAX_ENTRIES} entries")
    out: dict[str, Entry] = {}
    last = None
    for w in obj[1]:
        e = check_entry(w)
        k = _key(e.name)
        if last is not None and k <= last:
            raise BadDirectory("entries are sorted by name, each name once")
        last = k
        out[e.name] = e
    if pack(obj) != bytes(data):
        raise BadDirectory("a directory is not in its canonical encoding")
    return out


def read_dir(ptr: BlockPointer, fetch: Fetch, folder_keys: Mapping[int, bytes] | None) -> dict[str, Entry]:
    try:
        data = read_all(ptr, fetch, folder_keys, max_size=MAX_DIR_BYTES)
    except TooLarge as e:
        raise BadDirectory(str(e)) from None
    return parse_dir(data)


def lookup(root: BlockPointer, path, fetch: Fetch, folder_keys) -> Entry | None:
    """The entry at `path` (a tuple of names) below the root directory; None if absent."""
    if len(path) > MAX_PATH_DEPTH:
        raise TreeTooDeep(f"a path is at most {MAX_PATH_DEPTH} names deep")
    ptr, entry = root, None
    for i, name in enumerate(path):
        entries = read_dir(ptr, fetch, folder_keys)
        entry = entries.get(check_component(name))
        if entry is None:
            return None
        if i < len(path) - 1:
            if not entry.is_dir:
                return None
            ptr = entry.ptr
    return entry


def walk(root: BlockPointer, fetch: Fetch, folder_keys, *, max_depth: int = MAX_PATH_DEPTH,
         max_nodes: int = MAX_NODES) -> Iterator[tuple[tuple[str, ...], Entry]]:
    """(path, entry) for every entry below the root, depth first, parents before children."""
    stack: list[tuple[tuple[str, ...], BlockPointer]] = [((), root)]
    nodes = 0
    while stack:
        path, ptr = stack.pop()
        if len(path) >= max_depth:
            raise TreeTooDeep(f"the tree is more than {max_depth} directories deep")
        entries = read_dir(ptr, fetch, folder_keys)
        nodes += len(entries)
        if nodes > max_nodes:
            raise TreeTooLarge(f"the tree has more than {max_nodes} entries")
        subdirs = []
        for name, e in entries.items():
            yield path + (name,), e
            if e.is_dir:
                subdirs.append((path + (name,), e.ptr))
        stack.extend(reversed(subdirs))
