"""The server rewrites a user's chain in GET /v1/chain/{uid}.

(a) it alters a link, (b) it drops the newest links, (e) it swaps or adds a
device key, plus reordering, stubbing and serving another user's chain. The
chain's own signatures (and the Merkle map's commitment to its tail) catch
each one, with its own typed error, and the watcher's trusted state is left
as it was. Each test first runs the same identify untampered (the control).

Alice's chain in these tests: 1 eldest (laptop), 2 subkey, 3 per_user_key,
4 sibkey (paper key), 5 subkey (paper key).

A client that verified a chain before fetches only the links after the tail it
verified (client/chainfetch.py): a rewrite of older links never reaches it. So
where a rewrite of alice's existing links is the attack, the control identify
is someone else's and bob looks for the first time.
"""

from __future__ import annotations

import os
import time

import pytest

from kbapp.client import chainops
from kbapp.core import errors
from kbapp.core.keys import DeviceKeys, SigningKeyPair, kid_hex
from kbapp.core.paperkey import paper_device_keys
from kbapp.core.puk import PerUserKey
from kbapp.core.sigchain import LinkType, build_link, link_id, verify_chain
from kbapp.core.transparency import ChainTail, map_key
from kbapp.core.uid import device_id, uid_for

from evil import ForgedLog, edit_payload, payload_of, repack_outer, resign_from, stub

SIBKEY_PAPER = 4   # seqno of the paper key's sibkey link


@pytest.fixture
async def alice(user):
    """alice with a laptop and a paper key; returns (app, username, phrase)."""
    return await user("alice", paperkey=True)


@pytest.fixture
async def bob(clients):
    """Someone who runs `kbapp id alice`."""
    return await clients("bob")


@pytest.fixture
def control(clients):
    """`await control(name)`: an untampered identify by a client of its own (not bob's)."""
    seen: list = []

    async def run(name: str):
        seen.append(name)
        return await (await clients(f"control{len(seen)}")).identify(name)
    return run


def attacker_key() -> SigningKeyPair:
    return SigningKeyPair.from_seed(os.urandom(32))


# --- (a) an altered link -----------------------------------------------------------


@pytest.mark.parametrize("repack", [False, True], ids=["payload-edited", "outer-link-fixed-too"])
async def test_altered_link_is_refused(alice, bob, control, proxy, detected, cli, repack):
    _, name, _ = alice
    ident = await control(name)                            # control: untampered, fine
    assert "alice-laptop" in {d.name for d in ident.devices}

    def rename(links):
        # "Rename" alice's paper key device in the link that added it.
        links[SIBKEY_PAPER - 1] = edit_payload(
            links[SIBKEY_PAPER - 1], lambda p: p["body"]["device"].update(name="evil-laptop"))
        if repack:   # also make the signed outer link name the new payload hash
            links[SIBKEY_PAPER - 1] = repack_outer(links[SIBKEY_PAPER - 1])
        return links

    proxy.set("chain", uid=uid_for(name), fn=rename)
    err = await detected(bob, errors.BadSignature, bob.identify(name))
    assert f"link {SIBKEY_PAPER}" in str(err)
    assert proxy.tampered

    rc, out, stderr = await cli(bob.home, "id", name)
    assert rc == 3, (out, stderr)
    assert "VERIFICATION FAILED (VERIFY_FAILED)" in stderr and "evil-laptop" not in out

    proxy.clear()                                           # and the honest answer still works
    assert (await bob.identify(name)).chain_length == 5


# --- (b) dropped links -----------------------------------------------------------------


async def test_dropped_newest_link_is_refused(alice, bob, control, proxy, detected):
    _, name, _ = alice
    assert (await control(name)).chain_length == 5         # control

    proxy.set("chain", uid=uid_for(name), fn=lambda links: links[:-1])
    err = await detected(bob, errors.ChainTailMismatch, bob.identify(name))
    assert "seqno 4" in str(err) and "says 5" in str(err)
    assert proxy.tampered


