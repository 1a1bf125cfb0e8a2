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


async def test_ops_are_journalled_shown_at_once_and_uploaded_as_one_revision(db_url, server_factory, tmp_path,
                                                                             apps):
    server = server_factory(db=db_url)
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
    with pytest.raises(errors.FsPathRefused):
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


async def _second_device(old, tmp_path, apps, username: str, name: str = "tablet"):
    """A second device of `username`, added with a phrase through the server's mailbox."""
    new = await apps(tmp_path / f"{username}-{name}")
    shown: asyncio.Future = asyncio.get_running_loop().create_future()
    adder = asyncio.create_task(old.add_device_by_phrase(shown.set_result, timeout=30, poll=0.05))
    phrase = await asyncio.wait_for(shown, 30)
    await new.login_phrase(username, phrase, device_name=name, server_url=old.api.base_url, timeout=30, poll=0.05)
    await adder
    return new


async def test_two_offline_devices_writing_the_same_file_and_directory_keep_both(db_url, server_factory, tmp_path,
                                                                                 apps):
    """alice's laptop and tablet, both offline, write the same file and the same directory. The
    laptop uploads first; the tablet's upload loses the compare-and-swap, judges the laptop's
    revision, merges: the laptop's file stays, the tablet's is kept beside it under KBFS's
    conflict name, both directories' files are there, and the tablet is told."""
    import time as _time

    from kbapp.core.fs.conflict import conflicted_name

    server = server_factory(db=db_url)
    laptop = (await signup_all(apps, tmp_path, server.url, ("alice",)))["alice"]
    tablet = await _second_device(laptop, tmp_path, apps, "alice")
    mine = "/private/alice"
    await laptop.files.write(f"{mine}/notes.txt", b"base")
    assert await tablet.files.read(f"{mine}/notes.txt") == b"base"          # both hold revision 1

    await laptop.files.write(f"{mine}/notes.txt", b"from the laptop", upload=False)
    await laptop.files.write(f"{mine}/photos/a.txt", b"laptop a", upload=False)
    await laptop.files.write(f"{mine}/photos/same.txt", b"laptop same", upload=False)
    await tablet.files.write(f"{mine}/notes.txt", b"from the tablet", upload=False)
    await tablet.files.write(f"{mine}/photos/b.txt", b"tablet b", upload=False)
    await tablet.files.write(f"{mine}/photos/same.txt", b"tablet same", upload=False)

    await laptop.files.sync(timeout=60)
    await tablet.files.sync(timeout=60)

    date = _time.strftime("%Y-%m-%d", _time.gmtime(tablet.ctx.clock()))
    notes_copy = conflicted_name("notes.txt", "alice", "tablet", date)
    same_copy = conflicted_name("same.txt", "alice", "tablet", date)
    assert notes_copy == f"notes.conflicted (alice's tablet copy {date}).txt"
    for app in (laptop, tablet):
        assert names(await app.files.ls(mine)) == sorted(["notes.txt", notes_copy, "photos"])
        assert names(await app.files.ls(f"{mine}/photos")) == sorted(["a.txt", "b.txt", "same.txt", same_copy])
        assert await app.files.read(f"{mine}/notes.txt") == b"from the laptop"
        assert await app.files.read(f"{mine}/{notes_copy}") == b"from the tablet"
        assert await app.files.read(f"{mine}/photos/same.txt") == b"laptop same"
        assert await app.files.read(f"{mine}/photos/{same_copy}") == b"tablet same"
    st = await tablet.files.status()
    assert st["pending"] == 0 and [n["kind"] for n in st["notices"]] == ["conflict"]
    assert sorted(r[1] for r in st["notices"][0]["renamed"]) == sorted([notes_copy, f"photos/{same_copy}"])
    # the folder stays writable on the merged head
    await tablet.files.write(f"{mine}/after.txt", b"still writable")
    assert await laptop.files.read(f"{mine}/after.txt") == b"still writable"


