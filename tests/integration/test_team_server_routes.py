"""The server's team routes against a real server process: what it checks cheaply
(signatures by registered keys, team links of this team, seqno and prev, sizes),
the Merkle map entry under the team id, and its refusals as typed errors."""

from __future__ import annotations

import contextlib
import os
import time

import httpx
import pytest

from kbapp.core.encoding import b64decode, b64encode
from kbapp.core.keys import SigningKeyPair
from kbapp.core.merkle.note import verify_checkpoint
from kbapp.core.sigchain import link_id, link_id_hex
from kbapp.core.teams import (ChainPos, Role, TeamKey, TeamSigner, UserVersion, build_change_membership,
                              build_root, implicit_team_id, root_team_id, sign_join_request)
from kbapp.core.transparency import map_key, verify_lookup
from kbapp.core.uid import uid_for

from e2e_support import open_app

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def alice(server, tmp_path):
    app = await open_app(tmp_path / "alice")
    await app.signup("alice", server_url=server.url)
    yield app
    with contextlib.suppress(Exception):
        await app.close()


async def signer_of(app) -> TeamSigner:
    user = await app.identifier.identify("alice")
    return TeamSigner(user.uid, "alice", user.state.eldest_kid, (await app._device_keys()).sibkey)


def post(url: str, team_id: str, body: dict) -> httpx.Response:
    return httpx.post(f"{url}/v1/team/{team_id}/links", json=body, timeout=10)


def code(r: httpx.Response) -> str:
    return r.json()["error"]["code"]


async def auth(app) -> dict:
    """The app's read token, as the header team reads need (kbapp/core/tokens.py)."""
    return {"Authorization": await app.api.read_tokens.header()}


def get(url: str, path: str, headers: dict | None = None, **params) -> httpx.Response:
    return httpx.get(url + path, params=params or None, headers=headers, timeout=10)


def root(signer, name="routes", key=None) -> dict:
    key = key or TeamKey.derive(os.urandom(32), 1)
    return build_root(signer, name=name, members={UserVersion(signer.uid, 1): Role.OWNER}, ptk=key,
                      ctime=int(time.time()))


def change(signer, prev_link: dict, seqno: int, team_id: str, **kw) -> dict:
    return build_change_membership(signer, ChainPos(team_id, seqno, link_id(prev_link)),
                                   changes={UserVersion(uid_for("bob_x"), 1): Role.READER}, ctime=int(time.time()),
                                   **kw)


async def test_team_links_land_in_the_merkle_map(server, alice):
    s = await signer_of(alice)
    tid = root_team_id("routes")
    first = root(s)
    r = post(server.url, tid, {"links": [first]})
    assert r.status_code == 200 and r.json()["seqno"] == 1
    second = change(s, first, 2, tid)
    assert post(server.url, tid, {"links": [second]}).json()["seqno"] == 2
    info = httpx.get(f"{server.url}/v1/server", timeout=10).json()
    bundle = httpx.get(f"{server.url}/v1/lookup/team/{tid}", timeout=10).json()
    cp = verify_checkpoint(bundle["checkpoint"], info["key_name"], b64decode(info["public_key"]))
    tail, _ = verify_lookup(bundle, cp, map_key("team", tid))
    assert tail.seqno == 2 and tail.link_id == link_id_hex(second)
    h = await auth(alice)
    chain = get(server.url, f"/v1/team/{tid}", h).json()
    assert chain["name"] == "routes" and [link_id_hex(w) for w in chain["links"]] == [link_id_hex(first),
                                                                                     link_id_hex(second)]
    assert httpx.get(f"{server.url}/v1/teams/name/routes", timeout=10).json()["team_id"] == tid
    hint = get(server.url, f"/v1/teams/of/{uid_for('alice')}", h).json()["teams"]
    assert [(t["name"], t["role"]) for t in hint] == [("routes", "owner")]


