"""Chat engine under concurrency (issue 15), against a real server process on 127.0.0.1:

* two syncs at once each make "today's device EK": one generation is made and published,
  and neither sync fails (it used to raise an untyped IntegrityError);
* several sends at once through app.chat: each is sent once and answers with its number
  (a send whose entry the other's flush posted and the other's sync stored used to crash);
* app.chat.discard deletes an unsent entry (pending or failed) and refuses a sent one.
"""

from __future__ import annotations

import asyncio

import pytest

from kbapp.client.chat import ephemeral
from kbapp.core import errors

from e2e_support import signup_all

pytestmark = pytest.mark.timeout(300)


async def test_two_housekeeps_at_once_make_one_device_ek(server, tmp_path, apps):
    u = await signup_all(apps, tmp_path, server.url, ("alice",))
    eph = ephemeral.of(u["alice"].chat)
    await u["alice"].chat.open()
    await asyncio.gather(eph.housekeep(), eph.housekeep(), eph.ensure_device_ek())
    st = await eph.open()
    uid = u["alice"].ctx.uid
    assert await st.run(st._device_max_gen, uid) == 1
    assert (await st.run(st._device_top, uid)).published == 1
    # and two syncs at once (each housekeeps) on a second profile
    await asyncio.gather(u["alice"].chat.sync_inbox(), u["alice"].chat.sync_inbox())
    assert await st.run(st._device_max_gen, uid) == 1


async def test_several_sends_at_once_each_sent_once(server, tmp_path, apps):
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    await alice.chat.send("alice,bob", "first")
    outbox, real_flush, calls = alice.chat.outbox, alice.chat.outbox.flush, []

    async def flush_late(conv_id=None, **kw):
        """The first flush posts every waiting entry; the others then look only once its sync
        has stored them (and dropped their entries): the order that crashed the Chat page."""
        calls.append(conv_id)
        out = await real_flush(conv_id, **kw)
        if len(calls) > 1:
            for _ in range(200):
                left = {e.outbox_id for e in await alice.chat.store.aio.outbox_list(states=("sent",))}
                if left <= {e.outbox_id for e in out}:         # those the others posted are stored
                    break
                await asyncio.sleep(0.05)
        return out

    outbox.flush = flush_late
    got = await asyncio.gather(*(alice.chat.send("alice,bob", f"m{i}") for i in range(5)))
    outbox.flush = real_flush
    assert all(r.state == "sent" for r in got), got
    assert sorted(r.msg_id for r in got) == [2, 3, 4, 5, 6]
    conv_id = (await alice.chat.conv("alice,bob")).conv_id
    stored = {m.outbox_id: m.msg_id for m in await alice.chat.store.aio.messages(conv_id) if m.msg_id > 1}
    assert stored == {r.outbox_id: r.msg_id for r in got}             # each answer names its own message
    view = await bob.chat.read("alice,bob", sync=True)
    assert sorted(m.text for m in view.messages) == sorted(["first"] + [f"m{i}" for i in range(5)])
    assert await alice.chat.store.aio.outbox_list() == []


async def test_discard_an_unsent_message(server, tmp_path, apps):
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice = u["alice"]
    sent = await alice.chat.send("alice,bob", "hello")
    server.stop()
    try:
        res = await alice.chat.send("alice,bob", "never mind")
        assert res.state == "pending"
        await alice.chat.discard(res.outbox_id)
        assert await alice.chat.store.aio.outbox_get(res.outbox_id) is None
        view = await alice.chat.read("alice,bob")
        assert [m.text for m in view.messages] == ["hello"]
        with pytest.raises(errors.NotFound):
            await alice.chat.discard(res.outbox_id)
        with pytest.raises(errors.NotFound):
            await alice.chat.discard(sent.outbox_id)      # sent is sent
    finally:
        server.start()
    await alice.chat.flush()
    view = await u["bob"].chat.read("alice,bob", sync=True)
    assert [m.text for m in view.messages] == ["hello"]


async def test_typing_reaches_the_other_member_as_a_typed_event(server, tmp_path, apps):
    from kbapp.client import sync as push
    from kbapp.client.chat import typing
    from kbapp.client.chat.models import ChatTyping

    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    await alice.chat.send("alice,bob", "first")
    await bob.chat.read("alice,bob", sync=True)             # bob knows the team: its push topic
    runner = push.attach(alice)
    await alice.chat.read("alice,bob", sync=True)
    runner.start()
    try:
        for _ in range(100):
            if runner.state == push.State.ONLINE:
                break
            await asyncio.sleep(0.1)
        q = alice.events.subscribe()
        assert await bob.chat.typing("alice,bob") is True
        assert await bob.chat.typing("alice,bob") is False       # within 3 s: not sent again

        async def typed():
            while True:
                ev = await q.get()
                if isinstance(ev, ChatTyping):
                    return ev
        ev = await asyncio.wait_for(typed(), 15)
        conv_id = (await alice.chat.conv("alice,bob")).conv_id
        assert (ev.conv_id, ev.uid, ev.username) == (conv_id, bob.ctx.uid, "bob")
    finally:
        await runner.stop()
    # a hint naming someone who is not a member, or ourselves, or another team's topic: dropped
    t = typing.of(alice.chat)
    stranger = "ab" * 15 + "19"
    team = "team:" + (await alice.chat.conv("alice,bob")).team_id
    assert await t.heard(team, f"{conv_id}:{stranger}") is None
    assert await t.heard(team, f"{conv_id}:{alice.ctx.uid}") is None
    assert await t.heard("team:" + "cd" * 16, f"{conv_id}:{bob.ctx.uid}") is None
    assert await t.heard(team, f"{conv_id}:{bob.ctx.uid}") == ev


async def test_a_typing_hint_naming_a_removed_member_is_dropped(server, tmp_path, apps):
    """The server forges 'eve is typing' after eve left acme: bob knows her name from her
    verified message, but she is no member of the verified team state: nothing is shown."""
    from kbapp.client.chat import typing

    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob", "eve"))
    alice, bob, eve = u["alice"], u["bob"], u["eve"]
    await alice.create_team("acme")
    await alice.add_member("acme", "bob", "writer")
    await alice.add_member("acme", "eve", "writer")
    await eve.chat.send("acme", "eve was here")
    await bob.chat.read("acme", sync=True)
    row = await bob.chat.conv("acme")
    t = typing.of(bob.chat)
    topic, subject = f"team:{row.team_id}", f"{row.conv_id}:{eve.ctx.uid}"
    assert (await t.heard(topic, subject)).username == "eve"      # a member: shown
    await alice.remove_member("acme", "eve")
    await alice.chat.send("acme", "after eve left")
    await bob.chat.read("acme", sync=True)                          # bob's verified state: eve gone
    assert eve.ctx.uid not in bob.teams._team_states()[row.team_id].members
    assert await t.heard(topic, subject) is None
