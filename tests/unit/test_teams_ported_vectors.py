"""Keybase's team scenarios, ported: the same attack or behaviour, on chains kbapp writes.

test_keybase_team_vectors.py runs Keybase's own files (their links: body
version 2, plain signature packets). This file builds each scenario again
with our builders (body version 3, context-prefixed packets, semiprivate
seq_type, merkle_root sizes) and attacks it the same way, so the checks hold
for the links kbapp itself writes. The names are Keybase's file names.
"""

from __future__ import annotations

import orjson
import pytest
from team_support import TeamBuilder, World

from kbapp.core import errors
from kbapp.core.encoding import b64encode, canonical_json
from kbapp.core.keys import SigningKeyPair
from kbapp.core.sigchain.build import sign_inner, stub
from kbapp.core.sigchain.links import parse_link
from kbapp.core.teams import (
    Invite,
    Role,
    TeamKey,
    TeamSigner,
    box_seed,
    build_change_membership,
    build_root,
    build_rotate_key,
    build_team_link,
    load_team,
    open_team_keys,
)
from kbapp.core.teams.invites import new_invite_id


def setup(*members: tuple[str, Role]):
    w = World("ported")
    alice = w.user("alice")
    t = TeamBuilder(w, "cabal", alice, {n: r for n, r in members})
    return w, alice, t


def resigned(link: dict, signer: SigningKeyPair, edit, *, link_type=None, seq_type: int = 3) -> dict:
    payload = orjson.loads(link["payload_json"])
    edit(payload)
    lk = parse_link(link)
    return sign_inner(signer, canonical_json(payload), seqno=lk.seqno, prev=lk.prev,
                      link_type=link_type if link_type is not None else lk.link_type, seq_type=seq_type)


def add(w, t, by, name, role=Role.WRITER, **kw):
    return build_change_membership(by.signer(), t.pos(), changes={w.user(name).uv: role}, ctime=w.ctime,
                                   merkle_root=w.tick(), **kw)


# Each scenario returns a thunk doing the load (and key opening) a member's client does.


def simple():
    w, alice, t = setup()
    return lambda: open_team_keys(t.load(), t.boxes[1][alice.uid], alice.puk.encryption, t.prevs)


def two_keys():
    w, alice, t = setup()
    t.change(alice, {"basil": Role.WRITER})
    t.rotate(alice)
    return lambda: open_team_keys(t.load(), t.boxes[2][alice.uid], alice.puk.encryption, t.prevs)


def admin_promotes_self():
    w, alice, t = setup(("basil", Role.ADMIN))
    return lambda: t.load(t.links + [add(w, t, w.user("basil"), "basil", Role.OWNER)])


def admin_demotes_owner():
    w, alice, t = setup(("basil", Role.ADMIN))
    return lambda: t.load(t.links + [add(w, t, w.user("basil"), "alice", Role.ADMIN)])


def writer_tries_to_admin():
    w, alice, t = setup(("basil", Role.WRITER))
    return lambda: t.load(t.links + [add(w, t, w.user("basil"), "rose")])


def signed_by_rando():
    w, alice, t = setup()
    rando = w.user("rando")
    return lambda: t.load(t.links + [add(w, t, rando, "rando")])


def signed_by_rando_admin():
    w, alice, t = setup()
    rando = w.user("rando")
    return lambda: t.load(t.links + [add(w, t, rando, "rose", admin={"team_id": t.id, "seqno": 1})])


def signed_by_removed_admin():
    w, alice, t = setup(("basil", Role.ADMIN))
    t.change(alice, {"basil": Role.NONE})
    return lambda: t.load(t.links + [add(w, t, w.user("basil"), "rose")])


def signed_by_removed_admin_ok():
    w, alice, t = setup(("basil", Role.ADMIN))
    t.change(w.user("basil"), {"rose": Role.WRITER})
    t.change(alice, {"basil": Role.NONE})
    return lambda: t.load()


