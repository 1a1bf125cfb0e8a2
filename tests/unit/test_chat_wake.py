"""A chat push hint that comes while its conversation is syncing makes the sync run once more,
with that hint's own fetch (client/chat/syncing.py `_wake`): the rerun with the first hint's
msg id was skipped as already reached, so the newer message waited for the next sync."""

from __future__ import annotations

import asyncio

from kbapp.client.chat.syncing import SyncMixin


class Waker(SyncMixin):
    def __init__(self):
        self._syncing = {}
        self.outbox = None


async def test_a_hint_during_a_sync_runs_its_own_sync_after_it():
    w, seen, gate = Waker(), [], asyncio.Event()

    async def first():
        seen.append("first")
        await gate.wait()

    async def second():
        seen.append("second")

    w._wake("conv:c", first)
    await asyncio.sleep(0)                  # the first sync is running
    w._wake("conv:c", second)               # a newer hint meanwhile
    gate.set()
    await w._syncing["conv:c"]
    assert seen == ["first", "second"]


async def test_hints_with_no_sync_running_each_run_once():
    w, seen = Waker(), []

    async def one():
        seen.append(1)
    w._wake("conv:c", one)
    await w._syncing["conv:c"]
    w._wake("conv:c", one)
    await w._syncing["conv:c"]
    assert seen == [1, 1]
