"""Attacks on teams at the core level: a malicious member's client and a malicious server.

A malicious member holds real keys and signs links it should not; a malicious
server holds no member key but serves whatever it likes: it drops, reorders,
replays, rewrites links, forges boxes, and shows one member a shorter chain.
Every attack must end in a typed error (no partial state): the member's
client learns nothing false. (Attacks that need a real server process live in
the integration and adversarial tests of the teams feature.)
"""

from __future__ import annotations

import nacl.signing
import orjson
import pytest
from team_support import TeamBuilder, World

from kbapp.core import errors
from kbapp.core.encoding import b64encode, canonical_json
from kbapp.core.keys import SigningKeyPair
from kbapp.core.merkle.log import MerkleLog
from kbapp.core.merkle.note import sign_checkpoint, verify_checkpoint
from kbapp.core.merkle.smt import MerkleMap
from kbapp.core.sigchain.build import sign_inner
from kbapp.core.sigchain.links import parse_link
from kbapp.core.teams import (
    ChainPos,
    Role,
    TeamKey,
    TeamSigner,
    box_seed,
    build_change_membership,
    build_rotate_key,
    load_team,
    open_team_keys,
    seitan_invite,
    new_token,
    sign_acceptance,
)
from kbapp.core.transparency import ChainTail, LogLeaf, map_key, verify_lookup


@pytest.fixture
def world():
    return World("attacks")


def team_of(world, **members):
    alice = world.user("alice")
    return alice, TeamBuilder(world, "acme", alice, {n: Role[r.upper()] for n, r in members.items()})


def resign(link: dict, signer: SigningKeyPair, edit) -> dict:
    """What a member with `signer` can do: take a link's payload, edit it, sign it anew."""
    payload = orjson.loads(link["payload_json"])
    edit(payload)
    lk = parse_link(link)
    return sign_inner(signer, canonical_json(payload), seqno=lk.seqno, prev=lk.prev, link_type=lk.link_type,
                      seq_type=3)


# --- a malicious member's client ------------------------------------------------------


def test_writer_acting_as_admin(world):
    alice, t = team_of(world, bob="writer")
    bob = world.user("bob")
    with pytest.raises(errors.TeamPermissionDenied):
        t.change(bob, {"mallory": Role.WRITER})
    with pytest.raises(errors.TeamPermissionDenied):
        t.invite(bob, [seitan_invite(new_token(world.rand(16)), Role.READER)])
    from kbapp.core.teams import Settings
    with pytest.raises(errors.TeamPermissionDenied):
        t.settings(bob, Settings(open=True))
    assert t.state.seqno == 1     # nothing was accepted


def test_writer_claims_admin_through_a_bogus_admin_section(world):
    alice, t = team_of(world, bob="writer")
    bob = world.user("bob")
    link = build_change_membership(bob.signer(), t.pos(), changes={world.user("mallory").uv: Role.ADMIN},
                                   ctime=world.ctime, admin={"team_id": t.id, "seqno": 1}, merkle_root=world.tick())
    with pytest.raises(errors.TeamPermissionDenied):
        t.load(t.links + [link])


def test_admin_promotes_self_with_a_forged_link(world):
    alice, t = team_of(world, bob="admin")
    bob = world.user("bob")
    # 1. openly: an admin making itself owner
    with pytest.raises(errors.TeamPermissionDenied):
        t.change(bob, {"bob": Role.OWNER})
    # 2. a link claiming to be alice's (body.key names alice) but signed with bob's key
    forged = build_change_membership(TeamSigner(alice.uid, "alice", alice.device.kid, bob.device), t.pos(),
                                     changes={bob.uv: Role.OWNER}, ctime=world.ctime, merkle_root=world.tick())
    with pytest.raises(errors.TeamSignerKeyNotLive):
        t.load(t.links + [forged])
    # 3. alice's genuine link to add carol, rewritten by bob to promote bob, alice's signature kept
    genuine = build_change_membership(alice.signer(), t.pos(), changes={world.user("carol").uv: Role.WRITER},
                                      ctime=world.ctime, merkle_root=world.tick())
    payload = orjson.loads(genuine["payload_json"])
    payload["body"]["team"]["members"] = {"owner": [str(bob.uv)]}
    tampered = dict(genuine, payload_json=canonical_json(payload).decode())
    with pytest.raises(errors.BadSignature):
        t.load(t.links + [tampered])
    # 4. the same edit re-signed by bob: it is bob's link now, and bob is no owner
    with pytest.raises(errors.TeamPermissionDenied):
        t.load(t.links + [resign(genuine, bob.device, lambda p: (
            p["body"]["key"].update(uid=bob.uid, username="bob", kid=bob.device.kid.hex()),
            p["body"]["team"].update(members={"owner": [str(bob.uv)]})))])


