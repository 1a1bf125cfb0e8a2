"""A server hides a follow from the follower itself by stubbing its own track link.

alice follows bob; bob's identity is then rewritten (an account reset). The server
serves alice's chain with her track of bob as a stub: same link id, so the log, the
map and the chain all agree. A third party may be served such a stub (Keybase's
rule: it loses a statement, never a key). But to alice's new device the stub would
hide what alice pinned of bob: that device would take the rewritten bob as someone
alice never followed (`following` false, no diff) where the unstubbed chain reports
the reset. Her own chain is therefore always loaded in full: a stub in it is refused.
"""

from __future__ import annotations

import pytest

from kbapp.core import errors
from kbapp.core.sigchain import LinkType
from kbapp.core.uid import uid_for

from evil import outer_type, stub
from reset_support import reset_body

pytestmark = pytest.mark.timeout(240)


def _stub_tracks(links: list) -> list:
    return [stub(w) if "sig" in w and outer_type(w) == LinkType.TRACK else w for w in links]


async def _followed_then_reset(user):
    """alice follows bob, then adds a paper key (so the track is not her tail); bob resets."""
    alice, aname, _ = await user("alice")
    bob, bname, _ = await user("bob")
    await alice.follow(bname)
    phrase = await alice.create_paperkey()
    uid, body = await reset_body(bob, bname)
    await bob.api.post_links(uid, body)
    return alice, aname, bname, phrase


async def test_own_track_stubbed_for_a_new_device(user, clients, proxy, detected, cli):
    alice, aname, bname, phrase = await _followed_then_reset(user)
    proxy.set("chain", uid=uid_for(aname), fn=_stub_tracks)

    laptop2 = await clients("laptop2")
    err = await detected(laptop2, errors.OwnChainStubbed, laptop2.login_paperkey(aname, phrase))
    assert proxy.tampered and err.code == "OWN_CHAIN_STUBBED" and "link 4" in str(err)
    assert laptop2.store.get("uid") is None and laptop2.keystore.get("device") is None
    rc, _, stderr = await cli(laptop2.home, "login", aname, "--paperkey", env={"KBAPP_PAPERKEY": phrase})
    assert rc == 3 and "VERIFICATION FAILED (OWN_CHAIN_STUBBED)" in stderr
    chain = proxy.upstream_json(f"/v1/chain/{uid_for(aname)}")["links"]
    assert len(chain) == 6                          # no device was added

    # A third party may be served the stub: it loses the follow statement, nothing else.
    carol = await clients("carol")
    assert (await carol.identify(aname, proofs=False)).chain_length == 6
    assert await carol.following(aname) == []

    # alice's existing device verified her chain in full before: it only fetches what is new.
    ident = await alice.identify(bname)
    assert ident.following is True and [c.kind for c in ident.follow_diff] == ["account_reset"]

    # Control: the unstubbed chain, and alice's new device sees bob's reset.
    proxy.clear()
    await laptop2.login_paperkey(aname, phrase, device_name="laptop2")
    ident = await laptop2.identify(bname)
    assert ident.following is True and [c.kind for c in ident.follow_diff] == ["account_reset"]


async def test_stubs_seen_as_a_third_party_are_fetched_again_at_login(user, clients, proxy, detected):
    """A profile that looked at alice (as anyone may, stubs included) and then logs in as
    her does not build on the stubbed copy: her chain is fetched again, in full."""
    alice, aname, bname, phrase = await _followed_then_reset(user)
    proxy.set("chain", uid=uid_for(aname), fn=_stub_tracks)
    laptop2 = await clients("laptop2")
    await laptop2.identify(aname, proofs=False)     # a third party's view: the stub is accepted
    assert any("s2" in w for w in laptop2.store.identity(uid_for(aname)).chain)

    await detected(laptop2, errors.OwnChainStubbed, laptop2.login_paperkey(aname, phrase))

    proxy.clear()                                   # control: fetched again in full, the follow is back
    await laptop2.login_paperkey(aname, phrase, device_name="laptop2")
    assert not any("s2" in w for w in laptop2.store.identity(uid_for(aname)).chain)
    ident = await laptop2.identify(bname)
    assert ident.following is True and [c.kind for c in ident.follow_diff] == ["account_reset"]
