"""`app.chat.read` against a sync that commits between its two store reads (issue 15's edit
flicker, against a real server process on 127.0.0.1).

The sync after our post stores our message and drops its outbox entry in one
transaction; `read` takes the outbox and the rows in two hops of the store's thread. Here
the commit is made to land exactly between them (the store's async face wrapped: the
read's first hop waits for the commit, the commit waits for that hop). Rows first, then
the outbox, our message was in neither (the page's row vanished for a reload, an edit
read as before); the outbox first, it is in one of them, once.
"""

from __future__ import annotations

import asyncio

import pytest

from e2e_support import signup_all

pytestmark = pytest.mark.timeout(300)


class _Between:
    """store.aio with the first commit_sync held until the read task's first message or
    outbox read is done, and that read held until the commit is."""

    def __init__(self, real):
        self._real = real
        self.reader: asyncio.Task | None = None
        self.first_hop = asyncio.Event()
        self.committed = asyncio.Event()
        self.commit_waiting = asyncio.Event()
        self.hops: list[str] = []

    def __getattr__(self, name):
        fn = getattr(self._real, name)
        if name == "commit_sync" and not self.committed.is_set():
            async def commit(*a, **kw):
                self.commit_waiting.set()
                await self.first_hop.wait()
                try:
                    return await fn(*a, **kw)
                finally:
                    self.committed.set()
            return commit
        if name in ("messages", "outbox_list"):
            async def hop(*a, **kw):
                got = await fn(*a, **kw)
                if self.reader is not None and asyncio.current_task() is self.reader and not self.first_hop.is_set():
                    self.hops.append(name)
                    self.first_hop.set()
                    await self.committed.wait()
                return got
            return hop
        return fn


async def test_our_message_is_never_missing_from_a_read_the_sync_commits_in(server_factory, tmp_path, apps):
    srv = server_factory()
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob"))
    alice = u["alice"]
    await alice.chat.send("alice,bob", "first")
    store = alice.chat.store
    between = _Between(store.aio)
    store.aio = between
    try:
        sending = asyncio.ensure_future(alice.chat.send("alice,bob", "second"))
        await asyncio.wait_for(between.commit_waiting.wait(), 60)      # posted; its sync holds the commit
        between.reader = asyncio.ensure_future(alice.chat.read("alice,bob"))
        view = await asyncio.wait_for(between.reader, 60)
        await asyncio.wait_for(sending, 60)
    finally:
        store.aio = between._real
    assert between.hops and between.committed.is_set()                 # the commit did land in between
    assert [m.text for m in view.messages] == ["first", "second"], view.messages
    assert [m.text for m in (await alice.chat.read("alice,bob")).messages] == ["first", "second"]