def test_admin_demotes_or_removes_owner(world):
    alice, t = team_of(world, bob="admin")
    bob = world.user("bob")
    for change in ({"alice": Role.ADMIN}, {"alice": Role.NONE}):
        with pytest.raises(errors.TeamPermissionDenied):
            t.change(bob, change)
    assert t.state.role_of(alice.uid) == Role.OWNER


def test_link_signed_by_a_removed_admin(world):
    alice, t = team_of(world, bob="admin")
    bob = world.user("bob")
    t.change(bob, {"carol": Role.WRITER})          # fine while bob is an admin
    t.change(alice, {"bob": Role.NONE})            # bob removed (with a rotation)
    with pytest.raises(errors.TeamPermissionDenied):
        t.change(bob, {"mallory": Role.ADMIN})
    with pytest.raises(errors.TeamPermissionDenied):
        t.rotate(bob)
    # bob's links from before the removal still verify: history stays valid
    assert t.load().role_of(world.user("carol").uid) == Role.WRITER


def test_link_signed_by_a_revoked_device(world):
    alice, t = team_of(world, bob="admin")
    bob = world.user("bob")
    world.log_size += 5
    bob.revoked_at[bob.device.kid.hex()] = world.log_size + 1   # revoked at the next log entry
    world.tick()
    with pytest.raises(errors.TeamSignerKeyNotLive):
        t.change(bob, {"mallory": Role.WRITER})
    # lying about the log the author saw (an older size, from before the revocation) does not help:
    link = build_change_membership(bob.signer(), t.pos(), changes={world.user("mallory").uv: Role.WRITER},
                                   ctime=world.ctime, merkle_root={"size": 3, "hash": "00" * 32})
    with pytest.raises(errors.TeamError):
        t.load(t.links + [link])
    # a key the user never had
    stray = SigningKeyPair.from_seed(world.rand(32))
    link = build_change_membership(TeamSigner(bob.uid, "bob", bob.device.kid, stray), t.pos(),
                                   changes={world.user("mallory").uv: Role.WRITER}, ctime=world.ctime,
                                   merkle_root=world.tick())
    with pytest.raises(errors.TeamSignerKeyNotLive):
        t.load(t.links + [link])


def test_skipped_key_generation(world):
    alice, t = team_of(world)
    k3 = TeamKey.derive(world.rand(32), 3)
    link = build_rotate_key(alice.signer(), t.pos(), ptk=k3, ctime=world.ctime, merkle_root=world.tick())
    with pytest.raises(errors.BadTeamKey):
        t.load(t.links + [link])
    # reusing generation 1's keys under generation 2
    k2 = TeamKey(2, t.keys[1].seed, t.keys[1].signing, t.keys[1].encryption, t.keys[1].secretbox_key)
    link = build_rotate_key(alice.signer(), t.pos(), ptk=k2, ctime=world.ctime, merkle_root=world.tick())
    with pytest.raises(errors.BadTeamKey):
        t.load(t.links + [link])


def test_new_key_without_its_reverse_signature(world):
    alice, t = team_of(world)
    k2 = TeamKey.derive(world.rand(32), 2)
    good = build_rotate_key(alice.signer(), t.pos(), ptk=k2, ctime=world.ctime, merkle_root=world.tick())
    # announce someone else's public keys as the team's (no proof of the secret): refused
    other = TeamKey.derive(world.rand(32), 2)

    def swap(p):
        p["body"]["team"]["per_team_key"]["signing_kid"] = other.signing_kid.hex()
    with pytest.raises(errors.BadTeamKey):
        t.load(t.links + [resign(good, alice.device, swap)])

    def drop(p):
        p["body"]["team"]["per_team_key"]["reverse_sig"] = None
    with pytest.raises(errors.BadTeamKey):
        t.load(t.links + [resign(good, alice.device, drop)])


