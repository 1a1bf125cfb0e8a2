"""A writer posts a folder revision whose root no one can read (kbapp/client/fs/rollback.py).

alice, a real client whose core is bypassed (tests/fs_hostile_support.py), signs a revision
of the folder she shares with bob whose root directory block she never uploads, or that is
a block sealed under the folder key holding no directory. The server cannot read trees, so
it accepts it. Before, every read and write of the folder failed from then on, bob's
pending upload included, with no way out: one member made the folder unusable for all.

Now bob gets the typed FS_HEAD_UNREADABLE naming the revision, its writer and the newest
revision that reads; his pending change waits with that reason (the background uploader pauses on it); one
`rollback` to that revision (a new revision with the old root, nothing re-uploaded) and the
folder reads and writes again for everyone, bob's pending change goes up, history keeps
the broken revision.
"""

from __future__ import annotations

import asyncio

import pytest

from kbapp.core import errors

from fs_hostile_support import HostileTree
from test_fs_export_attacks import pair

pytestmark = pytest.mark.timeout(300)


async def _forget_head(app) -> None:
    """As a push hint would: the next read syncs. An upload pass that synced before the broken
    head was posted ends first (it holds the uploader's lock), so it cannot put that older head
    back after this (for a write any head held will do: the upload merges)."""
    async with app.files.uploader.lock:
        app.files.fs.synced.clear()


async def _meet_broken_head(app, folder: str) -> None:
    """`_forget_head`, then a read that syncs and meets the broken head. Under load a read may
    meet a transient network error instead and serve the saved head, offline (a write would
    then go on top of that older head, as it may offline): read again until online."""
    for _ in range(50):
        await _forget_head(app)
        try:
            await app.files.ls(folder)
        except errors.FolderHeadUnreadable:
            return
        if not app.files.offline:
            raise AssertionError("an online read did not meet the broken head")
        await asyncio.sleep(0.1)
    raise AssertionError("offline all along: the broken head was never met")


async def _break_head(alice, folder: str, how: str) -> int:
    t = await HostileTree(alice, folder).start()
    if how == "withheld":
        return await t.post([t.file("x.txt", b"never there")], withhold=True)
    if how == "bad-name":                                  # a name no writer may use: the root is refused whole
        return await t.post([t.file("..", b"escape"), t.file("fine.txt", b"fine")])
    return await t.post(None, root=t.junk_ptr())


@pytest.mark.parametrize("how", ["withheld", "junk", "bad-name"])
async def test_a_writer_cannot_make_a_folder_unusable_with_an_unreadable_head(clients, name, world, how):
    alice, bob, folder = await pair(clients, name, world)
    await alice.files.write(f"{folder}/a.txt", b"kept")                   # revision 2
    await bob.files.write(f"{folder}/pending.txt", b"bob's, not yet sent", upload=False)
    bad = await _break_head(alice, folder, how)                           # revision 3: no one can read it
    await _forget_head(bob)

    with pytest.raises(errors.FolderHeadUnreadable) as e:
        await bob.files.ls(folder)
    assert (e.value.revision, e.value.writer, e.value.readable) == (bad, alice.ctx.require_login()[1], bad - 1)
    assert f"kbapp fs rollback {folder} --rev {bad - 1}" in str(e.value)
    with pytest.raises(errors.FolderHeadUnreadable):
        await bob.files.write(f"{folder}/b.txt", b"refused")
    with pytest.raises(errors.FolderHeadUnreadable):                       # the pending change waits, paused
        await bob.files.sync(timeout=30)
    st = await bob.files.status()
    assert [(r["state"], r["error"].split(":")[0]) for r in st["entries"]] == [("pending", "FS_HEAD_UNREADABLE")]

    out = await bob.files.rollback(folder, bad - 1)
    assert out == {"folder": folder, "revision": bad + 1, "rolled_back_to": bad - 1}
    await bob.files.sync(timeout=60)                                      # resumed: pending.txt goes up
    await bob.files.write(f"{folder}/b.txt", b"after the rollback")
    for app in (alice, bob):
        app.files.fs.synced.clear()
        names = sorted(r["name"] for r in await app.files.ls(folder))
        assert names == ["a.txt", "b.txt", "pending.txt", "warm.txt"], names
        assert await app.files.read(f"{folder}/a.txt") == b"kept"
        assert await app.files.read(f"{folder}/pending.txt") == b"bob's, not yet sent"
    fid = (await bob.files._folder_of(folder)).folder_id
    assert [r.rev for r in await bob.files.journal.revs(fid)][:bad + 1] == list(range(1, bad + 2))


