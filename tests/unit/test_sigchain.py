"""Chains written by our builders, played back by verify_chain; every tampering is refused."""

from __future__ import annotations

import copy
import hashlib
import json

import pytest

from kbapp.core.encoding import b64decode, b64encode, canonical_json, pack, unpack
from kbapp.core.errors import (
    BadChainLink,
    BadPerUserKey,
    BadSignature,
    EncodingError,
    InvalidSibkey,
    MismatchedField,
    StubbedFirstLink,
    StubbedSignatureNeeded,
    TooDeep,
    TooLarge,
    WrongEldest,
    WrongPerUserKeyReverseSig,
    WrongPrev,
    WrongReverseSig,
    WrongSeqno,
    WrongUid,
    WrongUsername,
)
from kbapp.core.keys import EncryptionKeyPair, SigningKeyPair, kid_hex, make_sig_packet, sig_id
from kbapp.core.sigchain import (
    LinkType,
    build_device,
    build_eldest,
    build_link,
    build_per_user_key,
    build_revoke,
    build_sibkey,
    build_subkey,
    link_id_hex,
    parse_link,
    sign_inner,
    stub,
    verify_chain,
)

UID = "0" * 30 + "19"
USER = "alice"
T0 = 1_700_000_000
DEV1, DEV2, DEV3 = "11" * 16, "22" * 16, "33" * 16


def sk(i: int) -> SigningKeyPair:
    return SigningKeyPair.from_seed(hashlib.sha256(b"sign%d" % i).digest())


def ek(i: int) -> EncryptionKeyPair:
    return EncryptionKeyPair.from_seed(hashlib.sha256(b"enc%d" % i).digest())


def root(i: int) -> dict:
    return {"size": i, "hash": hashlib.sha256(b"root%d" % i).hexdigest()}


class Chain:
    """Writes links one after the other, like a client would."""

    def __init__(self, eldest: SigningKeyPair | None = None, device: str = DEV1):
        self.links: list[dict] = []
        self.eldest = eldest or sk(1)
        self.links.append(build_eldest(self.eldest, uid=UID, username=USER, ctime=T0, device_id=device,
                                       device_name="laptop", merkle_root=root(1)))

    def common(self, **over) -> dict:
        n = len(self.links)
        c = dict(uid=UID, username=USER, eldest_kid=self.eldest.kid, seqno=n + 1,
                 prev=bytes.fromhex(self.links[-1]["payload_hash"]), ctime=T0 + n, merkle_root=root(n + 1))
        c.update(over)
        return c

    def add(self, wire: dict) -> dict:
        self.links.append(wire)
        return wire

    def track(self, signer: SigningKeyPair, who: str = "bob", **over) -> dict:
        return build_link(signer, link_type=LinkType.TRACK, body_fields={"track": {"basics": {"username": who}}},
                          **self.common(**over))

    def verify(self, **kw):
        return verify_chain(self.links, uid=UID, username=USER, **kw)


def base_chain() -> Chain:
    """eldest (device 1) + its subkey + PUK generation 1."""
    c = Chain()
    c.add(build_subkey(c.eldest, ek(1), device_id=DEV1, **c.common()))
    c.add(build_per_user_key(c.eldest, sk(100), ek(100).kid, generation=1, **c.common()))
    return c


def with_second_device(c: Chain) -> Chain:
    c.add(build_sibkey(c.eldest, sk(2), device_id=DEV2, device_name="phone", device_type="mobile", **c.common()))
    c.add(build_subkey(sk(2), ek(2), device_id=DEV2, **c.common()))
    return c


def resign(wire: dict, signer: SigningKeyPair, mutate=None, *, prefix=b"kbapp-sigchain-link-v1",
           link_type: int | None = None, raw_json: bytes | None = None) -> dict:
    """Re-sign a (possibly edited) payload with a valid outer link: the attacker owns `signer`."""
    payload = json.loads(wire["payload_json"])
    if mutate:
        mutate(payload)
    pj = raw_json if raw_json is not None else canonical_json(payload)
    lt = link_type if link_type is not None else parse_link(wire).link_type
    return sign_inner(signer, pj, seqno=payload["seqno"],
                      prev=bytes.fromhex(payload["prev"]) if payload["prev"] else None,
                      link_type=lt, prefix=prefix, ctime=payload["ctime"])


