"""End to end: real server processes on 127.0.0.1 (SQLite and PostgreSQL),
several users with several devices, driven through the real CLI (subprocesses,
`--json`, the encrypted-file keystore) and in-process through `App`.

* three users, each with device 1, a paper device and device 2;
* alice revokes device 1 from device 2: device 1 can no longer sign (locally,
  and the server refuses what it forces), the PUK moves to generation 2, held
  by device 2 (and boxed for the paper key) but not by device 1;
* `kbapp id alice` from carol's profile, `kbapp log verify`, `kbapp status`;
* a server restart keeps everything and the log keeps growing consistently;
* two server processes sharing one PostgreSQL database stay consistent.
"""

from __future__ import annotations

import asyncio
import os
import time

import httpx
import pytest

from kbapp.core import errors
from kbapp.core.encoding import b64decode
from kbapp.core.keys import DeviceKeys, kid_hex
from kbapp.core.merkle.log import MerkleLog
from kbapp.core.puk import PerUserKey
from kbapp.core.uid import device_id as make_device_id, uid_for
from kbapp.client import chainops

from e2e_support import cli, device_keys, file_keystore, restart, server_checkpoint

pytestmark = pytest.mark.timeout(240)


def chain_of(url: str, uid: str) -> list:
    return httpx.get(f"{url}/v1/chain/{uid}", timeout=10).json()["links"]


def box_generations(url: str, uid: str, subkey: str) -> list[int]:
    body = httpx.get(f"{url}/v1/puk/{uid}", params={"device_kid": subkey}, timeout=10).json()
    return [b["generation"] for b in body["boxes"]]


def by_id(devices) -> dict:
    return {d["id"] if isinstance(d, dict) else d.id: d for d in devices}


