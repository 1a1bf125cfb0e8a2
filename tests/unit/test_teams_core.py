"""Team core: names and ids, per-team keys, link round trips, role rules, invites."""

from __future__ import annotations

import hashlib

import pytest
from team_support import TeamBuilder, World

from kbapp.core import errors
from kbapp.core.sigchain.links import LinkType, parse_link
from kbapp.core.teams import (
    ChainPos,
    Role,
    Settings,
    TeamKey,
    UserVersion,
    assertion_invite,
    box_seed,
    build_change_membership,
    build_new_subteam,
    build_root,
    build_subteam_head,
    check_team_name,
    decrypt_prev,
    encrypt_prev,
    implicit_team_id,
    implicit_team_invites,
    load_team,
    new_token,
    open_seed_box,
    open_team_keys,
    parse_implicit_name,
    root_team_id,
    seitan_invite,
    sign_acceptance,
    join_request_hash,
    sign_join_denial,
    sign_join_request,
    subteam_id,
    unroll,
    user_invite,
    verify_acceptance,
    verify_join_denial,
    verify_join_request,
)
from kbapp.core.teams.keys import REASON_SIGNING, derive_team_secret
from kbapp.core.uid import uid_for


# --- names and ids --------------------------------------------------------------------


def test_root_team_id_is_keybases():
    # Keybase's vectors: team "cabal" has id 2123209b98b16083c69c91152b861724
    assert root_team_id("cabal") == "2123209b98b16083c69c91152b861724"
    assert root_team_id("Cabal") == root_team_id("cabal")


@pytest.mark.parametrize("bad", ["", "a", "x" * 17, "_acme", "ac__me", "acme.", ".acme", "ac me", "acmé",
                                 "a.b", ".".join(["ab"] * 9)])
def test_bad_team_names(bad):
    with pytest.raises(errors.BadTeamName):
        check_team_name(bad)


def test_subteam_ids_differ_and_carry_the_suffix():
    parent = root_team_id("acme")
    a = subteam_id(parent, "acme.web", b"\x01" * 16)
    b = subteam_id(parent, "acme.web", b"\x02" * 16)
    assert a != b and a.endswith("25") and parent.endswith("24")
    with pytest.raises(errors.BadTeamName):
        root_team_id("acme.web")


def test_implicit_names_parse_and_canonicalise():
    n = parse_implicit_name("bob,Alice,bob@GitHub#carol,alice")
    assert n.writers == ("alice", "bob", "bob@github")
    assert n.readers == ("carol",)          # alice is a writer: not also a reader
    assert str(n) == "alice,bob,bob@github#carol"
    assert n.usernames == (("alice", "bob"), ("carol",))
    assert n.assertions == (("bob@github",), ())
    m = parse_implicit_name("alice,bob@github#carol")
    assert m.assertions == (("bob@github",), ())
    assert str(m.resolve("bob@github", "bobby")) == "alice,bobby#carol"
    assert implicit_team_id("alice,bob@github#carol") == implicit_team_id(" bob@github , alice #carol")
    assert implicit_team_id("alice,bob") != implicit_team_id("alice#bob")


@pytest.mark.parametrize("bad", ["", "#carol", "alice,,bob", "alice#bob#carol", "alice,bob@nowhere",
                                 "al!ce", "a" * 5000])
def test_bad_implicit_names(bad):
    with pytest.raises(errors.BadTeamName):
        parse_implicit_name(bad)


def test_user_versions():
    uid = uid_for("alice")
    assert UserVersion.parse(uid) == UserVersion(uid, 1)
    assert UserVersion.parse(f"{uid}%3") == UserVersion(uid, 3)
    assert str(UserVersion(uid, 3)) == f"{uid}%3"
    for bad in ["", uid + "%0", uid + "%x", "zz" * 16, uid[:-2], None, 5]:
        with pytest.raises(errors.BadTeamMembership):
            UserVersion.parse(bad)


# --- per-team keys -----------------------------------------------------------------------