async def test_a_10000_entry_directory_lists_from_the_local_cache_in_under_200_ms(server_factory, tmp_path, apps):
    """10,000 entries (one content, named 10,000 times: journal rows like a restore's, put in
    one transaction to keep the test short) uploaded in a few squashed revisions; then listed
    by a fresh engine of the same profile with the network cut: blocks from the on-disk cache."""
    import json
    import time as _time

    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice = users["alice"]
    out = await alice.files.write(f"{F}/seed.txt", b"one content")
    row = await alice.files.journal.get(out["entry"])
    uid = alice.ctx.require_login()[0]

    def many(conn_engine) -> None:
        with conn_engine.begin() as conn:
            for i in range(10_000):
                conn.exec_driver_sql(
                    "INSERT INTO entries (folder, path, root, size, mtime, blocks, state, created, op, etype, base, "
                    "writer) VALUES (?, ?, ?, ?, ?, '[]', 'pending', 0, 'write', 1, 1, ?)",
                    (F, json.dumps(["big", f"file-{i:05d}.txt"]), row.root, row.size, row.mtime, uid))
    await alice.files.journal.db.run(many, alice.files.journal.db.engine)
    alice.files._stale()
    await alice.files.sync(timeout=240)
    fid = await fid_of(alice, F)
    assert 2 <= len(await alice.files.journal.revs(fid)) <= 8            # squashed, under the body cap

    await alice.files.close()
    alice.files.__init__(alice.ctx, alice.teams)                          # a fresh engine: nothing in memory
    api = alice.ctx.api

    async def offline(*a, **k):
        raise errors.NetworkError("the network is down")
    saved = api.fs_revisions, api.fs_get_blocks, api.fs_get_block
    api.fs_revisions = api.fs_get_blocks = api.fs_get_block = offline
    try:
        await alice.files.open()
        await alice.files.ls(F)                   # loads the team and the saved head (offline: no sync)
        head = (await alice.files.journal.revs(fid))[-1].rev
        alice.files.fs.hint(fid, head)            # a push hint: the head we hold is the newest
        times, cpu = [], []
        for _ in range(3):                        # best of three, each with nothing decoded in memory
            alice.files._dirs.clear()
            alice.files._stale()
            t0, c0 = _time.perf_counter(), _time.process_time()
            rows = await alice.files.ls(f"{F}/big")
            times.append(_time.perf_counter() - t0)
            cpu.append(_time.process_time() - c0)
        # the CPU time this process spent (the shared test machine's load stretches wall time)
        dt = min(cpu)
    finally:
        api.fs_revisions, api.fs_get_blocks, api.fs_get_block = saved
    assert len(rows) == 10_000 and rows[0]["name"] == "file-00000.txt" and not rows[0]["pending"]
    print(f"\nlisting 10,000 entries from the block cache: wall {[round(t * 1000, 1) for t in times]} ms, "
          f"cpu {[round(t * 1000, 1) for t in cpu]} ms")
    assert dt < 0.2


async def test_images_others_wrote_are_handed_to_the_photo_hook_after_verification(server_factory, tmp_path, apps):
    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = users["alice"], users["bob"]
    handed = []

    async def hook(folder, items):
        handed.append((folder, [(p, e.size) for p, e in items]))
    alice.files.photo_hook = hook
    await alice.files.write(f"{F}/mine.jpg", b"\xff\xd8\xff alice's own")      # ours: not handed back
    await bob.files.write(f"{F}/trip/cat.JPG", b"\xff\xd8\xff a cat")
    await bob.files.write(f"{F}/notes.txt", b"not an image")
    assert handed == []                                     # nothing before alice verifies it
    await alice.files.ls(F)
    assert handed == [(F, [("trip/cat.JPG", 9)])]