async def test_three_users_two_devices_revoke_rotate_identify(db_url, server_factory, tmp_path, apps):
    srv = server_factory(db=db_url)
    url = srv.url
    homes = {name: tmp_path / name for name in
             ("alice-1", "alice-2", "bob-1", "bob-2", "carol-1", "carol-2", "alice-3")}

    # -- alice: everything through the CLI (paper key read from stdin) ------------------
    r = cli(homes["alice-1"], "signup", "alice", "--server", url, "--device", "alice-laptop").json
    assert r["username"] == "alice" and r["uid"] == uid_for("alice")
    assert r["server"]["pinned_now"] is True
    alice_uid, a1_id = r["uid"], r["device_id"]
    alice_phrase = cli(homes["alice-1"], "paperkey").json["paperkey"]
    assert len(alice_phrase.split()) == 13
    r = cli(homes["alice-2"], "login", "alice", "--paperkey", "--server", url, "--device", "alice-desktop",
            stdin=alice_phrase + "\n").json
    assert r["uid"] == alice_uid and r["device_name"] == "alice-desktop"
    a2_id = r["device_id"]

    # -- bob: everything in-process --------------------------------------------------------
    bob1 = await apps(homes["bob-1"])
    acct = await bob1.signup("bob", device_name="bob-phone", server_url=url)
    assert acct.server.pinned_now and acct.uid == uid_for("bob")
    bob_phrase = await bob1.create_paperkey()
    bob2 = await apps(homes["bob-2"])
    bob2_acct = await bob2.login_paperkey("bob", bob_phrase, device_name="bob-tablet", server_url=url)

    # -- carol: signup in-process, second device through the CLI (KBAPP_PAPERKEY) ---------
    carol1 = await apps(homes["carol-1"])
    await carol1.signup("carol", device_name="carol-laptop", server_url=url)
    carol_phrase = await carol1.create_paperkey()
    r = cli(homes["carol-2"], "login", "carol", "--paperkey", "--server", url, "--device", "carol-desktop",
            env={"KBAPP_PAPERKEY": carol_phrase}).json
    assert r["username"] == "carol"

    # Everyone sees everyone with device 1, a paper device and device 2, PUK generation 1.
    for viewer in (bob1, carol1):
        for name, dev1, dev2 in (("alice", "alice-laptop", "alice-desktop"), ("bob", "bob-phone", "bob-tablet"),
                                 ("carol", "carol-laptop", "carol-desktop")):
            ident = await viewer.identify(name)
            assert ident.chain_length == 7 and ident.puk_generation == 1
            phrase = {"alice": alice_phrase, "bob": bob_phrase, "carol": carol_phrase}[name]
            paper_name = " ".join(phrase.split()[:2])
            assert sorted((d.name, d.type) for d in ident.devices) == sorted(
                [(dev1, "desktop"), (dev2, "desktop"), (paper_name, "paper")])
            assert not any(d.revoked for d in ident.devices)
    # genesis + 3 writes per user
    assert server_checkpoint(url).size == 1 + 3 * 3

    # -- alice revokes device 1 from device 2 (CLI) ------------------------------------------
    r = cli(homes["alice-2"], "device", "remove", a1_id, "--yes").json
    assert r["id"] == a1_id and r["revoked"] is True and r["name"] == "alice-laptop"
    size_after_revoke = server_checkpoint(url).size
    assert size_after_revoke == 11

    # Device 1 can no longer sign: the CLI refuses locally...
    r = cli(homes["alice-1"], "paperkey", expect_rc=1).json
    assert r["error"]["code"] == "DEVICE_REVOKED" and r["error"]["verification"] is False
    # ... and so does App, opened on device 1's own (file) keystore.
    ks_a1 = file_keystore(homes["alice-1"])
    a1 = await apps(homes["alice-1"], ks_a1)
    with pytest.raises(errors.DeviceRevoked):
        await a1.revoke_device(a2_id)
    with pytest.raises(errors.DeviceRevoked):
        await a1.create_paperkey()

    # Links device 1 signs anyway are refused by the server, and nothing is stored.
    user = await a1.identifier.identify("alice")
    state = user.state
    a1_keys = device_keys(ks_a1)
    assert kid_hex(a1_keys.sibkey.kid) == kid_hex(state.eldest_kid)
    assert kid_hex(a1_keys.sibkey.kid) not in {kid_hex(k) for k in state.sibkeys}
    forced_revoke = chainops.revoke_links(
        state=state, signer=a1_keys.sibkey, device=state.devices[a2_id],
        new_puk=PerUserKey.derive(os.urandom(32), 3), ctime=int(time.time()), merkle_root=a1.logview.trusted())
    with pytest.raises(errors.ServerError) as caught:
        await a1.api.post_links(alice_uid, {"links": forced_revoke})
    assert caught.value.status == 400 and caught.value.server_code == "INVALID_SIBKEY"
    evil = DeviceKeys.from_seeds(os.urandom(32), os.urandom(32))
    forced_device = chainops.device_links(
        state=state, signer=a1_keys.sibkey, keys=evil, device_id=make_device_id(os.urandom(16)),
        device_name="evil", device_type="desktop", ctime=int(time.time()), merkle_root=a1.logview.trusted())
    resp = httpx.post(f"{url}/v1/chain/{alice_uid}/links", json={"links": forced_device}, timeout=10)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "INVALID_SIBKEY"
    assert len(chain_of(url, alice_uid)) == 9
    assert server_checkpoint(url).size == size_after_revoke

    # -- the PUK rotated to generation 2: device 2 holds both, device 1 only the old one ----
    assert sorted(state.puks) == [1, 2]
    ks_a2 = file_keystore(homes["alice-2"])
    for gen in (1, 2):
        seed = ks_a2.get(f"puk:{gen}")
        assert seed is not None, f"device 2 lacks PUK generation {gen}"
        chainops.check_puk(state, gen, seed)  # the seed derives the keys the chain signed
    assert ks_a1.get("puk:2") is None
    chainops.check_puk(state, 1, ks_a1.get("puk:1"))
    paper_dev = next(d for d in state.devices.values() if d.type == "paper")
    # What the server boxed: gen 2 for device 2 and the paper key, never for device 1.
    assert box_generations(url, alice_uid, state.devices[a1_id].subkey) == [1]
    assert box_generations(url, alice_uid, state.devices[a2_id].subkey) == [1, 2]
    assert box_generations(url, alice_uid, paper_dev.subkey) == [1, 2]

    # -- `kbapp id alice` from carol's profile (CLI) -------------------------------------------
    ident = cli(homes["carol-2"], "id", "alice").json
    cp = server_checkpoint(url)
    assert ident["username"] == "alice" and ident["uid"] == alice_uid and ident["verified"] is True
    assert ident["chain_length"] == 9 and ident["puk_generation"] == 2
    assert ident["tail_link_id"] == state.tail_link_id
    assert ident["eldest_kid"] == kid_hex(a1_keys.sibkey.kid)  # still the eldest, though revoked
    devs = by_id(ident["devices"])
    assert set(devs) == {a1_id, a2_id, paper_dev.id}
    assert devs[a1_id]["revoked"] is True and devs[a1_id]["name"] == "alice-laptop"
    assert devs[a2_id]["revoked"] is False and devs[a2_id]["name"] == "alice-desktop"
    assert devs[paper_dev.id]["revoked"] is False and devs[paper_dev.id]["type"] == "paper"
    assert not any(d["current"] for d in ident["devices"])  # carol is not alice
    kinds = {}
    for k in ident["keys"]:
        kinds.setdefault(k["kind"], set()).add(k["kid"])
    assert kinds["sibkey"] == {devs[a2_id]["sibkey"], devs[paper_dev.id]["sibkey"]}
    assert kinds["subkey"] == {devs[a2_id]["subkey"], devs[paper_dev.id]["subkey"]}
    assert kid_hex(a1_keys.sibkey.kid) not in set().union(*kinds.values())
    assert kinds["puk-signing"] == {state.puks[2].signing_kid}
    assert kinds["puk-encryption"] == {state.puks[2].encryption_kid}
    assert ident["checkpoint"]["size"] == cp.size == size_after_revoke
    assert ident["checkpoint"]["root_hex"] == cp.root.hex()
    # The in-process view of the same identity agrees with the CLI's.
    mine = await carol1.identify("alice")
    assert (mine.chain_length, mine.tail_link_id, mine.puk_generation) == (9, state.tail_link_id, 2)
    assert {d.id: d.revoked for d in mine.devices} == {i: d["revoked"] for i, d in devs.items()}
    assert {(k.kind, k.kid) for k in mine.keys} == {(k["kind"], k["kid"]) for k in ident["keys"]}

    # -- the log audits from scratch, through the CLI and in-process ---------------------------
    audit = cli(homes["carol-2"], "log", "verify").json
    assert audit == {"size": cp.size, "root_hex": cp.root.hex(), "leaves_checked": cp.size,
                     "trusted_size": cp.size}
    audit = await bob2.verify_log()
    assert (audit.size, audit.root_hex, audit.leaves_checked) == (cp.size, cp.root.hex(), cp.size)

    st = cli(homes["alice-2"], "status").json
    info = httpx.get(url + "/v1/server", timeout=10).json()
    assert st["logged_in"] is True and st["username"] == "alice" and st["device_id"] == a2_id
    assert st["server_url"] == url
    assert st["server_fingerprint"] == info["fingerprint"]
    assert st["checkpoint"]["size"] == cp.size and st["checkpoint"]["root_hex"] == cp.root.hex()
    assert (homes["alice-2"] / "keystore.kbks").exists()

    # -- bob revokes his paper key in-process; bob's other device picks up generation 2 -------
    bob_paper = next(d for d in (await bob2.devices()) if d.type == "paper")
    revoked = await bob2.revoke_device(bob_paper.id)
    assert revoked.revoked
    assert bob2.keystore.get("puk:2") is not None
    assert bob1.keystore.get("puk:2") is None  # not fetched yet
    phrase2 = await bob1.create_paperkey()  # needs generation 2: bob-1 opens its box
    assert phrase2 != bob_phrase
    bob_state = (await carol1.identifier.identify("bob")).state
    chainops.check_puk(bob_state, 2, bob1.keystore.get("puk:2"))
    assert bob1.keystore.get("puk:2") == bob2.keystore.get("puk:2")
    with pytest.raises(errors.BadPaperKey):  # the revoked paper key cannot log in
        await (await apps(tmp_path / "bob-3")).login_paperkey("bob", bob_phrase, server_url=url)
    assert bob2_acct.device_id in {d.id for d in bob_state.devices.values() if d.revoked_seqno is None}

    # -- alice's paper key (boxed generation 2) still provisions a device after the rotation ----
    a3 = await apps(homes["alice-3"])
    await a3.login_paperkey("alice", alice_phrase, device_name="alice-new", server_url=url)
    for gen in (1, 2):
        chainops.check_puk(state, gen, a3.keystore.get(f"puk:{gen}"))
    again = await carol1.identify("alice")
    assert again.changed and again.chain_length == 11
    # Every client's trusted checkpoint is a prefix of the final log.
    final = server_checkpoint(url)
    leaves = httpx.get(url + "/v1/log/leaves", params={"start": 0, "end": final.size}, timeout=10).json()
    log = MerkleLog()
    for leaf in leaves["leaves"]:
        log.append(b64decode(leaf))
    assert log.root() == final.root
    for app in (bob1, bob2, carol1, a1, a3):
        trusted = app.logview.trusted()
        assert log.root(trusted.size) == trusted.root