def test_ptk_derivation_matches_keybases_reasons():
    seed = bytes(range(32))
    k = TeamKey.derive(seed, 1)
    import hmac
    assert derive_team_secret(seed, REASON_SIGNING) == hmac.new(seed, REASON_SIGNING, hashlib.sha512).digest()[:32]
    assert k.signing.seed == derive_team_secret(seed, b"Keybase-Derived-Team-NaCl-EdDSA-1")
    assert k.encryption.seed == derive_team_secret(seed, b"Keybase-Derived-Team-NaCl-DH-1")
    assert k.secretbox_key == derive_team_secret(seed, b"Keybase-Derived-Team-NaCl-SecretBox-1")
    chat, kbfs = k.application_key("chat"), k.application_key("kbfs")
    assert len(chat) == 32 and chat != kbfs and chat not in (k.secretbox_key, k.seed)
    assert TeamKey.derive(seed, 2).application_key("chat") == chat   # derived from the seed only
    with pytest.raises(ValueError):
        k.application_key("wallet")
    with pytest.raises(errors.BadTeamKey):
        TeamKey.derive(b"\x00" * 32, 1)


def test_seed_box_opens_only_for_its_member_and_its_generation():
    w = World()
    alice, bob, mallory = w.user("alice"), w.user("bob"), w.user("mallory")
    k1 = w.new_team_key(1)
    box = box_seed(k1, alice.puk.encryption, bob.puk.encryption.public, nonce=w.rand(24)).to_wire()
    got = open_seed_box(box, bob.puk.encryption, signing_kid=k1.signing_kid, encryption_kid=k1.encryption_kid)
    assert got.seed == k1.seed
    with pytest.raises(errors.BadTeamKey):
        open_seed_box(box, mallory.puk.encryption, signing_kid=k1.signing_kid, encryption_kid=k1.encryption_kid)
    k2 = w.new_team_key(2)
    # relabelled as generation 2 by the server: the seed does not derive generation 2's keys
    relabelled = dict(box, generation=2)
    with pytest.raises(errors.BadTeamKey):
        open_seed_box(relabelled, bob.puk.encryption, signing_kid=k2.signing_kid, encryption_kid=k2.encryption_kid)
    tampered = dict(box, ctext=box["ctext"][:-4] + "AAA=")
    with pytest.raises(errors.BadTeamKey):
        open_seed_box(tampered, bob.puk.encryption, signing_kid=k1.signing_kid, encryption_kid=k1.encryption_kid)
    for bad in [None, {}, dict(box, nonce="AA=="), dict(box, sender_kid="00"), dict(box, generation=0)]:
        with pytest.raises(errors.BadTeamKey):
            open_seed_box(bad, bob.puk.encryption, signing_kid=k1.signing_kid, encryption_kid=k1.encryption_kid)


def test_prev_chain_unrolls_and_checks_each_generation():
    w = World()
    keys = {1: w.new_team_key(1)}
    prevs = {}
    for g in (2, 3, 4):
        keys[g] = w.new_team_key(g)
        prevs[g] = encrypt_prev(keys[g], keys[g - 1], w.rand(24))
    kids = {g: (k.signing_kid.hex(), k.encryption_kid.hex()) for g, k in keys.items()}
    got = unroll(keys[4], prevs, kids)
    assert {g: k.seed for g, k in got.items()} == {g: k.seed for g, k in keys.items()}
    with pytest.raises(errors.BadTeamKey):
        unroll(keys[4], {4: prevs[4], 3: prevs[2], 2: prevs[2]}, kids)   # a prev out of place
    with pytest.raises(errors.BadTeamKey):
        unroll(keys[4], {4: prevs[4], 2: prevs[2]}, kids)                # a gap
    with pytest.raises(errors.BadTeamKey):
        decrypt_prev(keys[3], prevs[4], signing_kid=kids[2][0], encryption_kid=kids[2][1])


# --- links round trip ------------------------------------------------------------------


def test_root_link_round_trips_in_keybase_format():
    w = World()
    alice = w.user("alice")
    t = TeamBuilder(w, "acme", alice, {"bob": Role.WRITER, "carol": Role.READER})
    lk = parse_link(t.links[0])
    assert lk.link_type == LinkType.TEAM_ROOT and lk.seq_type == 3 and lk.is_ours
    assert lk.outer.seq_type == 3
    body = lk.payload["body"]
    assert body["type"] == "team.root" and body["team"]["name"] == "acme"
    assert body["team"]["id"] == root_team_id("acme") == t.state.id
    assert body["team"]["members"]["owner"] == [str(alice.uv)]
    st = t.state
    assert st.name == "acme" and st.seqno == 1 and st.generation == 1 and st.parent_id is None
    assert st.role_of(alice.uid) == Role.OWNER
    assert st.role_of(w.user("bob").uid) == Role.WRITER
    assert st.role_of(w.user("carol").uid) == Role.READER
    assert st.ptk.signing_kid == t.keys[1].signing_kid.hex()
    assert st.tail_link_id == lk.link_id.hex()


