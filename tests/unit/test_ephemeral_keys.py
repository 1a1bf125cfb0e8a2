"""Ephemeral key statements and boxes (core/chat/ephemeral.py): what they sign, how strictly
they parse, which key must have signed them, the binding of a boxed seed to its statement,
the PTK generation rule, the schedule and lifetimes."""

from __future__ import annotations

import pytest
from team_support import TeamBuilder, World

from kbapp.core import errors
from kbapp.core.chat import ephemeral as ek
from kbapp.core.encoding import b64decode, b64encode, pack, unpack
from kbapp.core.keys import SigningKeyPair, sign_detached
from kbapp.core.teams import Role

CP = (12, b"\x07" * 32)


@pytest.fixture
def world():
    w = World("ek")
    alice, bob = w.user("alice"), w.user("bob")
    team = TeamBuilder(w, "acme", alice, {"bob": Role.WRITER})
    return w, alice, bob, team


def device_ek(w, user, gen=1, **kw):
    seed = w.rand(32)
    return seed, ek.make_device_ek(user.device, uid=user.uid, generation=gen, seed=seed,
                                   ctime=kw.pop("ctime", 1_700_000_000), checkpoint=kw.pop("checkpoint", CP))


def resign(wire: dict, key: SigningKeyPair, prefix: bytes, m: dict | None = None) -> dict:
    data = pack(m) if m is not None else b64decode(wire["statement"])
    return {"statement": b64encode(data), "sig": b64encode(sign_detached(key, data, prefix=prefix))}


def fields(wire: dict) -> dict:
    return unpack(b64decode(wire["statement"]))


def test_a_device_ek_statement_round_trips_and_names_its_key(world):
    w, alice, _, _ = world
    seed, st = device_ek(w, alice, 3)
    back = ek.parse_device_ek(st.wire())
    assert (back.uid, back.kid, back.generation, back.checkpoint) == (alice.uid, alice.device.kid.hex(), 3, CP)
    assert back.dh_public == ek.device_ek_keypair(seed).public != ek.team_ek_public(seed)


def test_a_device_ek_statement_signed_by_another_key_or_altered_is_refused(world):
    w, alice, bob, _ = world
    _, st = device_ek(w, alice)
    with pytest.raises(errors.BadEkSignature):             # bob's key signs alice's statement
        ek.parse_device_ek(resign(st.wire(), bob.device, ek.PREFIX_DEVICE_EK))
    with pytest.raises(errors.BadEkSignature):             # the right key, another purpose's prefix
        ek.parse_device_ek(resign(st.wire(), alice.device, ek.PREFIX_TEAM_EK))
    m = fields(st.wire())
    m["generation"] = 9                                    # altered after signing
    with pytest.raises(errors.BadEkSignature):
        ek.parse_device_ek({"statement": b64encode(pack(m)), "sig": st.wire()["sig"]})


@pytest.mark.parametrize("change", [
    lambda m: m.update(extra=1), lambda m: m.pop("ctime"), lambda m: m.update(v=2),
    lambda m: m.update(generation=0), lambda m: m.update(dh_public=b"x" * 31), lambda m: m.update(uid=b"u" * 15),
    lambda m: m.update(checkpoint=[0, b"r" * 32]), lambda m: m.update(checkpoint=[5]),
    lambda m: m.update(kid=b"\x01\x21" + b"k" * 32 + b"\x0a"),         # an encryption KID signs nothing
    lambda m: m.update(ctime=True),
])
def test_a_device_ek_statement_of_another_shape_is_refused(world, change):
    w, alice, _, _ = world
    _, st = device_ek(w, alice)
    m = fields(st.wire())
    change(m)
    with pytest.raises(errors.BadEkStatement):
        ek.parse_device_ek(resign(st.wire(), alice.device, ek.PREFIX_DEVICE_EK, m))


def test_non_canonical_and_malformed_wire_forms_are_refused(world):
    w, alice, _, _ = world
    _, st = device_ek(w, alice)
    m = fields(st.wire())
    unsorted = dict(reversed(list(m.items())))
    with pytest.raises(errors.BadEkStatement):
        ek.parse_device_ek(resign(st.wire(), alice.device, ek.PREFIX_DEVICE_EK, unsorted))
    for bad in (None, [], {"statement": st.wire()["statement"]}, {**st.wire(), "sig": b64encode(b"s" * 63)},
                {**st.wire(), "statement": "!!"}, {"statement": b64encode(b"x" * 600), "sig": st.wire()["sig"]}):
        with pytest.raises(errors.BadEkStatement):
            ek.parse_device_ek(bad)