# --- good chains -------------------------------------------------------------------


def test_eldest_subkey_and_puk():
    c = base_chain()
    state = c.verify(eldest_kid=c.eldest.kid)
    e, sub = kid_hex(sk(1).kid), kid_hex(ek(1).kid)
    assert state.uid == UID and state.username == USER
    assert state.eldest_kid == e and state.eldest_seqno == 1
    assert set(state.sibkeys) == {e} and set(state.subkeys) == {sub}
    assert state.subkeys[sub].parent == e and state.subkeys[sub].device_id == DEV1
    dev = state.devices[DEV1]
    assert (dev.name, dev.type, dev.sibkey, dev.subkey, dev.revoked_seqno) == ("laptop", "desktop", e, sub, None)
    assert list(state.puks) == [1]
    assert state.puks[1].signing_kid == kid_hex(sk(100).kid)
    assert state.puks[1].encryption_kid == kid_hex(ek(100).kid)
    assert state.puk.generation == 1
    assert state.tail_seqno == 3
    assert state.tail_link_id == c.links[-1]["payload_hash"] == link_id_hex(c.links[-1])
    assert [lk.seqno for lk in state.active_links] == [1, 2, 3]
    assert state.merkle_roots == [(i, i, root(i)["hash"]) for i in (1, 2, 3)]
    assert state.previous_subchains == [] and state.revoked == frozenset()


def test_parse_recomputes_ids():
    c = base_chain()
    for wire in c.links:
        link = parse_link(wire)
        assert link.link_id_hex == wire["payload_hash"] == link_id_hex(wire)
        assert link.sig_id == sig_id(wire["sig"]) and link.sig_id_hex == wire["sig_id"]
        assert link.is_ours and link.sig_version == 2 and link.signer == sk(1).kid


def test_add_sibkey_with_reverse_sig():
    c = with_second_device(base_chain())
    state = c.verify()
    assert set(state.sibkeys) == {kid_hex(sk(1).kid), kid_hex(sk(2).kid)}
    assert set(state.subkeys) == {kid_hex(ek(1).kid), kid_hex(ek(2).kid)}
    assert state.sibkeys[kid_hex(sk(2).kid)].parent == kid_hex(sk(1).kid)
    assert state.devices[DEV2].type == "mobile" and state.devices[DEV2].subkey == kid_hex(ek(2).kid)
    # the new device can sign from now on
    c.add(c.track(sk(2)))
    assert c.verify().tail_seqno == 6


def test_revoke_device_then_its_key_cannot_sign():
    c = with_second_device(base_chain())
    c.add(build_revoke(c.eldest, kids=[sk(2).kid, ek(2).kid], **c.common()))
    state = c.verify()
    assert set(state.sibkeys) == {kid_hex(sk(1).kid)} and set(state.subkeys) == {kid_hex(ek(1).kid)}
    assert state.revoked == {kid_hex(sk(2).kid), kid_hex(ek(2).kid)}
    assert state.devices[DEV2].revoked_seqno == 6
    assert state.keys[kid_hex(sk(2).kid)].revoked_seqno == 6
    c.add(c.track(sk(2)))
    with pytest.raises(InvalidSibkey):
        c.verify()


def test_revoking_a_sibkey_retires_its_subkeys():
    c = with_second_device(base_chain())
    c.add(build_revoke(c.eldest, kids=[sk(2).kid], **c.common()))
    state = c.verify()
    assert kid_hex(ek(2).kid) in state.revoked and kid_hex(ek(2).kid) not in state.subkeys


