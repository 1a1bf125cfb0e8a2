"""Exploding messages' ephemeral keys from the attacker's side: the server (writing its own
database, rewriting answers through the evil proxy) and the insiders it helps (a removed
member who kept the old PTK, a stolen device after its revocation).

Each forged statement or box gives a typed error, nothing of it is kept (the EK store, the
trusted store), and the next exploding message is sealed under a team EK the attacker
cannot open: a new generation, bound to the newest PTK, boxed only to live member devices.
"""

from __future__ import annotations

import base64
import os
import sqlite3
from types import SimpleNamespace

import pytest
from sqlalchemy import insert, select

from kbapp.client.chat import ephemeral as eph
from kbapp.core import errors
from kbapp.core.chat import ephemeral as ek
from kbapp.core.chat.seal import exploding_body_key, open_body
from kbapp.core.encoding import b64encode
from kbapp.core.keys import SigningKeyPair
from kbapp.server.db import make_engine, normalise_url
from kbapp.server.ek_tables import device_eks, team_ek_boxes, team_eks

DEVICES = r"^/v1/ek/team/[0-9a-f]{32}/devices$"


def server_engine(world):
    return make_engine(normalise_url(None, world.server.data_dir))


def ek_seeds(app) -> list[bytes]:
    con = sqlite3.connect(f"file:{app.home / eph.FILE}?mode=ro", uri=True)
    try:
        return [r[0] for r in con.execute("SELECT seed FROM device_ek UNION ALL SELECT seed FROM team_ek")
                if r[0] is not None]
    finally:
        con.close()


def team_ek_gens(app, team_id: str) -> list[int]:
    con = sqlite3.connect(f"file:{app.home / eph.FILE}?mode=ro", uri=True)
    try:
        return [r[0] for r in con.execute("SELECT generation FROM team_ek WHERE team_id = ? ORDER BY generation",
                                          (team_id,))]
    finally:
        con.close()


def device_statements(engine, *uids: str) -> list[ek.DeviceEk]:
    with engine.connect() as c:
        rows = c.execute(select(device_eks).where(device_eks.c.uid.in_(uids))).all()
    return [ek.parse_device_ek({"statement": b64encode(r.statement), "sig": b64encode(r.sig)}) for r in rows]


def plant_team_ek(engine, signer, team_id: str, generation: int, seed: bytes, to: list[ek.DeviceEk]) -> None:
    """The attacker writes a team EK generation into the server's database, boxed to `to`."""
    st = ek.make_team_ek(signer, team_id=team_id, generation=generation, seed=seed, ctime=1, checkpoint=(1, b"r" * 32))
    with engine.begin() as c:
        c.execute(insert(team_eks).values(team_id=team_id, generation=generation, ptk_generation=signer.generation,
                                          statement=st.data, sig=st.sig, creator_uid=to[0].uid,
                                          creator_kid=to[0].kid, ctime=1))
        c.execute(insert(team_ek_boxes), [
            {"team_id": team_id, "generation": generation, "recipient_kid": d.kid, "recipient_uid": d.uid,
             "device_ek_gen": d.generation, "box": ek.box_seed(seed, d, ephemeral_secret=os.urandom(32),
                                                               nonce=os.urandom(24))} for d in to])


async def served(app, conv_id: str, msg_id: int) -> dict:
    page = await app.ctx.api.chat_messages(conv_id, after=msg_id - 1, limit=1)
    return page["messages"][0]


def opens_with(seed: bytes, wire: dict) -> bool:
    try:
        open_body(base64.b64decode(wire["body"]), exploding_body_key(seed, wire["conv_id"]))
        return True
    except errors.BadBody:
        return False


async def dm_ready(user):
    (a, alice, _), (b, bob, _) = await user("alice"), await user("bob")
    dm = f"{alice},{bob}"
    await a.chat.send(dm, "hello")
    for app in (a, b):
        await app.chat.conversations(sync=True)      # each client publishes today's device EK
    return a, b, dm, await a.chat.conv(dm)


async def writers_team(user, name, owner: str, *writers: str):
    """A team `acme` of `owner` with `writers`, each client run once (today's device EK)."""
    first, *rest = [await user(n) for n in (owner, *writers)]
    team = name("acme")
    await first[0].create_team(team)
    for _app, username, _ in rest:
        await first[0].add_member(team, username, "writer")
    apps = [first[0]] + [r[0] for r in rest]
    for app in apps:
        await app.chat.conversations(sync=True)
    return team, apps


