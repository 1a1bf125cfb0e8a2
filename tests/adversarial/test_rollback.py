"""(c) Rollback: the server replays answers from before the client's trusted
state advanced, or really rolls a chain back in its database.

The client keeps the newest checkpoint it verified and the tail of every
chain it verified; a smaller log, a lookup against an older log, or a chain
shorter than one verified before is refused.
"""

from __future__ import annotations

import pytest

from kbapp.core import errors
from kbapp.core.uid import uid_for


@pytest.fixture
async def alice(user):
    return await user("alice")


async def _advance(how: str, app, user) -> None:
    """Make the log grow, then let `app` verify (its trusted state advances)."""
    if how == "own-device":
        await app.create_paperkey()          # identifies alice at the end
    else:
        _, other, _ = await user("carol")
        await app.identify(other)


@pytest.mark.parametrize("how", ["own-device", "other-user"])
async def test_old_checkpoint_replayed(alice, user, proxy, detected, cli, how):
    app, name, _ = alice
    await app.identify(name)
    old = proxy.record()                     # the checkpoint, lookup and chain answers of now
    before = app.store.checkpoint()
    await _advance(how, app, user)
    assert app.store.checkpoint().size > before.size      # control: trust advanced

    proxy.set("replay", answers=old, match=r"^/v1/checkpoint$")
    err = await detected(app, errors.RollbackDetected, app.identify(name))
    assert f"log of {before.size} entries" in str(err)
    await detected(app, errors.RollbackDetected, app.verify_log())
    rc, _, stderr = await cli(app.home, "id", name)
    assert rc == 3 and "VERIFICATION FAILED (ROLLBACK)" in stderr

    # Every old answer at once: refused at the first one (the checkpoint).
    proxy.set("replay", answers=old, match=r"^/v1/(checkpoint|lookup/|chain/)")
    await detected(app, errors.RollbackDetected, app.identify(name))
    assert proxy.tampered

    proxy.clear()
    await app.identify(name)                 # control: the honest answers still pass


async def test_old_lookup_replayed(alice, proxy, detected):
    """The current checkpoint, but the lookup bundle (with its own, older
    checkpoint and the old map value) from before alice added a device."""
    app, name, _ = alice
    await app.identify(name)
    old = proxy.record()
    await app.create_paperkey()

    proxy.set("replay", answers=old, match=r"^/v1/lookup/")
    err = await detected(app, errors.RollbackDetected, app.identify(name))
    assert "lookup is against a log" in str(err)
    assert proxy.tampered


async def test_old_chain_replayed(alice, clients, proxy, detected):
    """Current checkpoint and lookup, the chain from before the new device:
    the Merkle map commits to the newer tail. (The replay is of a newcomer's
    answer, GET /v1/chain/{uid}?since=0: a client that verified alice before
    asks only for the links after the tail it knows.)"""
    app, name, _ = alice
    await (await clients("bob")).identify(name)
    old = proxy.record()
    await app.create_paperkey()

    proxy.set("replay", answers=old, match=r"^/v1/chain/")
    carol = await clients("carol")
    await detected(carol, errors.ChainTailMismatch, carol.identify(name))
    assert proxy.tampered


async def test_chain_rolled_back_in_the_database(alice, clients, world, proxy, detected, cli):
    """The server really rolls alice's chain back: it deletes her newest links
    and, in a new epoch, points the map back at the older tail, with a signed
    checkpoint. Log, map and chain all agree; only the memory of what was
    verified before tells: the chain shrank."""
    app, name, _ = alice
    await app.create_paperkey()               # alice's chain: 5 links
    bob = await clients("bob")
    assert (await bob.identify(name)).chain_length == 5

    with world.database() as db:
        db.rollback_chain(uid_for(name), 3)

    err = await detected(bob, errors.RollbackDetected, bob.identify(name))
    assert "ends at link 3" in str(err) and "verified link 5" in str(err)
    await detected(app, errors.RollbackDetected, app.identify(name))
    rc, _, stderr = await cli(bob.home, "id", name)
    assert rc == 3 and "VERIFICATION FAILED (ROLLBACK)" in stderr

    # Control: a client that never saw the longer chain accepts the short one
    # (the server may withhold what no one has seen yet: docs/threat-model.md).
    carol = await clients("carol")
    assert (await carol.identify(name)).chain_length == 3
