"""Links whose embedded log checkpoint (`body.merkle_root`) is not one of our log's.

A live device of an account, or a mere reader of a team, signs a link naming an
empty log, a log bigger than the server's, a root the log never had, or a log
older than the chain's previous link named. Before, the server stored it and
every client (the owner's other devices, a paper-key login, a fresh profile)
failed to load the account or team for good (exit 1 "reports an empty log", or
exit 3 FORK, blaming an honest server), and nobody could remove the reader.

Now (kbapp/core/chains.py): the server refuses such a link with a typed 400 and
stores nothing; a client that still meets one (planted here straight into the
database, as a server with the old rules would have stored it) blames the
link's signer, drops its claim and loads the chain, so that the owner can
revoke that device and an admin can remove that member. A genuine fork (the
server cannot prove the link's log a prefix of ours) is still ForkDetected.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import insert

from kbapp.core import errors
from kbapp.core.encoding import b64decode, canonical_json
from kbapp.core.keys import kid_hex
from kbapp.core.chains import embed
from kbapp.core.merkle.note import note_signature
from kbapp.core.sigchain import build_device, link_id_hex, parse_link
from kbapp.core.transparency import ChainTail, map_key

BEYOND = 1 << 40


def link_body(wire: dict) -> dict:
    return parse_link(wire).payload["body"]


async def _second_device(user, clients, proxy):
    """alice with two devices: (laptop app, phone app, username)."""
    a_app, alice, phrase = await user("alice", paperkey=True)
    b_app = await clients("phone", connect=False)
    await b_app.login_paperkey(alice, phrase, device_name="phone", server_url=proxy.url)
    return a_app, b_app, alice


async def _bogus(app, kind: str) -> dict:
    """An embedded checkpoint of each bad kind, against the log `app` verified."""
    cp = app.logview.trusted()
    if kind == "empty":
        return {"size": 0, "hash": cp.root.hex()}
    if kind == "beyond":
        return {"size": BEYOND, "hash": "00" * 32}
    if kind == "wrong_root":
        return {"size": cp.size, "hash": "11" * 32}
    if kind == "foreign_sig":  # the right checkpoint, with the server's signature of another one
        other = await app.api.checkpoint(1)
        return {"size": cp.size, "hash": cp.root.hex(), "sig": note_signature(other)}
    if kind == "junk_sig":
        return {"size": cp.size, "hash": cp.root.hex(), "sig": "A" * 96}
    assert kind == "behind"    # a genuine checkpoint, older than the chain's newest claim
    return {"size": 1, "hash": app.logview.parse(await app.api.checkpoint(1)).root.hex()}


async def _rename_link(app, username: str, merkle_root: dict) -> dict:
    """A device-rename link signed by `app`'s own (live) device key, embedding `merkle_root`."""
    state = (await app.identifier.identify(username)).state
    keys = await app._device_keys()
    return build_device(keys.sibkey, device_id=app.store.get("device_id"), device_name="renamed",
                        uid=state.uid, username=state.username, eldest_kid=state.eldest_kid,
                        seqno=state.tail_seqno + 1, prev=bytes.fromhex(state.tail_link_id),
                        ctime=int(time.time()), merkle_root=merkle_root)


def _refused(e: errors.ServerError) -> None:
    assert e.server_code == "BAD_EMBEDDED_CHECKPOINT" and 400 <= e.status < 500, (e.status, e.server_code, e)


# --- (a) a live device posts a bad checkpoint ----------------------------------------------------