def test_every_member_opens_its_box_and_derives_the_same_key():
    w = World()
    alice = w.user("alice")
    t = TeamBuilder(w, "acme", alice, {"bob": Role.WRITER, "carol": Role.READER})
    for name in ("alice", "bob", "carol"):
        u = w.user(name)
        keys = open_team_keys(t.state, t.boxes[1][u.uid], u.puk.encryption, t.prevs)
        assert keys[1].application_key("chat") == t.keys[1].application_key("chat")


def test_removed_member_cannot_open_the_new_generation():
    w = World()
    alice, bob, carol = w.user("alice"), w.user("bob"), w.user("carol")
    t = TeamBuilder(w, "acme", alice, {"bob": Role.WRITER, "carol": Role.WRITER})
    old_box_bob = t.boxes[1][bob.uid]
    st = t.change(alice, {"bob": Role.NONE})
    assert st.generation == 2 and bob.uid not in st.members
    assert bob.uid not in t.boxes[2]
    # bob's old box is of generation 1: refused for a team at generation 2
    with pytest.raises(errors.BadTeamKey):
        open_team_keys(st, old_box_bob, bob.puk.encryption, t.prevs)
    # carol's box of generation 2 does not open with bob's key
    with pytest.raises(errors.BadTeamKey):
        open_team_keys(st, t.boxes[2][carol.uid], bob.puk.encryption, t.prevs)
    # carol reads both generations (the new one from her box, the old from the prev)
    keys = open_team_keys(st, t.boxes[2][carol.uid], carol.puk.encryption, t.prevs)
    assert keys[2].seed == t.keys[2].seed and keys[1].seed == t.keys[1].seed


def test_leave_then_rotate():
    w = World()
    alice, bob = w.user("alice"), w.user("bob")
    t = TeamBuilder(w, "acme", alice, {"bob": Role.WRITER})
    st = t.leave(bob)
    assert st.needs_rotation and bob.uid not in st.members
    st = t.rotate(alice)
    assert not st.needs_rotation and st.generation == 2


def test_settings_open_team():
    w = World()
    alice = w.user("alice")
    t = TeamBuilder(w, "acme", alice)
    st = t.settings(alice, Settings(open=True, join_as=Role.WRITER))
    assert st.settings == Settings(True, Role.WRITER)
    with pytest.raises(errors.TeamPermissionDenied):
        t.settings(alice, Settings(open=True, join_as=Role.ADMIN))


def test_role_history_answers_role_at():
    w = World()
    alice, bob = w.user("alice"), w.user("bob")
    t = TeamBuilder(w, "acme", alice)
    t.change(alice, {"bob": Role.WRITER})
    t.change(alice, {"bob": Role.ADMIN})
    st = t.change(alice, {"bob": Role.NONE})
    assert st.role_at(bob.uid, 1) == (Role.NONE, 0)
    assert st.role_at(bob.uid, 2)[0] == Role.WRITER
    assert st.role_at(bob.uid, 3)[0] == Role.ADMIN
    assert st.role_at(bob.uid, 4)[0] == Role.NONE


# --- role rules (honest and dishonest signers) -----------------------------------------


def test_admin_may_manage_writers_but_not_owners():
    w = World()
    alice, bob = w.user("alice"), w.user("bob")
    t = TeamBuilder(w, "acme", alice, {"bob": Role.ADMIN})
    t.change(bob, {"carol": Role.WRITER})
    t.change(bob, {"dave": Role.ADMIN})
    for changes in ({"erin": Role.OWNER}, {"alice": Role.ADMIN}, {"alice": Role.NONE}, {"bob": Role.OWNER}):
        with pytest.raises(errors.TeamPermissionDenied):
            t.change(bob, changes)
    t.change(alice, {"bob": Role.OWNER})        # an owner makes owners
    assert t.state.role_of(bob.uid) == Role.OWNER


def test_root_team_keeps_an_owner_and_the_last_owner_cannot_leave():
    w = World()
    alice = w.user("alice")
    t = TeamBuilder(w, "acme", alice, {"bob": Role.ADMIN})
    with pytest.raises(errors.BadTeamMembership):
        t.change(alice, {"alice": Role.NONE})
    with pytest.raises(errors.BadTeamMembership):
        t.leave(alice)


