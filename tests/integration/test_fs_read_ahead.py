"""Reading a file with its blocks fetched ahead (client/fs/block_transfer.Prefetch) against a real
server process: the bytes come back whole and in order; a file over a quarter of the disk
cache is streamed past it (its blocks would only evict each other), a small one fills it."""

from __future__ import annotations

import os

import pytest

from e2e_support import signup_all

pytestmark = pytest.mark.timeout(300)

FOLDER = "/private/alice"


async def test_a_big_read_streams_past_the_cache_and_a_small_one_fills_it(server_factory, tmp_path, apps):
    server = server_factory()
    alice = (await signup_all(apps, tmp_path, server.url, ("alice",)))["alice"]
    files = alice.files
    big, small = os.urandom(5 * 524_000 + 1234), os.urandom(100_000)   # 6 data blocks and an indirect one
    await files.write(f"{FOLDER}/big.bin", big)
    await files.write(f"{FOLDER}/small.bin", small)
    rows = {r.path[-1]: r for r in await files.journal.entries()}
    cache = files.cache
    for block_id in list(cache._lru):                     # as on a device that never read them
        cache._forget(block_id)
    cache.max_bytes = 8 << 20                             # big.bin (2.6 MB) is over a quarter of it

    assert b"".join([c async for c in files.open_read(f"{FOLDER}/big.bin")]) == big
    assert not set(rows["big.bin"].blocks) & set(cache._lru)
    assert b"".join([c async for c in files.open_read(f"{FOLDER}/small.bin")]) == small
    assert set(rows["small.bin"].blocks) <= set(cache._lru)
    # read again: the small file from the cache, the big one from the server, both whole
    assert b"".join([c async for c in files.open_read(f"{FOLDER}/big.bin")]) == big
    assert await files.read(f"{FOLDER}/small.bin") == small
