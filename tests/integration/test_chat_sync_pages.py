"""A long sync, page after page (client/chat/syncing.py). What must hold, against a real
server on 127.0.0.1:

* every page is stored, in order, and the cursor ends at the last message;
* when fetching a later page fails, the pages already judged are stored all the same (the
  next sync starts after them) and the failure reaches the caller;
* when storing a page fails, no later page is stored (the cursor never skips a page).
"""

from __future__ import annotations

import pytest

from kbapp.client.chat import syncing
from kbapp.core import errors

from e2e_support import signup_all

pytestmark = pytest.mark.timeout(300)
DM = "alice,bob"


async def _eleven(tmp_path, server, apps, monkeypatch):
    monkeypatch.setattr(syncing, "PAGE", 4)            # 11 messages: pages of 4, 4 and 3
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    for i in range(11):
        await u["alice"].chat.send(DM, f"m{i}")
    return u["bob"]


async def test_every_page_is_stored_in_order(server, tmp_path, apps, monkeypatch):
    bob = await _eleven(tmp_path, server, apps, monkeypatch)
    row = await bob.chat.sync_conv(await bob.chat.conv(DM))
    assert row.cursor == 11
    texts = [m.text for m in await bob.chat.store.aio.messages(row.conv_id, after=0)]
    assert texts == [f"m{i}" for i in range(11)]


async def test_a_failed_fetch_keeps_the_pages_judged_before_it(server, tmp_path, apps, monkeypatch):
    bob = await _eleven(tmp_path, server, apps, monkeypatch)
    real, calls = bob.ctx.api.chat_messages, []

    async def third_fails(*a, **kw):
        calls.append(kw.get("after"))
        if len(calls) == 3:
            raise errors.NetworkError("connection reset")
        return await real(*a, **kw)
    bob.ctx.api.chat_messages = third_fails
    conv = await bob.chat.conv(DM)
    with pytest.raises(errors.NetworkError):
        await bob.chat.sync_conv(conv)
    assert calls == [0, 4, 8]
    stored = await bob.chat.store.aio.conv(conv.conv_id)
    assert stored.cursor == 8                       # both pages before the failure are stored
    bob.ctx.api.chat_messages = real
    row = await bob.chat.sync_conv(conv)
    assert row.cursor == 11
    texts = [m.text for m in await bob.chat.store.aio.messages(row.conv_id, after=0)]
    assert texts == [f"m{i}" for i in range(11)]


async def test_a_failed_store_stores_no_later_page(server, tmp_path, apps, monkeypatch):
    bob = await _eleven(tmp_path, server, apps, monkeypatch)
    await bob.chat.open()
    store = bob.chat.store
    real, commits = store.commit_sync, []

    def second_fails(conv_id, rows, **kw):
        commits.append([r.msg_id for r in rows])
        if len(commits) == 2:
            raise errors.DatabaseClosed("disk full")
        return real(conv_id, rows, **kw)
    store.commit_sync = second_fails
    conv = await bob.chat.conv(DM)
    with pytest.raises(errors.DatabaseClosed):
        await bob.chat.sync_conv(conv)
    del store.commit_sync
    assert commits[:2] == [[1, 2, 3, 4], [5, 6, 7, 8]] and len(commits) == 2
    assert (await store.aio.conv(conv.conv_id)).cursor == 4
    assert [m.msg_id for m in await store.aio.messages(conv.conv_id, after=0)] == [1, 2, 3, 4]
