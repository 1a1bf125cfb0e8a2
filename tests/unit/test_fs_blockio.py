"""The journal's block files written in the background (client/fs/blockio.py): a row commits
only after every block it names is written, fsynced and renamed and its directory fsynced; a
write error refuses the row; deleting blocks waits for writes still in flight."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from kbapp.client.fs import blockio
from kbapp.client.fs.journal import Journal


def blocks(n: int, size: int = 70_000) -> list[tuple[str, bytes]]:
    out = []
    for _ in range(n):
        data = os.urandom(size)
        out.append((hashlib.sha256(data).hexdigest(), data))
    return out


async def test_a_row_commits_after_its_blocks_and_directories_are_fsynced(tmp_path, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)
    monkeypatch.setattr(blockio.os, "fsync", fsync)
    j = await Journal(tmp_path).open()
    try:
        got = blocks(40)
        for bid, data in got:
            j.put_block(bid, data)
        entry = await j.add("/private/a", ("f",), b"", 0, 0, [b for b, _ in got])
        for bid, data in got:
            path = j._block_path(bid)
            assert path.read_bytes() == data
            assert path.parent.as_posix() in synced             # its directory, after the rename
        files = sum(1 for p in synced if ".tmp" in p)
        assert files == len(got)                                 # each block file before its rename
        dirs = [i for i, p in enumerate(synced) if ".tmp" not in p]
        assert len(dirs) == len({j._block_path(b).parent for b, _ in got})   # each directory once
        assert min(dirs) > max(i for i, p in enumerate(synced) if ".tmp" in p)  # after every file
        assert not list(j.blocks_dir.glob("*/.*.tmp"))
        assert (await j.get(entry)).blocks == tuple(b for b, _ in got)
    finally:
        j.close()


async def test_a_failed_block_write_refuses_the_row(tmp_path, monkeypatch):
    real_fsync = os.fsync

    def full(fd):
        if ".tmp" in os.readlink(f"/proc/self/fd/{fd}"):        # the block files, not directories
            raise OSError(28, "No space left on device")
        real_fsync(fd)
    j = await Journal(tmp_path).open()
    try:
        monkeypatch.setattr(blockio.os, "fsync", full)
        got = blocks(3)
        for bid, data in got:
            j.put_block(bid, data)
        with pytest.raises(OSError):
            await j.add("/private/a", ("f",), b"", 0, 0, [b for b, _ in got])
        assert await j.entries() == []                           # nothing acknowledged
        assert not any(j._block_path(b).exists() for b, _ in got)
    finally:
        j.close()


async def test_dropping_blocks_waits_for_their_writes(tmp_path, monkeypatch):
    real_write = os.write

    def slow_write(fd, data):
        time.sleep(0.05)
        return real_write(fd, data)
    monkeypatch.setattr(blockio.os, "write", slow_write)
    j = await Journal(tmp_path).open()
    try:
        got = blocks(6)
        for bid, data in got:
            j.put_block(bid, data)
        j.drop_blocks([b for b, _ in got])                       # while they are still being written
        assert not any(j._block_path(b).exists() for b, _ in got)
        j.settle([b for b, _ in got])                            # (anything still in flight ends)
        time.sleep(0.3)
        assert not any(j._block_path(b).exists() for b, _ in got)
    finally:
        j.close()


async def test_a_block_whose_write_failed_is_written_again(tmp_path, monkeypatch):
    """A public folder's blocks are deterministic: the same file written again after a disk
    error names the same block ids, which must be written again, not the old error replayed."""
    real_fsync = os.fsync
    failing = [True]

    def flaky(fd):
        if failing[0] and ".tmp" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(28, "No space left on device")
        real_fsync(fd)
    monkeypatch.setattr(blockio.os, "fsync", flaky)
    j = await Journal(tmp_path).open()
    try:
        got = blocks(2)
        for bid, data in got:
            j.put_block(bid, data)
        with pytest.raises(OSError):
            await j.add("/public/a", ("f",), b"", 0, 0, [b for b, _ in got])
        failing[0] = False                                       # the disk has room again
        for bid, data in got:
            j.put_block(bid, data)
        entry = await j.add("/public/a", ("f",), b"", 0, 0, [b for b, _ in got])
        assert all(j._block_path(b).read_bytes() == d for b, d in got) and await j.get(entry) is not None
    finally:
        j.close()