def test_subteam_with_implicit_admin():
    w = World()
    alice, bob, carol = w.user("alice"), w.user("bob"), w.user("carol")
    parent = TeamBuilder(w, "acme", alice, {"bob": Role.ADMIN, "carol": Role.WRITER})
    sid = subteam_id(parent.id, "acme.web", w.rand(16))
    parent.append(build_new_subteam(bob.signer(), parent.pos(), subteam_id=sid, subteam_name="acme.web",
                                    ctime=w.ctime, merkle_root=w.tick()))
    pst = parent.state
    assert pst.subteams == {sid: "acme.web"}
    k1 = w.new_team_key(1)
    head = build_subteam_head(bob.signer(), subteam_id=sid, name="acme.web", parent_id=parent.id,
                              parent_seqno=pst.seqno, admin={"team_id": parent.id, "seqno": pst.seqno},
                              members={carol.uv: Role.WRITER}, ptk=k1, ctime=w.ctime, merkle_root=w.tick())
    sub = load_team([head], team_id=sid, user_key_at=w.user_key_at, ancestors={parent.id: pst})
    assert sub.parent_id == parent.id and sub.name == "acme.web"
    assert sub.role_of(carol.uid) == Role.WRITER and sub.role_of(bob.uid) == Role.NONE
    # bob, an implicit admin, adds dave to the subteam
    link2 = build_change_membership(bob.signer(), ChainPos.after(sub), changes={w.user("dave").uv: Role.READER},
                                    ctime=w.ctime, admin={"team_id": parent.id, "seqno": pst.seqno},
                                    merkle_root=w.tick())
    sub2 = load_team([head, link2], team_id=sid, user_key_at=w.user_key_at, ancestors={parent.id: pst})
    assert sub2.role_of(w.user("dave").uid) == Role.READER
    # carol (a writer of the parent) cannot claim admin through it
    link_c = build_change_membership(carol.signer(), ChainPos.after(sub), changes={w.user("erin").uv: Role.READER},
                                     ctime=w.ctime, admin={"team_id": parent.id, "seqno": pst.seqno},
                                     merkle_root=w.tick())
    with pytest.raises(errors.TeamPermissionDenied):
        load_team([head, link_c], team_id=sid, user_key_at=w.user_key_at, ancestors={parent.id: pst})
    # without the parent's verified state, the claim cannot be checked: refused
    with pytest.raises(errors.TeamPermissionDenied):
        load_team([head], team_id=sid, user_key_at=w.user_key_at)


def test_implicit_team_members_follow_the_name():
    w = World()
    alice, bob, carol = w.user("alice"), w.user("bob"), w.user("carol")
    name = parse_implicit_name("alice,bob,zed@github#carol")
    invites = implicit_team_invites(name, [w.rand(16)])
    members = {alice.uv: Role.OWNER, bob.uv: Role.OWNER, carol.uv: Role.READER}
    k = w.new_team_key(1)
    root = build_root(alice.signer(), name=str(name), members=members, ptk=k, ctime=w.ctime, implicit=True,
                      invites=invites, merkle_root=w.tick())
    st = load_team([root], team_id=implicit_team_id(name), user_key_at=w.user_key_at)
    assert st.implicit and st.name == "alice,bob,zed@github#carol"
    assert st.role_of(carol.uid) == Role.READER
    (inv,) = st.invites.values()
    assert (inv.type, inv.name, inv.role) == ("github", "zed", Role.OWNER)
    # a creator who leaves someone out (or adds someone) is caught
    for bad in ({alice.uv: Role.OWNER, carol.uv: Role.READER},
                {**members, w.user("mallory").uv: Role.READER},
                {alice.uv: Role.OWNER, bob.uv: Role.OWNER, carol.uv: Role.WRITER}):
        r = build_root(alice.signer(), name=str(name), members=bad, ptk=k, ctime=w.ctime, implicit=True,
                       invites=invites, merkle_root=w.tick())
        with pytest.raises(errors.BadTeamMembership):
            load_team([r], team_id=implicit_team_id(name), user_key_at=w.user_key_at)
    r = build_root(alice.signer(), name=str(name), members=members, ptk=k, ctime=w.ctime, implicit=True,
                   merkle_root=w.tick())   # the assertion's invite is missing
    with pytest.raises(errors.BadTeamMembership):
        load_team([r], team_id=implicit_team_id(name), user_key_at=w.user_key_at)


