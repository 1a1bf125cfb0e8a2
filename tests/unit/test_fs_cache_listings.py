"""The block cache's cap counts the directory listings it keeps beside blocks (issue 16).

A 10,000-entry listing is hundreds of KB next to a small directory block; uncounted, a
cache of directories could fill the disk far past `fs.cache_max_bytes`.
"""

from __future__ import annotations

import hashlib
import os

from kbapp.client.fs.cache import DIR, DiskBlockCache
from kbapp.core.fs.dirs import FILE, Entry
from kbapp.core.fs.tree import write_all

WRITER = bytes(16)


def on_disk(home) -> int:
    return sum(p.stat().st_size for p in (home / DIR).rglob("*") if p.is_file())


def listing(n: int) -> dict:
    ptr, _blocks = write_all([b"x"], folder_key=None)
    return {f"file-{i:05}.txt": Entry(f"file-{i:05}.txt", FILE, ptr, 1, i, WRITER) for i in range(n)}


def test_listings_count_toward_the_cap_and_go_with_their_block(tmp_path):
    cap = 60_000
    c = DiskBlockCache(tmp_path, max_bytes=cap).open()
    ids = []
    for _ in range(6):
        blob = os.urandom(1000)
        bid = hashlib.sha256(blob).hexdigest()
        c.put(bid, blob)
        c.put_listing(bid, listing(200))                  # ~20 KB each: three fit, not six
        ids.append(bid)
        assert on_disk(tmp_path) <= cap and c.total == on_disk(tmp_path)
    assert ids[0] not in c and ids[-1] in c                # the oldest went, listing and all
    assert c.get_listing(ids[-1]) is not None
    c2 = DiskBlockCache(tmp_path, max_bytes=cap).open()    # counted again after a restart
    assert c2.total == on_disk(tmp_path) and c2.get_listing(ids[-1]) is not None
    c3 = DiskBlockCache(tmp_path, max_bytes=cap // 3).open()   # a lower cap: evicted down to it
    assert on_disk(tmp_path) <= cap // 3 and c3.total == on_disk(tmp_path)