def test_a_device_may_revoke_itself():
    c = with_second_device(base_chain())
    c.add(build_revoke(sk(2), kids=[sk(2).kid, ek(2).kid], **c.common()))
    assert c.verify().devices[DEV2].revoked_seqno == 6


def test_new_puk_generation_after_revoke():
    c = with_second_device(base_chain())
    c.add(build_revoke(c.eldest, kids=[sk(2).kid, ek(2).kid], **c.common()))
    c.add(build_per_user_key(c.eldest, sk(101), ek(101).kid, generation=2, **c.common()))
    state = c.verify()
    assert sorted(state.puks) == [1, 2] and state.puk.signing_kid == kid_hex(sk(101).kid)


@pytest.mark.parametrize("gen", [1, 3])
def test_puk_generation_must_grow_by_one(gen):
    c = base_chain()
    c.add(build_per_user_key(c.eldest, sk(101), ek(101).kid, generation=gen, **c.common()))
    with pytest.raises(BadPerUserKey):
        c.verify()


def test_puk_may_not_reuse_an_older_key():
    c = base_chain()
    c.add(build_per_user_key(c.eldest, sk(100), ek(101).kid, generation=2, **c.common()))
    with pytest.raises(BadPerUserKey):
        c.verify()


def test_device_rename():
    c = base_chain()
    c.add(build_device(c.eldest, device_id=DEV1, device_name="work laptop", **c.common()))
    assert c.verify().devices[DEV1].name == "work laptop"


def test_revoke_by_sig_id():
    c = with_second_device(base_chain())
    tracked = c.add(c.track(c.eldest))
    c.add(build_revoke(c.eldest, sig_ids=[tracked["sig_id"], c.links[3]["sig_id"]], **c.common()))
    state = c.verify()
    assert tracked["sig_id"] in state.revoked_sig_ids
    assert 6 not in [lk.seqno for lk in state.active_links]
    assert kid_hex(sk(2).kid) in state.revoked          # link 4 delegated sk(2)
    assert [lk.seqno for lk in state.other_links] == [6]


def test_reset_starts_a_new_subchain():
    c = with_second_device(base_chain())
    new = sk(50)
    c.add(build_eldest(new, uid=UID, username=USER, ctime=T0 + 10, device_id=DEV3, device_name="new laptop",
                       seqno=6, prev=bytes.fromhex(c.links[-1]["payload_hash"])))
    c.eldest = new
    c.add(build_subkey(new, ek(50), device_id=DEV3, **c.common()))
    state = c.verify(eldest_kid=new.kid)
    assert state.eldest_kid == kid_hex(new.kid) and state.eldest_seqno == 6
    assert [lk.seqno for lk in state.links] == [6, 7]
    assert set(state.sibkeys) == {kid_hex(new.kid)} and list(state.devices) == [DEV3] and state.puks == {}
    (old,) = state.previous_subchains
    assert (old.eldest_seqno, old.last_seqno, len(old.sibkeys), len(old.subkeys)) == (1, 5, 2, 2)
    assert old.puks[1].seqno == 3
    with pytest.raises(WrongEldest):
        c.verify(eldest_kid=sk(1).kid)
    # the old keys died with the reset
    c.add(c.track(sk(2)))
    with pytest.raises(InvalidSibkey):
        c.verify()


def test_reset_to_a_used_eldest_key_is_refused():
    c = base_chain()
    c.add(build_eldest(c.eldest, uid=UID, username=USER, ctime=T0 + 10, device_id=DEV3, device_name="x",
                       seqno=4, prev=bytes.fromhex(c.links[-1]["payload_hash"])))
    with pytest.raises(BadChainLink):
        c.verify()


def test_empty_chain():
    state = verify_chain([], uid=UID, username=USER)
    assert (state.tail_seqno, state.tail_link_id, state.eldest_kid, state.links) == (0, None, None, [])
    with pytest.raises(WrongEldest):
        verify_chain([], uid=UID, username=USER, eldest_kid=sk(1).kid)