def _revoked(ok: bool):
    w, alice, t = setup()
    link = build_rotate_key(alice.signer(), t.pos(), ptk=t.next_key(), ctime=w.ctime, merkle_root=w.tick())
    # alice's device revoked just after (ok) or just before (not ok) she signed link 2
    alice.revoked_at[alice.device.kid.hex()] = w.log_size + (1 if ok else 0)
    return lambda: t.load(t.links + [link])


def signed_by_revoked():
    return _revoked(False)


def signed_by_revoked_ok():
    return _revoked(True)


def cant_load_key():
    w, alice, t = setup()
    stray = SigningKeyPair.from_seed(w.rand(32))
    link = build_change_membership(TeamSigner(alice.uid, "alice", alice.device.kid, stray), t.pos(),
                                   changes={w.user("basil").uv: Role.WRITER}, ctime=w.ctime, merkle_root=w.tick())
    return lambda: t.load(t.links + [link])


def bad_admin_section():
    w, alice, t = setup()
    return lambda: t.load(t.links + [add(w, t, alice, "basil",
                                         admin={"team_id": "21000000000000000600000000000024", "seqno": 1})])


def _three():
    w, alice, t = setup()
    t.change(alice, {"basil": Role.WRITER})
    t.change(alice, {"rose": Role.WRITER})
    return w, alice, t


def hole_in_chain():
    w, alice, t = _three()
    return lambda: t.load([t.links[0], t.links[2]])


def seqno_skip():
    w, alice, t = _three()
    # link 3 re-signed by its author claiming seqno 4 (prev still link 2)
    lk = parse_link(t.links[2])

    def edit(p):
        p["seqno"] = 4
    payload = orjson.loads(t.links[2]["payload_json"])
    edit(payload)
    link = sign_inner(alice.device, canonical_json(payload), seqno=4, prev=lk.prev, link_type=lk.link_type,
                      seq_type=3)
    return lambda: t.load([t.links[0], t.links[1], link])


def bad_prev():
    w, alice, t = setup()
    lk_link = add(w, t, alice, "basil")
    lk = parse_link(lk_link)
    payload = orjson.loads(lk_link["payload_json"])
    payload["prev"] = "ab" * 32
    link = sign_inner(alice.device, canonical_json(payload), seqno=2, prev=b"\xab" * 32,
                      link_type=lk.link_type, seq_type=3)
    return lambda: t.load(t.links + [link])


def missing_prev():
    w, alice, t = setup()
    for _ in range(3):
        t.rotate(alice)
    prevs = {g: p for g, p in t.prevs.items() if g - 1 > 3}   # the prevs holding gens <= 3 withheld
    return lambda: open_team_keys(t.load(), t.boxes[4][alice.uid], alice.puk.encryption, prevs)


def prev_close_shave():
    w, alice, t = setup()
    for _ in range(3):
        t.rotate(alice)
    known = {1: t.keys[1], 2: t.keys[2]}
    prevs = {g: p for g, p in t.prevs.items() if g - 1 > 2}
    return lambda: open_team_keys(t.load(), t.boxes[4][alice.uid], alice.puk.encryption, prevs, known=known)


def corrupt_link():
    w, alice, t = setup()
    link = add(w, t, alice, "basil")
    return lambda: t.load(t.links + [dict(link, payload_json=link["payload_json"][:-7] + "garbage")])


def member_duplicate():
    w, alice, t = setup()
    link = add(w, t, alice, "basil")

    def dup(p):
        p["body"]["team"]["members"]["reader"] = [str(w.user("basil").uv)]
    return lambda: t.load(t.links + [resigned(link, alice.device, dup)])


def mismatch_inner_outer_key():
    w, alice, t = setup()
    link = add(w, t, alice, "basil")

    def edit(p):
        p["body"]["key"]["kid"] = w.user("basil").device.kid.hex()
    return lambda: t.load(t.links + [resigned(link, alice.device, edit)])


