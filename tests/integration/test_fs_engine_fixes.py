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


def lose_answers(app, times: int = 1):
    """The revision POST reaches the server, its answer does not (a cut, a crash) `times` times."""
    post = app.ctx.api.fs_post_revision
    left = [times]

    async def lossy(folder_id, envelope):
        await post(folder_id, envelope)
        if left[0] > 0:
            left[0] -= 1
            raise errors.NetworkError("connection reset after the request was sent")
    app.ctx.api.fs_post_revision = lossy


async def test_a_row_journalled_after_its_batch_was_signed_is_not_marked_uploaded_with_it(server_factory, tmp_path,
                                                                                          apps):
    """once.txt's revision was accepted but its answer lost; two.txt, written next on the same
    head, joins its batch. The retry finds once.txt's revision accepted: only once.txt is
    done, two.txt is still sent (before, both were marked uploaded and two.txt was lost)."""
    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = users["alice"], users["bob"]
    F = "/private/alice,bob"
    lose_answers(alice)
    with pytest.raises(errors.NetworkError):
        await alice.files.write(f"{F}/once.txt", b"exactly once", upload=False) and await alice.files.upload()
    await alice.files.write(f"{F}/two.txt", b"written after", upload=False)
    await alice.files.sync(timeout=60)
    assert await bob.files.read(f"{F}/once.txt") == b"exactly once"
    assert await bob.files.read(f"{F}/two.txt") == b"written after"
    fid = (await alice.files._folder_of(F)).folder_id
    assert [r.rev for r in await alice.files.journal.revs(fid)] == [1, 2]


async def _bob_merges_with_a_lost_answer(apps, tmp_path, server, monkeypatch, second_after_sync: bool):
    """alice and bob hold revision 1 of notes.txt; bob edits it offline ("bob one", made on
    revision 1), alice's edit lands as revision 2, bob edits again ("bob two": on revision 1
    too, or, with `second_after_sync`, after his view synced revision 2, on revision 2, over
    his own pending "bob one"). One op per batch: "bob one" merges over alice's edit into a
    conflict copy and is accepted, its answer lost; a read syncs that revision before the
    upload resumes. Both ways, "bob two" must land on bob's conflict copy, once."""
    from kbapp.client.fs import uploader

    one_op = uploader.batches
    monkeypatch.setattr(uploader, "batches", lambda rows: one_op(rows, max_ops=1))
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = users["alice"], users["bob"]
    F = "/private/alice,bob"
    await alice.files.write(f"{F}/notes.txt", b"base")
    assert await bob.files.read(f"{F}/notes.txt") == b"base"            # bob holds revision 1
    await bob.files.write(f"{F}/notes.txt", b"bob one", upload=False)
    if not second_after_sync:
        await bob.files.write(f"{F}/notes.txt", b"bob two", upload=False)
    await alice.files.write(f"{F}/notes.txt", b"alice's edit")          # revision 2
    if second_after_sync:
        bob.files.fs.synced.clear()                                    # as a push hint would: bob syncs again
        assert await bob.files.read(f"{F}/notes.txt") == b"bob one"     # his pending edit over revision 2
        await bob.files.write(f"{F}/notes.txt", b"bob two", upload=False)
    bases = [r.base for r in await bob.files.journal.pending()]
    assert bases == ([1, 2] if second_after_sync else [1, 1])
    lose_answers(bob)
    with pytest.raises(errors.NetworkError):
        await bob.files.upload()                                         # batch 1 merged, accepted, answer lost
    await bob.files.ls(F)                                                # a read syncs revision 3 first
    await bob.files.sync(timeout=60)
    return alice, bob, F