def test_username_defaults_to_the_chain_and_is_case_insensitive():
    c = base_chain()
    assert verify_chain(c.links, uid=UID).username == USER
    assert verify_chain(c.links, uid=UID.upper(), username="ALICE").tail_seqno == 3


def test_unknown_type_may_be_ignored_only_when_flagged():
    c = base_chain()
    c.add(build_link(c.eldest, link_type="kbapp.future_thing", body_fields={"future": {"x": 1}},
                     ignore_if_unsupported=True, **c.common()))
    state = c.verify()
    assert [(lk.type_name, lk.link_type) for lk in state.other_links] == [("kbapp.future_thing", LinkType.NONE)]
    # a team link has no business in a user chain
    c.links[-1] = build_link(c.eldest, link_type=LinkType.TEAM_ROOT, body_fields={"team": {}}, **c.common(seqno=4,
                             prev=bytes.fromhex(c.links[2]["payload_hash"])))
    with pytest.raises(BadChainLink):
        c.verify()


def test_statement_links_are_kept():
    c = base_chain()
    c.add(build_link(c.eldest, link_type=LinkType.WEB_SERVICE_BINDING,
                     body_fields={"service": {"name": "github", "username": "alice"}}, **c.common()))
    c.add(c.track(c.eldest))
    state = c.verify()
    assert [lk.link_type for lk in state.other_links] == [LinkType.WEB_SERVICE_BINDING, LinkType.TRACK]
    assert state.other_links[0].body["service"]["name"] == "github"


def test_expired_signer():
    c = Chain()
    c.links[0] = build_eldest(c.eldest, uid=UID, username=USER, ctime=T0, device_id=DEV1, device_name="x",
                              expire_in=5)
    c.add(c.track(c.eldest, ctime=T0 + 6))
    with pytest.raises(InvalidSibkey):
        c.verify()


# --- tampering ------------------------------------------------------------------


def test_server_metadata_is_ignored():
    c = with_second_device(base_chain())
    good = c.verify()
    for wire in c.links:
        wire.update(kid=kid_hex(sk(9).kid), payload_hash="00" * 32, sig_id="00" * 33, prev="11" * 32,
                    seqno=99, ctime=0)
    state = c.verify()
    assert (state.tail_link_id, set(state.sibkeys)) == (good.tail_link_id, set(good.sibkeys))


def test_edited_payload():
    c = base_chain()
    c.links[1]["payload_json"] = c.links[1]["payload_json"].replace('"laptop"', '"lapt0p"').replace(
        kid_hex(ek(1).kid), kid_hex(ek(9).kid))
    with pytest.raises(BadSignature):
        c.verify()


def test_bad_signature():
    c = base_chain()
    packet = unpack(b64decode(c.links[2]["sig"]))
    packet["body"]["sig"] = bytes([packet["body"]["sig"][0] ^ 1]) + packet["body"]["sig"][1:]
    c.links[2]["sig"] = b64encode(pack(packet))
    with pytest.raises(BadSignature):
        c.verify()


def test_signed_wrong_prev():
    c = base_chain()
    c.add(c.track(c.eldest, prev=bytes.fromhex(c.links[1]["payload_hash"])))
    with pytest.raises(WrongPrev):
        c.verify()


def test_signed_wrong_seqno():
    c = base_chain()
    c.add(c.track(c.eldest, seqno=5))
    with pytest.raises(WrongSeqno):
        c.verify()


def test_dropped_link():
    c = with_second_device(base_chain())
    del c.links[2]
    with pytest.raises(WrongSeqno):
        c.verify()


def test_link_replayed_at_another_seqno():
    c = base_chain()
    c.add(copy.deepcopy(c.links[1]))
    with pytest.raises(WrongSeqno):
        c.verify()


def test_reordered_links():
    c = with_second_device(base_chain())
    c.links[2], c.links[3] = c.links[3], c.links[2]
    with pytest.raises(WrongSeqno):
        c.verify()