def mismatch_inner_teamid():
    w, alice, t = setup()
    link = add(w, t, alice, "basil")

    def edit(p):
        p["body"]["team"]["id"] = "21000000000000000600000000000024"
    return lambda: t.load(t.links + [resigned(link, alice.device, edit)])


def mismatch_seqno_type():
    w, alice, t = setup()
    link = add(w, t, alice, "basil")
    # inner says semiprivate (3), the signed outer says public (1)
    return lambda: t.load(t.links + [resigned(link, alice.device, lambda p: None, seq_type=1)])


def mismatch_unsupported():
    w, alice, t = setup()
    link = build_team_link(alice.signer(), t.pos(), "team.unsupported_from_the_future", {}, ctime=w.ctime,
                           ignore_if_unsupported=True, merkle_root=w.tick())
    # inner flips ignore_if_unsupported to false; the signed outer still says true
    return lambda: t.load(t.links + [resigned(link, alice.device, lambda p: p.update(ignore_if_unsupported=False),
                                              link_type=0)])


def unsupported_critical():
    w, alice, t = setup()

    def edit(p):
        p["body"]["type"] = "team.unsupported_from_the_future"
    link = add(w, t, alice, "basil")
    return lambda: t.load(t.links + [resigned(link, alice.device, edit, link_type=0)])


def unsupported_ignore():
    w, alice, t = setup()
    link = build_team_link(alice.signer(), t.pos(), "team.unsupported_from_the_future", {}, ctime=w.ctime,
                           ignore_if_unsupported=True, merkle_root=w.tick())
    return lambda: t.load(t.links + [link])


def unsupported_ignore_stubbed():
    w, alice, t = setup()
    link = build_team_link(alice.signer(), t.pos(), "team.unsupported_from_the_future", {}, ctime=w.ctime,
                           ignore_if_unsupported=True, merkle_root=w.tick())
    return lambda: t.load(t.links + [stub(link)])


def stub_admin():
    w, alice, t = setup()
    t.change(alice, {"basil": Role.WRITER})
    return lambda: t.load([t.links[0], stub(t.links[1])])


def missing_key_section():
    w, alice, t = setup()
    link = add(w, t, alice, "basil")
    return lambda: t.load(t.links + [resigned(link, alice.device, lambda p: p["body"].pop("key"))])


def missing_team_section():
    w, alice, t = setup()
    link = add(w, t, alice, "basil")
    return lambda: t.load(t.links + [resigned(link, alice.device, lambda p: p["body"].pop("team"))])


def missing_teamkey_section():
    w, alice, t = setup()
    link = build_rotate_key(alice.signer(), t.pos(), ptk=t.next_key(), ctime=w.ctime, merkle_root=w.tick())
    return lambda: t.load(t.links + [resigned(link, alice.device, lambda p: p["body"]["team"].pop("per_team_key"))])


def ptk_missing():
    w, alice, t = setup()
    return lambda: t.load([resigned(t.links[0], alice.device, lambda p: p["body"]["team"].pop("per_team_key"))])


def ptk_missing_enc_kid():
    w, alice, t = setup()
    return lambda: t.load([resigned(t.links[0], alice.device,
                                    lambda p: p["body"]["team"]["per_team_key"].pop("encryption_kid"))])


def ptk_wrong_enc_kid():
    w, alice, t = setup()
    # the root announces another encryption key than the seed derives; alice's box holds the real seed
    other = TeamKey.derive(w.rand(32), 1)
    k1 = t.keys[1]
    fake = TeamKey(1, k1.seed, k1.signing, other.encryption, k1.secretbox_key)
    root = build_root(alice.signer(), name="cabal", members={alice.uv: Role.OWNER}, ptk=fake, ctime=w.ctime)
    return lambda: open_team_keys(t.load([root]), t.boxes[1][alice.uid], alice.puk.encryption, {})


