"""Files as block trees and directories (core/fs/tree.py, dirs.py): round trips, streaming, strictness."""

from __future__ import annotations

import hashlib
import tracemalloc

import pytest

from fs_support import FolderWorld

from kbapp.core import errors
from kbapp.core.encoding import pack
from kbapp.core.fs import tree
from kbapp.core.fs.blocks import DATA, INDIRECT, MAX_DATA
from kbapp.core.fs.dirs import DIR, EXEC, FILE, SYMLINK, Entry, lookup, pack_dir, parse_dir, walk
from kbapp.core.fs.tree import TreeWriter, iter_data, parse_indirect, read_all, split, write_all


def _data(n: int, seed: bytes = b"x") -> bytes:
    out, i = bytearray(), 0
    while len(out) < n:
        out += hashlib.sha256(seed + i.to_bytes(8, "big")).digest()
        i += 1
    return bytes(out[:n])


@pytest.mark.parametrize("n", [0, 1, 1000, MAX_DATA, MAX_DATA + 1, 3 * MAX_DATA + 17])
def test_files_round_trip_direct_and_indirect(n):
    fw = FolderWorld()
    data = _data(n)
    root, blocks = write_all(split([data[i:i + 7000] for i in range(0, n, 7000)]), **fw.writer_kw())
    fw.store(blocks)
    assert root.size == n and root.kind == (DATA if n <= MAX_DATA else INDIRECT)
    assert len(blocks) == max(1, -(-n // MAX_DATA)) + (n > MAX_DATA)
    assert read_all(root, fw.fetch, fw.keys(), max_size=n) == data
    if n:
        with pytest.raises(errors.TooLarge):
            read_all(root, fw.fetch, fw.keys(), max_size=n - 1)


def test_two_levels_and_children_before_parents(monkeypatch):
    monkeypatch.setattr(tree, "FANOUT", 3)
    fw = FolderWorld(kind="public")
    data = _data(7 * 300 - 5)
    w = TreeWriter(**fw.writer_kw())
    monkeypatch.setattr(tree, "MAX_DATA", 300)
    out = []
    for piece in split([data], 1000):
        out += w.write(piece)
    root, rest = w.finish()
    out += rest
    seen = set()
    for ptr, stored in out:                               # upload order: a parent never before its children
        if ptr.kind == INDIRECT:
            level, children = parse_indirect(tree.open_block(ptr, stored, None), ptr)
            assert all(c.id in seen for _, c in children)
        seen.add(ptr.id)
    fw.store(out)
    level, top = parse_indirect(tree.open_block(root, fw.blocks[root.id], None), root)
    assert level == 2 and len(top) == 3 and root.size == len(data)
    assert b"".join(iter_data(root, fw.fetch, None)) == data


def test_a_full_two_level_tree_refuses_more(monkeypatch):
    monkeypatch.setattr(tree, "FANOUT", 2)
    monkeypatch.setattr(tree, "MAX_DATA", 10)
    w = TreeWriter(folder_key=None)
    w.write(b"a" * 40)
    root, _ = w.finish()
    assert root.size == 40
    w = TreeWriter(folder_key=None)
    w.write(b"a" * 40)
    with pytest.raises(errors.TooLarge):
        w.write(b"a" * 10)


def test_streaming_memory_stays_flat():
    """64 MiB through the writer and back: peak traced memory of a few blocks, not the file."""
    fw = FolderWorld()
    piece = _data(1 << 20)
    tracemalloc.start()
    w = TreeWriter(**fw.writer_kw())
    for _ in range(64):
        fw.store(w.write(piece))
    root, rest = w.finish()
    fw.store(rest)
    _, write_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    total = 0
    for chunk in iter_data(root, fw.fetch, fw.keys()):
        total += len(chunk)
    _, read_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert total == root.size == 64 << 20
    stored = sum(len(b) for b in fw.blocks.values())     # the test's own dict holds the blocks
    assert write_peak - stored < 8 << 20 and read_peak - base < 8 << 20, (write_peak, stored, read_peak, base)


def test_indirect_blocks_are_strict():
    fw = FolderWorld(kind="public")
    root, blocks = write_all([_data(2 * MAX_DATA)], **fw.writer_kw())
    fw.store(blocks)
    data = tree.open_block(root, fw.blocks[root.id], None)
    parse_indirect(data, root)
    rows = [[0, c.to_wire()] for _, c in parse_indirect(data, root)[1]]
    for bad in (pack([1, [[1, rows[0][1]], rows[1]]]),           # offsets not sums
                pack([3, rows]), pack([1, []]), pack([2, rows]),  # level, empty, level-2 listing data
                pack([1, rows[:1]]),                              # children total != pointer size
                pack([1, rows]) + b"\x00"):
        with pytest.raises(errors.BadDirectory):
            parse_indirect(bad, root)


def _entries(fw):
    f = fw.file_entry("a.txt", b"hello")
    x = fw.file_entry("run.sh", b"#!/bin/sh\n", typ=EXEC)
    s = Entry("link", SYMLINK, None, 5, 0, bytes.fromhex(fw.alice.uid), "a.txt")
    d = fw.dir_entry("docs", [fw.file_entry("b.txt", b"bee")])
    return [x, f, s, d]


def test_directories_round_trip_sorted_and_canonical():
    fw = FolderWorld()
    entries = _entries(fw)
    data = pack_dir(entries)
    got = parse_dir(data)
    assert list(got) == ["a.txt", "docs", "link", "run.sh"]
    assert got["run.sh"].type == EXEC and got["link"].target == "a.txt" and got["docs"].type == DIR
    root = fw.root(entries)
    assert lookup(root, ("docs", "b.txt"), fw.fetch, fw.keys()).size == 3
    assert lookup(root, ("docs", "nope"), fw.fetch, fw.keys()) is None
    assert lookup(root, ("a.txt", "x"), fw.fetch, fw.keys()) is None
    assert [p for p, _ in walk(root, fw.fetch, fw.keys())] == \
        [("a.txt",), ("docs",), ("link",), ("run.sh",), ("docs", "b.txt")]
    with pytest.raises(errors.BadDirectory):
        pack_dir(entries + [entries[0]])


def test_a_10000_entry_directory_spans_blocks():
    fw = FolderWorld(kind="public")
    f = fw.file_entry("x", b"x")
    entries = [Entry(f"file-{i:05d}.txt", FILE, f.ptr, 1, i, f.writer) for i in range(10_000)]
    root = fw.root(entries)
    assert root.kind == INDIRECT
    assert len(fw.read_root(root)) == 10_000


def test_directory_parsing_is_strict():
    fw = FolderWorld(kind="public")
    f = fw.file_entry("a", b"x")
    good = f.to_wire()
    for bad in (
        [1, [good, good]],                                            # twice
        [1, [fw.file_entry("b", b"y").to_wire(), good]],              # unsorted
        [2, [good]], [1, good], [1, [good[:6]]],
        [1, [[*good[:1], 9, *good[2:]]]],                             # unknown type
        [1, [[*good[:3], 2, *good[4:]]]],                             # size differs from the pointer
        [1, [[*good[:5], b"short", None]]],                           # writer uid
        [1, [[*good[:6], "target"]]],                                 # a file with a target
        [1, [["l", SYMLINK, good[2], 1, 0, good[5], "a"]]],           # a symlink with a pointer
        [1, [["l", SYMLINK, None, 2, 0, good[5], "a\0"]]],            # NUL in a target
    ):
        with pytest.raises(errors.BadDirectory):
            parse_dir(pack(bad))
    with pytest.raises(errors.BadPathName):
        parse_dir(pack([1, [["..", *good[1:]]]]))
