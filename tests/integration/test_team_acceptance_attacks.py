"""Token-invite acceptances and implicit team names, from the attacker's side (a real
server process, raw HTTP next to in-process clients):

* an acceptance is stored only for an open token invite of the team, with the token's
  signature and one by a live device key of the user it names: mallory cannot overwrite
  dave's, and 500 junk acceptances (for made-up invites, in others' names, replays of
  her own) neither land nor crowd dave's out: alice's client completes his join;
* a stranger's post naming `alice,bob` for a team of their own is refused (4xx); and
  if the name table says so anyway (a lying server, or a squat from before), alice's
  `implicit_team("alice,bob")` still makes and reaches the real team, and bob finds it.
"""

from __future__ import annotations

import os
import time

import httpx
import pytest
from sqlalchemy import create_engine, insert

from kbapp.core.teams import (Role, TeamKey, TeamSigner, UserVersion, build_root, implicit_team_id,
                              seitan_key, sign_acceptance)
from kbapp.core.teams.invites import sign_acceptance_device
from kbapp.core.uid import uid_for
from kbapp.client.events import VerificationFailed

from e2e_support import signup_all

pytestmark = pytest.mark.timeout(300)


def code(r: httpx.Response) -> str:
    return r.json()["error"]["code"]


def accept_raw(url: str, team_id: str, invite_id: str, body: dict) -> httpx.Response:
    return httpx.post(f"{url}/v1/team/{team_id}/invites/{invite_id}/accept", json=body, timeout=10)


async def stored(url: str, team_id: str, admin) -> list:
    r = httpx.get(f"{url}/v1/team/{team_id}/acceptances", timeout=10,
                  headers={"Authorization": await admin.api.read_tokens.header()})
    r.raise_for_status()
    return r.json()["acceptances"]


async def test_acceptances_cannot_be_overwritten_or_crowded_out(server, tmp_path, apps):
    u = await signup_all(apps, tmp_path, server.url, ("alice", "dave", "mallory"))
    alice, dave, mallory = u["alice"], u["dave"], u["mallory"]
    v = await alice.create_team("inviters")
    tok = await alice.invite("inviters", token=True, role="writer")
    secret = tok.token.split(":", 1)[1]
    mine = await alice.invite("inviters", token=True, role="reader")      # mallory's own invite
    m_secret = mine.token.split(":", 1)[1]
    tid, iid = v.team_id, seitan_key(secret).invite_id
    dave_uv, m_uv = UserVersion(uid_for("dave"), 1), UserVersion(uid_for("mallory"), 1)
    m_key = (await mallory._device_keys()).sibkey
    now = int(time.time())

    # dave accepts (his device signs too): stored
    await dave.accept_invite(tok.token)
    assert [(a["uid"], a["invite_id"]) for a in await stored(server.url, tid, alice)] == [(dave_uv.uid, iid)]
    real = (await stored(server.url, tid, alice))[0]

    # mallory, who learnt the token, tries to replace dave's acceptance with one of her making
    # (a ctime other than dave's: the token signature is deterministic, and an acceptance equal
    # to his own would rightly take his old device signature)
    forged = sign_acceptance(secret, team_id=tid, uv=dave_uv, ctime=real["acceptance"]["ctime"] + 1)
    for device in (sign_acceptance_device(m_key, team_id=tid, acceptance=forged),            # her key, his name
                   {**real["device"]},                                                       # his old signature
                   {"ctime": now + 1, "kid": real["device"]["kid"], "sig": "A" * 88, "team_id": tid}):
        r = accept_raw(server.url, tid, iid, {"uid": dave_uv.uid, "acceptance": forged, "device": device})
        assert r.status_code == 403 and code(r) == "ACCEPTANCE_NOT_ALLOWED", r.text
    # ...or to post it without any device signature, or posting as herself
    r = accept_raw(server.url, tid, iid, {"uid": dave_uv.uid, "acceptance": forged})
    assert r.status_code == 400 and code(r) == "BAD_ENCODING"
    r = accept_raw(server.url, tid, iid, {"uid": m_uv.uid, "acceptance": forged,
                                          "device": sign_acceptance_device(m_key, team_id=tid, acceptance=forged)})
    assert r.status_code == 403 and code(r) == "ACCEPTANCE_NOT_ALLOWED"
    assert await stored(server.url, tid, alice) == [real]

    # 500 junk acceptances (each for a made-up invite of the team: the old per-team cap of 500
    # held them all, and dave's next one got 429), then users who do not exist, then many of her
    # own for her own invite (one per user and invite: each replaces the last)
    m_iid = seitan_key(m_secret).invite_id
    for i in range(500):
        acc = sign_acceptance(m_secret, team_id=tid, uv=m_uv, ctime=now + i)
        r = accept_raw(server.url, tid, os.urandom(16).hex(), {
            "uid": m_uv.uid, "acceptance": acc, "device": sign_acceptance_device(m_key, team_id=tid, acceptance=acc)})
        assert r.status_code == 404 and code(r) == "NOT_FOUND", r.text
    for i in range(20):
        uv = UserVersion(os.urandom(16).hex(), 1)
        junk = sign_acceptance(secret, team_id=tid, uv=uv, ctime=now + i)
        r = accept_raw(server.url, tid, iid, {"uid": uv.uid, "acceptance": junk,
                                              "device": sign_acceptance_device(m_key, team_id=tid, acceptance=junk)})
        assert r.status_code == 403 and code(r) == "ACCEPTANCE_NOT_ALLOWED", r.text
    for i in range(30):
        acc = sign_acceptance(m_secret, team_id=tid, uv=m_uv, ctime=now + i)
        r = accept_raw(server.url, tid, m_iid, {"uid": m_uv.uid, "acceptance": acc,
                                                "device": sign_acceptance_device(m_key, team_id=tid, acceptance=acc)})
        assert r.status_code == 200, r.text
    left = await stored(server.url, tid, alice)
    assert sorted(a["uid"] for a in left) == sorted([dave_uv.uid, m_uv.uid]) and real in left

    # dave accepts again (a real acceptance still lands) and alice's client completes his join
    await dave.accept_invite(tok.token)
    roles = {m.username: m.role for m in (await alice.housekeeper.team("inviters"))[0].members}
    assert roles["dave"] == "writer" and roles["mallory"] == "reader"


