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


async def test_a_folder_sync_whose_user_loads_move_the_checkpoint_is_no_rollback(server, tmp_path, apps):
    """bob's sync fetches alice's revisions (their lookup against checkpoint N) while another
    verification (the Files page naming writers, a chat sync) trusts N+1: the page's lookup is older than what bob now trusts, but it was
    the newest when he asked. It must be proven a prefix, not reported as a rollback (the
    screenshot run showed "ROLLBACK: a log of 8 entries, but we already verified 9")."""
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    await alice.files.write("/private/alice,bob/plan.txt", b"from alice")
    await alice.files.sync(timeout=60)
    api = bob.ctx.api
    real = api.fs_revisions
    grown = []

    async def then_grow(*a, **kw):
        page = await real(*a, **kw)
        if not grown:
            grown.append(await signup_all(apps, tmp_path, server.url, ("carol",)))   # the log moves on
            await bob.identifier.advance_checkpoint()    # and a verification beside the sync trusts it
        return page
    api.fs_revisions = then_grow
    assert await bob.files.read("/private/alice,bob/plan.txt") == b"from alice"
    assert grown


async def test_an_answer_older_than_what_we_trusted_when_we_asked_is_a_rollback(server, tmp_path, apps):
    """The allowance is only for trust that moved while the answer was on its way: a checkpoint
    older than what we trusted when we sent the request is still a rollback."""
    from kbapp.core import errors

    u = await signup_all(apps, tmp_path, server.url, ("alice",))
    lv = u["alice"].ctx.logview
    before = lv.mark()
    old = lv.parse(await u["alice"].ctx.api.checkpoint())
    await signup_all(apps, tmp_path, server.url, ("carol",))
    await u["alice"].identifier.advance_checkpoint()
    assert lv.mark() > old.size
    assert await lv.check_forward(old, since=before) == old        # asked before trust moved: a prefix, fine
    with pytest.raises(errors.RollbackDetected):
        await lv.check_forward(old, since=lv.mark())               # asked after: the server went back
    with pytest.raises(errors.RollbackDetected):
        await lv.check_forward(old)