def ptk_skip_generation():
    w, alice, t = setup()
    t.rotate(alice)
    k4 = TeamKey.derive(w.rand(32), 4)
    return lambda: t.load(t.links + [build_rotate_key(alice.signer(), t.pos(), ptk=k4, ctime=w.ctime,
                                                      merkle_root=w.tick())])


def ptk_clash():
    w, alice, t = setup()
    t.rotate(alice)
    k2 = TeamKey.derive(w.rand(32), 2)
    return lambda: t.load(t.links + [build_rotate_key(alice.signer(), t.pos(), ptk=k2, ctime=w.ctime,
                                                      merkle_root=w.tick())])


def ptk_future():
    w, alice, t = setup()
    t.rotate(alice)
    k3 = TeamKey.derive(w.rand(32), 3)
    box = box_seed(k3, alice.puk.encryption, alice.puk.encryption.public, nonce=w.rand(24)).to_wire()
    return lambda: open_team_keys(t.load(), box, alice.puk.encryption, t.prevs)


def ptk_bad_box():
    w, alice, t = setup()
    t.rotate(alice)
    box = dict(t.boxes[2][alice.uid])
    box["ctext"] = b64encode(bytes(48))
    return lambda: open_team_keys(t.load(), box, alice.puk.encryption, t.prevs)


def ptk_missing_box():
    w, alice, t = setup()
    t.rotate(alice)
    return lambda: open_team_keys(t.load(), None, alice.puk.encryption, t.prevs)


def ptk_bad_prev():
    w, alice, t = setup()
    t.rotate(alice)
    prevs = {2: "ffff" + t.prevs[2][4:]}
    return lambda: open_team_keys(t.load(), t.boxes[2][alice.uid], alice.puk.encryption, prevs)


def ptk_mismatch_secret():
    w, alice, t = setup()
    t.rotate(alice)
    t.rotate(alice)
    # generation 3's prev holds a seed that is not generation 2's
    stranger = TeamKey.derive(w.rand(32), 2)
    from kbapp.core.teams import encrypt_prev
    prevs = {**t.prevs, 3: encrypt_prev(t.keys[3], stranger, w.rand(24))}
    return lambda: open_team_keys(t.load(), t.boxes[3][alice.uid], alice.puk.encryption, prevs)


def omit_latest():
    w, alice, t = setup()
    st = t.rotate(alice)
    tail = type("Tail", (), {"seqno": st.seqno, "link_id": st.tail_link_id})()
    return lambda: load_team(t.links[:1], team_id=t.id, user_key_at=w.user_key_at, tail=tail)


def _invite_link(w, alice, t, max_uses):
    inv = Invite(new_invite_id(w.rand(16)), Role.WRITER, "invitelink", "YmFzZTY0", 0, max_uses)
    t.invite(alice, [inv])
    return inv


def multiple_use_invite():
    w, alice, t = setup()
    inv = _invite_link(w, alice, t, 5)
    for n in ("basil", "rose"):
        t.change(alice, {n: Role.WRITER}, completed_invites={inv.id: w.user(n).uv})
    return lambda: t.load()


def multiple_use_invite_exceed():
    w, alice, t = setup()
    inv = _invite_link(w, alice, t, 2)
    for n in ("basil", "rose"):
        t.change(alice, {n: Role.WRITER}, completed_invites={inv.id: w.user(n).uv})
    return lambda: t.change(alice, {"lily": Role.WRITER}, completed_invites={inv.id: w.user("lily").uv})


def invite_obsolete_trick():
    w, alice, t = setup()
    basil = w.user("basil")
    inv = Invite(new_invite_id(w.rand(16)), Role.WRITER, "keybase", str(basil.uv), 0)
    t.invite(alice, [inv])
    t.change(alice, {"basil": Role.WRITER})
    t.leave(basil)
    t.rotate(alice)
    return lambda: t.change(alice, {"basil": Role.WRITER}, completed_invites={inv.id: basil.uv})


