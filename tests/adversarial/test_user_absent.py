"""A lookup that says "no such user" while the user's chain exists.

A forged absence proof fails the map proof, a replayed one (from before the
signup) is a rollback. A server that really drops the user from its map, in a
new signed epoch, gets NotFound (it may refuse service, docs/threat-model.md),
but what the client verified before stays as it was.
"""

from __future__ import annotations

import pytest

from kbapp.core import errors
from kbapp.core.uid import uid_for


@pytest.fixture
async def bob(clients):
    return await clients("bob")


async def test_forged_absence_proof_is_refused(user, bob, proxy, detected):
    _, name, _ = await user("alice")
    await bob.identify(name)
    absent = proxy.upstream_json(f"/v1/lookup/user/{uid_for('nobody_' + name[-6:])}")
    assert absent["value"] is None

    # The genuine bundle, its value dropped.
    proxy.set("lookup", uid=uid_for(name), fn=lambda b: {**b, "value": None})
    await detected(bob, errors.MapProofError, bob.identify(name), match="absence was expected")
    # The (genuine) proof that someone else's key is absent, passed off as alice's.
    proxy.set("lookup", uid=uid_for(name), fn=lambda b: {**b, "value": None, "map_proof": absent["map_proof"]})
    await detected(bob, errors.MapProofError, bob.identify(name))
    assert proxy.tampered
    proxy.clear()
    await bob.identify(name)                                   # control


async def test_absence_from_before_the_signup_is_replayed(clients, name, bob, proxy, detected):
    alice = name("alice")
    with pytest.raises(errors.NotFound):                       # recorded: alice does not exist yet
        await bob.identify(alice)
    old = proxy.record()
    await (await clients("alice", connect=False)).signup(alice, server_url=proxy.url)
    await bob.identify(alice)                                  # control: now bob trusts alice

    proxy.set("replay", answers=old, match=r"^/v1/lookup/")
    await detected(bob, errors.RollbackDetected, bob.identify(alice))


async def test_user_dropped_from_the_map_keeps_trust(user, bob, world, proxy, detected, cli):
    app, name, _ = await user("alice")
    trusted = (await bob.identify(name)).tail_link_id
    with world.database() as db:
        db.delete_user(uid_for(name))

    await detected(bob, errors.NotFound, bob.identify(name), match="proves it absent")
    assert bob.store.identity(uid_for(name)).tail_link_id == trusted
    rc, _, stderr = await cli(bob.home, "id", name)
    assert rc == 1 and "NOT_FOUND" in stderr
    assert bob.store.identity(uid_for(name)).tail_link_id == trusted
