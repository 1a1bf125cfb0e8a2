"""The folder engine (kbapp/client/fs/) end to end with real server processes: local ops and the
local view, squashed uploads, time travel and restore, the disk cap, cancel into a parked
view, pause/resume and sync, and recovery when a revision was accepted but not recorded.
"""

from __future__ import annotations

import asyncio
import io
import os

import pytest

from kbapp.core import errors
from kbapp.core.fs.names import split_path

from e2e_support import signup_all

pytestmark = pytest.mark.timeout(300)
F = "/private/alice,bob"


async def fid_of(app, path: str) -> str:
    return (await app.files._folder(split_path(path)[0])).folder_id


def names(rows) -> list[str]:
    return sorted(r["name"] for r in rows)


async def test_ops_are_journalled_shown_at_once_and_uploaded_as_one_revision(server_factory, tmp_path, apps):
    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = users["alice"], users["bob"]
    files = alice.files
    await files.write(f"{F}/docs/a.txt", b"version one", upload=False)
    await files.mkdir(f"{F}/docs/sub", upload=False)
    await files.write(f"{F}/docs/gone.txt", b"soon removed", upload=False)
    await files.rm(f"{F}/docs/gone.txt", upload=False)
    await files.mv(f"{F}/docs/a.txt", f"{F}/docs/b.txt", upload=False)
    rows = await files.ls(f"{F}/docs")                       # the local view: pending ops on top
    assert [(r["name"], r["type"], r["pending"]) for r in rows] == [("b.txt", "file", True), ("sub", "dir", True)]
    assert await files.read(f"{F}/docs/b.txt") == b"version one"
    with pytest.raises(errors.NotFound):
        await bob.files.ls(f"{F}/docs")                       # nothing uploaded yet
    # refusals come from the local view, before anything is journalled
    with pytest.raises(errors.PathExists):
        await files.mkdir(f"{F}/docs/sub", upload=False)
    with pytest.raises(errors.BadPathName):
        await files.rm(f"{F}/docs", upload=False)              # not empty, no -r
    with pytest.raises(errors.NotFound):
        await files.mv(f"{F}/docs/nope", f"{F}/docs/x", upload=False)
    assert (await files.status())["pending"] == 5

    out = await files.sync(timeout=60)
    assert len(out["uploaded"]) == 5
    revs = await files.journal.revs(await fid_of(alice, F))
    assert [r.rev for r in revs] == [1]                        # five ops squashed into one revision
    assert names(await bob.files.ls(f"{F}/docs")) == ["b.txt", "sub"]
    assert await bob.files.read(f"{F}/docs/b.txt") == b"version one"
    assert [r["pending"] for r in await files.ls(f"{F}/docs")] == [False, False]

    # time travel, history, restore
    await files.write(f"{F}/docs/b.txt", b"version two, longer")
    assert (await bob.files.stat(f"{F}/docs/b.txt"))["revision"] == 2
    assert [r["size"] for r in await bob.files.ls(f"{F}/docs", rev=1) if r["name"] == "b.txt"] == [11]
    assert await bob.files.read(f"{F}/docs/b.txt", rev=1) == b"version one"
    hist = await bob.files.history(f"{F}/docs/b.txt")
    assert [(h["revision"], h["op"], h["username"]) for h in hist] == [(1, "rename", "alice"), (2, "write", "alice")]
    t1 = revs[0].ctime
    assert names(await bob.files.ls(f"{F}/docs", time=t1)) == ["b.txt", "sub"]
    assert await bob.files.ls(F, rev=0) == []
    restored = await bob.files.restore(f"{F}/docs/b.txt", 1)
    assert restored["state"] == "uploaded" and restored["restored_from"] == 1
    assert await alice.files.read(f"{F}/docs/b.txt") == b"version one"
    chunks = [c async for c in alice.files.open_read(f"{F}/docs/b.txt", rev=2)]
    assert b"".join(chunks) == b"version two, longer"
    share = await alice.files.share(F)
    assert sorted(w["username"] for w in share["writers"]) == ["alice", "bob"]