def test_key_box_that_does_not_match_the_chain(world):
    alice, t = team_of(world, bob="writer")
    bob = world.user("bob")
    # a malicious admin rotates, but boxes bob a seed other than the announced one
    st = t.rotate(alice)
    decoy = TeamKey.derive(world.rand(32), 2)
    bad_box = box_seed(decoy, alice.puk.encryption, bob.puk.encryption.public, nonce=world.rand(24)).to_wire()
    with pytest.raises(errors.BadTeamKey):
        open_team_keys(st, bad_box, bob.puk.encryption, t.prevs)
    # the server relabels bob's generation-1 box as generation 2
    with pytest.raises(errors.BadTeamKey):
        open_team_keys(st, dict(t.boxes[1][bob.uid], generation=2), bob.puk.encryption, t.prevs)
    # ... or serves a box of a generation the chain does not have
    k3 = TeamKey.derive(world.rand(32), 3)
    fut = box_seed(k3, alice.puk.encryption, bob.puk.encryption.public, nonce=world.rand(24)).to_wire()
    with pytest.raises(errors.BadTeamKey):
        open_team_keys(st, fut, bob.puk.encryption, t.prevs)
    # ... or a prev that holds another seed
    bad_prevs = {2: t.prevs[2][:-8] + "AAAAAAA="}
    with pytest.raises(errors.BadTeamKey):
        open_team_keys(st, t.boxes[2][bob.uid], bob.puk.encryption, bad_prevs)
    # the honest box opens
    assert open_team_keys(st, t.boxes[2][bob.uid], bob.puk.encryption, t.prevs)[2].seed == t.keys[2].seed


def test_removal_without_rotation_is_refused(world):
    alice, t = team_of(world, bob="writer")
    link = build_change_membership(alice.signer(), t.pos(), changes={world.user("bob").uv: Role.NONE},
                                   ctime=world.ctime, merkle_root=world.tick())
    with pytest.raises(errors.TeamRotationRequired):
        t.load(t.links + [link])
    t.leave(world.user("bob"))
    # after a leave, the next change must carry the next key generation
    link = build_change_membership(alice.signer(), t.pos(), changes={world.user("carol").uv: Role.WRITER},
                                   ctime=world.ctime, merkle_root=world.tick())
    with pytest.raises(errors.TeamRotationRequired):
        t.load(t.links + [link])


def test_seitan_invite_completed_without_the_invitees_proof(world):
    alice, t = team_of(world, bob="admin")
    mallory = world.user("mallory")
    token = new_token(world.rand(16))
    inv = seitan_invite(token, Role.WRITER)
    t.invite(alice, [inv])
    # the server knows the invite's public key, not the token: it cannot make an acceptance,
    # and an admin (or a forged link) cannot complete the invite without one
    with pytest.raises(errors.BadTeamInvite):
        t.change(alice, {"mallory": Role.WRITER}, completed_invites={inv.id: mallory.uv})
    fake = sign_acceptance(new_token(world.rand(16)), team_id=t.id, uv=mallory.uv, ctime=world.ctime)
    with pytest.raises(errors.BadTeamInvite):
        t.change(alice, {"mallory": Role.WRITER}, completed_invites={inv.id: mallory.uv},
                 invite_proofs={inv.id: dict(fake, invite_id=inv.id)})


# --- a malicious server ----------------------------------------------------------------


def test_server_adds_a_member_without_a_signed_link(world):
    alice, t = team_of(world, bob="writer")
    mallory = world.user("mallory")
    # the server has no member's key: it signs with its own, claiming to be alice
    server_key = SigningKeyPair.from_seed(world.rand(32))
    link = build_change_membership(TeamSigner(alice.uid, "alice", alice.device.kid, server_key), t.pos(),
                                   changes={mallory.uv: Role.WRITER}, ctime=world.ctime, merkle_root=world.tick())
    with pytest.raises(errors.TeamSignerKeyNotLive):
        t.load(t.links + [link])
    # ... or edits mallory into the root link's members
    payload = orjson.loads(t.links[0]["payload_json"])
    payload["body"]["team"]["members"]["writer"].append(str(mallory.uv))
    with pytest.raises(errors.BadSignature):
        t.load([dict(t.links[0], payload_json=canonical_json(payload).decode())])
    # ... or boxes the team key to mallory: she still cannot open it (she is not a member
    # and no admin boxed it to her), and members never see her as one
    assert mallory.uid not in t.load().members
    with pytest.raises(errors.BadTeamKey):
        open_team_keys(t.state, t.boxes[1][world.user("bob").uid], mallory.puk.encryption, t.prevs)