async def test_a_merge_that_would_make_a_cycle_parks_the_local_branch_read_only(server_factory, tmp_path, apps):
    """laptop moves a into b, the offline tablet moves b into a: no order of both exists. The
    tablet's change is parked as a read-only "(local conflicted copy DATE)" view holding its
    tree, it is told, and the folder stays writable on the laptop's head."""
    server = server_factory()
    laptop = (await signup_all(apps, tmp_path, server.url, ("alice",)))["alice"]
    tablet = await _second_device(laptop, tmp_path, apps, "alice")
    mine = "/private/alice"
    await laptop.files.write(f"{mine}/a/in-a.txt", b"a")
    await laptop.files.write(f"{mine}/b/in-b.txt", b"b")
    assert names(await tablet.files.ls(mine)) == ["a", "b"]
    await laptop.files.mv(f"{mine}/a", f"{mine}/b/a", upload=False)
    await tablet.files.mv(f"{mine}/b", f"{mine}/a/b", upload=False)
    await laptop.files.sync(timeout=60)
    await tablet.files.sync(timeout=60)                      # nothing pending: parked, not failed

    st = await tablet.files.status()
    [notice] = st["notices"]
    assert notice["kind"] == "parked" and "cycle" in notice["reason"]
    view = notice["view"]
    assert st["parked"] == [f"{mine}/{view}"]
    rows = await tablet.files.ls(mine)
    assert [(r["name"], r.get("parked", False)) for r in rows] == [(view, True), ("b", False)]
    assert names(await tablet.files.ls(f"{mine}/b")) == ["a", "in-b.txt"]          # the laptop's head
    assert await tablet.files.read(f"{mine}/{view}/a/b/in-b.txt") == b"b"          # the tablet's branch
    with pytest.raises(errors.ReadOnlyView):
        await tablet.files.rm(f"{mine}/{view}/a", recursive=True)
    await tablet.files.write(f"{mine}/b/after.txt", b"writable")
    assert await laptop.files.read(f"{mine}/b/after.txt") == b"writable"


async def test_a_held_listing_needs_no_server_and_is_what_was_verified(server_factory, tmp_path, apps):
    """`ls(path, held=True)`: the directory as this session last verified it, without asking the
    server (a page paints it at once, then lists fresh). None before anything was verified."""
    server = server_factory()
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    assert await bob.files.ls("/private/alice,bob", held=True) is None       # nothing verified yet
    await alice.files.write("/private/alice,bob/a.txt", b"a")
    assert names(await bob.files.ls("/private/alice,bob")) == ["a.txt"]     # verified once
    # what that listing started (the photo hand-off lists the folder itself, a sync) ends
    # first: a sync after alice's next write would make her newer head the one bob holds
    await asyncio.gather(*list(bob.files._tasks), return_exceptions=True)
    await alice.files.write("/private/alice,bob/b.txt", b"b")
    server.stop()                                                            # no server from here on
    assert names(await bob.files.ls("/private/alice,bob", held=True)) == ["a.txt"]
    assert await bob.files.ls("/private/alice,bob", rev=1, held=True) is None    # past revisions: not held


async def test_a_held_listing_is_the_view_built_not_a_head_synced_since(server_factory, tmp_path, apps):
    """A background sync (the photo hand-off, a push) may verify a newer head without fetching its
    blocks: the held listing still needs no server, and shows what this session built."""
    server = server_factory()
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    await alice.files.write("/private/alice,bob/a.txt", b"a")
    assert names(await bob.files.ls("/private/alice,bob")) == ["a.txt"]
    await asyncio.gather(*list(bob.files._tasks), return_exceptions=True)
    await alice.files.write("/private/alice,bob/b.txt", b"b")
    f = await bob.files.fs.folder(split_path("/private/alice,bob")[0])
    await bob.files.fs.current(f, max_age=0)                      # a sync: her newer head, no blocks
    assert bob.files.fs.synced[f.folder_id].judge.state.head_rev == 2
    server.stop()
    assert names(await bob.files.ls("/private/alice,bob", held=True)) == ["a.txt"]
