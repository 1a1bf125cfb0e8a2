"""Teams follow-ups against a real server process (127.0.0.1, SQLite), in-process
`App` clients and the real CLI:

* `list_teams` shows subteams you administer through a parent (nested too), each
  loaded and verified, marked `implicit_admin`; members of the parent only see theirs;
* an admin denies a join request: the server drops it, the requester sees it gone
  and may ask again; from the attacker's side, a member who is no admin, a denial
  replayed against the next request and a forged signature are refused (typed codes);
* an admin cancels a pending invite (token, assertion) in the chain: the token can
  no longer be accepted and an acceptance made before the cancel is never completed;
* the CLI: `team deny`, `team uninvite`, `team invite --cancel`, invites in
  `list-members --json`, `implicit_admin` in `team list --json`.
"""

from __future__ import annotations


import httpx
import pytest

from kbapp.core import errors
from kbapp.core.teams import UserVersion, sign_join_denial, sign_join_request

from kbapp.cli.team import render_team

from e2e_support import cli, signup_all

pytestmark = pytest.mark.timeout(300)


async def pending(url: str, team_id: str, admin) -> list:
    """The server's pending requests, read with an admin's read token (they are not public)."""
    r = httpx.get(f"{url}/v1/team/{team_id}/requests", timeout=10,
                  headers={"Authorization": await admin.api.read_tokens.header()})
    r.raise_for_status()
    return r.json()["requests"]


def deny_raw(url: str, team_id: str, denial: dict) -> httpx.Response:
    return httpx.post(f"{url}/v1/team/{team_id}/requests/deny", json={"denial": denial}, timeout=10)


async def device_key(app):
    return (await app._device_keys()).sibkey


async def test_list_teams_shows_subteams_administered_through_a_parent(server, tmp_path, apps):
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob", "carol"))
    alice, bob, carol = u["alice"], u["bob"], u["carol"]
    await alice.create_team("acme")
    await alice.add_member("acme", "bob", "admin")
    await alice.add_member("acme", "carol", "writer")
    await bob.create_subteam("acme", "dev")            # alice: no member, an admin of acme
    await bob.create_subteam("acme.dev", "web")        # two levels below acme
    await bob.add_member("acme.dev", "carol", "reader")

    # alice's client never opened the subteams; list_teams finds them in acme's verified
    # subteam list (and acme.dev's), and loads and checks each
    assert {st.name for st in alice._team_states().values()} == {"acme"}
    teams = {t.name: t for t in await alice.list_teams()}
    assert set(teams) == {"acme", "acme.dev", "acme.dev.web"}
    assert not teams["acme"].implicit_admin and teams["acme"].role == "owner"
    for name in ("acme.dev", "acme.dev.web"):
        t = teams[name]
        assert t.implicit_admin and t.role == "admin"
        assert alice._team_states()[t.team_id].name == name          # loaded: played back and checked
    assert teams["acme.dev"].members == 2 and teams["acme.dev.web"].members == 1
    # bob is a member (admin) of both: listed as such, not as an implicit admin
    assert {(t.name, t.role, t.implicit_admin) for t in await bob.list_teams()} == {
        ("acme", "admin", False), ("acme.dev", "admin", False), ("acme.dev.web", "admin", False)}
    # carol (a writer of acme) administers nothing below it: only her own teams
    assert {(t.name, t.role, t.implicit_admin) for t in await carol.list_teams()} == {
        ("acme", "writer", False), ("acme.dev", "reader", False)}

    # as an implicit admin alice can act there: deny a request to acme.dev.web
    await carol.join_team("acme.dev.web")
    assert [r.username for r in await alice.join_requests("acme.dev.web")] == ["carol"]
    denied = await alice.deny_join("acme.dev.web", "carol")
    assert denied.username == "carol" and denied.team == "acme.dev.web"
    assert await alice.join_requests("acme.dev.web") == []
    with pytest.raises(errors.ReadNotAllowed):     # a member of acme.dev, no admin: reads no requests below
        await carol.join_requests("acme.dev.web")


