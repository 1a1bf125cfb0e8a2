"""Resolving `bob@github` when many free accounts claim it (the attacker's side), against
a real server process and the loopback GitHub imitation.

150 squatters (more than a page of the server's hint, which used to stop at 100, and far
more than the 10 candidates the client used to check) sign up first, each with a chain
that claims bob@github; none can post bob's proof text. Then bob proves it for real.
`resolve("bob@github")` must still answer bob, and a team invite of bob@github still
completes; with no real prover it is NotFound after checking every claimant.
"""

from __future__ import annotations

import os
import time

import httpx
import pytest

from kbapp.client import chainops
from kbapp.core import errors
from kbapp.core.keys import DeviceKeys
from kbapp.core.proofs import proof_body
from kbapp.core.puk import PerUserKey
from kbapp.core.sigchain import build_link, link_id
from kbapp.core.uid import device_id, uid_for

from e2e_support import server_checkpoint, signup_all
from fake_services import FakeGitHub, FakeWebsite
from test_proofs_services import config_for

pytestmark = pytest.mark.timeout(600)
SQUATTERS = 150


class _NoDns:
    port = 9


def squat(url: str, i: int, account: str) -> str:
    """A free account whose chain claims `account`@github (it cannot post the proof text)."""
    username = f"sq{i}_{os.urandom(3).hex()}"
    uid, now = uid_for(username), int(time.time())
    keys = DeviceKeys.from_seeds(os.urandom(32), os.urandom(32))
    cp = server_checkpoint(url)
    links = chainops.signup_links(uid=uid, username=username, keys=keys, device_id=device_id(os.urandom(16)),
                                  device_name="squat", puk=PerUserKey.derive(os.urandom(32), 1), ctime=now,
                                  merkle_root=cp)
    chain = chainops._Chain(uid, username, keys.sibkey.kid, len(links) + 1, link_id(links[-1]), now, cp)
    chain.add(build_link, keys.sibkey, link_type="web_service_binding",
              body_fields=proof_body("github", account, "social"))
    r = httpx.post(f"{url}/v1/signup", json={"uid": uid, "username": username, "links": links + chain.links},
                   timeout=30)
    assert r.status_code == 200, r.text
    return username


async def test_resolve_finds_the_real_prover_among_many_squatters(server, tmp_path, apps):
    gh, web = FakeGitHub(), FakeWebsite()
    cfg = config_for({"web": web, "github": gh, "dns": _NoDns(), "mastodon": web, "profiles": web})
    try:
        for i in range(SQUATTERS):
            squat(server.url, i, "bob")
        squat(server.url, SQUATTERS, "nobody")
        u = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
        alice, bob = u["alice"], u["bob"]
        for app in u.values():
            app.proof_config = cfg
        hint = httpx.get(f"{server.url}/v1/proofs/search", params={"service": "github", "name": "bob"},
                         timeout=10).json()
        assert len(hint["users"]) == 100 and hint["next"]          # one page; more to come

        with pytest.raises(errors.NotFound):                       # claimed 150 times, proven by no one yet
            await alice.resolve("bob@github")
        req = await bob.start_proof("github", "bob")
        gh.set_gist("bob", req.text)
        await bob.finish_proof(req)

        res = await alice.resolve("bob@github")
        assert res.username == "bob" and [(p.name, p.state) for p in res.matched] == [("bob", "ok")]
        with pytest.raises(errors.NotFound) as e:                  # a claim of one squatter only: checked, refused
            await alice.resolve("nobody@github")
        assert "checked 1 candidate" in str(e.value)

        # what resolution serves: a team invite of bob@github completes for the real bob
        await alice.create_team("squatted")
        await alice.invite("squatted", "bob@github", role="writer")
        roles = {m.username: m.role for m in (await alice.housekeeper.team("squatted"))[0].members}
        assert roles == {"alice": "owner", "bob": "writer"}
    finally:
        gh.stop()
        web.stop()