async def test_rollback_is_refused_where_it_would_not_help(clients, name, world):
    """Only to an older revision, only one that reads, only by a writer, only a whole folder."""
    alice, bob, folder = await pair(clients, name, world)
    bad1 = await _break_head(alice, folder, "junk")
    bad2 = await _break_head(alice, folder, "withheld")
    with pytest.raises(errors.NotFound):
        await bob.files.rollback(folder, bad2)
    with pytest.raises(errors.FolderHeadUnreadable) as e:                # the one before is broken too
        await bob.files.rollback(folder, bad1)
    assert e.value.readable == bad1 - 1
    with pytest.raises(errors.FsPathRefused):
        await bob.files.rollback(f"{folder}/warm.txt", 1)
    with pytest.raises(errors.FolderHeadUnreadable) as e:
        await bob.files.ls(folder)
    assert (e.value.revision, e.value.readable) == (bad2, bad1 - 1)
    await bob.files.rollback(folder, 0)                                   # an empty folder is a way out too
    assert await bob.files.ls(folder) == []


async def test_one_broken_folder_does_not_stop_uploads_to_the_others_and_anothers_rollback_frees_it(
        clients, name, world):
    """bob's uploader does not pause for everything: his private folder's change goes up while
    the shared folder's waits; alice (another writer) rolls back, and bob's next pass sends it."""
    alice, bob, folder = await pair(clients, name, world)
    mine = f"/private/{bob.ctx.require_login()[1]}"
    await bob.files.write(f"{folder}/waits.txt", b"made before", upload=False)
    bad = await _break_head(alice, folder, "junk")
    await _meet_broken_head(bob, folder)
    with pytest.raises(errors.FolderHeadUnreadable):
        await bob.files.write(f"{folder}/refused.txt", b"no")
    out = await bob.files.write(f"{mine}/own.txt", b"goes up")             # uploads at once: the other waits
    assert out["state"] == "uploaded" and out["error"].startswith("FS_HEAD_UNREADABLE"), out
    assert not bob.files.uploader.paused
    assert await bob.files.read(f"{mine}/own.txt") == b"goes up"
    with pytest.raises(errors.Conflict):                                   # a stale button: the head moved
        await alice.files.rollback(folder, bad - 1, expect_head=bad - 1)
    await alice.files.rollback(folder, bad - 1, expect_head=bad)
    bob.files.fs.synced.clear()
    await bob.files.sync(timeout=60)                                       # no resume needed: it just goes
    assert sorted(r["name"] for r in await alice.files.ls(folder)) == ["waits.txt", "warm.txt"]


async def test_a_hostile_writer_s_fifty_broken_revisions_cost_one_probe_each_and_name_no_empty_folder(
        clients, name, world):
    """52 revisions with withheld roots (nothing uploaded: cheap to make): the probe for a
    readable one stops after 50 and says so (not "roll back to an empty folder"), and the
    verdicts are kept: three listings load each root once."""
    alice, bob, folder = await pair(clients, name, world)
    for _ in range(52):
        bad = await _break_head(alice, folder, "withheld")
    bob.files.fs.synced.clear()
    with pytest.raises(errors.FolderHeadUnreadable):    # bob has synced all 52 first: the rollback check of new
        await bob.files.ls(folder)                      # revisions loads their roots too (under load it raced the count)
    bob.files.fs.synced.clear()
    calls = []
    loader = bob.files._loader

    def counting(f):
        load = loader(f)

        async def counted(ptr):
            calls.append(ptr.id.hex())
            return await load(ptr)
        return counted
    bob.files._loader = counting
    bob.files.root_verdicts.clear()                                        # (a push hint may have probed)
    after = []
    for _ in range(3):
        bob.files.fs.synced.clear()
        with pytest.raises(errors.FolderHeadUnreadable) as e:
            await bob.files.ls(folder)
        assert e.value.revision == bad and e.value.readable is None
        assert "--rev N" in str(e.value) and "--rev 0" not in str(e.value)
        after.append(len(calls))
    assert len(set(calls)) == 51 and after[0] >= 51, after                 # the head and 50 probes
    assert after[2] == after[0], after                                      # listed again: nothing refetched
    await bob.files.rollback(folder, 1)                                    # the user names an older one
    assert [r["name"] for r in await bob.files.ls(folder)] == ["warm.txt"]