def test_signed_by_a_key_never_delegated():
    c = base_chain()
    c.add(c.track(sk(66)))
    with pytest.raises(InvalidSibkey):
        c.verify()


def test_kid_swapped_for_another_active_key():
    c = with_second_device(base_chain())
    c.add(c.track(c.eldest))
    c.links[-1] = resign(c.links[-1], sk(2))       # body.key.kid still names the eldest key
    with pytest.raises(MismatchedField):
        c.verify()


def test_reverse_sig_by_another_key():
    c = base_chain()
    c.add(build_link(c.eldest, link_type=LinkType.SIBKEY, reverse_signer=("sibkey", sk(3)), **c.common(),
                     body_fields={"device": {"id": DEV2, "kid": kid_hex(sk(2).kid), "name": "p", "type": "mobile"},
                                  "sibkey": {"kid": kid_hex(sk(2).kid), "reverse_sig": None}}))
    with pytest.raises(WrongReverseSig) as info:
        c.verify()
    assert type(info.value) is WrongReverseSig


def test_reverse_sig_over_another_payload():
    c = base_chain()
    c.add(build_sibkey(c.eldest, sk(2), device_id=DEV2, device_name="phone", **c.common()))

    # sk(2)'s genuine reverse sig, but made for a link with another ctime
    other = build_sibkey(c.eldest, sk(2), device_id=DEV2, device_name="phone", **c.common(seqno=4, ctime=T0 + 99,
                         prev=bytes.fromhex(c.links[2]["payload_hash"])))
    theirs = json.loads(other["payload_json"])["body"]["sibkey"]["reverse_sig"]
    c.links[-1] = resign(c.links[-1], c.eldest, lambda p: p["body"]["sibkey"].update(reverse_sig=theirs))
    with pytest.raises(WrongReverseSig):
        c.verify()


def test_reverse_sig_without_its_context_prefix():
    c = base_chain()
    c.add(build_sibkey(c.eldest, sk(2), device_id=DEV2, device_name="phone", **c.common()))

    def plain(p):
        p["body"]["sibkey"]["reverse_sig"] = None
        p["body"]["sibkey"]["reverse_sig"] = make_sig_packet(sk(2), canonical_json(p))
    c.links[-1] = resign(c.links[-1], c.eldest, plain)
    with pytest.raises(WrongReverseSig):
        c.verify()


def test_sibkey_without_reverse_sig():
    c = base_chain()
    c.add(build_sibkey(c.eldest, sk(2), device_id=DEV2, device_name="phone", **c.common()))
    c.links[-1] = resign(c.links[-1], c.eldest, lambda p: p["body"]["sibkey"].update(reverse_sig=None))
    with pytest.raises(WrongReverseSig):
        c.verify()


def test_puk_reverse_sig_by_another_key():
    c = base_chain()
    c.links[2] = build_link(c.eldest, link_type=LinkType.PER_USER_KEY, reverse_signer=("per_user_key", sk(7)),
                            **c.common(seqno=3, prev=bytes.fromhex(c.links[1]["payload_hash"])),
                            body_fields={"per_user_key": {"encryption_kid": kid_hex(ek(100).kid), "generation": 1,
                                                          "reverse_sig": None, "signing_kid": kid_hex(sk(100).kid)}})
    with pytest.raises(WrongPerUserKeyReverseSig):
        c.verify()


def test_our_link_without_the_context_prefix():
    c = base_chain()
    c.links[-1] = resign(c.links[-1], c.eldest, prefix=None)
    with pytest.raises(BadSignature):
        c.verify()


def test_keybase_style_link_with_a_prefix():
    c = base_chain()
    c.links[-1] = resign(c.links[-1], c.eldest, lambda p: p["body"].update(version=2))
    with pytest.raises(BadSignature):
        c.verify()


def test_outer_type_differs_from_inner():
    c = base_chain()
    c.links[-1] = resign(c.links[-1], c.eldest, link_type=LinkType.TRACK)
    with pytest.raises(MismatchedField):
        c.verify()