async def test_a_revision_accepted_before_a_crash_is_not_sent_twice(server_factory, tmp_path, apps):
    """The POST reached the server, the answer did not reach us (a crash, a cut): the rows carry
    the revision id signed before the POST, so the next upload finds it among the verified
    revisions and marks them uploaded instead of writing the change a second time."""
    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice = users["alice"]
    post = alice.ctx.api.fs_post_revision

    async def lost_answer(folder_id, envelope):
        await post(folder_id, envelope)
        raise errors.NetworkError("connection reset after the request was sent")

    alice.ctx.api.fs_post_revision = lost_answer
    out = await alice.files.write(f"{F}/once.txt", b"exactly once")
    assert out["state"] == "pending" and "NETWORK" in out["error"]
    await alice.files.uploader.stop()
    alice.ctx.api.fs_post_revision = post
    await alice.files.close()                                  # as after a restart: rows from disk
    assert (await alice.files.status())["pending"] == 1
    assert (await alice.files.upload())["uploaded"] == [out["entry"]]
    revs = await alice.files.journal.revs(await fid_of(alice, F))
    assert [r.rev for r in revs] == [1]                        # one revision, not two
    assert await users["bob"].files.read(f"{F}/once.txt") == b"exactly once"


async def test_the_journal_cap_refuses_a_write_before_any_byte(server_factory, tmp_path, apps):
    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice = users["alice"]
    alice.set_preference("fs.journal_max_bytes", str(1_500_000))
    blocks = alice.home / "fs-journal" / "blocks"

    def kept() -> list:
        return [p for p in blocks.rglob("*") if p.is_file()] if blocks.exists() else []

    with pytest.raises(errors.JournalFull) as e:
        await alice.files.write(f"{F}/big.bin", os.urandom(2_000_000), upload=False)
    assert e.value.code == "FS_JOURNAL_FULL"
    assert kept() == [] and (await alice.files.status())["entries"] == []
    # a stream of unknown size: stopped at the cap, its blocks removed, nothing journalled
    with pytest.raises(errors.JournalFull):
        await alice.files.write(f"{F}/stream.bin", io.BufferedReader(io.BytesIO(os.urandom(2_000_000))),
                                upload=False)
    assert kept() == [] and (await alice.files.status())["entries"] == []
    # a write that fits is journalled; once uploaded its blocks leave the journal
    await alice.files.write(f"{F}/small.bin", os.urandom(600_000), upload=False)
    assert kept() and (await alice.files.status())["journal_bytes"] > 600_000
    await alice.files.sync(timeout=60)
    assert kept() == [] and (await alice.files.status())["journal_bytes"] == 0


async def test_cancel_keeps_the_change_in_a_read_only_parked_view(server_factory, tmp_path, apps):
    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice = users["alice"]
    out = await alice.files.write(f"{F}/draft.txt", b"not yet", upload=False)
    got = await alice.files.cancel(out["entry"])
    view = got["view"]
    assert got["state"] == "parked" and view.startswith("(local conflicted copy ")
    rows = await alice.files.ls(F)
    assert [(r["name"], r.get("parked")) for r in rows] == [(view, True)]
    assert await alice.files.read(f"{F}/{view}/draft.txt") == b"not yet"
    with pytest.raises(errors.ReadOnlyView):
        await alice.files.write(f"{F}/{view}/other.txt", b"x")
    assert (await alice.files.sync(timeout=30))["pending"] == 0   # nothing left to send, nothing lost
    assert f"{F}/{view}" in (await alice.files.status())["parked"]


async def test_pause_resume_and_sync_with_the_background_uploader(server_factory, tmp_path, apps):
    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = users["alice"], users["bob"]
    alice.files.start()
    alice.files.pause()
    await alice.files.write(f"{F}/queued.bin", os.urandom(300_000), upload=False)
    alice.files.uploader.kick()
    await asyncio.sleep(0.5)
    st = await alice.files.status()
    assert st["paused"] and st["pending"] == 1 and st["pending_bytes"] == 300_000 and st["running"]
    with pytest.raises(errors.FolderSyncTimeout):
        await alice.files.sync(timeout=0.5)
    alice.files.resume()
    await alice.files.sync(timeout=60)
    st = await alice.files.status()
    assert st["pending"] == 0 and not st["paused"] and st["speed_bps"] > 0 and st["eta_s"] == 0
    assert len(await bob.files.read(f"{F}/queued.bin")) == 300_000
