"""Keybase's playback rules that its own chain data exercises, built here with our
builders where the 16 vectors we carry have no case: a stub of an unsupported type,
a subkey from outside the key family, key expiry, outer v2 seqno / prev; and the
rule for a reader's own chain (always in full)."""

from __future__ import annotations

import hashlib

import pytest

from kbapp.core.encoding import b64decode, b64encode, canonical_json, pack, unpack
from kbapp.core.errors import (
    BadSignature,
    ChainLinkStubbedUnsupported,
    InvalidSibkey,
    NonexistentKid,
    OwnChainStubbed,
    StubbedSignatureNeeded,
)
from kbapp.core.keys import kid_hex
from kbapp.core.sigchain import (
    KEYBASE_ERRORS,
    LinkType,
    build_eldest,
    build_link,
    build_revoke,
    require_full,
    sign_inner,
    stub,
    verify_chain,
)

from test_sigchain import DEV1, DEV2, T0, UID, USER, Chain, base_chain, ek, sk, with_second_device


def exactly(error: type, fn):
    with pytest.raises(error) as info:
        fn()
    assert type(info.value) is error, f"got {type(info.value).__name__}: {info.value}"
    return info.value


# --- CHAIN_LINK_STUBBED_UNSUPPORTED ---------------------------------------------------


def _unknown_then_puk(outer_type: int, ignore: bool) -> Chain:
    """Keybase's v2_unsupported_(no_)ignore_stubbed: eldest, a link whose outer type
    is `outer_type` (served as a stub), then a signed link vouching for it."""
    c = base_chain()
    c.add(build_link(c.eldest, link_type="kbapp.monero", body_fields={"monero": {"address": "x"}},
                     ignore_if_unsupported=True, **c.common()))
    outer = unpack(b64decode(stub(c.links[-1])["s2"]))
    outer[4], outer[6] = outer_type, ignore
    c.links[-1] = {"s2": b64encode(pack(outer)), "payload_hash": hashlib.sha256(pack(outer)).hexdigest()}
    c.add(c.track(c.eldest))                      # chains to the stub's id
    del c.links[-2]["payload_hash"]               # a bare stub, as a server serves it
    return c


def test_stub_of_an_unknown_type_not_marked_ignorable_is_refused():
    c = _unknown_then_puk(23456, ignore=False)
    err = exactly(ChainLinkStubbedUnsupported, c.verify)
    assert "link 4" in str(err) and err.code == "CHAIN_LINK_STUBBED_UNSUPPORTED"
    assert KEYBASE_ERRORS["CHAIN_LINK_STUBBED_UNSUPPORTED"] is ChainLinkStubbedUnsupported


def test_stub_of_an_unknown_type_marked_ignorable_is_accepted():
    state = _unknown_then_puk(23456, ignore=True).verify()
    assert state.tail_seqno == 5 and state.links[3].stubbed


def test_stub_of_a_team_type_in_a_user_chain_must_be_ignorable_too():
    """Stricter than Keybase (which lets team types through): unstubbed, such a link
    would be refused in a user chain, so its stub is too."""
    exactly(ChainLinkStubbedUnsupported, _unknown_then_puk(int(LinkType.TEAM_ROOT), ignore=False).verify)
    assert _unknown_then_puk(int(LinkType.TEAM_ROOT), ignore=True).verify().tail_seqno == 5


def test_stub_of_a_known_key_type_still_needs_its_signature():
    c = _unknown_then_puk(int(LinkType.SIBKEY), ignore=False)
    exactly(StubbedSignatureNeeded, c.verify)


# --- NONEXISTENT_KID ----------------------------------------------------------------


def _subkey_with_parent(c: Chain, parent) -> dict:
    kid = kid_hex(ek(5).kid)
    return build_link(c.eldest, link_type=LinkType.SUBKEY, **c.common(), body_fields={
        "device": {"id": DEV1, "kid": kid}, "subkey": {"kid": kid, "parent_kid": kid_hex(parent.kid)}})


def test_subkey_delegated_from_outside_the_key_family():
    c = base_chain()
    c.add(_subkey_with_parent(c, sk(9)))          # sk(9) was never a key of this user
    err = exactly(NonexistentKid, c.verify)
    assert "link 4" in str(err) and kid_hex(sk(9).kid) in str(err)
    assert KEYBASE_ERRORS["NONEXISTENT_KID"] is NonexistentKid


def test_subkey_parent_from_an_earlier_subchain_is_outside_the_family():
    c = base_chain()
    c.add(build_eldest(sk(7), uid=UID, username=USER, ctime=T0 + 9, device_id=DEV2, device_name="new",
                       seqno=4, prev=bytes.fromhex(c.links[-1]["payload_hash"])))
    c.eldest = sk(7)
    c.add(_subkey_with_parent(c, sk(1)))          # the reset dropped sk(1) from the family
    exactly(NonexistentKid, c.verify)


def test_subkey_parent_revoked_is_an_invalid_sibkey():
    c = with_second_device(base_chain())
    c.add(build_revoke(c.eldest, kids=[sk(2).kid], **c.common()))
    c.add(_subkey_with_parent(c, sk(2)))
    exactly(InvalidSibkey, c.verify)


