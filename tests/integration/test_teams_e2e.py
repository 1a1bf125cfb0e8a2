"""Teams end to end: real server processes on 127.0.0.1 (SQLite, and PostgreSQL
when one is available), in-process `App` clients and the real CLI.

* a team of five with a subteam; a removal; the removed member provably cannot
  open the new key generation (its own PUK against every new box fails), while
  the others still read the old one;
* open team join, closed team join request + approve, token invite + accept;
* a leave and a member's device revocation: an admin's housekeeper rotates;
* the implicit team alice,carol@github upgraded once carol proves github
  (against the GitHub imitation);
* `kbapp team ... --json` round trip and typed errors as exit codes.
"""

from __future__ import annotations


import httpx
import nacl.exceptions
import nacl.secret
import pytest

from kbapp.core import errors
from kbapp.core.encoding import b64decode, loads_json, unpack
from kbapp.core.teams import open_seed_box
from kbapp.core.uid import uid_for
from kbapp.client.events import TeamChanged, TeamKeyRotated

from e2e_support import cli, signup_all
from fake_services import FakeGitHub, FakeWebsite
from test_proofs_services import config_for

pytestmark = pytest.mark.timeout(300)


def roles(view) -> dict:
    return {m.username: m.role for m in view.members if not m.implicit_admin}


async def auth(app) -> dict:
    """The app's read token (team reads are not public: kbapp/core/tokens.py)."""
    return {"Authorization": await app.api.read_tokens.header()}


async def boxes_of_generation(url: str, team_id: str, gen: int, reader) -> list:
    r = httpx.get(f"{url}/v1/team/{team_id}/boxes", params={"generation": gen}, timeout=10,
                  headers=await auth(reader))
    r.raise_for_status()
    return r.json()["boxes"]


async def test_team_of_five_with_subteam_and_removal(db_url, server_factory, tmp_path, apps):
    srv = server_factory(db=db_url)
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob", "carol", "dave", "eve"))
    alice, bob, carol, dave, eve = (u[n] for n in ("alice", "bob", "carol", "dave", "eve"))

    v = await alice.create_team("acme")
    assert v.name == "acme" and v.generation == 1 and roles(v) == {"alice": "owner"}
    for name, role in (("bob", "admin"), ("carol", "writer"), ("dave", "reader"), ("eve", "writer")):
        v = await alice.add_member("acme", name, role)
    assert roles(v) == {"alice": "owner", "bob": "admin", "carol": "writer", "dave": "reader", "eve": "writer"}

    # bob (admin) makes a subteam; alice is its implicit admin (an admin of the parent)
    s = await bob.create_subteam("acme", "dev")
    assert s.name == "acme.dev" and s.parent_id == v.team_id
    s = await bob.add_member("acme.dev", "carol", "writer")
    s = await bob.add_member("acme.dev", "eve", "reader")
    assert roles(s) == {"bob": "admin", "carol": "writer", "eve": "reader"}
    assert [m.username for m in s.members if m.implicit_admin] == ["alice"]
    assert "acme.dev" in (await dave.list_members("acme")).subteams

    # everyone verifies the whole chain and sees the same members, each identity verified
    v = await alice.team("acme")        # the chain grew: new_subteam
    assert v.seqno == 6
    for app in (bob, carol, dave, eve):
        seen = await app.list_members("acme")
        assert roles(seen) == roles(v) and seen.tail_link_id == v.tail_link_id
        assert {m.badge for m in seen.members} == {"verified"}
    # the implicit admin holds the subteam's key, like its members
    assert (await alice.team_key("acme.dev")).key == (await carol.team_key("acme.dev")).key

    old = {n: (await u[n].team_key("acme", app="chat")).key for n in ("alice", "carol", "eve")}
    assert len(set(old.values())) == 1
    eve_kbfs = (await eve.team_key("acme", app="kbfs")).key
    assert eve_kbfs != old["eve"]            # one key per application

    events = dave.events.subscribe()
    v = await alice.remove_member("acme", "eve")
    assert v.generation == 2 and "eve" not in roles(v)

    # remaining members read generation 2 (all the same key) and still generation 1
    new = {n: (await u[n].team_key("acme")).key for n in ("alice", "bob", "carol", "dave")}
    assert len(set(new.values())) == 1 and new["carol"] != old["carol"]
    assert (await carol.team_key("acme", generation=1)).key == old["eve"]
    got = []
    while not events.empty():
        got.append(events.get_nowait())
    assert any(isinstance(e, TeamChanged) and e.team == "acme" for e in got)

    # eve: a former member reads no key box of the team any more...
    with pytest.raises(errors.ReadNotAllowed):
        await eve.team_key("acme", generation=2)
    eve_view = await eve.team("acme")      # (still in acme.dev, she reads acme's chain: it vouches for acme.dev's)
    assert eve_view.my_role == "none" and eve_view.generation == 2
    # ...and her own PUK opens none of the new boxes (had she got them some other way)
    st = alice._team_states()[v.team_id]
    info = st.ptks[2]
    eve_puk = await eve._puk(1)
    boxes = await boxes_of_generation(srv.url, v.team_id, 2, alice)
    assert {b["uid"] for b in boxes} == {uid_for(n) for n in ("alice", "bob", "carol", "dave")}
    for b in boxes:
        wire = loads_json(b64decode(b["box"]))
        with pytest.raises(errors.BadTeamKey):
            open_seed_box(wire, eve_puk.encryption, signing_kid=info.signing_kid,
                          encryption_kid=info.encryption_kid, generation=2)
    # the generation-1 key she held does not open generation 2's prev box either (the
    # chain of prevs only leads down, from a newer key to older ones)
    gen1 = eve._team_key_cache[(v.team_id, 1)][1]          # what she held as a member
    assert gen1.application_key("chat") == old["eve"]
    prev = httpx.get(f"{srv.url}/v1/team/{v.team_id}/boxes", params={"uid": uid_for("alice")}, timeout=10,
                     headers=await auth(alice)).json()["prev"]
    _, nonce, ctext = unpack(b64decode(prev[0]["box"]))
    with pytest.raises(nacl.exceptions.CryptoError):
        nacl.secret.SecretBox(gen1.secretbox_key).decrypt(ctext, nonce)

    # the subteam is unaffected: eve is still a reader there, with its key
    assert (await eve.team_key("acme.dev")).generation == 1
    teams = {t.name: t for t in await carol.list_teams()}
    assert set(teams) == {"acme", "acme.dev"} and teams["acme"].generation == 2
    assert {t.name for t in await eve.list_teams()} == {"acme.dev"}