def test_server_drops_reorders_or_replays_links(world):
    alice, t = team_of(world)
    for n in ("bob", "carol", "dave"):
        t.change(alice, {n: Role.WRITER})
    links = t.links
    with pytest.raises(errors.WrongSeqno):                 # a hole
        t.load([links[0], links[1], links[3]])
    with pytest.raises(errors.WrongSeqno):                 # reordered
        t.load([links[0], links[2], links[1], links[3]])
    with pytest.raises(errors.WrongSeqno):                 # a link served twice
        t.load([links[0], links[1], links[1], links[2]])
    # the server cannot rewrite a link's prev (the signature covers it); its author can,
    # but a link pointing at anything but its predecessor is refused
    with pytest.raises(errors.BadSignature):
        t.load([links[0], links[1], _edit(links[2], lambda p: p.update(prev="11" * 32)), links[3]])
    with pytest.raises(errors.WrongPrev):
        t.load([links[0], links[1], _with_prev(links[2], alice), links[3]])
    assert t.load(links).seqno == 4


def _edit(link: dict, fn) -> dict:
    payload = orjson.loads(link["payload_json"])
    fn(payload)
    return dict(link, payload_json=canonical_json(payload).decode())


def _with_prev(link: dict, signer) -> dict:
    """The same link, signed by its author, pointing at a prev that is not its predecessor."""
    lk = parse_link(link)
    payload = orjson.loads(link["payload_json"])
    payload["prev"] = "11" * 32
    return sign_inner(signer.device, canonical_json(payload), seqno=lk.seqno, prev=b"\x11" * 32,
                      link_type=lk.link_type, seq_type=3)


def test_replayed_link_from_another_team(world):
    alice = world.user("alice")
    a = TeamBuilder(world, "acme", alice, {"bob": Role.WRITER})
    b = TeamBuilder(world, "other", alice, {"bob": Role.WRITER})
    # the first link of team "other" served as team "acme"'s chain
    with pytest.raises(errors.TeamWrongId):
        load_team(b.links, team_id=a.id, user_key_at=world.user_key_at)
    # a link of "other" (signed by alice, an owner of both) made to fit acme's chain by
    # the only thing the server can change without the key: nothing, the ids are signed
    b.change(alice, {"mallory": Role.WRITER})
    replay = b.links[1]
    with pytest.raises(errors.ChainError):      # prev (signed) does not point at acme's link 1
        a.load(a.links + [replay])
    # alice's client re-signs the same body for acme's position: the team id inside is still other's
    moved = _with_pos(replay, alice, a)
    with pytest.raises(errors.TeamWrongId):
        a.load(a.links + [moved])


def _with_pos(link: dict, signer, team: TeamBuilder) -> dict:
    lk = parse_link(link)
    payload = orjson.loads(link["payload_json"])
    payload["prev"] = team.state.tail_link_id
    payload["seqno"] = team.state.seqno + 1
    return sign_inner(signer.device, canonical_json(payload), seqno=team.state.seqno + 1,
                      prev=bytes.fromhex(team.state.tail_link_id), link_type=lk.link_type, seq_type=3)


class Transparency:
    """The server's map and log as core builds them, with a pinned checkpoint key."""

    def __init__(self, world: World):
        self.map, self.log = MerkleMap(), MerkleLog()
        self.key = nacl.signing.SigningKey(world.rand(32))

    def publish(self, team_id: str, seqno: int, link_id: str) -> None:
        self.map.set(map_key("team", team_id), ChainTail(seqno, link_id, "0120" + "00" * 32 + "0a").encode())
        self.log.append(LogLeaf(self.log.size, self.map.root(), 0).encode())

    def lookup(self, team_id: str) -> tuple[dict, object]:
        size = self.log.size
        note = sign_checkpoint("kbapp.test/log", size, self.log.root(), "kbapp.test", self.key)
        cp = verify_checkpoint(note, "kbapp.test", bytes(self.key.verify_key))
        key = map_key("team", team_id)
        bundle = {"leaf_index": size - 1,
                  "leaf_data": b64encode(LogLeaf(size - 1, self.map.root(), 0).encode()),
                  "inclusion": [b64encode(h) for h in self.log.inclusion_proof(size - 1, size)],
                  "value": b64encode(self.map.get(key)), "map_proof": self.map.prove(key).to_wire()}
        return bundle, cp