async def test_deny_join_request(server, tmp_path, apps):
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob", "carol"))
    alice, bob, carol = u["alice"], u["bob"], u["carol"]
    v = await alice.create_team("gated")
    await alice.add_member("gated", "bob", "writer")
    await carol.join_team("gated")
    assert [r.username for r in await alice.join_requests("gated")] == ["carol"]
    with pytest.raises(errors.ReadNotAllowed):     # the requester reads nothing of a team she is not in
        await carol.join_requests("gated")
    old = (await pending(server.url, v.team_id, alice))[0]["request"]

    # a writer may not deny: the client says so, and the server refuses bob's own signed denial
    with pytest.raises(errors.Conflict):
        await bob.deny_join("gated", "carol")
    bob_uv = UserVersion(bob.store.get("uid"), 1)
    forged = sign_join_denial(await device_key(bob), team_id=v.team_id, admin=bob_uv, request=old, ctime=1)
    r = deny_raw(server.url, v.team_id, forged)
    assert r.status_code == 400 and r.json()["error"]["code"] == "TEAM_PERMISSION_DENIED"
    # bob claiming to be alice (his key is no key of hers): refused as well
    as_alice = sign_join_denial(await device_key(bob), team_id=v.team_id, admin=UserVersion(alice.store.get("uid"), 1),
                                request=old, ctime=1)
    r = deny_raw(server.url, v.team_id, as_alice)
    assert r.status_code == 400 and r.json()["error"]["code"] == "BAD_TEAM_INVITE"
    assert [p["username"] for p in (await pending(server.url, v.team_id, alice))] == ["carol"]

    # unknown requester / malformed usernames are typed errors
    with pytest.raises(errors.NotFound):
        await alice.deny_join("gated", "bob")
    with pytest.raises(errors.BadUsername):
        await alice.deny_join("gated", "Not A Name")

    # the owner denies: gone for everyone, nobody was added
    res = await alice.deny_join("gated", "carol")
    assert res.username == "carol" and res.uid == carol.store.get("uid")
    assert (await pending(server.url, v.team_id, alice)) == []
    assert await alice.join_requests("gated") == []
    gated, done = await alice.housekeeper.team("gated")          # no chore adds her either
    assert "carol" not in {m.username for m in gated.members} and done == []
    with pytest.raises(errors.NotFound):
        await alice.deny_join("gated", "carol")

    # carol asks again (a new request, later): the old denial, replayed, does not drop it
    alice_denial = sign_join_denial(await device_key(alice), team_id=v.team_id,
                                    admin=UserVersion(alice.store.get("uid"), 1), request=old, ctime=2)
    again = sign_join_request(await device_key(carol), team_id=v.team_id, uv=UserVersion(carol.store.get("uid"), 1),
                              ctime=old["ctime"] + 60)
    await carol.api.team_request_join(v.team_id, {"request": again})
    r = deny_raw(server.url, v.team_id, alice_denial)
    assert r.status_code == 400 and r.json()["error"]["code"] == "BAD_TEAM_INVITE"
    # a denial whose signature was tampered with: refused
    fresh = sign_join_denial(await device_key(alice), team_id=v.team_id, admin=UserVersion(alice.store.get("uid"), 1),
                             request=(await pending(server.url, v.team_id, alice))[0]["request"], ctime=3)
    r = deny_raw(server.url, v.team_id, {**fresh, "ctime": 4})
    assert r.status_code == 400 and r.json()["error"]["code"] == "BAD_TEAM_INVITE"
    assert [r.username for r in await alice.join_requests("gated")] == ["carol"]
    v = await alice.approve_join("gated", "carol")
    assert {m.username: m.role for m in v.members}["carol"] == "reader"