async def test_server_restart_keeps_everything(db_url, server_factory, tmp_path, apps):
    srv = server_factory(db=db_url)
    url = srv.url
    alice = await apps(tmp_path / "alice")
    await alice.signup("alice", device_name="a1", server_url=url)
    phrase = await alice.create_paperkey()
    bob = await apps(tmp_path / "bob")
    await bob.signup("bob", device_name="b1", server_url=url)
    carol = await apps(tmp_path / "carol")
    await carol.signup("carol", device_name="c1", server_url=url)
    before = {n: await carol.identify(n) for n in ("alice", "bob")}
    info_before = httpx.get(url + "/v1/server", timeout=10).json()
    cp_before = server_checkpoint(url)
    note_before = httpx.get(url + "/v1/checkpoint", timeout=10).json()["note"]
    assert carol.logview.trusted().size == cp_before.size

    restart(srv)

    # Same key, same log: nothing was lost and no new (genesis) leaf was added.
    assert httpx.get(url + "/v1/server", timeout=10).json() == info_before
    assert httpx.get(url + "/v1/checkpoint", timeout=10).json()["note"] == note_before
    for name, old in before.items():
        ident = await carol.identify(name)
        assert not ident.changed
        assert (ident.chain_length, ident.tail_link_id) == (old.chain_length, old.tail_link_id)

    # The log keeps growing from where it was: writes after the restart...
    await bob.create_paperkey()
    alice2 = await apps(tmp_path / "alice-2")
    await alice2.login_paperkey("alice", phrase, device_name="a2", server_url=url)
    cp_after = server_checkpoint(url)
    assert cp_after.size == cp_before.size + 2
    # ... extend the old checkpoint (consistency is checked by the client on identify),
    ident = await carol.identify("bob")
    assert ident.changed and ident.chain_length == 5
    ident = await carol.identify("alice")
    assert ident.changed and ident.chain_length == 7
    assert carol.logview.trusted().size == cp_after.size
    # ... the old checkpoint is still served, and the whole log audits.
    assert httpx.get(url + "/v1/checkpoint", params={"size": cp_before.size}, timeout=10).json()["note"] == note_before
    audit = await carol.verify_log()
    assert audit.size == audit.leaves_checked == cp_after.size and audit.trusted_size == cp_after.size

    # A second restart, this time with a CLI client checking the result.
    restart(srv)
    res = cli(tmp_path / "dave", "signup", "dave", "--server", url).json
    assert res["server"]["fingerprint"] == info_before["fingerprint"]
    audit = cli(tmp_path / "dave", "log", "verify").json
    assert audit["size"] == cp_after.size + 1
    ident = await alice.identify("dave")
    assert ident.chain_length == 3
    assert (await alice.verify_log()).size == cp_after.size + 1


