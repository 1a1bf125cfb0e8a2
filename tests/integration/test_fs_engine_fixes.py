"""Folder engine correctness holes of issue 16 (real server processes): blocks two journal
entries share survive a write the disk cap stops part-way; rows a revision did not carry are
not marked uploaded with it; a merge replayed over a change it already merged adds nothing.
"""

from __future__ import annotations

import io
import os

import pytest

from kbapp.core import errors
from kbapp.core.fs.blocks import MAX_DATA

from e2e_support import signup_all

pytestmark = pytest.mark.timeout(300)
PUB = "/public/alice"


class Unsized(io.RawIOBase):
    """A stream whose size the engine cannot know (no fileno): the cap is met part-way."""

    def __init__(self, data: bytes):
        self._b = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        return self._b.readinto(buf)


async def test_a_write_stopped_by_the_cap_keeps_the_blocks_another_pending_file_shares(server_factory, tmp_path,
                                                                                       apps):
    """Public blocks are clear, so equal 512 KiB runs are one block: `b.bin` starts with the
    two blocks of the pending `a.bin`. `b.bin` passes the cap at its third block; the cleanup
    of what it kept must spare the blocks `a.bin` names, which then uploads and reads back."""
    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = users["alice"], users["bob"]
    a = os.urandom(2 * MAX_DATA)
    await alice.files.write(f"{PUB}/a.bin", a, upload=False)
    used = (await alice.files.status())["journal_bytes"]
    alice.set_preference("fs.journal_max_bytes", str(used + 2 * (MAX_DATA + 64) + MAX_DATA // 2))
    with pytest.raises(errors.JournalFull):
        await alice.files.write(f"{PUB}/b.bin", Unsized(a + os.urandom(2 * MAX_DATA)), upload=False)
    st = await alice.files.status()
    assert [(e["path"], e["state"]) for e in st["entries"]] == [(f"{PUB}/a.bin", "pending")]
    alice.set_preference("fs.journal_max_bytes", "")
    await alice.files.sync(timeout=60)
    assert await bob.files.read(f"{PUB}/a.bin") == a
    assert await alice.files.read(f"{PUB}/a.bin") == a