SCENARIOS = {
    # name: (builder, expected error or None)
    "simple": (simple, None),
    "2keys": (two_keys, None),
    "admin_promotes_self": (admin_promotes_self, errors.TeamPermissionDenied),
    "admin_demotes_owner": (admin_demotes_owner, errors.TeamPermissionDenied),
    "writer_tries_to_admin": (writer_tries_to_admin, errors.TeamPermissionDenied),
    "signed_by_rando": (signed_by_rando, errors.TeamPermissionDenied),
    "signed_by_rando_admin": (signed_by_rando_admin, errors.TeamPermissionDenied),
    "signed_by_removed_admin": (signed_by_removed_admin, errors.TeamPermissionDenied),
    "signed_by_removed_admin_ok": (signed_by_removed_admin_ok, None),
    "signed_by_revoked": (signed_by_revoked, errors.TeamSignerKeyNotLive),
    "signed_by_revoked_ok": (signed_by_revoked_ok, None),
    "cant_load_key": (cant_load_key, errors.TeamSignerKeyNotLive),
    "bad_admin_section": (bad_admin_section, errors.TeamPermissionDenied),
    "hole_in_chain": (hole_in_chain, errors.WrongSeqno),
    "seqno_skip": (seqno_skip, errors.WrongSeqno),
    "bad_prev": (bad_prev, errors.WrongPrev),
    "missing_prev": (missing_prev, errors.BadTeamKey),
    "prev_close_shave": (prev_close_shave, None),
    "corrupt_link": (corrupt_link, (errors.BadSignature, errors.EncodingError)),
    "member_duplicate": (member_duplicate, errors.BadTeamMembership),
    "mismatch_inner_outer_key": (mismatch_inner_outer_key, errors.MismatchedField),
    "mismatch_inner_teamid": (mismatch_inner_teamid, errors.TeamWrongId),
    "mismatch_seqno_type": (mismatch_seqno_type, errors.MismatchedField),
    # refused at the inner type (not ignorable) before the outer comparison
    "mismatch_unsupported": (mismatch_unsupported, (errors.MismatchedField, errors.BadChainLink)),
    "unsupported_critical": (unsupported_critical, errors.BadChainLink),
    "unsupported_ignore": (unsupported_ignore, None),
    "unsupported_ignore_stubbed": (unsupported_ignore_stubbed, errors.StubbedSignatureNeeded),
    "stub_admin": (stub_admin, errors.StubbedSignatureNeeded),
    "missing_key_section": (missing_key_section, errors.BadChainLink),
    "missing_team_section": (missing_team_section, errors.BadChainLink),
    "missing_teamkey_section": (missing_teamkey_section, errors.BadTeamKey),
    "ptk_missing": (ptk_missing, errors.BadTeamKey),
    "ptk_missing_enc_kid": (ptk_missing_enc_kid, errors.BadTeamKey),
    "ptk_wrong_enc_kid": (ptk_wrong_enc_kid, errors.BadTeamKey),
    "ptk_skip_generation": (ptk_skip_generation, errors.BadTeamKey),
    "ptk_clash": (ptk_clash, errors.BadTeamKey),
    "ptk_future": (ptk_future, errors.BadTeamKey),
    "ptk_bad_box": (ptk_bad_box, errors.BadTeamKey),
    "ptk_missing_box": (ptk_missing_box, errors.BadTeamKey),
    "ptk_bad_prev": (ptk_bad_prev, errors.BadTeamKey),
    "ptk_mismatch_secret": (ptk_mismatch_secret, errors.BadTeamKey),
    "omit_latest": (omit_latest, errors.ChainTailMismatch),
    "multiple_use_invite": (multiple_use_invite, None),
    "multiple_use_invite_exceed": (multiple_use_invite_exceed, errors.BadTeamInvite),
    "invite_obsolete_trick": (invite_obsolete_trick, None),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_ported_scenario(name):
    build, expected = SCENARIOS[name]
    thunk = build()
    if expected is None:
        thunk()
    else:
        with pytest.raises(expected):
            thunk()