async def test_a_pending_write_under_a_withheld_directory_is_kept_not_marked_uploaded(clients, name, world):
    """The head's root reads, but the directory bob's pending file goes into is a block the
    server does not serve: the change waits with FS_BLOCK_MISSING (before, the row was
    skipped as "gone remotely", marked uploaded and lost); a rollback lets it go up."""
    alice, bob, folder = await pair(clients, name, world)
    await alice.files.write(f"{folder}/docs/a.txt", b"a")
    await bob.files.write(f"{folder}/docs/r.txt", b"bob's report", upload=False)
    t = await HostileTree(alice, folder).start()
    docs = t.dir("docs", [t.file("a.txt", b"a changed")])
    t.blocks = [(p, b) for p, b in t.blocks if p.id != bytes(docs[2][1])]
    bad = await t.post([docs, t.file("warm.txt", b"honest")])
    bob.files.fs.synced.clear()
    with pytest.raises(errors.BlockMissing):
        await bob.files.upload()
    rows = await bob.files.journal.unfinished()
    assert [(r.state, r.error.split(":")[0]) for r in rows] == [("pending", "FS_BLOCK_MISSING")]
    await bob.files.rollback(folder, bad - 1)
    await bob.files.sync(timeout=60)
    assert await alice.files.read(f"{folder}/docs/r.txt") == b"bob's report"


async def test_a_pending_write_into_a_directory_refused_for_a_hostile_name_is_parked_not_lost(
        clients, name, world):
    """alice rewrites docs/ with a name no writer may use: the directory is refused whole. bob's
    pending docs/r.txt could not be merged into it; before, the merge skipped it, the revision
    went up without it and the row was marked uploaded: lost. Now the batch is kept as the
    read-only "(local conflicted copy DATE)" view, bob's file readable there."""
    alice, bob, folder = await pair(clients, name, world)
    await alice.files.write(f"{folder}/docs/a.txt", b"a")
    assert await bob.files.read(f"{folder}/docs/a.txt") == b"a"
    await bob.files.write(f"{folder}/docs/r.txt", b"bob's report", upload=False)
    t = await HostileTree(alice, folder).start()
    await t.post([t.dir("docs", [t.file("..", b"escape"), t.file("a.txt", b"a")]), t.file("warm.txt", b"honest")])
    bob.files.fs.synced.clear()
    await bob.files.upload()
    rows = await bob.files.journal.unfinished()
    assert [r.state for r in rows] == ["parked"] and "FS_BAD_NAME" in rows[0].error, rows
    view = rows[0].view
    assert await bob.files.read(f"{folder}/{view}/docs/r.txt") == b"bob's report"
    st = await bob.files.status()
    assert any(n.get("kind") == "parked" and n.get("view") == view for n in st["notices"])