async def test_live_device_cannot_post_a_bad_checkpoint(user, clients, proxy):
    a_app, b_app, alice = await _second_device(user, clients, proxy)
    uid = b_app.store.get("uid")
    for kind in ("empty", "beyond", "wrong_root", "behind", "foreign_sig", "junk_sig"):
        before_chain = len((await b_app.api.chain(uid))["links"])
        before_log = b_app.logview.parse(await b_app.api.checkpoint()).size
        link = await _rename_link(b_app, alice, await _bogus(b_app, kind))
        with pytest.raises(errors.ServerError) as info:
            await b_app.api.post_links(uid, {"links": [link]})
        _refused(info.value)
        # nothing stored: no link, no log epoch
        assert len((await b_app.api.chain(uid))["links"]) == before_chain, kind
        assert b_app.logview.parse(await b_app.api.checkpoint()).size == before_log, kind
    # every device, and a fresh profile, still loads the account
    for app in (a_app, b_app, await clients("fresh")):
        ident = await app.identify(alice, proofs=False)
        assert ident.bad_checkpoints == []
    # control: the same link with the checkpoint the device really verified is stored
    link = await _rename_link(b_app, alice, {"size": b_app.logview.trusted().size,
                                             "hash": b_app.logview.trusted().root.hex()})
    await b_app.api.post_links(uid, {"links": [link]})
    # ... and so is one carrying the server's signature of that checkpoint, as clients write them
    await b_app.identify(alice, proofs=False)
    link = await _rename_link(b_app, alice, embed(b_app.logview.trusted()))
    assert "sig" in link_body(link)["merkle_root"]
    await b_app.api.post_links(uid, {"links": [link]})


# --- (b) a team reader posts a key rotation with a bad checkpoint ----------------------------------


async def _team_with_reader(user, name):
    alice, a, _ = await user("alice")
    bob, b, _ = await user("bob")
    t = name("tm").replace("_", "")[:16]
    await alice.create_team(t)
    await alice.add_member(t, b, "reader")
    return alice, a, bob, b, t


async def test_team_reader_cannot_post_a_bad_checkpoint(user, name):
    alice, a, bob, b, t = await _team_with_reader(user, name)
    team_id = (await bob.team(t)).team_id
    for kind in ("empty", "beyond", "wrong_root", "behind"):
        before = (await bob.logview.lookup("team", team_id))[0].seqno
        bogus = await _bogus(bob, kind)
        bob.teams._common = lambda bogus=bogus: {"ctime": int(time.time()), "merkle_root": bogus}
        with pytest.raises(errors.ServerError) as info:
            await bob.rotate_team_key(t)
        _refused(info.value)
        assert (await bob.logview.lookup("team", team_id))[0].seqno == before, kind
    del bob.teams._common
    for app in (alice, bob):
        view = await app.team(t)
        assert {m.username: m.role for m in view.members}[b] == "reader"
    await bob.rotate_team_key(t)            # control: an honest rotation by the reader is stored


# --- (c) planted bad links: blamed on the signer, and the way out -----------------------------------


async def test_planted_bad_user_links_blame_the_device_and_the_owner_revokes_it(user, clients, proxy, world):
    a_app, b_app, alice = await _second_device(user, clients, proxy)
    uid = a_app.store.get("uid")
    phone_kid = kid_hex((await b_app._device_keys()).sibkey.kid)
    phone_id = b_app.store.get("device_id")
    first = await _rename_link(b_app, alice, await _bogus(b_app, "empty"))
    with world.database() as db:
        db.append_links(uid, [first])
    second = await _rename_link(b_app, alice, {"size": BEYOND, "hash": "00" * 32})
    with world.database() as db:
        db.append_links(uid, [second])
        bad_seqnos = [db.tail(uid).seqno - 1, db.tail(uid).seqno]

    # The owner's other device, a fresh profile: the account loads, the phone is blamed.
    fresh = await clients("fresh")
    for app in (a_app, fresh):
        ident = await app.identify(alice, proofs=False)
        assert [(x.seqno, x.signer) for x in ident.bad_checkpoints] == [(s, phone_kid) for s in bad_seqnos]
        assert "empty log" in ident.bad_checkpoints[0].why and "the log holding" in ident.bad_checkpoints[1].why
    # The way out: revoke the phone; the server takes the revocation (a later link's
    # checkpoint is not held back by the bogus ones), and everyone sees it.
    dev = await a_app.revoke_device(phone_id)
    assert dev.revoked
    for app in (a_app, fresh):
        ident = await app.identify(alice, proofs=False)
        assert {d.id: d.revoked for d in ident.devices}[phone_id]
        assert [x.seqno for x in ident.bad_checkpoints] == bad_seqnos
    # A paper-key login still works on a new profile.
    phrase = await a_app.create_paperkey()
    c_app = await clients("tablet", connect=False)
    await c_app.login_paperkey(alice, phrase, device_name="tablet", server_url=proxy.url)
    assert (await c_app.identify(alice, proofs=False)).bad_checkpoints