def test_a_team_ek_is_signed_by_the_ptk_of_the_generation_it_names(world):
    w, alice, bob, team = world
    seed = w.rand(32)
    st = ek.make_team_ek(team.keys[1], team_id=team.id, generation=1, seed=seed, ctime=5, checkpoint=CP)
    ok = ek.verify_team_ek(st.wire(), team.state, generation=1)
    assert (ok.ptk_generation, ok.public) == (1, ek.team_ek_public(seed))
    with pytest.raises(errors.BadTeamEkSignature):          # a member's device key is not the PTK
        ek.verify_team_ek(resign(st.wire(), bob.device, ek.PREFIX_TEAM_EK), team.state)
    with pytest.raises(errors.BadTeamEkSignature):          # the PTK signing for another purpose
        ek.verify_team_ek(resign(st.wire(), team.keys[1].signing, ek.PREFIX_DEVICE_EK), team.state)
    m = fields(st.wire())
    m["ptk_generation"] = 2                                 # a generation the chain does not have
    with pytest.raises(errors.BadTeamEkSignature):
        ek.verify_team_ek(resign(st.wire(), team.keys[1].signing, ek.PREFIX_TEAM_EK, m), team.state)
    with pytest.raises(errors.TeamEkMismatch):              # served for another generation
        ek.verify_team_ek(st.wire(), team.state, generation=2)
    with pytest.raises(errors.TeamEkMismatch):              # another team's statement
        ek.verify_team_ek(st.wire(), team.state, team_id="ab" * 16)


def test_after_a_rotation_a_team_ek_of_the_old_ptk_is_not_used(world):
    w, alice, bob, team = world
    old = ek.make_team_ek(team.keys[1], team_id=team.id, generation=1, seed=w.rand(32), ctime=5, checkpoint=CP)
    assert ek.check_current(ek.verify_team_ek(old.wire(), team.state), team.state)
    team.change(alice, {"bob": Role.NONE}, rotate=True)      # bob removed: PTK 2
    assert team.state.generation == 2
    # bob still holds PTK 1 and signs a "newer" team EK with it: valid signature, stale binding
    forged = ek.make_team_ek(team.keys[1], team_id=team.id, generation=2, seed=w.rand(32), ctime=6, checkpoint=CP)
    st = ek.verify_team_ek(forged.wire(), team.state, generation=2)
    with pytest.raises(errors.TeamEkStalePtk):
        ek.check_current(st, team.state)
    fresh = ek.make_team_ek(team.keys[2], team_id=team.id, generation=3, seed=w.rand(32), ctime=7, checkpoint=CP)
    assert ek.check_current(ek.verify_team_ek(fresh.wire(), team.state), team.state).ptk_generation == 2
    ek.check_order(st, fresh)
    with pytest.raises(errors.TeamEkStalePtk):              # a later generation going back to PTK 1
        ek.check_order(fresh, ek.parse_team_ek_unchecked(
            ek.make_team_ek(team.keys[1], team_id=team.id, generation=4, seed=w.rand(32), ctime=8,
                            checkpoint=CP).wire()))


def test_a_box_opens_only_with_its_device_ek_and_only_to_the_signed_seed(world):
    w, alice, bob, team = world
    dseed, dev = device_ek(w, bob)
    other_seed, _ = device_ek(w, alice)
    seed = w.rand(32)
    st = ek.make_team_ek(team.keys[1], team_id=team.id, generation=1, seed=seed, ctime=5, checkpoint=CP)
    box = ek.box_seed(seed, dev, ephemeral_secret=w.rand(32), nonce=w.rand(24))
    assert len(box) == ek.BOX_SIZE and ek.open_seed_box(box, dseed, st) == seed
    with pytest.raises(errors.BadEkBox):
        ek.open_seed_box(box, other_seed, st)
    with pytest.raises(errors.BadEkBox):
        ek.open_seed_box(box[:-1], dseed, st)
    flipped = box[:-1] + bytes([box[-1] ^ 1])
    with pytest.raises(errors.BadEkBox):
        ek.open_seed_box(flipped, dseed, st)
    # a box of another seed (the server's, a removed member's) under a genuine statement
    swapped = ek.box_seed(w.rand(32), dev, ephemeral_secret=w.rand(32), nonce=w.rand(24))
    with pytest.raises(errors.TeamEkMismatch):
        ek.open_seed_box(swapped, dseed, st)


def test_the_schedule_and_lifetimes():
    day = ek.GENERATION_INTERVAL
    assert ek.due(None, 100) and not ek.due(100, 100 + day - 1) and ek.due(100, 100 + day)
    assert ek.due(100 + 2 * day, 100)                        # a creator's clock far ahead does not pin a key
    assert ek.delete_after(1000) == 1000 + 7 * day
    assert [ek.parse_lifetime(x) for x in ("30s", "90", "10m", "1h", "7d", " 2D ", 45)] == \
        [30, 90, 600, 3600, 7 * day, 2 * day, 45]
    for bad in ("29s", "8d", "1w", "", "-1h", "1.5h", "h", 10, True, "604801"):
        with pytest.raises(errors.InvalidLifetime):
            ek.parse_lifetime(bad)


def test_a_message_whose_key_is_gone_reads_as_exploded():
    from kbapp.client.chat.models import MessageView
    from kbapp.client.chat.views import render_line

    gone = MessageView(msg_id=4, sender="alice", type="text", text=None, ctime=0, status="no_key")
    assert render_line(gone).endswith("alice: [exploded / key deleted]")
    assert render_line(MessageView(4, "alice", "text", None, 0, "exploded")).endswith("alice: [exploded]")