@pytest.mark.parametrize("second_after_sync", [False, True], ids=["both-on-rev1", "second-on-rev2"])
async def test_a_merge_replayed_over_our_own_resolution_adds_no_second_conflict_copy(server_factory, tmp_path, apps,
                                                                                     monkeypatch, second_after_sync):
    """After the lost answer the next pass finds "bob one"'s merged revision accepted without
    merging anything itself: "bob two" must neither merge over it again (a second conflict
    copy) nor, made on revision 2 by path, land on alice's notes.txt (the renames the merge
    saved before its POST carry it to the copy)."""
    from kbapp.core.fs.conflict import conflicted_name

    alice, bob, F = await _bob_merges_with_a_lost_answer(apps, tmp_path, server_factory(), monkeypatch,
                                                         second_after_sync)
    notices = [n for n in (await bob.files.status())["notices"] if n.get("kind") == "conflict"]
    assert len(notices) == 1, notices
    copy = notices[0]["renamed"][0][1]
    assert copy == conflicted_name("notes.txt", "bob", "bob-laptop", copy.split("copy ")[1][:10])
    for app in (alice, bob):
        rows = sorted(r["name"] for r in await app.files.ls(F))
        assert rows == sorted(["notes.txt", copy]), rows
        assert await app.files.read(f"{F}/notes.txt") == b"alice's edit"
        assert await app.files.read(f"{F}/{copy}") == b"bob two"
    with bob.files.journal.db.engine.connect() as conn:                  # the saved renames were used up
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM follows").scalar() == 0


