"""Two verifications side by side: one trusts a newer checkpoint between the other's check and
its commit. The slower one must still land (its checkpoint proven a prefix of the newer one,
committed without it), not fail with "refusing to store an older checkpoint" (a flake the Files
journal test hit: identify and a team load racing on the database thread)."""

from __future__ import annotations

import asyncio

import pytest

from e2e_support import signup_all

pytestmark = pytest.mark.timeout(300)


async def test_the_slower_verification_lands_under_the_newer_checkpoint(server, tmp_path, apps):
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice = u["alice"]
    aio = alice.store.aio
    real_commit = aio.commit_verified
    held, go = asyncio.Event(), asyncio.Event()

    async def slow_commit(*, cp=None, identity=None):
        if identity is not None and identity.username == "bob" and not go.is_set():
            held.set()
            await go.wait()              # bob's verification is checked: its commit waits for carol's
        return await real_commit(cp=cp, identity=identity)
    aio.commit_verified = slow_commit

    slow = asyncio.create_task(alice.identifier.identify("bob"))
    await held.wait()
    looked_at = alice.store.checkpoint().size
    await signup_all(apps, tmp_path, server.url, ("carol",))          # the log grows
    carol = await alice.identifier.identify("carol")                 # commits the newer checkpoint
    newer = alice.store.checkpoint()
    assert newer.size > looked_at and carol.username == "carol"
    go.set()
    bob = await slow
    assert bob.username == "bob"
    assert alice.store.checkpoint() == newer                          # the newer one stays trusted
    assert (await alice.store.aio.identity(bob.uid)).username == "bob"