async def test_a_team_ek_not_signed_by_the_ptk_is_refused_and_never_used(user, world):
    a, b, dm, row = await dm_ready(user)
    engine = server_engine(world)
    evil_seed = os.urandom(32)
    impostor = SimpleNamespace(generation=1, signing=SigningKeyPair.from_seed(os.urandom(32)))
    plant_team_ek(engine, impostor, row.team_id, 1, evil_seed, device_statements(engine, a.ctx.uid, b.ctx.uid))

    loaded, _ = await b.chat.team_for_chat(row.team_id)
    trusted = b.store.snapshot()
    with pytest.raises(errors.BadTeamEkSignature):
        await eph.of(b.chat).seed_for(loaded, 1)
    assert team_ek_gens(b, row.team_id) == [] and b.store.snapshot() == trusted

    sent = await a.chat.send(dm, "for bob's eyes only", exploding="1h")
    wire = await served(a, row.conv_id, sent.msg_id)
    assert wire["ek_gen"] == 2                           # a generation of alice's own, after the forged one
    assert not opens_with(evil_seed, wire)
    assert evil_seed not in ek_seeds(a) + ek_seeds(b) and team_ek_gens(a, row.team_id) == [2]
    view = await b.chat.read(dm, sync=True)
    assert [(m.text, m.status) for m in view.messages][-1] == ("for bob's eyes only", "ok")
    engine.dispose()


async def test_a_team_ek_bound_to_the_old_ptk_after_a_rotation_is_not_used(user, name, world):
    team, (a, b, e) = await writers_team(user, name, "alice", "bob", "eve")
    row = await a.chat.conv(team)
    first = await a.chat.send(team, "before eve left", exploding="1h")
    assert (await served(a, row.conv_id, first.msg_id))["ek_gen"] == 1
    _, eve_keys = await e.chat.team_for_chat(row.team_id, fresh=True)
    old_ptk = eve_keys[1]                                # eve keeps what she had
    await a.remove_member(team, e.store.get("username"))                    # the PTK rotates to generation 2
    engine = server_engine(world)
    evil_seed = os.urandom(32)
    # eve signs the next team EK with PTK 1 (a valid signature) and boxes her seed to everyone left
    plant_team_ek(engine, old_ptk, row.team_id, 2, evil_seed, device_statements(engine, a.ctx.uid, b.ctx.uid))

    loaded, _ = await a.chat.team_for_chat(row.team_id, fresh=True)
    assert loaded.state.generation == 2
    ans = await eph.of(a.chat)._fetch(row.team_id, 2)
    with pytest.raises(errors.TeamEkStalePtk):
        await eph.of(a.chat)._open(ans, loaded, 2, current=True)
    assert team_ek_gens(a, row.team_id) == [1]           # nothing of eve's kept

    sent = await a.chat.send(team, "after eve left", exploding="1h")
    wire = await served(a, row.conv_id, sent.msg_id)
    assert wire["ek_gen"] == 3 and wire["key_gen"] == 2
    with engine.connect() as c:
        assert c.execute(select(team_eks.c.ptk_generation).where(
            team_eks.c.team_id == row.team_id, team_eks.c.generation == 3)).scalar() == 2
    assert not opens_with(evil_seed, wire) and evil_seed not in ek_seeds(a)
    view = await b.chat.read(team, sync=True)
    assert [m.text for m in view.messages if m.status == "ok"][-1] == "after eve left"
    engine.dispose()