async def test_after_a_rollback_merges_ignore_the_broken_revision_s_ops_and_history_shows_it(
        clients, name, world):
    """The broken revision also claims (in its signed ops) that alice wrote notes.txt. bob edited
    notes.txt on the revision before it; after the rollback his edit is merged over the newer
    revisions, and a merge that replayed the rolled-back ops met 'the same file written on
    both': his edit became a conflicted copy for nothing. Now only the ops that still hold at
    the head are replayed, and `history` lists the rollback where it undid something."""
    from kbapp.core.fs.revision import check_op

    alice, bob, folder = await pair(clients, name, world)
    await alice.files.write(f"{folder}/notes.txt", b"v1")
    bob.files.fs.synced.clear()
    assert await bob.files.read(f"{folder}/notes.txt") == b"v1"
    await bob.files.write(f"{folder}/notes.txt", b"bob's edit", upload=False)
    t = await HostileTree(alice, folder).start()
    lie = check_op({"op": "write", "path": ["notes.txt"], "entry": t.file("notes.txt", b"claimed")})
    bad = await t.post(None, root=t.junk_ptr(), ops=(lie,))
    await alice.files.rollback(folder, bad - 1)
    bob.files.fs.synced.clear()
    await bob.files.sync(timeout=60)
    for app in (alice, bob):
        app.files.fs.synced.clear()
        assert sorted(r["name"] for r in await app.files.ls(folder)) == ["notes.txt", "warm.txt"]   # no copy
        assert await app.files.read(f"{folder}/notes.txt") == b"bob's edit"
    hist = [(h["revision"], h["op"], h.get("rolled_back_to")) for h in await bob.files.history(f"{folder}/notes.txt")]
    assert hist == [(bad - 1, "write", None), (bad, "write", None), (bad + 1, "rollback", bad - 1),
                    (bad + 2, "write", None)], hist
    assert [h["op"] for h in await bob.files.history(f"{folder}/warm.txt")] == ["write"]   # it undid nothing there


async def test_a_rollback_to_before_a_pending_change_s_base_keeps_the_change(clients, name, world):
    """alice rolls the folder back past the revision bob's pending edit was made on: what the
    rollback undid cannot be written as ops, so nothing is replayed and bob's edit is written
    on the rolled-back tree, not lost and not a conflict."""
    alice, bob, folder = await pair(clients, name, world)
    first = (await alice.files.stat(folder))["revision"]
    await alice.files.write(f"{folder}/a.txt", b"alice's")
    bob.files.fs.synced.clear()
    assert await bob.files.read(f"{folder}/a.txt") == b"alice's"
    await bob.files.write(f"{folder}/a.txt", b"bob's edit", upload=False)
    await alice.files.rollback(folder, first)
    bob.files.fs.synced.clear()
    await bob.files.sync(timeout=60)
    alice.files.fs.synced.clear()
    assert sorted(r["name"] for r in await alice.files.ls(folder)) == ["a.txt", "warm.txt"]
    assert await alice.files.read(f"{folder}/a.txt") == b"bob's edit"


async def test_a_revision_without_ops_that_is_no_rollback_does_not_hide_others_changes(clients, name, world):
    """A writer posts the same tree re-sealed (new blocks, no ops): no earlier revision has its
    root and it is no empty directory, so it is no rollback. Taken for 'a rollback to an empty
    folder', it hid alice's honest edit from bob's merge: his edit overwrote hers with no
    conflicted copy, and history said warm.txt was rolled back."""
    alice, bob, folder = await pair(clients, name, world)
    await alice.files.write(f"{folder}/notes.txt", b"v1")
    bob.files.fs.synced.clear()
    assert await bob.files.read(f"{folder}/notes.txt") == b"v1"
    await bob.files.write(f"{folder}/notes.txt", b"bob's edit", upload=False)       # made on v1
    await alice.files.write(f"{folder}/notes.txt", b"alice's v2")                   # an honest concurrent edit
    warm = await alice.files.read(f"{folder}/warm.txt")
    t = await HostileTree(alice, folder).start()
    await t.post([t.file("notes.txt", b"alice's v2"), t.file("warm.txt", warm)])    # re-sealed, no ops
    bob.files.fs.synced.clear()
    await bob.files.sync(timeout=60)
    alice.files.fs.synced.clear()
    names = sorted(r["name"] for r in await alice.files.ls(folder))
    assert len(names) == 3 and "notes.txt" in names and "warm.txt" in names, names   # both kept: a copy
    assert await alice.files.read(f"{folder}/notes.txt") == b"alice's v2"
    copy = next(n for n in names if n.startswith("notes.conflicted"))
    assert await alice.files.read(f"{folder}/{copy}") == b"bob's edit"
    assert "rollback" not in [h["op"] for h in await alice.files.history(f"{folder}/warm.txt")]
