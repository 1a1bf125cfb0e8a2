"""Read markers from the user's other devices are hints the server relays (client/chat/readsync.py):
attacks from the server's side (a made-up or malformed `read` hint on our own push topic) and
from another member's (the read route), with a real server process on 127.0.0.1.
"""

from __future__ import annotations

import asyncio

import pytest

from kbapp.client.chat import readsync
from kbapp.client.sync import PushHint
from kbapp.core import errors

pytestmark = pytest.mark.timeout(300)


async def signup_all(apps, tmp_path, url, names):
    out = {}
    for n in names:
        app = await apps(tmp_path / n)
        await app.signup(n, server_url=url, device_name=f"{n}-laptop")
        out[n] = app
    return out


@pytest.fixture
async def apps():
    from kbapp.client.app import App
    from kbapp.client.keystore import open_keystore
    opened = []

    async def make(home):
        app = App(home, keystore=open_keystore(home, backend="memory"))
        await app.open()
        opened.append(app)
        return app
    yield make
    for app in opened:
        await app.close()


async def _dm(server_factory, apps, tmp_path, n: int = 2):
    """alice and bob; bob wrote `n` messages in their DM, alice has them (verified, unread)."""
    srv = server_factory()
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob", "carol"))
    alice, bob = u["alice"], u["bob"]
    await alice.chat.send("alice,bob", "hi")
    for i in range(n):
        await bob.chat.send("alice,bob", f"message {i}")
    view = await alice.chat.read("alice,bob", sync=True)
    await alice.chat.mark_read(view.conv.conv_id, 1)
    return u, view.conv.conv_id


async def _hint(app, subject: str, topic: str | None = None) -> None:
    """What a server's push frame hands the client: a `read` hint, then its task run."""
    readsync.listen(app.chat)
    app.ctx.events.emit(PushHint(topic or f"user:{app.ctx.uid}", "read", 99, subject))
    for _ in range(50):
        await asyncio.sleep(0.02)


async def test_a_read_hint_past_what_this_device_verified_is_capped(server_factory, apps, tmp_path):
    u, conv_id = await _dm(server_factory, apps, tmp_path)
    alice, bob = u["alice"], u["bob"]
    cursor = (await alice.chat.store.aio.conv(conv_id)).cursor
    seen = []
    alice.ctx.events.on(lambda ev: seen.append(ev) if isinstance(ev, readsync.ChatReadChanged) else None)
    await _hint(alice, f"{conv_id}:{10 ** 12}")         # "you read everything, forever"
    row = await alice.chat.store.aio.conv(conv_id)
    assert row.read_upto == cursor and seen == [readsync.ChatReadChanged(conv_id, cursor)]
    await bob.chat.send("alice,bob", "after the hint")
    view = await alice.chat.read("alice,bob", sync=True)
    assert view.conv.unread == 1                        # a later message is still news


@pytest.mark.parametrize("subject", ["", "nonsense", "{conv}", "{conv}:", "{conv}:-1", "{conv}:0x10",
                                     "{conv}:1e3", "{conv}:9999999999999999", "{other}:3", "{conv}:1"])
async def test_read_hints_that_do_not_fit_change_nothing(server_factory, apps, tmp_path, subject):
    u, conv_id = await _dm(server_factory, apps, tmp_path)
    alice = u["alice"]
    before = await alice.chat.store.aio.conv(conv_id)
    await _hint(alice, subject.format(conv=conv_id, other="ab" * 16))
    after = await alice.chat.store.aio.conv(conv_id)
    assert after.read_upto == before.read_upto == 1     # "{conv}:1" is not forward: nothing either


async def test_a_read_hint_on_someone_elses_topic_is_not_ours(server_factory, apps, tmp_path):
    u, conv_id = await _dm(server_factory, apps, tmp_path)
    alice, bob = u["alice"], u["bob"]
    await _hint(alice, f"{conv_id}:3", topic=f"user:{bob.ctx.uid}")
    assert (await alice.chat.store.aio.conv(conv_id)).read_upto == 1


async def test_the_read_route_refuses_outsiders_and_garbage(server_factory, apps, tmp_path):
    u, conv_id = await _dm(server_factory, apps, tmp_path)
    alice, carol = u["alice"], u["carol"]
    with pytest.raises(errors.NotFound):                # not hers: the same answer as no such conversation
        await carol.ctx.api.chat_read(conv_id, 2)
    with pytest.raises(errors.NotFound):
        await carol.ctx.api.chat_read("00" * 16, 2)
    for bad in ("2", 0, -1, 10 ** 15, None, 2.5):
        with pytest.raises(errors.KbappError) as e:
            await alice.ctx.api._request("POST", f"/v1/chat/{conv_id}/read", json={"upto": bad}, auth=True)
        assert getattr(e.value, "status", None) == 400, (bad, e.value)
    with pytest.raises(errors.KbappError) as e:
        await alice.ctx.api._request("POST", "/v1/chat/not-a-conv/read", json={"upto": 2}, auth=True)
    assert getattr(e.value, "status", 400) < 500
    await alice.ctx.api.chat_read(conv_id, 2)           # her own: accepted (a hint to her devices)