def test_non_canonical_json_is_refused():
    c = base_chain()
    pj = c.links[-1]["payload_json"].replace(',"ctime"', ', "ctime"').encode()
    c.links[-1] = resign(c.links[-1], c.eldest, raw_json=pj)
    with pytest.raises(BadChainLink):
        c.verify()


def test_wrong_uid_and_username():
    c = base_chain()
    with pytest.raises(WrongUid):
        verify_chain(c.links, uid="1" * 30 + "19", username=USER)
    with pytest.raises(WrongUsername):
        verify_chain(c.links, uid=UID, username="mallory")
    c.add(build_link(c.eldest, link_type=LinkType.TRACK, body_fields={"track": {}},
                     **c.common(username="mallory")))
    with pytest.raises(WrongUsername):
        verify_chain(c.links, uid=UID)


def test_link_names_another_eldest_key():
    c = base_chain()
    c.add(c.track(c.eldest, eldest_kid=sk(9).kid))
    with pytest.raises(WrongEldest):
        c.verify()


def test_a_revoked_key_cannot_come_back():
    c = with_second_device(base_chain())
    c.add(build_revoke(c.eldest, kids=[sk(2).kid, ek(2).kid], **c.common()))
    c.add(build_sibkey(c.eldest, sk(2), device_id=DEV3, device_name="again", **c.common()))
    with pytest.raises(BadChainLink):
        c.verify()


def test_revoking_an_unknown_key():
    c = base_chain()
    c.add(build_revoke(c.eldest, kids=[sk(42).kid], **c.common()))
    with pytest.raises(BadChainLink):
        c.verify()


def test_subkey_for_an_unknown_device():
    c = base_chain()
    c.add(build_subkey(c.eldest, ek(5), device_id=DEV3, **c.common()))
    with pytest.raises(BadChainLink):
        c.verify()


def test_subkey_must_hang_off_its_devices_sibkey():
    c = base_chain()
    c.add(build_sibkey(c.eldest, sk(2), device_id=DEV2, device_name="phone", **c.common()))
    c.add(build_subkey(c.eldest, ek(2), device_id=DEV2, **c.common()))     # parent: the eldest key
    with pytest.raises(BadChainLink):
        c.verify()


def test_unknown_type_may_not_revoke():
    c = base_chain()
    with pytest.raises(ValueError):
        build_link(c.eldest, link_type="kbapp.future_thing", body_fields={"revoke": {"kids": [kid_hex(sk(1).kid)]}},
                   ignore_if_unsupported=True, **c.common())


# --- stubs ------------------------------------------------------------------------


def test_stubbed_track_is_allowed():
    c = base_chain()
    c.add(c.track(c.eldest))
    c.add(c.track(c.eldest, who="carol"))
    full = c.verify()
    c.links[3] = stub(c.links[3])
    state = c.verify()
    assert state.tail_link_id == full.tail_link_id
    assert state.links[3].stubbed and state.links[3].link_id_hex == full.links[3].link_id_hex
    assert [lk.seqno for lk in state.active_links] == [1, 2, 3, 5]
    assert link_id_hex(c.links[3]) == full.links[3].link_id_hex


@pytest.mark.parametrize("index,error", [
    (0, StubbedFirstLink),               # eldest
    (1, StubbedSignatureNeeded),         # subkey
    (2, StubbedSignatureNeeded),         # per_user_key
    (3, StubbedSignatureNeeded),         # web_service_binding
    (5, StubbedSignatureNeeded),         # the tail (a track): nothing signed vouches for it
])
def test_stubs_that_are_refused(index, error):
    c = base_chain()
    c.add(build_link(c.eldest, link_type=LinkType.WEB_SERVICE_BINDING, body_fields={"service": {"name": "x"}},
                     **c.common()))
    c.add(c.track(c.eldest))
    c.add(c.track(c.eldest))
    c.links[index] = stub(c.links[index])
    with pytest.raises(error):
        c.verify()