# --- invites ------------------------------------------------------------------------------


def test_seitan_token_flow():
    w = World()
    alice, bob = w.user("alice"), w.user("bob")
    t = TeamBuilder(w, "acme", alice)
    token = new_token(w.rand(16))
    assert len(token) == 26
    inv = seitan_invite(token, Role.WRITER)
    st = t.invite(alice, [inv])
    chain_inv = st.invites[inv.id]
    assert chain_inv.type == "seitan" and chain_inv.name == inv.name and token not in repr(t.links[-1])
    acc = sign_acceptance(token.upper(), team_id=t.id, uv=bob.uv, ctime=w.ctime)
    assert verify_acceptance(chain_inv, acc, team_id=t.id) == bob.uv
    st = t.change(alice, {"bob": Role.WRITER}, completed_invites={inv.id: bob.uv}, invite_proofs={inv.id: acc})
    assert st.role_of(bob.uid) == Role.WRITER and inv.id not in st.invites
    with pytest.raises(errors.BadTeamInvite):   # single use
        t.change(alice, {"carol": Role.WRITER}, completed_invites={inv.id: w.user("carol").uv},
                 invite_proofs={inv.id: acc})


def test_seitan_acceptance_forgeries_fail():
    w = World()
    bob, mallory = w.user("bob"), w.user("mallory")
    tid = root_team_id("acme")
    token = new_token(w.rand(16))
    inv = seitan_invite(token, Role.WRITER)
    acc = sign_acceptance(token, team_id=tid, uv=bob.uv, ctime=5)
    # the server (or mallory) rewrites the acceptance for someone else
    with pytest.raises(errors.BadTeamInvite):
        verify_acceptance(inv, dict(acc, uv=str(mallory.uv)), team_id=tid)
    # an acceptance made with another token
    other = sign_acceptance(new_token(w.rand(16)), team_id=tid, uv=mallory.uv, ctime=5)
    with pytest.raises(errors.BadTeamInvite):
        verify_acceptance(inv, dict(other, invite_id=inv.id), team_id=tid)
    # replayed to another team
    with pytest.raises(errors.BadTeamInvite):
        verify_acceptance(inv, acc, team_id=root_team_id("other"))
    for bad in (None, {}, dict(acc, sig="x"), dict(acc, ctime=-1), dict(acc, uv="nope")):
        with pytest.raises(errors.BadTeamInvite):
            verify_acceptance(inv, bad, team_id=tid)
    with pytest.raises(errors.BadTeamInvite):
        sign_acceptance("not a token!", team_id=tid, uv=bob.uv, ctime=5)


def test_user_and_assertion_invites():
    w = World()
    alice, bob = w.user("alice"), w.user("bob")
    t = TeamBuilder(w, "acme", alice)
    ui = user_invite(bob.uv, Role.READER, w.rand(16))
    ai = assertion_invite("github", "Zed", Role.WRITER, w.rand(16))
    st = t.invite(alice, [ui, ai])
    assert set(st.invites) == {ui.id, ai.id}
    with pytest.raises(errors.BadTeamInvite):   # the user invite is bob's, not carol's
        t.change(alice, {"carol": Role.READER}, completed_invites={ui.id: w.user("carol").uv})
    with pytest.raises(errors.BadTeamInvite):   # the role must be the invite's
        t.change(alice, {"bob": Role.WRITER}, completed_invites={ui.id: bob.uv})
    st = t.change(alice, {"bob": Role.READER}, completed_invites={ui.id: bob.uv})
    assert ui.id not in st.invites
    st = t.invite(alice, cancel=[ai.id])
    assert st.invites == {}
    with pytest.raises(errors.BadTeamInvite):   # an invite id is never reused
        t.invite(alice, [ai])
    with pytest.raises(errors.TeamPermissionDenied):   # only owners invite owners
        t.change(alice, {"bob": Role.ADMIN})
        t.invite(bob, [assertion_invite("github", "x", Role.OWNER, w.rand(16))])