async def test_refusals(server, alice):
    s = await signer_of(alice)
    tid = root_team_id("routes")
    first = root(s)
    assert post(server.url, tid, {"links": [first]}).status_code == 200

    # continuity: seqno and prev
    assert code(post(server.url, tid, {"links": [first]})) == "WRONG_SEQNO"
    other = root(s, "elsewhere")
    assert code(post(server.url, tid, {"links": [change(s, other, 2, tid)]})) == "WRONG_PREV"
    # a link of another team, posted here
    assert code(post(server.url, tid, {"links": [change(s, first, 2, root_team_id("elsewhere"))]})) \
        == "MISMATCHED_FIELD"
    # signed by a key no user registered (claiming to be alice)
    rando = TeamSigner(s.uid, s.username, s.eldest_kid, SigningKeyPair.from_seed(os.urandom(32)))
    assert code(post(server.url, tid, {"links": [change(rando, first, 2, tid)]})) == "BAD_CHAIN_LINK"
    # a team chain starts with its root; a non-team link is no team link
    assert code(post(server.url, root_team_id("fresh"), {"links": [change(s, first, 2, root_team_id("fresh"))]})) \
        in ("WRONG_SEQNO", "WRONG_PREV")
    user_link = httpx.get(f"{server.url}/v1/chain/{uid_for('alice')}", timeout=10).json()["links"][0]
    assert code(post(server.url, tid, {"links": [user_link]})) == "BAD_CHAIN_LINK"
    # stubs, sizes, shapes
    assert code(post(server.url, tid, {"links": [{"s2": "AAAA"}]})) == "BAD_ENCODING"
    r = post(server.url, tid, {"links": [first] * 17})
    assert r.status_code == 400 and code(r) == "BAD_ENCODING"
    box = {"generation": 1, "uid": uid_for("alice"), "puk_generation": 1, "box": b64encode(b"x" * 8)}
    assert code(post(server.url, tid, {"links": [], "ptk_boxes": [box] * 1001})) == "BAD_ENCODING"
    r = httpx.post(f"{server.url}/v1/team/{tid}/links", content=b"{" + b" " * (2 << 20) + b"}",
                   headers={"content-type": "application/json"}, timeout=10)
    assert r.status_code == 413
    assert code(post(server.url, "not-a-team", {"links": [first]})) == "BAD_ENCODING"
    h = await auth(alice)
    r = get(server.url, f"/v1/team/{tid}/boxes", h)
    assert r.status_code == 400
    assert get(server.url, f"/v1/team/{root_team_id('nosuch')}", h).status_code == 404
    # other names are for implicit teams only, and never a name another team holds
    second = change(s, first, 2, tid)
    r = post(server.url, tid, {"links": [second], "implicit_names": ["alice,bob"]})
    assert r.status_code == 400 and code(r) == "BAD_ENCODING"
    solo = build_root(s, name="alice", members={UserVersion(s.uid, 1): Role.OWNER}, implicit=True,
                      ptk=TeamKey.derive(os.urandom(32), 1), ctime=int(time.time()))
    r = post(server.url, implicit_team_id("alice"), {"links": [solo], "implicit_names": ["routes"]})
    assert r.status_code == 400 and code(r) == "BAD_TEAM_MEMBERSHIP"      # and "routes" is another team's
    # a refused post changed nothing: one link here, no implicit team
    assert len(get(server.url, f"/v1/team/{tid}", h).json()["links"]) == 1
    assert get(server.url, f"/v1/team/{implicit_team_id('alice')}", h).status_code == 404
    # another name must name exactly who is in the team: alice alone is not alice,carol@github
    r = post(server.url, implicit_team_id("alice"), {"links": [solo], "implicit_names": ["alice,carol@github"]})
    assert r.status_code == 400 and code(r) == "BAD_TEAM_MEMBERSHIP"
    assert get(server.url, "/v1/teams/name/alice%2Ccarol%40github").status_code == 404
    r = post(server.url, implicit_team_id("alice"), {"links": [solo]})
    assert r.status_code == 200
    assert get(server.url, "/v1/teams/name/alice").json()["implicit"] is True


async def test_join_requests_must_be_signed_by_the_requester(server, alice, tmp_path):
    s = await signer_of(alice)
    tid = root_team_id("routes")
    assert post(server.url, tid, {"links": [root(s)]}).status_code == 200
    bob = await open_app(tmp_path / "bob")
    try:
        await bob.signup("bob", server_url=server.url)
        bob_key = (await bob._device_keys()).sibkey
        me = UserVersion(uid_for("bob"), 1)
        good = sign_join_request(bob_key, team_id=tid, uv=me, ctime=int(time.time()))
        # bob's key, but a request in alice's name; a key nobody registered
        as_alice = sign_join_request(bob_key, team_id=tid, uv=UserVersion(uid_for("alice"), 1), ctime=1)
        rando = sign_join_request(SigningKeyPair.from_seed(os.urandom(32)), team_id=tid, uv=me, ctime=1)
        tampered = {**good, "ctime": good["ctime"] + 1}
        for bad in (as_alice, rando, tampered):
            r = httpx.post(f"{server.url}/v1/team/{tid}/requests", json={"request": bad}, timeout=10)
            assert r.status_code == 400 and code(r) == "VERIFY_FAILED", r.text
        r = httpx.post(f"{server.url}/v1/team/{tid}/requests", json={"request": good}, timeout=10)
        assert r.status_code == 200
        reqs = get(server.url, f"/v1/team/{tid}/requests", await auth(alice)).json()["requests"]
        assert [q["username"] for q in reqs] == ["bob"] and reqs[0]["request"] == good
    finally:
        await bob.close()


async def test_server_plays_the_chain_back_like_a_client(server, alice, tmp_path):
    """A registered user who is not an admin cannot grief a team through the server:
    it runs the same loader and refuses the link (and boxes not for the team)."""
    s = await signer_of(alice)
    tid = root_team_id("routes")
    first = root(s)
    assert post(server.url, tid, {"links": [first]}).status_code == 200
    mallory = await open_app(tmp_path / "mallory")
    try:
        await mallory.signup("mallory", server_url=server.url)
        user = await mallory.identifier.identify("mallory")
        m = TeamSigner(user.uid, "mallory", user.state.eldest_kid, (await mallory._device_keys()).sibkey)
        grab = build_change_membership(m, ChainPos(tid, 2, link_id(first)),
                                       changes={UserVersion(m.uid, 1): Role.ADMIN}, ctime=int(time.time()))
        r = post(server.url, tid, {"links": [grab]})
        assert r.status_code == 400 and code(r) == "TEAM_PERMISSION_DENIED"
        # boxes come only with a link, only for members, only for the newest generation
        mbox = {"generation": 1, "uid": m.uid, "puk_generation": 1, "box": b64encode(b"x" * 40)}
        r = post(server.url, tid, {"links": [], "ptk_boxes": [mbox]})
        assert r.status_code == 400 and code(r) == "BAD_ENCODING"
        add_bob = change(s, first, 2, tid)
        r = post(server.url, tid, {"links": [add_bob], "ptk_boxes": [mbox]})
        assert r.status_code == 400 and code(r) == "BAD_TEAM_KEY"
        assert len(get(server.url, f"/v1/team/{tid}", await auth(alice)).json()["links"]) == 1
    finally:
        await mallory.close()
