"""The folder client (kbapp/client/fs/) end to end: real server processes (SQLite and
PostgreSQL), real accounts and implicit teams, `app.files` writing through the journal and
reading back through the judge and the map-proven head.
"""

from __future__ import annotations

import os

import pytest

from kbapp.core import errors

from e2e_support import signup_all

pytestmark = pytest.mark.timeout(300)


async def test_alice_writes_bob_reads_the_same_bytes(db_url, server_factory, tmp_path, apps):
    server = server_factory(db=db_url)
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = users["alice"], users["bob"]
    data = os.urandom(1_300_000) + b"notes"            # three data blocks and an indirect one
    out = await alice.files.write("/private/alice,bob/notes.txt", data)
    assert out["state"] == "uploaded" and out["size"] == len(data)
    # uploaded blocks left the journal for the block cache, and the disk holds ciphertext only
    assert not [p for p in (alice.home / "fs-journal" / "blocks").rglob("*") if p.is_file()]
    blocks = list((alice.home / "fs-cache").rglob("*"))
    stored = [p.read_bytes() for p in blocks if p.is_file()]
    assert len(stored) >= 4 and not any(data[:4096] in s for s in stored)
    assert (await alice.files.status())["pending"] == 0

    assert await bob.files.read("/private/alice,bob/notes.txt") == data
    assert [(e["name"], e["type"], e["size"]) for e in await bob.files.ls("/private/alice,bob")] == \
        [("notes.txt", "file", len(data))]

    # bob writes a second file in a subdirectory: alice reads both (a second revision on top)
    await bob.files.write("/private/alice,bob/docs/b.txt", b"from bob")
    assert await alice.files.read("/private/alice,bob/docs/b.txt") == b"from bob"
    assert await alice.files.read("/private/alice,bob/notes.txt") == data
    assert sorted(e["name"] for e in await alice.files.ls("/private/alice,bob/")) == ["docs", "notes.txt"]

    # alice's own folder: only alice
    await alice.files.write("/private/alice/mine.txt", b"secret")
    assert await alice.files.read("/private/alice/mine.txt") == b"secret"
    with pytest.raises(errors.NotFound):
        await alice.files.read("/private/alice/absent.txt")


async def test_a_reader_cannot_write(server_factory, tmp_path, apps):
    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = users["alice"], users["bob"]
    await alice.files.write("/private/alice#bob/shown.txt", b"for bob to read")
    assert await bob.files.read("/private/alice#bob/shown.txt") == b"for bob to read"
    with pytest.raises(errors.FolderNotWriter) as e:
        await bob.files.write("/private/alice#bob/shown.txt", b"overwritten")
    assert e.value.code == "FS_NOT_WRITER"
    # nothing journaled for bob, nothing changed for anyone
    assert (await bob.files.status())["entries"] == []
    assert await alice.files.read("/private/alice#bob/shown.txt") == b"for bob to read"


def test_the_cli_writes_reads_lists_and_exits_3_on_a_lie(server_factory, tmp_path):
    from e2e_support import cli

    server = server_factory()
    a, b = tmp_path / "a", tmp_path / "b"
    cli(a, "signup", "alice", "--server", server.url)
    cli(b, "signup", "bob", "--server", server.url)
    src = tmp_path / "in.bin"
    src.write_bytes(os.urandom(70_000))
    out = cli(a, "fs", "write", "/private/alice,bob/in.bin", str(src)).json
    assert out["state"] == "uploaded" and out["size"] == 70_000
    assert cli(a, "fs", "status").json["pending"] == 0
    dest = tmp_path / "out.bin"
    assert cli(b, "fs", "read", "/private/alice,bob/in.bin", str(dest)).json["size"] == 70_000
    assert dest.read_bytes() == src.read_bytes()
    assert [r["name"] for r in cli(b, "fs", "ls", "/private/alice,bob").json] == ["in.bin"]
    assert cli(b, "fs", "read", "/private/alice,bob/nope", expect_rc=1).json["error"]["code"] == "NOT_FOUND"
    # a server that forgets the folder bob verified (a rollback to nothing): exit 3, typed
    import sqlite3
    db = next(server.data_dir.rglob("*.sqlite3"))
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM folder_revisions")
        conn.execute("DELETE FROM folders")
    err = cli(b, "fs", "ls", "/private/alice,bob", expect_rc=3).json["error"]
    assert err["code"] == "FS_ROLLBACK" and err["verification"] is True


async def test_team_and_public_folders(server_factory, tmp_path, apps):
    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob", "carol"))
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    await alice.create_team("acme")
    await alice.add_member("acme", "bob", "writer")
    await alice.files.write("/team/acme/plan.txt", b"team plan")
    await bob.files.write("/team/acme/plan.txt", b"bob's plan")          # a writer overwrites
    assert await alice.files.read("/team/acme/plan.txt") == b"bob's plan"
    with pytest.raises(errors.KbappError):
        await carol.files.read("/team/acme/plan.txt")                     # not a member: nothing
    # a public folder: blocks in the clear, read back through the same checks (a stranger cannot
    # read it yet: the implicit team's chain is served to members only; docs/folders-plan.md)
    await alice.files.write("/public/alice/hello.txt", b"hello world")
    assert await alice.files.read("/public/alice/hello.txt") == b"hello world"


async def test_a_journaled_write_survives_a_reopen_and_uploads_later(server_factory, tmp_path, apps):
    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = users["alice"], users["bob"]
    out = await alice.files.write("/private/alice,bob/later.txt", b"journaled first", upload=False)
    assert out["state"] == "pending"
    with pytest.raises(errors.NotFound):                     # nothing on the server yet
        await bob.files.read("/private/alice,bob/later.txt")
    await alice.files.close()                                # the journal is read back from disk
    assert (await alice.files.status())["pending"] == 1
    assert (await alice.files.upload())["uploaded"] == [out["entry"]]
    assert (await alice.files.status())["pending"] == 0
    assert await bob.files.read("/private/alice,bob/later.txt") == b"journaled first"
