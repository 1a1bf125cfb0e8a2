"""Parts of the folder engine without a server: the journal's migration from version 1, upload
batches, the on-disk block cache (LRU, damaged files, listings) and the overlay's edits."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from types import SimpleNamespace

import pytest

from kbapp.client.fs.cache import DiskBlockCache
from kbapp.client.fs.journal import Journal
from kbapp.client.fs.overlay import Overlay
from kbapp.client.fs.uploader import batches
from kbapp.core import errors
from kbapp.core.fs.dirs import FILE, Entry, read_dir
from kbapp.core.fs.tree import write_all

WRITER = bytes(16)


async def test_a_version_1_journal_reads_its_rows_as_write_ops(tmp_path):
    conn = sqlite3.connect(tmp_path / "fs.sqlite3")
    conn.execute("CREATE TABLE entries (id INTEGER PRIMARY KEY AUTOINCREMENT, folder TEXT NOT NULL, "
                 "path TEXT NOT NULL, root BLOB NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL, "
                 "blocks TEXT NOT NULL, state TEXT NOT NULL, error TEXT, tries INTEGER NOT NULL DEFAULT 0, "
                 "created INTEGER NOT NULL)")
    conn.execute("CREATE TABLE folders (folder_id TEXT PRIMARY KEY, name TEXT NOT NULL, "
                 "judge_state BLOB NOT NULL, root BLOB, updated INTEGER NOT NULL)")
    conn.execute("INSERT INTO entries (folder, path, root, size, mtime, blocks, state, created) "
                 "VALUES ('/private/alice', ?, x'01', 5, 7, '[]', 'pending', 0)", (json.dumps(["a.txt"]),))
    conn.commit()
    conn.close()
    j = await Journal(tmp_path).open()
    try:
        [row] = await j.pending()
        assert (row.op, row.path, row.base, row.dest, row.etype, row.rev_id) == ("write", ("a.txt",), 0, None, 1, None)
        assert await j.revs("00" * 16) == []
    finally:
        j.close()


def _row(i, folder="/private/a", base=0, op="write", size=10, path=("f",)):
    return SimpleNamespace(id=i, folder=folder, base=base, op=op, size=size, path=path + (str(i),), dest=None)


def test_batches_keep_one_folder_and_base_and_cap_ops_and_bytes():
    rows = [_row(1), _row(2), _row(3, base=4), _row(4, folder="/private/b"), _row(5, folder="/private/b")]
    assert [[r.id for r in b] for b in batches(rows)] == [[1, 2], [3], [4, 5]]
    mixed = [_row(1), _row(2, folder="/private/b"), _row(3), _row(4, folder="/private/b")]
    assert [[r.id for r in b] for b in batches(mixed)] == [[1, 3], [2, 4]]   # one revision per folder
    assert [len(b) for b in batches([_row(i) for i in range(7)], max_ops=3)] == [3, 3, 1]
    big = [_row(i, size=10 << 20) for i in range(4)]
    assert [len(b) for b in batches(big)] == [2, 2]                    # 25 MB per revision
    assert [len(b) for b in batches([_row(0, size=40 << 20)])] == [1]  # a bigger file goes alone
    many = [_row(i, op="mkdir", size=0) for i in range(6000)]
    assert len(batches(many)) >= 2                                     # the envelope stays under 1 MiB


def test_the_block_cache_is_lru_capped_and_drops_damaged_blocks(tmp_path):
    blobs = [os.urandom(1000) for _ in range(5)]
    ids = [hashlib.sha256(b).hexdigest() for b in blobs]
    c = DiskBlockCache(tmp_path, max_bytes=3500).open()
    for i, b in zip(ids, blobs):
        c.put(i, b)
    assert ids[0] not in c and ids[1] not in c and c.total <= 3500       # the oldest went
    assert c.get(ids[2]) == blobs[2]                                     # a hit makes it newest
    c2 = DiskBlockCache(tmp_path, max_bytes=3500).open()                 # the index survives a restart
    assert c2.get(ids[4]) == blobs[4]
    (tmp_path / "fs-cache" / ids[4][:2] / ids[4]).write_bytes(blobs[3])  # swapped on disk
    assert c2.get(ids[4]) is None and ids[4] not in c2
    with pytest.raises(errors.BlockIdMismatch):
        c2.put(ids[0], blobs[1])


async def test_overlay_edits_and_commit_make_a_readable_tree(tmp_path):
    key = os.urandom(32)
    kw = lambda: {"folder_key": key, "key_gen": 1, "halves": lambda: os.urandom(32)}  # noqa: E731
    store: dict = {}

    def fetch(p):
        return store[p.id]

    async def load(p):
        return read_dir(p, fetch, {1: key})

    ptr, blocks = write_all([b"hello"], **kw())
    store.update({p.id: s for p, s in blocks})
    e = Entry("x", FILE, ptr, 5, 1, WRITER)
    ov = Overlay(None, load, writer=WRITER, now_ns=1)
    await ov.write(("a", "b", "f.txt"), e)                               # parents made
    await ov.mkdir(("a", "empty"))
    with pytest.raises(errors.PathExists):
        await ov.mkdir(("a", "empty"))
    with pytest.raises(errors.FsPathRefused):
        await ov.write(("a", "b", "f.txt", "under-a-file"), e)
    await ov.move(("a", "b"), ("c",))
    with pytest.raises(errors.FsPathRefused):
        await ov.move(("c",), ("c", "inside"))
    with pytest.raises(errors.FsPathRefused):
        await ov.rm(("c",))                                                # not empty
    root, blocks = await ov.commit(kw)
    store.update({p.id: s for p, s in blocks})
    fresh = Overlay(root, load, writer=WRITER, now_ns=2)
    assert sorted(await fresh.dir(())) == ["a", "c"]
    assert sorted(await fresh.dir(("a",))) == ["empty"]
    assert (await fresh.entry(("c", "f.txt"))).ptr == ptr
    await fresh.rm(("c",), recursive=True)
    with pytest.raises(errors.NotFound):
        await fresh.dir(("c",))
