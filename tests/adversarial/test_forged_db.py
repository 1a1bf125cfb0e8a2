"""(f) The server adds a link to alice's chain that she never made, writing it
into its own database directly (its link checks bypassed), with the Merkle
map, the log and a checkpoint signed by its key all updated to match. Every
proof verifies; only chain playback catches it: the signer is not one of
alice's active sibkeys.

The control writes a genuine link (signed by alice's real device key) the
same way, and it is accepted: the helper makes consistent state, so the forged
cases fail for the signer alone.
"""

from __future__ import annotations

import os
import time

import pytest

from kbapp.core import errors
from kbapp.core.encoding import b64decode, unpack
from kbapp.core.keys import DeviceKeys, SigningKeyPair
from kbapp.core.merkle.note import verify_checkpoint
from kbapp.core.paperkey import paper_device_keys
from kbapp.core.sigchain import build_device, build_sibkey, link_id, link_id_hex
from kbapp.core.transparency import map_key, verify_lookup
from kbapp.core.uid import device_id, uid_for


@pytest.fixture
async def bob(clients):
    return await clients("bob")


def _next_link(db, uid: str, username: str, build, signer, **fields) -> dict:
    """The link a device would write next on uid's chain, as of the database now."""
    chain = db.chain(uid)
    tail = db.tail(uid)
    return build(signer, uid=uid, username=username, eldest_kid=tail.eldest_kid, seqno=len(chain) + 1,
                 prev=link_id(chain[-1]), ctime=int(time.time()), merkle_root=db.checkpoint(), **fields)


def _committed_tail(proxy, uid: str):
    """What the server's log says (all proofs checked): the map's tail for uid."""
    info = proxy.upstream_json("/v1/server")
    bundle = proxy.upstream_json(f"/v1/lookup/user/{uid}")
    cp = verify_checkpoint(bundle["checkpoint"], info["key_name"], b64decode(info["public_key"]))
    tail, _ = verify_lookup(bundle, cp, map_key("user", uid))
    return tail


async def test_genuine_link_written_in_the_database_is_accepted(user, bob, world, proxy):
    """Control for the helper: a link alice did sign, stored the evil way."""
    app, name, _ = await user("alice")
    await bob.identify(name)
    seeds = unpack(app.keystore.get("device"), max_size=256)
    laptop = DeviceKeys.from_seeds(seeds[0], seeds[1]).sibkey
    with world.database() as db:
        link = _next_link(db, uid_for(name), name, build_device, laptop,
                          device_id=app.store.get("device_id"), device_name="renamed-laptop")
        db.append_links(uid_for(name), [link])
    assert _committed_tail(proxy, uid_for(name)).link_id == link_id_hex(link)
    ident = await bob.identify(name)
    assert ident.chain_length == 4 and "renamed-laptop" in {d.name for d in ident.devices}


async def test_forged_link_in_the_database_is_refused(user, bob, world, proxy, detected, cli):
    """The server adds a device of its own: a sibkey link signed by its key."""
    app, name, _ = await user("alice")
    await bob.identify(name)
    evil = SigningKeyPair.from_seed(os.urandom(32))
    with world.database() as db:
        link = _next_link(db, uid_for(name), name, build_sibkey, evil, new_key=evil,
                          device_id=device_id(os.urandom(16)), device_name="alice-phone")
        db.append_links(uid_for(name), [link])
    assert _committed_tail(proxy, uid_for(name)).link_id == link_id_hex(link)   # map + log agree

    err = await detected(bob, errors.InvalidSibkey, bob.identify(name))
    assert "link 4" in str(err) and "not a sibkey" in str(err)
    await detected(app, errors.InvalidSibkey, app.identify(name))   # alice herself refuses it
    rc, out, stderr = await cli(bob.home, "id", name)
    assert rc == 3 and "VERIFICATION FAILED (INVALID_SIBKEY)" in stderr and "alice-phone" not in out


async def test_link_by_a_revoked_device_is_refused(user, bob, world, proxy, detected):
    """alice's paper key was stolen, then revoked; the server (holding it) writes
    a link signed by it, adding a device of the thief's."""
    app, name, phrase = await user("alice", paperkey=True)
    paper = next(d for d in await app.devices() if d.type == "paper")
    await app.revoke_device(paper.id)
    await bob.identify(name)
    stolen = paper_device_keys(phrase).sibkey
    thief = SigningKeyPair.from_seed(os.urandom(32))
    with world.database() as db:
        link = _next_link(db, uid_for(name), name, build_sibkey, stolen, new_key=thief,
                          device_id=device_id(os.urandom(16)), device_name="alice-phone")
        db.append_links(uid_for(name), [link])

    err = await detected(bob, errors.InvalidSibkey, bob.identify(name))
    assert "was revoked" in str(err)