def test_server_hides_a_removal_from_one_member(world):
    alice, t = team_of(world, bob="writer", carol="writer")
    tr = Transparency(world)
    tr.publish(t.id, t.state.seqno, t.state.tail_link_id)
    st = t.change(alice, {"bob": Role.NONE})          # bob removed, key rotated
    tr.publish(t.id, st.seqno, st.tail_link_id)
    # carol's client: verified lookup, then the chain the server serves her without the removal
    bundle, cp = tr.lookup(t.id)
    tail, _ = verify_lookup(bundle, cp, map_key("team", t.id))
    assert tail.seqno == 2
    with pytest.raises(errors.ChainTailMismatch):
        load_team(t.links[:1], team_id=t.id, user_key_at=world.user_key_at, tail=tail)
    # served in full, it verifies and carol sees bob gone
    assert bob_gone(load_team(t.links, team_id=t.id, user_key_at=world.user_key_at, tail=tail), world)
    # a client that had already seen the removal is not rolled back either
    with pytest.raises(errors.RollbackDetected):
        load_team(t.links[:1], team_id=t.id, user_key_at=world.user_key_at, cached=st)


def bob_gone(st, world) -> bool:
    return world.user("bob").uid not in st.members


def test_server_forks_the_chain_for_one_member(world):
    alice, t = team_of(world, bob="writer")
    st = t.change(alice, {"carol": Role.WRITER})
    # another history from seqno 2 (alice's genuine but different link, which the server withheld)
    other = build_change_membership(alice.signer(), ChainPos.after(t.load(t.links[:1])),
                                    changes={world.user("dave").uv: Role.WRITER}, ctime=world.ctime,
                                    merkle_root=world.tick())
    with pytest.raises(errors.ForkDetected):
        load_team([t.links[0], other], team_id=t.id, user_key_at=world.user_key_at, cached=st)


def test_server_serves_stubs_or_garbage(world):
    alice, t = team_of(world)
    t.change(alice, {"bob": Role.WRITER})
    from kbapp.core.sigchain.build import stub
    with pytest.raises(errors.StubbedSignatureNeeded):
        t.load([t.links[0], stub(t.links[1])])
    for junk in (None, [], "x", {"sig": 5}, {"sig": "!!!", "payload_json": "{}"}):
        with pytest.raises(errors.KbappError):
            t.load([t.links[0], junk])
    with pytest.raises(errors.KbappError):
        load_team("not a list", team_id=t.id, user_key_at=world.user_key_at)


# --- anything a signer can put in a link: typed errors only ---------------------------


def _paths(obj, prefix=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


JUNK = [None, 0, -1, 1 << 62, 2.5, True, "", "x", "00" * 16, "ff" * 35, [], [[[]]], {}, {"a": {"b": 1}},
        ["zz"], {"owner": ["nope"]}]


def test_mutated_links_fail_with_typed_errors_only(world):
    import random

    from kbapp.core.teams import new_token, seitan_invite, sign_acceptance
    alice, t = team_of(world, bob="admin", carol="writer")
    bob = world.user("bob")
    token = new_token(world.rand(16))
    inv = seitan_invite(token, Role.WRITER, max_uses=3)
    t.invite(bob, [inv])
    acc = sign_acceptance(token, team_id=t.id, uv=world.user("dave").uv, ctime=world.ctime)
    t.change(bob, {"dave": Role.WRITER}, completed_invites={inv.id: world.user("dave").uv},
             invite_proofs={inv.id: acc})
    t.leave(world.user("carol"))
    t.rotate(alice)
    from kbapp.core.teams import Settings
    t.settings(alice, Settings(open=True))
    keys = {u.uid: u.device for u in world.users.values()}
    rng = random.Random(1234)
    outcomes = {"ok": 0, "refused": 0}
    for i, link in enumerate(t.links):
        payload = orjson.loads(link["payload_json"])
        paths = [p for p in _paths(payload) if p[:1] == ("body",)]
        lk = parse_link(link)
        for _ in range(150):
            p = orjson.loads(link["payload_json"])
            path = rng.choice(paths)
            parent = p
            for k in path[:-1]:
                parent = parent[k]
            if rng.random() < 0.2 and isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent[path[-1]] = rng.choice(JUNK)
            try:
                pj = canonical_json(p)
            except errors.EncodingError:
                continue
            wire = sign_inner(keys[lk.uid], pj, seqno=lk.seqno, prev=lk.prev, link_type=lk.link_type, seq_type=3)
            try:
                t.load(t.links[:i] + [wire] + t.links[i + 1:])
                outcomes["ok"] += 1
            except errors.KbappError:
                outcomes["refused"] += 1
    assert outcomes["refused"] > 700, outcomes