async def test_a_revoked_device_gets_no_box_and_its_statements_are_refused(user, clients, proxy, world):
    (a, alice, _), (b, bob, phrase) = await user("alice"), await user("bob", paperkey=True)
    phone = await clients("bob-phone", connect=False)
    await phone.login_paperkey(bob, phrase, device_name="bob-phone", server_url=proxy.url)
    dm = f"{alice},{bob}"
    await a.chat.send(dm, "hello")
    for app in (a, b, phone):
        await app.chat.conversations(sync=True)
    row = await a.chat.conv(dm)
    stolen = (await phone.ctx.device_keys()).sibkey
    old_cp = phone.ctx.logview.trusted()
    engine = server_engine(world)
    genuine = [d for d in device_statements(engine, b.ctx.uid) if d.kid == stolen.kid.hex()]
    assert len(genuine) == 1
    await b.revoke_device("bob-phone")

    # the thief signs a fresh device EK with the stolen key, backdated to a checkpoint from
    # before the revocation; the server lists it (and the phone's genuine one) as live
    evil_seed = os.urandom(32)
    forged = ek.make_device_ek(stolen, uid=b.ctx.uid, generation=2, seed=evil_seed, ctime=int(a.ctx.clock()),
                               checkpoint=(old_cp.size, old_cp.root))
    extra = [{"uid": d.uid, "kid": d.kid, "generation": d.generation, **d.wire()} for d in (genuine[0], forged)]
    proxy.set("json", match=DEVICES, fn=lambda ans: {**ans, "devices": ans["devices"] + extra})

    loaded, _ = await a.chat.team_for_chat(row.team_id, fresh=True)
    laptop = [d for d in device_statements(engine, b.ctx.uid) if d.kid != stolen.kid.hex()]
    assert (await eph.of(a.chat).verify_device_ek(laptop[0].wire(), loaded)).uid == b.ctx.uid   # honest: passes
    trusted = a.store.snapshot()
    for st in (forged, genuine[0]):
        with pytest.raises(errors.RevokedEkDevice):
            await eph.of(a.chat).verify_device_ek(st.wire(), loaded)
    assert a.store.snapshot() == trusted

    sent = await a.chat.send(dm, "not for the thief", exploding="1h")
    assert proxy.tampered
    wire = await served(a, row.conv_id, sent.msg_id)
    with engine.connect() as c:
        boxed = {r.recipient_kid: bytes(r.box) for r in c.execute(select(team_ek_boxes).where(
            team_ek_boxes.c.team_id == row.team_id, team_ek_boxes.c.generation == wire["ek_gen"]))}
    assert stolen.kid.hex() not in boxed
    assert set(boxed) == {(await a.ctx.device_keys()).sibkey.kid.hex(), (await b.ctx.device_keys()).sibkey.kid.hex()}
    phone_seeds = [s for s in ek_seeds(phone)] + [evil_seed]
    for box in boxed.values():
        for s in phone_seeds:
            with pytest.raises(errors.EphemeralError):
                ek.open_seed_box(box, s, SimpleNamespace(public=b""))
    proxy.clear()
    view = await b.chat.read(dm, sync=True)
    assert [(m.text, m.status) for m in view.messages][-1] == ("not for the thief", "ok")
    engine.dispose()


async def test_a_team_ek_that_leaves_a_member_out_is_not_used_by_honest_senders(user, name, world):
    """mallory (a writer) publishes the next team EK with a box for everyone but bob: alice's
    client sees bob's device missing from the generation's recipients and seals her exploding
    message under a new generation of its own, which bob reads."""
    team, (a, b, m) = await writers_team(user, name, "alice", "bob", "mal")
    row = await m.chat.conv(team)
    helper = eph.of(m.chat)
    loaded, keys = await m.chat.team_for_chat(row.team_id)
    real = helper.member_device_eks

    async def without_bob(ld):
        return [d for d in await real(ld) if d.uid != b.ctx.uid]
    helper.member_device_eks = without_bob
    assert (await helper._make(loaded, keys, 1)).generation == 1          # the server takes it
    sent = await a.chat.send(team, "exploding, for everyone", exploding="1h")
    wire = await served(a, row.conv_id, sent.msg_id)
    assert wire["ek_gen"] == 2                                            # not mallory's generation
    view = await b.chat.read(team, sync=True)
    assert [(x.text, x.status) for x in view.messages][-1] == ("exploding, for everyone", "ok")


async def test_after_a_device_is_revoked_the_next_exploding_message_is_not_boxed_to_it(user, clients, proxy,
                                                                                        world, name):
    """bob's phone (stolen, say) had today's team EK; bob revokes it: alice's next exploding
    message goes under a new generation the phone never got (the old one had a box for it)."""
    (a, _, _), (b, bob, phrase) = await user("alice"), await user("bob", paperkey=True)
    phone = await clients("bob-phone", connect=False)
    await phone.login_paperkey(bob, phrase, device_name="bob-phone", server_url=proxy.url)
    team = name("acme")
    await a.create_team(team)
    await a.add_member(team, bob, "writer")
    for app in (a, b, phone):
        await app.chat.conversations(sync=True)
    row = await a.chat.conv(team)
    first = await a.chat.send(team, "before", exploding="1h")
    assert (await served(a, row.conv_id, first.msg_id))["ek_gen"] == 1
    await b.revoke_device("bob-phone")
    again = await a.chat.send(team, "after the revocation", exploding="1h")
    assert (await served(a, row.conv_id, again.msg_id))["ek_gen"] == 2
    view = await b.chat.read(team, sync=True)
    assert [x.text for x in view.messages if x.status == "ok"][-1] == "after the revocation"