async def test_cancel_invite(server, tmp_path, apps):
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob", "carol", "dave"))
    alice, bob, carol, dave = u["alice"], u["bob"], u["carol"], u["dave"]
    await alice.create_team("crew")
    await alice.add_member("crew", "bob", "writer")
    tok = await alice.invite("crew", token=True, role="writer")
    tok2 = await alice.invite("crew", token=True, role="reader")
    v = await alice.list_members("crew")
    assert {i.id for i in v.invites} == {tok.invite_id, tok2.invite_id}
    assert tok.invite_id in render_team(v)                      # the text form shows ids to cancel by

    with pytest.raises(errors.Conflict):                      # a writer may not cancel
        await bob.cancel_invite("crew", tok.invite_id)
    with pytest.raises(errors.NotFound):
        await alice.cancel_invite("crew", "00" * 16)
    with pytest.raises(errors.NotFound):
        await alice.cancel_invite("crew", "")

    # dave accepts the first token, then alice cancels it before her client completes it
    await dave.accept_invite(tok.token)
    v = await alice.cancel_invite("crew", tok.invite_id[:8])   # a unique prefix will do
    assert [i.id for i in v.invites] == [tok2.invite_id]
    v, done = await alice.housekeeper.team("crew")            # the chores skip the cancelled invite
    assert "dave" not in {m.username for m in v.members} and done == []
    with pytest.raises(errors.NotFound):
        await carol.accept_invite(tok.token)
    # every member's client sees the cancel in the chain
    assert [i.id for i in (await bob.team("crew")).invites] == [tok2.invite_id]
    # the other token still works
    await carol.accept_invite(tok2.token)
    v, _done = await alice.housekeeper.team("crew")
    assert {m.username: m.role for m in v.members}["carol"] == "reader" and v.invites == []

    # an implicit team's invites are its name: not cancellable
    t = await alice.implicit_team("alice,zed@github")
    with pytest.raises(errors.Conflict):
        await alice.cancel_invite(t.team_id, t.invites[0].id)


def test_cli_deny_and_uninvite(server, tmp_path):
    a, b, c = tmp_path / "alice", tmp_path / "bob", tmp_path / "carol"
    for home, name in ((a, "alice"), (b, "bob"), (c, "carol")):
        cli(home, "signup", name, "--server", server.url)
    cli(a, "team", "create", "deck")
    cli(a, "team", "add-member", "deck", "bob", "--role", "admin")
    cli(b, "team", "subteam", "create", "deck", "sub")
    items = {t["name"]: t for t in cli(a, "team", "list").json}
    assert items["deck.sub"]["implicit_admin"] is True and items["deck.sub"]["role"] == "admin"
    assert items["deck"]["implicit_admin"] is False

    cli(c, "team", "join", "deck")
    assert [r["username"] for r in cli(a, "team", "requests", "deck").json] == ["carol"]
    r = cli(a, "team", "deny", "deck", "carol").json
    assert r["username"] == "carol" and r["team"] == "deck"
    assert cli(a, "team", "requests", "deck").json == []
    r = cli(a, "team", "deny", "deck", "carol", expect_rc=1)
    assert r.json["error"]["code"] == "NOT_FOUND"

    t1 = cli(a, "team", "invite", "deck", "--token").json
    t2 = cli(a, "team", "invite", "deck", "--token", "--role", "reader").json
    v = cli(a, "team", "list-members", "deck").json
    assert {(i["id"], i["type"], i["role"]) for i in v["invites"]} == {
        (t1["invite_id"], "seitan", "writer"), (t2["invite_id"], "seitan", "reader")}
    v = cli(a, "team", "uninvite", "deck", t1["invite_id"]).json
    assert [i["id"] for i in v["invites"]] == [t2["invite_id"]]
    v = cli(a, "team", "invite", "deck", "--cancel", t2["invite_id"]).json
    assert v["invites"] == []
    r = cli(c, "team", "accept", t2["token"], expect_rc=1)
    assert r.json["error"]["code"] == "NOT_FOUND"


async def test_two_tasks_getting_the_same_new_implicit_team_make_it_once(server, tmp_path, apps):
    """The Files page lists /private/alice,bob while a drop writes into it: both ask for the
    implicit team at once. The second waits for the first and finds its team, rather than
    posting a second root link that the server refuses ("team link seqno 1, expected 2")."""
    import asyncio

    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice = users["alice"]
    a, b = await asyncio.gather(alice.implicit_team("alice,bob"), alice.implicit_team("bob,alice"))
    assert a.team_id == b.team_id and a.name == b.name == "alice,bob"


async def test_two_members_making_the_same_implicit_team_at_once_both_get_it(server, tmp_path, apps):
    """alice's client and bob's both find no alice,bob team and both post its root link: the
    server takes one; the other client, refused, finds the team the first made instead of
    failing (a Files page drop on one side, a listing on the other)."""
    import asyncio

    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    a, b = await asyncio.gather(users["alice"].implicit_team("alice,bob"), users["bob"].implicit_team("alice,bob"))
    assert a.team_id == b.team_id and a.name == b.name == "alice,bob"
