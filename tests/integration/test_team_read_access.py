"""Team reads are not public: from the attacker's side, against a real server process.

`GET /v1/team/{id}` (and its boxes, subteams, join requests, acceptances) and
`GET /v1/teams/of/{uid}` would tell anyone who is in which team, and whom an
implicit team shows talking to whom. Each needs a short-lived read token signed
by a live device key of someone who may read it (kbapp/core/tokens.py,
kbapp/server/team_access.py). Refused, with typed codes and no 5xx: no token, a
stranger's token, a writer asking for what only admins read, an expired token, a
token for another server, one whose uid was swapped, one signed by a key that is
not the user's, and one from a revoked device. Public lookups stay public.
"""

from __future__ import annotations

import time

import httpx
import pytest

from kbapp.core import errors
from kbapp.core.encoding import b64decode, b64encode, canonical_json, loads_json
from kbapp.core.paperkey import paper_device_keys
from kbapp.core.tokens import MAX_LIFETIME, make_read_token
from kbapp.core.uid import uid_for

from e2e_support import signup_all

pytestmark = pytest.mark.timeout(300)


def get(url: str, path: str, header: str | None = None) -> httpx.Response:
    return httpx.get(url + path, headers={"Authorization": header} if header else None, timeout=10)


def code(r: httpx.Response) -> str:
    return r.json()["error"]["code"]


def token(key, uid: str, origin: str, *, ctime: int | None = None, lifetime: int = 300) -> str:
    return make_read_token(key, uid=uid, origin=origin, ctime=int(time.time()) if ctime is None else ctime,
                           lifetime=lifetime, nonce=b"\x01" * 16)[0]


async def test_team_reads_need_a_token_of_someone_who_may_read(server, tmp_path, apps):
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob", "mallory"))
    alice, bob, mallory = u["alice"], u["bob"], u["mallory"]
    v = await alice.create_team("readers")
    await alice.add_member("readers", "bob", "writer")
    imp = await alice.implicit_team("alice,bob")
    tid, itid = v.team_id, imp.team_id
    origin = alice.store.get("server_origin")
    members_read = [f"/v1/team/{tid}", f"/v1/team/{tid}/boxes?generation=1", f"/v1/team/{tid}/subteams",
                    f"/v1/team/{itid}", f"/v1/team/{itid}/boxes?generation=1"]
    admins_read = [f"/v1/team/{tid}/requests", f"/v1/team/{tid}/acceptances"]
    mine = f"/v1/teams/of/{uid_for('alice')}"
    a_tok = await alice.api.read_tokens.header()
    b_tok = await bob.api.read_tokens.header()
    m_tok = await mallory.api.read_tokens.header()

    for path in members_read + admins_read + [mine]:
        r = get(server.url, path)                                   # no token at all
        assert r.status_code == 401 and code(r) == "BAD_READ_TOKEN", path
        r = get(server.url, path, "Bearer abc")                     # not a read token
        assert r.status_code == 401 and code(r) == "BAD_READ_TOKEN", path
        r = get(server.url, path, m_tok)                            # a valid token of a stranger
        assert r.status_code == 403 and code(r) == "READ_NOT_ALLOWED", path
        assert get(server.url, path, a_tok).status_code == 200, path
    for path in members_read:
        assert get(server.url, path, b_tok).status_code == 200, path
    for path in admins_read + [mine]:                               # a writer reads no requests, nor alice's list
        r = get(server.url, path, b_tok)
        assert r.status_code == 403 and code(r) == "READ_NOT_ALLOWED", path
    r = get(server.url, f"/v1/team/{tid}/boxes?uid={uid_for('alice')}", b_tok)   # nor alice's boxes
    assert r.status_code == 403 and code(r) == "READ_NOT_ALLOWED"

    # forged tokens: the attacker has alice's uid and origin, and tokens of its own
    key = (await alice._device_keys()).sibkey
    now = int(time.time())
    expired = token(key, uid_for("alice"), origin, ctime=now - MAX_LIFETIME - 5, lifetime=MAX_LIFETIME)
    future = token(key, uid_for("alice"), origin, ctime=now + 3600)
    elsewhere = token(key, uid_for("alice"), "another.example/kbapp")
    body = loads_json(b64decode(b_tok.split(" ", 1)[1]))
    swapped = "KbappRead " + b64encode(canonical_json({**body, "uid": uid_for("alice")}))   # bob's, now "alice's"
    stretched = "KbappRead " + b64encode(canonical_json({**loads_json(b64decode(a_tok.split(" ", 1)[1])),
                                                         "expires": now + 10 ** 6}))
    not_hers = token((await mallory._device_keys()).sibkey, uid_for("alice"), origin)   # mallory's key, alice's uid
    for bad in (expired, future, elsewhere, swapped, stretched, not_hers):
        for path in (f"/v1/team/{tid}", mine):
            r = get(server.url, path, bad)
            assert r.status_code == 401 and code(r) == "BAD_READ_TOKEN", (path, r.text)

    # public lookups stay public
    assert get(server.url, f"/v1/lookup/team/{tid}").status_code == 200
    assert get(server.url, "/v1/teams/name/readers").json()["team_id"] == tid
    assert get(server.url, "/v1/checkpoint").status_code == 200

    # the client side: a stranger's load is refused with the typed error, members read as before
    with pytest.raises(errors.ReadNotAllowed):
        await mallory.team("readers")
    with pytest.raises(errors.ReadNotAllowed):
        await mallory.team_key("readers")
    assert {m.username for m in (await bob.team("readers")).members} == {"alice", "bob"}
    assert [t.name for t in await bob.list_teams()] == ["alice,bob", "readers"]


async def test_a_revoked_devices_token_is_refused(server, tmp_path, apps):
    u = await signup_all(apps, tmp_path, server.url, ("alice",))
    alice = u["alice"]
    v = await alice.create_team("revoked")
    origin = alice.store.get("server_origin")
    phrase = await alice.create_paperkey()
    await alice.paperkey_shown()
    paper = paper_device_keys(phrase)
    tok = token(paper.sibkey, uid_for("alice"), origin)
    assert get(server.url, f"/v1/team/{v.team_id}", tok).status_code == 200     # a live device: fine
    dev = next(d for d in await alice.devices() if d.type == "paper")
    await alice.revoke_device(dev.id)
    r = get(server.url, f"/v1/team/{v.team_id}", tok)                          # the same token, now revoked
    assert r.status_code == 401 and code(r) == "BAD_READ_TOKEN"
    assert "live device key" in r.json()["error"]["message"]
    assert (await alice.team("revoked")).team_id == v.team_id                  # her other device reads on
