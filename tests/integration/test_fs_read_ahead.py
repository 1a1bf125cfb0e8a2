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


@pytest.mark.parametrize("how", ["swapped", "altered"])
async def test_a_bad_block_served_ahead_is_refused_and_not_cached(server_factory, tmp_path, apps, how):
    """The server's disk gives one of a big file's blocks another block's bytes (a valid block of
    the same folder) or one flipped byte: the streamed read fails with BlockIdMismatch, nothing
    of it lands in the local file, and the bad bytes are not kept in the block cache."""
    from kbapp.client.fs.export import export
    from kbapp.core import errors

    server = server_factory()
    alice = (await signup_all(apps, tmp_path, server.url, ("alice",)))["alice"]
    files = alice.files
    await files.write(f"{FOLDER}/big.bin", os.urandom(4 * 524_000))
    await files.write(f"{FOLDER}/other.bin", os.urandom(3000))
    rows = {r.path[-1]: r for r in await files.journal.entries()}
    victim, donor = rows["big.bin"].blocks[2], rows["other.bin"].blocks[0]
    on_disk = {p.name: p for p in server.data_dir.rglob("*") if p.name in (victim, donor)}
    bad = on_disk[donor].read_bytes() if how == "swapped" else bytearray(on_disk[victim].read_bytes())
    if how == "altered":
        bad[len(bad) // 2] ^= 1
    on_disk[victim].write_bytes(bytes(bad))
    for block_id in list(files.cache._lru):
        files.cache._forget(block_id)
    with pytest.raises(errors.BlockIdMismatch):
        await export(files, f"{FOLDER}/big.bin", tmp_path / "out.bin")
    assert not (tmp_path / "out.bin").exists()
    assert victim not in files.cache._lru