async def test_planted_wrong_root_is_the_signers_fault_not_a_fork(user, clients, proxy, world):
    """A root the log never had at a size it has: the server's own signed checkpoint of
    that size is a prefix of ours, so the link's signer lied, not the server."""
    a_app, b_app, alice = await _second_device(user, clients, proxy)
    uid = a_app.store.get("uid")
    link = await _rename_link(b_app, alice, await _bogus(b_app, "wrong_root"))
    with world.database() as db:
        db.append_links(uid, [link])
    ident = await (await clients("fresh")).identify(alice, proofs=False)
    assert [x.signer for x in ident.bad_checkpoints] == [kid_hex((await b_app._device_keys()).sibkey.kid)]
    assert "not our log's" in ident.bad_checkpoints[0].why


async def test_a_genuine_fork_is_still_blamed_on_the_server(user, clients, proxy, detected):
    """Honest links, but the server cannot prove their logs prefixes of ours: ForkDetected."""
    _, alice, _ = await user("alice")
    fresh = await clients("fresh")
    proxy.set("consistency", proof=[])
    await detected(fresh, errors.ForkDetected, fresh.identify(alice, proofs=False))
    assert proxy.tampered


def _plant_team(db, team_id: str, body: dict) -> None:
    """Store a captured team post (links and key boxes) unchecked, as the old server did."""
    from kbapp.server import db as tables

    svc = db.service
    key = map_key("team", team_id)
    old = ChainTail.decode(svc.map.get(key))
    wires = body["links"]
    now = int(time.time())
    with db._epoch() as (conn, apply):
        conn.execute(insert(tables.team_links), [
            {"team_id": team_id, "seqno": old.seqno + 1 + i, "link_id": link_id_hex(w),
             "wire": canonical_json(w).decode(), "received": now} for i, w in enumerate(wires)])
        for b in body.get("ptk_boxes", []):
            conn.execute(insert(tables.ptk_boxes).values(team_id=team_id, generation=b["generation"],
                                                         recipient_uid=b["uid"], puk_generation=b["puk_generation"],
                                                         box=b64decode(b["box"])))
        for p in body.get("ptk_prev", []):
            conn.execute(insert(tables.ptk_prev).values(team_id=team_id, generation=p["generation"],
                                                        box=b64decode(p["box"])))
        apply([(key, ChainTail(old.seqno + len(wires), link_id_hex(wires[-1]), old.eldest_kid).encode())])


async def test_planted_bad_team_rotation_blames_the_reader_and_the_admin_removes_them(user, name, world):
    alice, a, bob, b, t = await _team_with_reader(user, name)
    team_id = (await bob.team(t)).team_id
    captured = {}

    async def capture(tid, body):
        captured.update(body)
    bob.api.team_post = capture
    bob.teams._common = lambda: {"ctime": int(time.time()), "merkle_root": {"size": BEYOND, "hash": "00" * 32}}
    await bob.rotate_team_key(t)            # captured, not posted
    del bob.teams._common, bob.api.team_post
    with world.database() as db:
        _plant_team(db, team_id, captured)
    bob_kid = kid_hex((await bob._device_keys()).sibkey.kid)

    # Every member loads the team; the reader's link is blamed on the reader.
    for app in (alice, bob):
        loaded = await app._load_ref(t)
        assert [(s, u, k) for s, u, k, _ in loaded.state.bad_checkpoints] == \
            [(loaded.state.seqno, bob.store.get("uid"), bob_kid)]
    # The way out: the owner removes the reader; the server takes it, everyone sees it.
    view = await alice.remove_member(t, b)
    assert b not in {m.username for m in view.members}
    assert b not in {m.username for m in (await alice.team(t)).members}