async def test_hidden_revocation_is_refused(alice, bob, proxy, detected, cli):
    """The server hides that alice revoked her paper key (the revoke and the
    new per-user key links), so that the paper key would still look valid."""
    app, name, phrase = alice
    await bob.identify(name)                                # bob saw the paper key active
    paper = next(d for d in (await app.devices()) if d.type == "paper")
    await app.revoke_device(paper.id)

    proxy.set("chain", uid=uid_for(name), fn=lambda links: links[:-2])
    await detected(bob, errors.ChainTailMismatch, bob.identify(name))
    rc, _, stderr = await cli(bob.home, "id", name)
    assert rc == 3 and "VERIFICATION FAILED (CHAIN_TAIL_MISMATCH)" in stderr

    proxy.clear()                                           # control: the revocation shows
    ident = await bob.identify(name)
    assert ident.chain_length == 7
    assert next(d for d in ident.devices if d.id == paper.id).revoked


async def test_empty_chain_is_refused(alice, bob, control, proxy, detected):
    _, name, _ = alice
    await control(name)
    proxy.set("chain", uid=uid_for(name), fn=lambda links: [])
    await detected(bob, errors.ChainTailMismatch, bob.identify(name))


# --- (e) a swapped or added device key ---------------------------------------------------


async def test_device_key_swapped_and_chain_resigned(alice, bob, control, proxy, detected):
    """The smart attacker: replace the paper key's KID by its own key K in link
    4, reverse-sign with K, sign link 4 and 5 with K, fix every prev and link id.
    The chain hashes together again; but K was never delegated by a sibkey."""
    _, name, _ = alice
    await control(name)
    k = attacker_key()

    def swap(payload):
        if payload["seqno"] == SIBKEY_PAPER:
            payload["body"]["sibkey"]["kid"] = kid_hex(k.kid)
            payload["body"]["device"]["kid"] = kid_hex(k.kid)

    def forge(links):
        forged = resign_from(links, SIBKEY_PAPER, k, edit=swap)
        assert forged[-1]["prev"] == link_id(forged[-2]).hex()    # the chain does hash together
        return forged

    proxy.set("chain", uid=uid_for(name), fn=forge)
    err = await detected(bob, errors.InvalidSibkey, bob.identify(name))
    assert f"link {SIBKEY_PAPER}" in str(err) and k.kid.hex() in str(err)


async def test_device_key_swapped_keeping_the_signature(alice, bob, control, proxy, detected):
    """Swap the KID in place and keep the laptop's signature (outer link fixed)."""
    _, name, _ = alice
    await control(name)
    k = attacker_key()

    def swap(links):
        def edit(p):
            p["body"]["sibkey"]["kid"] = kid_hex(k.kid)
            p["body"]["device"]["kid"] = kid_hex(k.kid)
        links[SIBKEY_PAPER - 1] = repack_outer(edit_payload(links[SIBKEY_PAPER - 1], edit))
        return links

    proxy.set("chain", uid=uid_for(name), fn=swap)
    await detected(bob, errors.BadSignature, bob.identify(name))


@pytest.mark.parametrize("reverse", ["by-another-key", "missing"])
async def test_key_added_without_its_consent(alice, bob, world, proxy, detected, reverse):
    """A stolen device (alice's paper key, signing validly) is used to claim a
    key the attacker does not hold (say, carol's) as alice's new sibkey, and the
    server commits to that link (its own log, signed with its key). The claimed
    key never countersigned: WrongReverseSig."""
    _, name, phrase = alice
    await bob.identify(name)
    uid = uid_for(name)
    paper = paper_device_keys(phrase)
    carols_key = attacker_key()          # a key whose private half the attacker lacks
    own_key = attacker_key()

    links = proxy.upstream_json(f"/v1/chain/{uid}")["links"]
    last = payload_of(links[-1])
    eldest = last["body"]["key"]["eldest_kid"]
    claim = build_link(
        paper.sibkey, uid=uid, username=name, eldest_kid=eldest, seqno=len(links) + 1, prev=link_id(links[-1]),
        link_type=LinkType.SIBKEY, ctime=last["ctime"],
        body_fields={"device": {"id": device_id(os.urandom(16)), "kid": kid_hex(carols_key.kid), "name": "carol",
                                "status": 1, "type": "desktop"},
                     "sibkey": {"kid": kid_hex(carols_key.kid), "reverse_sig": None}},
        reverse_signer=("sibkey", own_key) if reverse == "by-another-key" else None)
    forged_log = ForgedLog.of(world.server)
    forged_log.append({map_key("user", uid): ChainTail(6, link_id(claim).hex(), eldest).encode()})
    proxy.set("forged_log", log=forged_log)
    proxy.add("chain", uid=uid, fn=lambda links: links + [claim])

    err = await detected(bob, errors.WrongReverseSig, bob.identify(name))
    assert "link 6" in str(err)
    assert proxy.tampered