def test_join_request():
    w = World()
    bob, mallory = w.user("bob"), w.user("mallory")
    tid = root_team_id("acme")
    req = sign_join_request(bob.device, team_id=tid, uv=bob.uv, ctime=7)
    assert verify_join_request(req, team_id=tid, user_key_at=w.user_key_at) == bob.uv
    with pytest.raises(errors.BadTeamInvite):
        verify_join_request(dict(req, uv=str(mallory.uv)), team_id=tid, user_key_at=w.user_key_at)
    forged = sign_join_request(mallory.device, team_id=tid, uv=bob.uv, ctime=7)   # mallory's key, bob's name
    with pytest.raises(errors.BadTeamInvite):
        verify_join_request(forged, team_id=tid, user_key_at=w.user_key_at)
    with pytest.raises(errors.BadTeamInvite):
        verify_join_request(req, team_id=root_team_id("other"), user_key_at=w.user_key_at)
    with pytest.raises(errors.BadTeamInvite):
        verify_join_request({"team_id": tid}, team_id=tid, user_key_at=w.user_key_at)


def test_join_denial_names_one_request_and_its_signer():
    w = World()
    alice, bob, mallory = w.user("alice"), w.user("bob"), w.user("mallory")
    tid = root_team_id("acme")
    req = sign_join_request(bob.device, team_id=tid, uv=bob.uv, ctime=7)
    denial = sign_join_denial(alice.device, team_id=tid, admin=alice.uv, request=req, ctime=8)
    assert denial["request"] == join_request_hash(req)
    assert verify_join_denial(denial, team_id=tid, request=req, user_key_at=w.user_key_at) == alice.uv
    later = sign_join_request(bob.device, team_id=tid, uv=bob.uv, ctime=9)   # bob asks again
    with pytest.raises(errors.BadTeamInvite):   # an old "no" does not answer the new request
        verify_join_denial(denial, team_id=tid, request=later, user_key_at=w.user_key_at)
    with pytest.raises(errors.BadTeamInvite):   # mallory's key under alice's name
        forged = sign_join_denial(mallory.device, team_id=tid, admin=alice.uv, request=req, ctime=8)
        verify_join_denial(forged, team_id=tid, request=req, user_key_at=w.user_key_at)
    with pytest.raises(errors.BadTeamInvite):   # replayed into another team
        verify_join_denial(denial, team_id=root_team_id("other"), request=req, user_key_at=w.user_key_at)
    with pytest.raises(errors.BadTeamInvite):   # tampered
        verify_join_denial(dict(denial, ctime=9), team_id=tid, request=req, user_key_at=w.user_key_at)


def test_unknown_role_section_and_duplicates_are_refused():
    w = World()
    alice = w.user("alice")
    t = TeamBuilder(w, "acme", alice)
    # a member listed twice in one link
    link = build_change_membership(alice.signer(), t.pos(), changes={w.user("bob").uv: Role.WRITER},
                                   ctime=w.ctime, merkle_root=w.tick())
    import orjson
    from kbapp.core.encoding import canonical_json
    from kbapp.core.sigchain.build import sign_inner
    payload = orjson.loads(link["payload_json"])
    payload["body"]["team"]["members"]["reader"] = [str(w.user("bob").uv)]
    pj = canonical_json(payload)
    forged = sign_inner(alice.device, pj, seqno=2, prev=bytes.fromhex(t.state.tail_link_id),
                        link_type=LinkType.TEAM_CHANGE_MEMBERSHIP, seq_type=3)
    with pytest.raises(errors.BadTeamMembership):
        t.load(t.links + [forged])
    payload["body"]["team"]["members"] = {"bot": [str(w.user("bob").uv)]}
    forged = sign_inner(alice.device, canonical_json(payload), seqno=2, prev=bytes.fromhex(t.state.tail_link_id),
                        link_type=LinkType.TEAM_CHANGE_MEMBERSHIP, seq_type=3)
    with pytest.raises(errors.BadTeamMembership):
        t.load(t.links + [forged])


def test_warm_load_checks_only_new_links_and_the_tail():
    w = World()
    alice = w.user("alice")
    t = TeamBuilder(w, "acme", alice)
    for n in ("bob", "carol"):
        t.change(alice, {n: Role.WRITER})
    cached = t.state
    t.change(alice, {"dave": Role.READER})

    calls = []

    def counting(uid, kid, at):
        calls.append(at.seqno)
        return w.user_key_at(uid, kid, at)

    st = load_team(t.links, team_id=t.id, user_key_at=counting, cached=cached)
    assert calls == [4] and st.seqno == 4 and st.role_of(w.user("dave").uid) == Role.READER
    calls.clear()
    st2 = load_team(t.links[3:], team_id=t.id, user_key_at=counting, cached=cached)   # only the new links
    assert calls == [4] and st2.tail_link_id == st.tail_link_id


