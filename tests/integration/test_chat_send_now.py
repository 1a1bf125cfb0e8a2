"""A send's fast path (client/chat/sending.send_now), against a real server on 127.0.0.1: the
entry added, then one store hop (claim, heads, seal, keep the sealed post) before the post
instead of four, with the outbox's guarantees kept:

* the sealed post is in the store before it is posted, so a post that never got its answer
  is sent again with the very same bytes and the server keeps one message;
* a message written behind one still queued in its conversation (offline, say) waits for
  it: the server stores them in the order they were written;
* messages arrive in the order the sends were called, even when the first waits for a team
  load (its entry is written before anything else);
* a send cancelled while its entry is being claimed leaves it pending, delivered in order;
* many sends at once in one conversation each arrive once, in the order they were added.
"""

from __future__ import annotations

import asyncio

import pytest

from kbapp.core import errors

from e2e_support import signup_all

pytestmark = pytest.mark.timeout(300)
DM = "alice,bob"


async def _texts_bob_reads(bob) -> list[str]:
    conv = await bob.chat.sync_conv(await bob.chat.conv(DM))
    return [m.text for m in await bob.chat.store.aio.messages(conv.conv_id, after=0)]


def _hops(app, log: list):
    """Record the store calls (their names) and the chat posts, in order."""
    db = app.chat.store.db
    real_run, real_post = db.run, app.ctx.api.chat_post

    async def run(fn, *a, **k):
        log.append(getattr(fn, "__name__", "?"))
        return await real_run(fn, *a, **k)

    async def post(*a, **k):
        log.append("POST")
        return await real_post(*a, **k)
    db.run, app.ctx.api.chat_post = run, post


async def test_one_store_hop_before_the_post(server, tmp_path, apps):
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    await alice.chat.send(DM, "first")              # the conversation and the team keys exist
    log: list[str] = []
    _hops(alice, log)
    got = await alice.chat.send(DM, "second")
    assert got.state == "sent"
    before = log[:log.index("POST")]
    assert before.count("outbox_add") == 1 and before.index("outbox_add") < before.index("outbox_claim_sealed")
    assert not {"outbox_update", "outbox_list", "conv_and_heads"} & set(before), before
    texts = await _texts_bob_reads(bob)
    assert texts == ["first", "second"]


async def test_a_post_whose_answer_was_lost_is_sent_again_with_the_same_bytes(server, tmp_path, apps):
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    await alice.chat.send(DM, "first")
    real_post, posted = alice.ctx.api.chat_post, []

    async def lost_answer(conv_id, body):
        posted.append(body)
        await real_post(conv_id, body)                 # the server stored it ...
        raise errors.NetworkError("connection reset")   # ... and the answer never came
    alice.ctx.api.chat_post = lost_answer
    got = await alice.chat.send(DM, "second")
    assert got.state == "pending"                      # retried later, not lost, not failed
    entry = await alice.chat.store.aio.outbox_get(got.outbox_id)
    assert entry.sealed["post"] == posted[0]           # what was posted is what is kept
    alice.ctx.api.chat_post = real_post
    await alice.chat.outbox.flush(force=True)
    texts = await _texts_bob_reads(bob)
    assert texts == ["first", "second"]               # one message, not two


async def test_a_message_behind_a_queued_one_waits_for_it(server, tmp_path, apps):
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    await alice.chat.send(DM, "first")
    real_post = alice.ctx.api.chat_post

    async def offline(conv_id, body):
        raise errors.NetworkError("no route to host")
    alice.ctx.api.chat_post = offline
    queued = await alice.chat.send(DM, "queued while offline")
    assert queued.state == "pending"                   # waits out its backoff
    alice.ctx.api.chat_post = real_post
    later = await alice.chat.send(DM, "written after it")
    assert later.state == "pending"                    # behind it, not posted before it
    await alice.chat.outbox.flush(force=True)
    texts = await _texts_bob_reads(bob)
    assert texts == ["first", "queued while offline", "written after it"]


async def test_sends_at_once_each_arrive_once_in_the_order_added(server, tmp_path, apps):
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    await alice.chat.send(DM, "first")
    got = await asyncio.gather(*(alice.chat.send(DM, f"m{i}") for i in range(6)))
    assert all(r.state == "sent" for r in got), got
    assert [r.msg_id for r in got] == sorted(r.msg_id for r in got) and len({r.msg_id for r in got}) == 6
    texts = await _texts_bob_reads(bob)
    assert texts == ["first"] + [f"m{i}" for i in range(6)]


async def test_call_order_holds_when_the_first_send_waits_for_a_team_load(server, tmp_path, apps):
    """The reviewer's case: A's keys need a fresh team load (the cache went stale), B is
    sent without waiting 5 ms later. A's entry is written before that load, so A goes first."""
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    await alice.chat.send(DM, "first")
    alice.chat._teams_cache.clear()
    real = alice.chat.team_for_chat

    async def slow(*a, **kw):
        await asyncio.sleep(0.2)
        return await real(*a, **kw)
    alice.chat.team_for_chat = slow
    a = asyncio.ensure_future(alice.chat.send(DM, "A"))
    await asyncio.sleep(0.005)
    assert (await alice.chat.send(DM, "B", wait=False)).state == "pending"
    assert (await a).state == "sent"
    alice.chat.team_for_chat = real
    await alice.chat.outbox.flush(force=True)
    texts = await _texts_bob_reads(bob)
    assert texts == ["first", "A", "B"]


async def test_a_send_cancelled_while_claiming_stays_pending_and_goes_in_order(server, tmp_path, apps):
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    await alice.chat.send(DM, "first")
    store = alice.chat.store
    real_claim = store.outbox_claim_sealed
    claiming = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow_claim(*a, **kw):                 # on the store's thread: long enough to cancel
        loop.call_soon_threadsafe(claiming.set)
        import time
        time.sleep(0.3)
        return real_claim(*a, **kw)
    store.outbox_claim_sealed = slow_claim
    task = asyncio.ensure_future(alice.chat.send(DM, "cancelled"))
    await claiming.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    del store.outbox_claim_sealed
    left = await store.aio.outbox_list(conv_id=None, states=("pending", "sending"))
    assert [e.state for e in left] == ["pending"]        # not stuck in `sending`
    got = await alice.chat.send(DM, "after")
    assert got.state == "sent"
    texts = await _texts_bob_reads(bob)
    assert texts == ["first", "cancelled", "after"]
