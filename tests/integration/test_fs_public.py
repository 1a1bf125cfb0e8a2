"""Public folders end to end (real server processes, SQLite and PostgreSQL): `/public/alice` is
read by a stranger, who verifies it like any folder (alice's implicit team chain, served to
anyone once the team holds a public folder; its writers: alice only); bob's writes are refused
by his own client and by the server; a public folder cannot ride on a named team.
"""

from __future__ import annotations

import hashlib

import httpx
import pytest

from kbapp.core import errors
from kbapp.core.fs.names import split_path
from kbapp.core.fs.revision import folder_id_for

from e2e_support import signup_all

pytestmark = pytest.mark.timeout(300)


async def test_a_stranger_reads_a_public_folder_and_cannot_write_it(db_url, server_factory, tmp_path, apps):
    server = server_factory(db=db_url)
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = users["alice"], users["bob"]
    await alice.files.write("/public/alice/docs/hello.txt", b"hello, world")
    # bob is no member of alice's implicit team: he verifies its chain, the revisions and blocks
    assert await bob.files.read("/public/alice/docs/hello.txt") == b"hello, world"
    assert [e["name"] for e in await bob.files.ls("/public/alice/docs")] == ["hello.txt"]
    # ... and only that: alice's private folder stays hers
    with pytest.raises(errors.KbappError):
        await bob.files.read("/private/alice/hello.txt")
    # bob's client refuses his write before anything leaves it
    with pytest.raises(errors.FolderNotWriter):
        await bob.files.write("/public/alice/bob.txt", b"bob was here")
    # the server refuses the block a modified client would put
    f = await bob.files._folder(split_path("/public/alice")[0])
    with pytest.raises(errors.FolderNotWriter):
        await bob.ctx.api.fs_put_block(f.folder_id, hashlib.sha256(b"x").hexdigest(), b"x", team_id=f.team_id,
                                       kind=2)


async def test_a_public_folder_cannot_ride_on_a_named_team(server_factory, tmp_path, apps):
    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = users["alice"], users["bob"]
    view = await alice.create_team("acme")
    tid = view.team_id
    fid = folder_id_for(tid, 2).hex()
    block = b"public bytes"
    with pytest.raises(errors.FolderPublicNotImplicit):
        await alice.ctx.api.fs_put_block(fid, hashlib.sha256(block).hexdigest(), block, team_id=tid, kind=2)
    # so the named team's chain stays members-only
    async with httpx.AsyncClient() as c:
        r = await c.get(f"{server.url}/v1/team/{tid}",
                        headers={"authorization": await bob.ctx.api.read_tokens.header()})
    assert r.status_code == 403, r.text


async def test_an_implicit_teams_chain_is_public_only_once_it_holds_a_public_folder(server_factory, tmp_path, apps):
    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = users["alice"], users["bob"]
    await alice.files.write("/private/alice/mine.txt", b"private")
    f = await alice.files._folder(split_path("/private/alice")[0])

    async def chain_status() -> int:
        async with httpx.AsyncClient() as c:
            r = await c.get(f"{server.url}/v1/team/{f.team_id}",
                            headers={"authorization": await bob.ctx.api.read_tokens.header()})
        return r.status_code
    assert await chain_status() == 403
    await alice.files.write("/public/alice/hello.txt", b"hello")
    assert await chain_status() == 200


async def test_a_public_folder_nobody_wrote_yet_lists_empty_for_a_reader(server_factory, tmp_path, apps):
    """`ls /public/bob` by alice before bob ever wrote there: an empty folder, not "you are
    not a writer" (CONFLICT); a file in it is not found; once bob writes, alice reads it."""
    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = users["alice"], users["bob"]
    assert await alice.files.ls("/public/bob") == []
    with pytest.raises(errors.NotFound):
        await alice.files.read("/public/bob/hello.txt")
    await bob.files.write("/public/bob/hello.txt", b"hi")
    assert await alice.files.read("/public/bob/hello.txt") == b"hi"