# --- more rewrites ------------------------------------------------------------------------


def _reorder(links):
    links[3], links[4] = links[4], links[3]
    return links


@pytest.mark.parametrize("rewrite, error", [
    (_reorder, errors.WrongSeqno),
    (lambda links: links[:3] + [stub(links[3])] + links[4:], errors.StubbedSignatureNeeded),
    (lambda links: links[:1] + links[2:], errors.WrongSeqno),
], ids=["reordered", "sibkey-link-stubbed", "middle-link-dropped"])
async def test_reordered_or_stubbed_chain_is_refused(alice, bob, control, proxy, detected, rewrite, error):
    _, name, _ = alice
    await control(name)
    proxy.set("chain", uid=uid_for(name), fn=rewrite)
    await detected(bob, error, bob.identify(name))
    assert proxy.tampered


async def test_another_users_chain_is_refused(alice, user, bob, control, proxy, detected):
    """Serve carol's (genuine, valid) chain when bob asks for alice's."""
    _, name, _ = alice
    _, carol, _ = await user("carol")
    await control(name)
    carols = proxy.upstream_json(f"/v1/chain/{uid_for(carol)}")

    # As served: the answer names carol.
    proxy.set("json", match=f"^/v1/chain/{uid_for(name)}$", fn=lambda body: carols)
    await detected(bob, errors.WrongUid, bob.identify(name), match="another user's chain")
    # Relabelled as alice's: the signed links still name carol's uid.
    proxy.set("json", match=f"^/v1/chain/{uid_for(name)}$",
              fn=lambda body: {**carols, "uid": uid_for(name), "username": name})
    await detected(bob, errors.WrongUid, bob.identify(name), match="link 1 is for uid")
    # One of carol's links (validly signed, right seqno) spliced into alice's chain.
    proxy.set("chain", uid=uid_for(name), fn=lambda links: links[:1] + carols["links"][1:2] + links[2:])
    await detected(bob, errors.WrongPrev, bob.identify(name), match="link 2")


async def test_whole_chain_replaced_under_a_forged_map(alice, bob, world, proxy, detected, cli):
    """The server replaces alice's whole chain with one of its own making (its
    own eldest key and devices: a valid chain for alice's uid and name, five
    links like hers) and, holding the checkpoint key, makes its log commit to
    it: the log extension is consistent, the map proof and the tail check
    pass. Whoever verified alice before sees that the chain no longer extends
    the one they verified, and so does alice herself."""
    app, name, _ = alice
    await bob.identify(name)
    uid = uid_for(name)
    evil_keys = [DeviceKeys.from_seeds(os.urandom(32), os.urandom(32)) for _ in range(2)]
    forged = chainops.signup_links(uid=uid, username=name, keys=evil_keys[0], device_id=device_id(os.urandom(16)),
                                   device_name="alice-laptop", puk=PerUserKey.derive(os.urandom(32), 1),
                                   ctime=int(time.time()), merkle_root=None)
    forged += chainops.device_links(state=verify_chain(forged, uid=uid, username=name), signer=evil_keys[0].sibkey,
                                    keys=evil_keys[1], device_id=device_id(os.urandom(16)), device_name="paper",
                                    device_type="paper", ctime=int(time.time()), merkle_root=None)
    state = verify_chain(forged, uid=uid, username=name)            # a perfectly valid chain...
    assert state.tail_seqno == 5

    forged_log = ForgedLog.of(world.server)                         # ...that the log commits to
    forged_log.append({map_key("user", uid): ChainTail(5, state.tail_link_id, kid_hex(state.eldest_kid)).encode()})
    proxy.set("forged_log", log=forged_log)
    proxy.add("chain", uid=uid, fn=lambda links: forged)

    await detected(bob, errors.ForkDetected, bob.identify(name), match="link 5 differs")
    await detected(app, errors.ForkDetected, app.identify(name))
    rc, _, stderr = await cli(bob.home, "id", name)
    assert rc == 3 and "VERIFICATION FAILED (FORK)" in stderr
    assert proxy.tampered
