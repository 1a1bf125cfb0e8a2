"""An account reset from the attacker's side: the server stores one only with an
authorization signed by one of the account's live keys (kbapp/core/sigchain/reset.py).

Mallory, a registered user, tries to reset alice's account in every way the policy
must refuse: no authorization, her own key, alice's authorization of another reset
link, alice's revoked paper key, malformed authorizations, and two resets in one
post. Each is refused with 403 RESET_NOT_AUTHORIZED (never a 500), and bob, who
looks alice up after each, sees her chain and keys unchanged. Then alice resets with
her live paper key and bob sees the new eldest key."""

from __future__ import annotations

import copy

import httpx

from e2e_support import signup_all
from reset_support import reset_body

from kbapp.core.keys import DeviceKeys
from kbapp.core.paperkey import paper_device_keys
from kbapp.core.sigchain import authorize_reset, build_eldest, link_id, parse_link


def _post(server, uid: str, body: dict) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/chain/{uid}/links", json=body, timeout=10)


def _refused(r: httpx.Response, words: str) -> None:
    assert r.status_code == 403, r.text
    err = r.json()["error"]
    assert err["code"] == "RESET_NOT_AUTHORIZED" and words in err["message"], err


async def test_only_the_owner_can_reset_an_account(server, apps, tmp_path):
    users = await signup_all(apps, tmp_path, server.url, ["alice", "mallory", "bob"])
    alice, mallory, bob = users["alice"], users["mallory"], users["bob"]
    old_phrase = await alice.create_paperkey()
    old_paper = next(d for d in await alice.devices() if d.type == "paper")
    await alice.revoke_device(old_paper.id)
    phrase = await alice.create_paperkey()
    before = await bob.identify("alice", proofs=False)

    def unchanged():
        return bob.identify("alice", proofs=False)

    # 1. no authorization at all
    uid, body = await reset_body(mallory, "alice", authorize=False)
    _refused(_post(server, uid, body), "needs a reset_authorization")
    # 2. signed by mallory's own (live, but not alice's) device key
    uid, body = await reset_body(mallory, "alice")
    _refused(_post(server, uid, body), "not live on this account")
    # 3. alice's genuine authorization, moved onto mallory's own reset link
    _, alices = await reset_body(alice, "alice")
    uid, body = await reset_body(mallory, "alice", authorize=False)
    body["reset_authorization"] = alices["reset_authorization"]
    _refused(_post(server, uid, body), "does not cover this reset")
    # 4. alice's revoked paper key
    uid, body = await reset_body(mallory, "alice", signer=paper_device_keys(old_phrase).sibkey)
    _refused(_post(server, uid, body), "not live on this account")
    # 5. malformed authorizations: typed refusals, never a server error
    for bad in ("yes", {"kid": 7, "sig": "x"}, {"kid": "zz", "sig": "AAAA"},
                {"kid": alices["reset_authorization"]["kid"], "sig": "%%%"},
                {"kid": alices["reset_authorization"]["kid"], "sig": "AAAA"}):
        uid, body = await reset_body(mallory, "alice", authorize=False)
        body["reset_authorization"] = bad
        r = _post(server, uid, body)
        assert r.status_code == 403 and r.json()["error"]["code"] == "RESET_NOT_AUTHORIZED", (bad, r.text)
    # 6. two resets in one post, the first one genuinely authorized
    uid, body = await reset_body(alice, "alice")
    first = body["links"][0]
    second = build_eldest(DeviceKeys.from_seeds(b"\x05" * 32, b"\x06" * 32).sibkey, uid=uid, username="alice",
                          ctime=parse_link(first).ctime, device_id="a" * 30 + "18", device_name="again",
                          seqno=before.chain_length + 2, prev=link_id(first))
    body["links"].append(second)
    _refused(_post(server, uid, body), "one account reset per post")

    after = await unchanged()
    assert (after.eldest_kid, after.chain_length, after.tail_link_id) == \
        (before.eldest_kid, before.chain_length, before.tail_link_id)

    # alice lost her laptop but kept her paper key: that key may reset the account
    uid, body = await reset_body(alice, "alice", signer=paper_device_keys(phrase).sibkey)
    tampered = copy.deepcopy(body)
    tampered["reset_authorization"]["kid"] = authorize_reset(
        (await mallory._device_keys()).sibkey, uid=uid, eldest_link=body["links"][0])["kid"]
    _refused(_post(server, uid, tampered), "not live on this account")
    r = _post(server, uid, body)
    assert r.status_code == 200, r.text
    now = await bob.identify("alice", proofs=False)
    assert now.eldest_kid != before.eldest_kid and now.chain_length == before.chain_length + 1