# --- key expiry ------------------------------------------------------------------------


def _keybase_link(signer, *, seqno: int, prev: bytes | None, type_name: str, ctime: int,
                  expire_in: int, eldest=None) -> dict:
    """A Keybase-format link (body.version 2, no context prefix), as its own data has them."""
    key = {"host": "keybase.io", "kid": kid_hex(signer.kid), "uid": UID, "username": USER}
    if eldest is not None:
        key["eldest_kid"] = kid_hex(eldest.kid)
    body = {"key": key, "type": type_name, "version": 2}
    if type_name == "track":
        body["track"] = {"basics": {"username": "bob"}}
    payload = {"body": body, "ctime": ctime, "expire_in": expire_in, "prev": prev.hex() if prev else None,
               "seq_type": 1, "seqno": seqno, "tag": "signature"}
    lt = LinkType.ELDEST if type_name == "eldest" else LinkType.TRACK
    return sign_inner(signer, canonical_json(payload), seqno=seqno, prev=prev, link_type=lt, prefix=None,
                      ctime=ctime)


def test_keybase_links_ignore_key_expiry():
    """Keybase plays its chains back without expiry: a link its eldest key signed
    long after that key's expire_in verifies, and the key stays live."""
    eldest = _keybase_link(sk(1), seqno=1, prev=None, type_name="eldest", ctime=T0, expire_in=5)
    late = _keybase_link(sk(1), seqno=2, prev=bytes.fromhex(eldest["payload_hash"]), type_name="track",
                         ctime=T0 + 10_000, expire_in=5, eldest=sk(1))
    state = verify_chain([eldest, late], uid=UID, username=USER)
    assert state.tail_seqno == 2 and kid_hex(sk(1).kid) in state.sibkeys
    assert state.sibkeys[kid_hex(sk(1).kid)].etime is None


def test_kbapp_links_enforce_key_expiry():
    """kbapp's own links: a key expires at its delegating link's ctime + expire_in,
    and a link it signs with a later ctime is refused."""
    c = Chain()
    c.links[0] = build_eldest(c.eldest, uid=UID, username=USER, ctime=T0, device_id=DEV1, device_name="x",
                              expire_in=5)
    c.add(c.track(c.eldest, ctime=T0 + 5))          # the last second it is live
    assert c.verify().sibkeys[kid_hex(sk(1).kid)].etime == T0 + 5
    c.add(c.track(c.eldest, ctime=T0 + 6))
    err = exactly(InvalidSibkey, c.verify)
    assert "link 3" in str(err) and "expired" in str(err)


# --- outer v2 seqno / prev: VERIFY_FAILED ---------------------------------------------------


def _resigned_outer(c: Chain, *, seqno_delta: int = 0, prev: bytes | None = None) -> dict:
    """Keybase's bad_v2_seqno_mismatch / bad_v2_prev_mismatch: the signed outer link
    says another seqno or prev than the inner JSON (the signer is genuine)."""
    wire = c.links[-1]
    return sign_inner(c.eldest, wire["payload_json"].encode(), seqno=wire["seqno"] + seqno_delta,
                      prev=prev if prev is not None else bytes.fromhex(wire["prev"]), link_type=LinkType.TRACK,
                      ctime=wire["ctime"])


@pytest.mark.parametrize("what", ["seqno", "prev"])
def test_outer_seqno_or_prev_disagreeing_with_the_inner_is_verify_failed(what):
    c = base_chain()
    c.add(c.track(c.eldest))
    c.links[-1] = (_resigned_outer(c, seqno_delta=1) if what == "seqno"
                   else _resigned_outer(c, prev=hashlib.sha256(b"elsewhere").digest()))
    err = exactly(KEYBASE_ERRORS["VERIFY_FAILED"], c.verify)
    assert f"outer {what}" in str(err) and err.code == "VERIFY_FAILED"


# --- one's own chain: always in full -------------------------------------------------------


def test_own_chain_refuses_a_stubbed_track():
    c = base_chain()
    c.add(c.track(c.eldest))
    c.add(c.track(c.eldest, who="carol"))
    full = require_full(c.verify())                   # nothing stubbed: fine
    c.links[3] = stub(c.links[3])
    third_party = c.verify()                          # others may get the stub (Keybase's rule)
    assert third_party.tail_link_id == full.tail_link_id and third_party.links[3].stubbed
    err = exactly(OwnChainStubbed, lambda: require_full(third_party))
    assert "link 4" in str(err) and isinstance(err, StubbedSignatureNeeded)


def test_own_chain_refuses_a_stub_in_an_earlier_subchain():
    c = base_chain()
    c.add(c.track(c.eldest))
    c.add(c.track(c.eldest, who="carol"))
    c.add(build_eldest(sk(7), uid=UID, username=USER, ctime=T0 + 9, device_id=DEV2, device_name="new",
                       seqno=6, prev=bytes.fromhex(c.links[-1]["payload_hash"])))
    c.links[3] = stub(c.links[3])
    state = c.verify()
    assert state.eldest_seqno == 6 and not any(lk.stubbed for lk in state.links)
    exactly(OwnChainStubbed, lambda: require_full(state))