@pytest.mark.postgres
async def test_two_servers_share_one_postgres(pg_database, server_factory, tmp_path, apps):
    # Same data dir (so the same checkpoint key), same database, two processes.
    a = server_factory(db=pg_database, name="shared")
    b = server_factory(db=pg_database, name="shared")
    info = httpx.get(a.url + "/v1/server", timeout=10).json()
    assert httpx.get(b.url + "/v1/server", timeout=10).json() == info

    alice = await apps(tmp_path / "alice")            # talks to A
    await alice.signup("alice", device_name="a1", server_url=a.url)
    bob = await apps(tmp_path / "bob")                # talks to B
    await bob.signup("bob", device_name="b1", server_url=b.url)
    # Reads through either process see what the other wrote.
    assert (await bob.identify("alice")).chain_length == 3
    assert (await alice.identify("bob")).chain_length == 3
    await alice.create_paperkey()                     # written through A only
    assert (await bob.identify("alice")).chain_length == 5
    await bob.create_paperkey()                       # written through B only
    assert (await alice.identify("bob")).chain_length == 5

    # Concurrent writes through both processes: the advisory lock serialises them.
    users = [f"user{i}" for i in range(6)]
    clients = [await apps(tmp_path / u) for u in users]
    await asyncio.gather(*(c.signup(u, device_name="d", server_url=(a.url if i % 2 else b.url))
                           for i, (u, c) in enumerate(zip(users, clients))))
    await asyncio.gather(alice.create_paperkey(), bob.create_paperkey(),
                         *(c.create_paperkey() for c in clients[:4]))
    # One leaf per epoch: at most one per write (17), fewer where a process's group commit
    # took writes that queued together into one epoch (server/group_commit.py); at least the
    # first leaf, the four writes made one after another, and one epoch per process for
    # each of the two concurrent bursts.
    most, least = 1 + 2 + 2 + 6 + 6, 1 + 4 + 2 + 2

    # Both processes serve the same log: same checkpoint, same leaves.
    cp_a, cp_b = server_checkpoint(a.url), server_checkpoint(b.url)
    assert cp_a.size == cp_b.size and cp_a.root == cp_b.root and least <= cp_a.size <= most
    size = cp_a.size
    leaves_a = httpx.get(a.url + "/v1/log/leaves", params={"start": 0, "end": size}, timeout=10).json()
    leaves_b = httpx.get(b.url + "/v1/log/leaves", params={"start": 0, "end": size}, timeout=10).json()
    assert leaves_a == leaves_b and len(leaves_a["leaves"]) == size

    # Clients on either side verify everything and agree on the log (gossip check).
    for viewer in (alice, bob):
        for name, length in [("alice", 7), ("bob", 7)] + [(u, 5 if i < 4 else 3) for i, u in enumerate(users)]:
            assert (await viewer.identify(name)).chain_length == length
        audit = await viewer.verify_log()
        assert audit.size == size and audit.root_hex == cp_a.root.hex()
    await alice.check_peer_checkpoint(bob.logview.trusted().note)
    await bob.check_peer_checkpoint(alice.logview.trusted().note)
    # A CLI client on B, an in-process one on A: one more write each, still one log.
    cli(tmp_path / "erin", "signup", "erin", "--server", b.url)
    await clients[5].create_paperkey()
    assert (await alice.identify("erin")).chain_length == 3
    assert (await bob.identify("user5")).chain_length == 5
    assert cli(tmp_path / "erin", "log", "verify").json["size"] == size + 2
