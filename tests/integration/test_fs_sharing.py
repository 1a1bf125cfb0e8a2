"""Encrypted folders shared before signup and with teams whose members change (issue 16).

Real server processes (SQLite and PostgreSQL), real accounts: `/private/alice,bob@github` is written before bob has
proved the GitHub account, and bob reads it once he has and a member's client added him;
`/team/acme` after carol's removal: the new files are sealed under the rotated key, which
carol never gets, and the server refuses her a read token for the folder.
"""

from __future__ import annotations

import pytest

from kbapp.core import errors

from e2e_support import signup_all

pytestmark = pytest.mark.timeout(300)


async def test_a_folder_shared_with_bob_at_github_is_read_by_bob_after_his_proof(db_url, server_factory, tmp_path,
                                                                                apps):
    server = server_factory(db=db_url)
    from fake_services import FakeGitHub, FakeWebsite
    from test_proofs_services import config_for
    from test_teams_e2e import _NoDns

    gh, web = FakeGitHub(), FakeWebsite()
    cfg = config_for({"web": web, "github": gh, "dns": _NoDns(), "mastodon": web, "profiles": web})
    try:
        u = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
        for app in u.values():
            app.proof_config = cfg
        alice, bob = u["alice"], u["bob"]
        await alice.files.write("/private/alice,bob@github/plan.txt", b"before bob joined")
        # not bob's folder yet: he has not proved the account, so nothing names him a member
        with pytest.raises(errors.KbappError):
            await bob.files.read("/private/alice,bob@github/plan.txt")
        req = await bob.start_proof("github", "bob")
        gh.set_gist("bob", req.text)
        await bob.finish_proof(req)
        await alice.housekeeper.team("alice,bob@github")           # a member's client adds him
        assert await bob.files.read("/private/alice,bob@github/plan.txt") == b"before bob joined"
        # the folder's name converged: the resolved name is the same folder, nothing lost
        assert await bob.files.read("/private/alice,bob/plan.txt") == b"before bob joined"
        await bob.files.write("/private/alice,bob/reply.txt", b"bob here")
        assert await alice.files.read("/private/alice,bob@github/reply.txt") == b"bob here"
        names = sorted(r["name"] for r in await alice.files.ls("/private/alice,bob"))
        assert names == ["plan.txt", "reply.txt"]
    finally:
        gh.stop()
        web.stop()


async def test_a_removed_member_cannot_read_what_the_team_writes_after(db_url, server_factory, tmp_path, apps):
    server = server_factory(db=db_url)
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob", "carol"))
    alice, bob, carol = u["alice"], u["bob"], u["carol"]
    await alice.create_team("acme")
    await alice.add_member("acme", "bob", "writer")
    await alice.add_member("acme", "carol", "reader")
    await alice.files.write("/team/acme/old.txt", b"carol may read this")
    assert await carol.files.read("/team/acme/old.txt") == b"carol may read this"
    await alice.remove_member("acme", "carol")
    await bob.files.write("/team/acme/new.txt", b"after carol left")
    assert await alice.files.read("/team/acme/new.txt") == b"after carol left"
    with pytest.raises(errors.ReadNotAllowed):            # the server gives her no read token
        await carol.files.read("/team/acme/new.txt")
    # and were it to serve her the blocks: the removal rotated the team key, and new files
    # are sealed under generation 2, which was never boxed for carol
    from kbapp.core.fs.names import parse_folder_name
    f = await bob.files.fs.folder(parse_folder_name("/team/acme"), fresh=True)
    assert f.gen == 2 and set(f.keys) == {1, 2}
    assert carol.ctx.uid not in f.loaded.state.members


async def test_two_folders_whose_names_converge_keep_both_sets_of_files(db_url, server_factory, tmp_path, apps):
    """`/private/alice,bob` and `/private/alice,bob@github` both hold files before bob proves
    the account; then both names lead to the first one's team. The files written under the
    assertion name stay readable there, in a read-only `(conflicted copy alice,bob@github)`
    view (verified like any folder), for alice and for bob; writing into it is refused."""
    from fake_services import FakeGitHub, FakeWebsite
    from test_proofs_services import config_for
    from test_teams_e2e import _NoDns

    server = server_factory(db=db_url)
    gh, web = FakeGitHub(), FakeWebsite()
    cfg = config_for({"web": web, "github": gh, "dns": _NoDns(), "mastodon": web, "profiles": web})
    try:
        u = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
        for app in u.values():
            app.proof_config = cfg
        alice, bob = u["alice"], u["bob"]
        G = "/private/alice,bob@github"
        await alice.files.write("/private/alice,bob/a.txt", b"in the plain folder")
        await alice.files.write(f"{G}/b.txt", b"in the github folder")
        req = await bob.start_proof("github", "bob")
        gh.set_gist("bob", req.text)
        await bob.finish_proof(req)
        await alice.housekeeper.team("alice,bob@github")
        view = "(conflicted copy alice,bob@github)"
        for app in (alice, bob):
            assert sorted(r["name"] for r in await app.files.ls(G)) == sorted(["a.txt", view])
            assert [r["name"] for r in await app.files.ls(f"{G}/{view}")] == ["b.txt"]
            assert await app.files.read(f"{G}/{view}/b.txt") == b"in the github folder"
        with pytest.raises(errors.ReadOnlyView):
            await bob.files.write(f"{G}/{view}/c.txt", b"not here")
        assert [r["name"] for r in await bob.files.ls("/private/alice,bob")] == ["a.txt"]
    finally:
        gh.stop()
        web.stop()