async def test_implicit_name_squat_refused_and_ignored(server, tmp_path, apps):
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob", "mallory"))
    alice, bob, mallory = u["alice"], u["bob"], u["mallory"]
    user = await mallory.identifier.identify("mallory")
    m = TeamSigner(user.uid, "mallory", user.state.eldest_kid, (await mallory._device_keys()).sibkey)

    # mallory makes a team of her own and names it alice,bob: refused, nothing stored
    root = build_root(m, name="mallory", members={UserVersion(m.uid, 1): Role.OWNER}, implicit=True,
                      ptk=TeamKey.derive(os.urandom(32), 1), ctime=int(time.time()))
    r = httpx.post(f"{server.url}/v1/team/{implicit_team_id('mallory')}/links",
                   json={"links": [root], "implicit_names": ["alice,bob"]}, timeout=10)
    assert r.status_code == 400 and code(r) == "BAD_TEAM_MEMBERSHIP"
    assert httpx.get(f"{server.url}/v1/teams/name/alice%2Cbob", timeout=10).status_code == 404
    theirs = await mallory.implicit_team("mallory")

    # the name table says alice,bob is mallory's team anyway (a server that lies, or a squat
    # from before): alice's client finds that team is not alice and bob, ignores it, and makes
    # the real one, whose id is the name's hash; bob reaches it without the name table
    engine = create_engine(f"sqlite:///{server.data_dir / 'server.sqlite3'}")
    from kbapp.server import db as tables
    with engine.begin() as conn:
        conn.execute(insert(tables.team_names).values(name="alice,bob", team_id=theirs.team_id, implicit=True))
    engine.dispose()
    events = alice.events.subscribe()
    real = await alice.implicit_team("alice,bob")
    assert real.team_id == implicit_team_id("alice,bob") != theirs.team_id
    assert {mm.username for mm in real.members} == {"alice", "bob"}
    lies = []
    while not events.empty():
        e = events.get_nowait()
        if isinstance(e, VerificationFailed) and e.subject == "alice,bob":
            lies.append(e.code)
    assert lies == ["READ_NOT_ALLOWED"]
    assert (await bob.implicit_team("bob,alice")).team_id == real.team_id
    assert (await bob.team("alice,bob")).team_id == real.team_id
    assert (await alice.team_key("alice,bob")).key == (await bob.team_key(real.team_id)).key