async def test_open_team_join_closed_request_and_token_invite(db_url, server_factory, tmp_path, apps):
    server = server_factory(db=db_url)
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob", "carol", "dave"))
    alice, bob, carol, dave = (u[n] for n in ("alice", "bob", "carol", "dave"))

    # open team: bob asks; alice's next load adds him with the default role
    await alice.create_team("opensrc")
    v = await alice.team_settings("opensrc", open=True, default_role="writer")
    assert v.open and v.default_role == "writer"
    joined = await bob.join_team("opensrc")
    assert joined.my_role == "none"
    assert roles(await alice.team("opensrc")) == {"alice": "owner"}     # a read adds no one
    v, done = await alice.housekeeper.team("opensrc")
    assert roles(v) == {"alice": "owner", "bob": "writer"} and done == ["added bob"]
    assert (await bob.team_key("opensrc")).key == (await alice.team_key("opensrc")).key

    # closed team: the request waits for an admin's approval
    await alice.create_team("closedcl")
    await carol.join_team("closedcl")
    v = await alice.team("closedcl")
    assert roles(v) == {"alice": "owner"}
    reqs = await alice.join_requests("closedcl")
    assert [r.username for r in reqs] == ["carol"]
    v = await alice.approve_join("closedcl", "carol", "reader")
    assert roles(v)["carol"] == "reader"
    assert await alice.join_requests("closedcl") == []
    with pytest.raises(errors.NotFound):
        await alice.approve_join("closedcl", "dave")

    # token invite: the server sees the public key and the acceptance, never the token
    tok = await alice.invite("closedcl", token=True, role="writer")
    assert tok.token.startswith("closedcl:")
    secret = tok.token.split(":", 1)[1]
    chain = httpx.get(f"{server.url}/v1/team/{v.team_id}", timeout=10, headers=await auth(alice)).text
    assert secret not in chain
    accepted = await dave.accept_invite(tok.token)
    assert accepted.role == "writer" and accepted.type == "seitan"
    v, _done = await alice.housekeeper.team("closedcl")
    assert roles(v)["dave"] == "writer" and v.invites == []
    assert (await dave.team_key("closedcl")).key == (await alice.team_key("closedcl")).key
    # single use: a second accept finds no open invite
    with pytest.raises(errors.NotFound):
        await bob.accept_invite(tok.token)