async def test_an_export_is_one_revision_even_when_a_writer_changes_the_folder_mid_export(server_factory, tmp_path,
                                                                                         apps):
    """bob exports docs/ at revision 1; as the first file streams, alice writes revision 2
    (b.txt changed, sub/y.txt added, a.txt removed). Every later listing and read of the
    export must still be revision 1's: no file of revision 2 lands on bob's disk."""
    from kbapp.client.fs.export import export

    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = users["alice"], users["bob"]
    D = "/private/alice,bob/docs"
    for name, data in (("a.txt", b"a one"), ("b.txt", b"b one"), ("sub/x.txt", b"x one")):
        await alice.files.write(f"{D}/{name}", data, upload=False)
    await alice.files.sync(timeout=60)
    changed = []

    async def race(what) -> None:
        if not changed:
            changed.append(what)
            await alice.files.write(f"{D}/b.txt", b"b two", upload=False)
            await alice.files.write(f"{D}/sub/y.txt", b"y two", upload=False)
            await alice.files.rm(f"{D}/a.txt", upload=False)
            await alice.files.sync(timeout=60)

    def racing(plain):                        # as the first file starts streaming, however it is read
        async def read(*args, **kw):
            await race(args)
            async for piece in plain(*args, **kw):
                yield piece
        return read
    bob.files.open_read = racing(bob.files.open_read)
    bob.files.read_entry = racing(bob.files.read_entry)
    target = tmp_path / "out"
    target.mkdir()
    await export(bob.files, D, target)
    got = {str(p.relative_to(target)): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert changed and got == {"docs/a.txt": b"a one", "docs/b.txt": b"b one", "docs/sub/x.txt": b"x one"}
    assert await bob.files.read(f"{D}/b.txt") == b"b two"                # revision 2 is there for reads


async def test_a_writer_back_dating_a_revision_cannot_pull_later_changes_into_an_earlier_time(server_factory,
                                                                                              tmp_path, apps,
                                                                                              monkeypatch):
    """Times are the writers' claims. alice's revisions claim 1000, 3000 and then, back-dated,
    2000. `ls --time 2500` must show revision 1 (history as it stood, a prefix), not revision
    3, whose tree holds revision 2's change claimed at 3000."""
    from kbapp.client.fs import publish

    real = publish.make_revision
    claims = iter([1000, 3000, 2000])
    monkeypatch.setattr(publish, "make_revision", lambda **kw: real(**{**kw, "ctime": next(claims)}))
    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = users["alice"], users["bob"]
    F = "/private/alice,bob"
    for data in (b"one", b"two!!", b"three..."):
        await alice.files.write(f"{F}/a.txt", data)

    async def size_at(t):
        rows = await bob.files.ls(F, time=t)
        return rows[0]["size"] if rows else None
    assert await size_at(500) is None                            # before the first revision
    assert await size_at(1500) == 3
    assert await size_at(2500) == 3                              # not revision 3's 8 bytes
    assert await size_at(3500) == 8
    hist = await bob.files.history(f"{F}/a.txt")
    assert sorted(h.get("ctime", h.get("time")) for h in hist) == [1000, 2000, 3000]   # shown as claimed


async def test_a_removed_member_cannot_open_what_was_pending_when_she_was_removed(server_factory, tmp_path, apps):
    """bob's pending.bin is sealed (generation 1) and journalled; then carol is removed and the
    team key rotates; then bob uploads. The upload re-seals it under generation 2, which carol
    never held: even with every block from a colluding server and the pointers themselves
    (a leak), none of them opens under the keys she kept. Before, its blocks went up under
    generation 1, carol's."""
    from kbapp.core.fs.blocks import INDIRECT, open_block
    from kbapp.core.fs.tree import parse_indirect

    server = server_factory()
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob", "carol"))
    alice, bob, carol = u["alice"], u["bob"], u["carol"]
    await alice.create_team("acme")
    await alice.add_member("acme", "bob", "writer")
    await alice.add_member("acme", "carol", "reader")
    T = "/team/acme"
    await alice.files.write(f"{T}/old.txt", b"carol may read this")
    assert await carol.files.read(f"{T}/old.txt") == b"carol may read this"
    kept = dict((await carol.files._folder_of(T)).keys)             # what carol keeps after leaving
    assert set(kept) == {1}
    secret = os.urandom(MAX_DATA + 1000)                             # two data blocks under an indirect one
    await bob.files.write(f"{T}/pending.bin", secret, upload=False)
    await alice.remove_member("acme", "carol")
    await bob.files.sync(timeout=60)
    assert await alice.files.read(f"{T}/pending.bin") == secret
    f, comps, ov = await bob.files._view(f"{T}/pending.bin")
    todo, opened = [(await ov.entry(tuple(comps))).ptr], 0
    while todo:
        p = todo.pop()
        stored = await bob.ctx.api.fs_get_block(f.folder_id, p.id.hex())     # the server hands them over
        with pytest.raises(errors.FolderUnknownKeyGen):
            open_block(p, stored, kept)
        if p.kind == INDIRECT:
            todo += [c for _, c in parse_indirect(open_block(p, stored, f.keys), p)[1]]
        opened += 1
    assert opened == 3
    assert not [p for p in (bob.home / "fs-journal" / "blocks").rglob("*") if p.is_file()]   # old blocks gone


async def test_a_second_local_edit_after_a_merge_updates_the_conflict_copy_not_the_other_writers_file(
        server_factory, tmp_path, apps):
    """bob edits notes.txt offline (on revision 1); a listing brings alice's edit (revision 2)
    while his edit waits; he edits notes.txt again (that row is made on revision 2). The first
    batch merges: his first edit is kept as the conflict copy. The second must follow it
    there, not land on notes.txt over alice's edit."""
    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = users["alice"], users["bob"]
    F = "/private/alice,bob"
    await alice.files.write(f"{F}/notes.txt", b"base")
    assert await bob.files.read(f"{F}/notes.txt") == b"base"
    await bob.files.write(f"{F}/notes.txt", b"bob one", upload=False)
    await alice.files.write(f"{F}/notes.txt", b"alice's edit")
    assert await bob.files.read(f"{F}/notes.txt") == b"bob one"         # synced: revision 2 under his row
    await bob.files.write(f"{F}/notes.txt", b"bob two", upload=False)
    await bob.files.sync(timeout=60)
    copy = (await bob.files.status())["notices"][0]["renamed"][0][1]
    for app in (alice, bob):
        assert sorted(r["name"] for r in await app.files.ls(F)) == sorted(["notes.txt", copy])
        assert await app.files.read(f"{F}/notes.txt") == b"alice's edit"
        assert await app.files.read(f"{F}/{copy}") == b"bob two"


async def test_an_upload_signed_on_a_team_loaded_before_a_rotation_is_refused_then_resealed(server_factory, tmp_path,
                                                                                            apps):
    """bob's client still holds the team as it was before carol's removal (a push hint kept
    the folder fresh), so his batch is sealed and signed under generation 1: the server
    refuses it (`FS_KEY_GEN_REFUSED`). The upload reloads the team, re-seals and retries,
    instead of failing the change for good."""
    import time as _time

    server = server_factory()
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob", "carol"))
    alice, bob = u["alice"], u["bob"]
    await alice.create_team("acme")
    await alice.add_member("acme", "bob", "writer")
    await alice.add_member("acme", "carol", "reader")
    T = "/team/acme"
    await alice.files.write(f"{T}/old.txt", b"before")
    assert await bob.files.read(f"{T}/old.txt") == b"before"
    f = await bob.files._folder_of(T)
    await bob.files.write(f"{T}/new.txt", b"after carol left", upload=False)
    await alice.remove_member("acme", "carol")
    bob.files.fs.synced[f.folder_id].hinted = _time.monotonic()      # "the head you hold is current"
    assert (await bob.files._folder_of(T)).gen == 1                   # the stale team is what he would use
    await bob.files.sync(timeout=60)
    assert await alice.files.read(f"{T}/new.txt") == b"after carol left"
    g = await bob.files.fs.folder(f.name, fresh=True)
    _f, comps, ov = await bob.files._view(f"{T}/new.txt")
    assert g.gen == 2 and (await ov.entry(tuple(comps))).ptr.key_gen == 2


async def test_a_local_tree_bigger_than_the_journal_cap_is_copied_in_several_uploads(server_factory, tmp_path, apps):
    """`cp -r` of a tree over the cap: the journal is emptied by an upload when full, so every
    file arrives (before: FS_JOURNAL_FULL at the same file on every try, nothing uploaded)."""
    from kbapp.client.fs.copy import copy

    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = users["alice"], users["bob"]
    src = tmp_path / "tree"
    src.mkdir()
    data = {f"f{i}.bin": os.urandom(MAX_DATA + 1000) for i in range(6)}
    for n, b in data.items():
        (src / n).write_bytes(b)
    alice.set_preference("fs.journal_max_bytes", str(3 * (MAX_DATA + 70_000)))      # room for about two files
    out = await copy(alice.files, str(src), "/private/alice,bob/", recursive=True)
    assert sorted(r["path"].rsplit("/", 1)[1] for r in out["written"]) == sorted(data) and out["failed"] == []
    for n, b in data.items():
        assert await bob.files.read(f"/private/alice,bob/tree/{n}") == b


async def test_a_folder_entry_in_the_way_of_one_file_fails_that_file_only(server_factory, tmp_path, apps):
    """A directory of the folder where the local tree has a file: that file is listed in
    `failed` (not exit 3, not a half-done copy left unuploaded); every other file is copied and
    uploaded."""
    from kbapp.client.fs.copy import copy

    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice",))
    alice = users["alice"]
    await alice.files.mkdir("/private/alice/src/c", parents=True)
    src = tmp_path / "src"
    src.mkdir()
    for n in ("a", "b", "c", "d"):
        (src / n).write_bytes(n.encode() * 10)
    out = await copy(alice.files, str(src), "/private/alice/", recursive=True)
    assert [f["path"] for f in out["failed"]] == ["/private/alice/src/c"]
    assert out["failed"][0]["code"] == "FS_PATH_REFUSED"
    assert sorted(r["path"] for r in out["written"]) == [f"/private/alice/src/{n}" for n in "abd"]
    st = await alice.files.status()
    assert not [e for e in st["entries"] if e["state"] == "pending"]              # uploaded
    assert await alice.files.read("/private/alice/src/d") == b"d" * 10