def test_forged_stub_breaks_the_hash_chain():
    c = base_chain()
    c.add(c.track(c.eldest))
    c.add(c.track(c.eldest))
    outer = unpack(b64decode(stub(c.links[3])["s2"]))
    outer[3] = hashlib.sha256(b"something else").digest()
    c.links[3] = {"s2": b64encode(pack(outer))}
    with pytest.raises(WrongPrev):
        c.verify()


def test_stub_needs_a_v2_link():
    with pytest.raises(ValueError):
        stub({"sig": "x", "sig_version": 1})


# --- malformed and oversize input -------------------------------------------------------


def _signed_raw(pj: bytes) -> dict:
    return sign_inner(sk(1), pj, seqno=2, prev=hashlib.sha256(b"x").digest(), link_type=LinkType.TRACK)


def test_oversize_payload():
    c = base_chain()
    c.links[-1]["payload_json"] = "x" * (70 * 1024)
    with pytest.raises(TooLarge):
        c.verify()
    with pytest.raises(TooLarge):
        parse_link(_signed_raw(b'{"a":"' + b"x" * (65 * 1024) + b'"}'))


def test_deep_payload():
    with pytest.raises(TooDeep):
        parse_link(_signed_raw(b'{"body":' + b"[" * 40 + b"]" * 40 + b"}"))
    with pytest.raises(EncodingError):
        build_link(sk(1), link_type=LinkType.TRACK, uid=UID, username=USER, eldest_kid=None, seqno=2,
                   prev=b"\x00" * 32, ctime=T0, body_fields={"track": json.loads("[" * 40 + "]" * 40)})


@pytest.mark.parametrize("wire", [
    "not a dict",
    {},
    {"sig": 5},
    {"sig": "!!!not base64!!!", "payload_json": "{}", "sig_version": 2},
    {"sig": "A" * (200 * 1024), "sig_version": 2},
    {"s2": "A" * 5000},
    {"s2": b64encode(pack({"not": "an array"}))},
    {"s2": b64encode(pack([2, 1, None]))},
])
def test_malformed_links(wire):
    with pytest.raises((EncodingError, BadChainLink)):
        verify_chain([wire], uid=UID)


def test_malformed_inner_json():
    with pytest.raises(EncodingError):
        parse_link(_signed_raw(b'{"body": '))
    with pytest.raises(BadChainLink):
        parse_link(_signed_raw(b'[1, 2]'))
    with pytest.raises(BadChainLink):
        parse_link(_signed_raw(b'{"body": {"key": {}}, "seqno": 2}'))


def test_not_a_list():
    with pytest.raises(BadChainLink):
        verify_chain({"links": []}, uid=UID)


# --- builder guards ----------------------------------------------------------------------


def test_builder_refuses_bad_arguments():
    good = dict(uid=UID, username=USER, eldest_kid=None, ctime=T0, body_fields={"track": {}},
                link_type=LinkType.TRACK)
    with pytest.raises(ValueError):
        build_link(sk(1), seqno=1, prev=b"\x00" * 32, **good)            # first link has no prev
    with pytest.raises(ValueError):
        build_link(sk(1), seqno=2, prev=None, **good)
    with pytest.raises(ValueError):
        build_link(sk(1), seqno=2, prev=b"\x00" * 32, **{**good, "link_type": "no_such_type"})
    with pytest.raises(ValueError):
        build_link(sk(1), seqno=2, prev=b"\x00" * 32, **{**good, "body_fields": {"type": "x"}})
    with pytest.raises(ValueError):
        build_link(sk(1), seqno=2, prev=b"\x00" * 32, **{**good, "body_fields": {"revoke": {"kids": ["x"]}}})
    with pytest.raises(ValueError):
        build_eldest(sk(1), uid=UID, username=USER, ctime=T0, device_id="zz", device_name="x")
    with pytest.raises(ValueError):
        build_eldest(sk(1), uid=UID, username=USER, ctime=T0, device_id=DEV1, device_name="x",
                     device_type="toaster")
