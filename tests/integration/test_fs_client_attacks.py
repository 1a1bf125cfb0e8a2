"""Attacks on the folder client (kbapp/client/fs/) from a lying server: a real server process
whose database or blob store is changed behind its back, and real clients reading through
`app.files`. Each attack: a typed VerificationError, and the judge state the client saved
is the one from before.
"""

from __future__ import annotations

import os
import sqlite3

import pytest

from kbapp.core import errors

from e2e_support import signup_all

pytestmark = pytest.mark.timeout(300)
FOLDER = "/private/alice,bob"


def server_db(server) -> sqlite3.Connection:
    return sqlite3.connect(next(server.data_dir.rglob("*.sqlite3")))


async def saved_state(app, path: str):
    from kbapp.core.fs.names import split_path
    f = await app.files._folder(split_path(path)[0])
    return await app.files.journal.folder(f.folder_id)


async def test_a_withheld_revision_is_caught_by_the_map_head(server_factory, tmp_path, apps):
    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = users["alice"], users["bob"]
    await alice.files.write(f"{FOLDER}/a.txt", b"one")
    assert await bob.files.read(f"{FOLDER}/a.txt") == b"one"
    before = await saved_state(bob, FOLDER)
    await alice.files.write(f"{FOLDER}/a.txt", b"two: the newest")
    with server_db(server) as conn:         # the server serves revision 1 only; the map still says 2
        conn.execute("DELETE FROM folder_revisions WHERE revision = 2")
    with pytest.raises(errors.HiddenRevision):
        await bob.files.read(f"{FOLDER}/a.txt")
    assert await saved_state(bob, FOLDER) == before


async def test_a_swapped_block_is_refused(server_factory, tmp_path, apps):
    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = users["alice"], users["bob"]
    await alice.files.write(f"{FOLDER}/a.bin", os.urandom(5000))
    await alice.files.write(f"{FOLDER}/b.bin", os.urandom(5000))
    entries = {e.path[-1]: e for e in await alice.files.journal.entries()}
    a_id, b_id = entries["a.bin"].blocks[0], entries["b.bin"].blocks[0]
    files = {p.name: p for p in server.data_dir.rglob("*") if p.name in (a_id, b_id)}
    files[a_id].write_bytes(files[b_id].read_bytes())       # a's id now serves b's (valid) block
    with pytest.raises(errors.BlockIdMismatch):
        await bob.files.read(f"{FOLDER}/a.bin")


async def test_a_lost_compare_and_swap_is_retried_on_the_new_head(server_factory, tmp_path, apps):
    """Not an attack: two writers on one head; the loser judges the winner's revision and
    puts its file on top (both files survive)."""
    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = users["alice"], users["bob"]
    await alice.files.write(f"{FOLDER}/first.txt", b"first")
    post = bob.ctx.api.fs_post_revision
    raced = []

    async def racing_post(folder_id, envelope):
        if not raced:                       # alice posts between bob's sync and bob's post
            raced.append(await alice.files.write(f"{FOLDER}/alice.txt", b"alice won"))
        return await post(folder_id, envelope)

    bob.ctx.api.fs_post_revision = racing_post
    out = await bob.files.write(f"{FOLDER}/bob.txt", b"bob second")
    assert raced and out["state"] == "uploaded"
    assert sorted(e["name"] for e in await alice.files.ls(FOLDER)) == ["alice.txt", "bob.txt", "first.txt"]
    assert await alice.files.read(f"{FOLDER}/bob.txt") == b"bob second"