async def test_leave_and_device_revocation_rotate_on_admin_load(server, tmp_path, apps):
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob", "carol", "dave"))
    alice, bob, carol, dave = u["alice"], u["bob"], u["carol"], u["dave"]
    await alice.create_team("rotors")
    await alice.add_member("rotors", "bob", "writer")
    await alice.add_member("rotors", "carol", "writer")

    await bob.leave_team("rotors")
    events = alice.events.subscribe()
    v, _done = await alice.housekeeper.team("rotors")
    assert v.rotated and v.generation == 2 and "bob" not in roles(v)
    assert any(isinstance(e, TeamKeyRotated) and "left" in e.reason for e in _drain(events))
    with pytest.raises(errors.ReadNotAllowed):          # gone: he reads the team no more
        await bob.team_key("rotors", generation=2)

    # carol revokes a device: her PUK moves to generation 2, so the team key rotates
    await carol.create_paperkey()
    paper = next(d for d in await carol.devices() if d.type == "paper")
    await carol.revoke_device(paper.id)
    v, _done = await alice.housekeeper.team("rotors")
    assert v.rotated and v.generation == 3
    boxes = await boxes_of_generation(server.url, v.team_id, 3, alice)
    assert {b["uid"]: b["puk_generation"] for b in boxes}[uid_for("carol")] == 2
    assert (await carol.team_key("rotors")).key == (await alice.team_key("rotors")).key
    # nothing changed since: no further rotation
    v, done = await alice.housekeeper.team("rotors")
    assert not v.rotated and done == []

    # a leave, then at once another change: the client rotates first (the chain demands it)
    await carol.leave_team("rotors")
    v = await alice.add_member("rotors", "dave", "reader")
    assert v.generation == 4 and roles(v) == {"alice": "owner", "dave": "reader"}
    assert (await dave.team_key("rotors")).generation == 4
    with pytest.raises(errors.ReadNotAllowed):
        await carol.team_key("rotors", generation=4)


def _drain(q) -> list:
    out = []
    while not q.empty():
        out.append(q.get_nowait())
    return out


class _NoDns:
    port = 9


async def test_implicit_team_upgraded_after_proof(server, tmp_path, apps):
    gh, web = FakeGitHub(), FakeWebsite()
    cfg = config_for({"web": web, "github": gh, "dns": _NoDns(), "mastodon": web, "profiles": web})
    try:
        u = await signup_all(apps, tmp_path, server.url, ("alice", "bob", "carol"))
        for app in u.values():
            app.proof_config = cfg
        alice, bob, carol = u["alice"], u["bob"], u["carol"]

        t = await alice.implicit_team("alice,carol@github")
        assert t.implicit and t.name == "alice,carol@github"
        assert roles(t) == {"alice": "owner"}
        assert [(i.type, i.name, i.role) for i in t.invites] == [("github", "carol", "owner")]
        # get, not create, the second time
        assert (await alice.implicit_team("carol@github,alice")).team_id == t.team_id

        # a named team invites the same assertion (needs the service to exist)
        await alice.create_team("ghfans")
        inv = await alice.invite("ghfans", "carol@github", role="reader")
        assert [(i.type, i.name, i.role) for i in inv.invites] == [("github", "carol", "reader")]
        with pytest.raises(errors.NotFound):
            await alice.invite("ghfans", "carol@nosuchservice")
        fans, done = await alice.housekeeper.team("ghfans")
        assert roles(fans) == {"alice": "owner"} and done == []    # not proven yet: nothing to do

        req = await carol.start_proof("github", "carol")
        gh.set_gist("carol", req.text)
        await carol.finish_proof(req)
        fans, _done = await alice.housekeeper.team("ghfans")
        assert roles(fans) == {"alice": "owner", "carol": "reader"} and fans.invites == []

        up = await alice.implicit_team("alice,carol@github")
        assert up.team_id == t.team_id and up.name == "alice,carol" and up.invites == []
        assert roles(up) == {"alice": "owner", "carol": "owner"}
        mine = await carol.implicit_team("alice,carol")
        assert mine.team_id == t.team_id
        assert (await carol.team_key(t.team_id)).key == (await alice.team_key(t.team_id)).key

        r = await bob.implicit_team("alice,bob#carol")
        assert roles(r) == {"alice": "owner", "bob": "owner", "carol": "reader"}
        assert (await carol.team_key("alice,bob#carol", app="kbfs")).key == \
            (await alice.team_key("alice,bob#carol", app="kbfs")).key
        with pytest.raises(errors.Conflict):     # a reader cannot create it
            await carol.implicit_team("alice,dave_x#carol")

        # two assertions resolved one after the other; the second resolution's name is
        # already the team bob made above: that one keeps it, this one its own name
        two = await alice.implicit_team("alice,bob@github#carol")
        assert two.team_id != r.team_id and [i.name for i in two.invites] == ["bob"]
        breq = await bob.start_proof("github", "bob")
        gh.set_gist("bob", breq.text)
        await bob.finish_proof(breq)
        up2, _done = await alice.housekeeper.team("alice,bob@github#carol")
        assert up2.team_id == two.team_id and roles(up2) == {"alice": "owner", "bob": "owner", "carol": "reader"}
        assert (await bob.implicit_team("alice,bob#carol")).team_id == r.team_id

        # list_members shows each member's identity check: carol's proof is gone -> broken
        badges = {m.username: m.badge for m in (await alice.list_members("ghfans")).members}
        assert badges == {"alice": "verified", "carol": "verified"}
        gh.gists.pop("carol", None)
        members = {m.username: m for m in (await alice.list_members("ghfans")).members}
        assert members["carol"].badge == "broken" and "carol@github" in members["carol"].reason
        assert members["alice"].badge == "verified"
    finally:
        gh.stop()
        web.stop()