def test_kbapp_links_need_semiprivate_seq_type():
    from kbapp.core.sigchain.build import build_link
    w = World()
    alice = w.user("alice")
    k = w.new_team_key(1)
    good = build_root(alice.signer(), name="acme", members={alice.uv: Role.OWNER}, ptk=k, ctime=1)
    payload = parse_link(good).payload
    # the same body in a public (user-chain) sequence: refused
    link = build_link(alice.device, uid=alice.uid, username="alice", eldest_kid=alice.device.kid, seqno=1,
                      prev=None, link_type=LinkType.TEAM_ROOT, body_fields={"team": payload["body"]["team"]},
                      ctime=1)
    with pytest.raises(errors.ChainError):
        load_team([link], team_id=root_team_id("acme"), user_key_at=w.user_key_at)


def test_implicit_team_changes_only_through_its_name():
    w = World()
    alice, bob, carol, zed = w.user("alice"), w.user("bob"), w.user("carol"), w.user("zed")
    name = parse_implicit_name("alice,bob,zed@github#carol")
    (inv,) = implicit_team_invites(name, [w.rand(16)])
    k = w.new_team_key(1)
    root = build_root(alice.signer(), name=str(name), members={alice.uv: Role.OWNER, bob.uv: Role.OWNER,
                                                              carol.uv: Role.READER},
                      ptk=k, ctime=w.ctime, implicit=True, invites=[inv], merkle_root=w.tick())
    tid = implicit_team_id(name)
    st = load_team([root], team_id=tid, user_key_at=w.user_key_at)

    def change(changes, **kw):
        return build_change_membership(alice.signer(), ChainPos.after(st), changes=changes, ctime=w.ctime,
                                       merkle_root=w.tick(), **kw)
    # zed proves zed@github: completing the invite adds zed as a writer (owner)
    ok = change({zed.uv: Role.OWNER}, completed_invites={inv.id: zed.uv})
    st2 = load_team([root, ok], team_id=tid, user_key_at=w.user_key_at)
    assert st2.role_of(zed.uid) == Role.OWNER and st2.invites == {}
    # someone not in the name, a removal, or a role change: refused
    for bad in ({w.user("mallory").uv: Role.READER}, {carol.uv: Role.OWNER}):
        with pytest.raises(errors.BadTeamMembership):
            load_team([root, change(bad)], team_id=tid, user_key_at=w.user_key_at)
    with pytest.raises(errors.BadTeamMembership):
        load_team([root, change({bob.uv: Role.NONE}, ptk=w.new_team_key(2))], team_id=tid,
                  user_key_at=w.user_key_at)
    # bob reset his account: his new version replaces the old (with a new key generation)
    from kbapp.core.teams import UserVersion as UV
    reset = change({UV(bob.uid, 7): Role.OWNER}, ptk=w.new_team_key(2))
    st3 = load_team([root, reset], team_id=tid, user_key_at=w.user_key_at)
    assert st3.members[bob.uid].uv.eldest_seqno == 7 and st3.generation == 2
    with pytest.raises(errors.TeamRotationRequired):   # the old version must lose the key
        load_team([root, change({UV(bob.uid, 7): Role.OWNER})], team_id=tid, user_key_at=w.user_key_at)


def test_a_user_chain_link_type_in_a_team_chain_is_refused_even_if_ignorable():
    from kbapp.core.teams import build_team_link
    w = World()
    alice = w.user("alice")
    t = TeamBuilder(w, "acme", alice)
    for ignore in (False, True):
        link = build_team_link(alice.signer(), t.pos(), LinkType.ANNOUNCEMENT, {}, ctime=w.ctime,
                               ignore_if_unsupported=ignore, merkle_root=w.tick())
        with pytest.raises(errors.BadChainLink):
            t.load(t.links + [link])
    # an unknown (future) team type marked ignorable is skipped; one that is not, refused
    ok = build_team_link(alice.signer(), t.pos(), "team.from_the_future", {}, ctime=w.ctime,
                         ignore_if_unsupported=True, merkle_root=w.tick())
    assert t.load(t.links + [ok]).seqno == 2