def test_cli_json_round_trip(server, tmp_path):
    a, b = tmp_path / "alice", tmp_path / "bob"
    cli(a, "signup", "alice", "--server", server.url)
    cli(b, "signup", "bob", "--server", server.url)
    v = cli(a, "team", "create", "clique").json
    assert v["name"] == "clique" and v["my_role"] == "owner" and v["generation"] == 1
    v = cli(a, "team", "add-member", "clique", "bob", "--role", "reader").json
    assert {m["username"]: m["role"] for m in v["members"]} == {"alice": "owner", "bob": "reader"}
    v = cli(a, "team", "edit-member", "clique", "bob", "--role", "writer").json
    assert {m["username"]: m["role"] for m in v["members"]}["bob"] == "writer"
    v = cli(b, "team", "list-members", "clique", "--json").json
    assert {(m["username"], m["badge"]) for m in v["members"]} == {("alice", "verified"), ("bob", "verified")}
    items = cli(b, "team", "list").json
    assert [(t["name"], t["role"]) for t in items] == [("clique", "writer")]
    sub = cli(a, "team", "subteam", "create", "clique", "inner").json
    assert sub["name"] == "clique.inner"
    v = cli(a, "team", "settings", "clique", "--open", "--default-role", "writer").json
    assert v["open"] is True and v["default_role"] == "writer"
    k1 = cli(b, "team", "key", "clique").json
    v = cli(a, "team", "rotate", "clique").json
    assert v["generation"] == 2
    k2 = cli(b, "team", "key", "clique").json
    assert k2["generation"] == 2 and k2["fingerprint"] != k1["fingerprint"]
    tok = cli(a, "team", "invite", "clique", "--token", "--role", "reader").json
    assert tok["token"].startswith("clique:")
    v = cli(a, "team", "remove-member", "clique", "bob").json
    assert v["generation"] == 3 and [m["username"] for m in v["members"]] == ["alice"]
    # typed errors -> exit codes: usage (1) and verification-free NOT_FOUND
    r = cli(a, "team", "remove-member", "clique", "bob", expect_rc=1)
    assert r.json["error"]["code"] == "NOT_FOUND"
    r = cli(a, "team", "create", "No Spaces Allowed", expect_rc=1)   # a usage error, not exit 3
    assert r.json["error"]["code"] == "INVALID_TEAM_NAME" and r.json["error"]["verification"] is False
    r = cli(b, "team", "accept", tok["token"]).json
    assert r["role"] == "reader"
    v = cli(a, "team", "list-members", "clique", "--chores").json
    assert {m["username"]: m["role"] for m in v["members"]} == {"alice": "owner", "bob": "reader"}
    # open team: carol asks, alice's next load adds her as a writer
    c = tmp_path / "carol"
    cli(c, "signup", "carol", "--server", server.url)
    assert cli(c, "team", "join", "clique").json == {"team": "clique", "requested": True, "open": True}
    v = cli(a, "team", "list-members", "clique").json
    assert "carol" not in {m["username"] for m in v["members"]}       # a read: nothing done yet
    v = cli(a, "team", "list-members", "clique", "--chores").json
    assert {m["username"]: m["role"] for m in v["members"]}["carol"] == "writer"
    # an ad-hoc team, found again by its other spelling
    t = cli(b, "team", "implicit", "bob,alice#carol").json
    assert t["implicit"] is True and t["name"] == "alice,bob#carol"
    assert cli(a, "team", "implicit", "alice,bob#carol").json["team_id"] == t["team_id"]
