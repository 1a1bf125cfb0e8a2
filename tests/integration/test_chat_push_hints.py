"""Push hints chat acts on besides messages (client/chat/hints.py), through a real server
process on 127.0.0.1 and the real push channel: nothing here polls.

* bob is added to a team: the server tells him on his own topic (`user:<bob>`, kind `team`),
  his client loads the team (verified) and its #general lands in his inbox, with the
  message already posted there;
* a member publishes a new team EK: bob's client hears `ek` and opens and keeps its seed
  at once, before any read.
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from kbapp.client import sync as push
from kbapp.client.chat import ephemeral as eph
from kbapp.client.chat.hints import ChatEkReady, ChatTeamAdded
from kbapp.client.sync import PushHint

from e2e_support import signup_all

pytestmark = pytest.mark.timeout(180)


async def online(app):
    runner = push.attach(app)
    runner.start()
    for _ in range(150):
        if runner.state == push.State.ONLINE:
            return runner
        await asyncio.sleep(0.1)
    raise AssertionError("the push channel did not come online")


async def first(q, kind, pred=lambda ev: True, timeout: float = 20):
    async def loop():
        while True:
            ev = await q.get()
            if isinstance(ev, kind) and pred(ev):
                return ev
    return await asyncio.wait_for(loop(), timeout)


async def test_added_to_a_team_the_channel_comes_by_push(db_url, server_factory, tmp_path, apps):
    srv = server_factory(db=db_url)
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    view = await alice.create_team("acme")
    await alice.chat.send("acme", "welcome aboard")
    await bob.chat.open()
    assert await bob.chat.conversations() == []
    runner = await online(bob)                     # bob's topics: only user:<bob> (no team yet)
    assert runner.topics == frozenset({f"user:{bob.store.get('uid')}"})
    q = bob.events.subscribe()
    try:
        await alice.add_member("acme", "bob", "writer")
        hint = await first(q, PushHint, lambda ev: ev.kind == "team")
        assert hint.subject == view.team_id
        added = await first(q, ChatTeamAdded)
        assert added.name == "acme" and added.team_id == view.team_id
        convs = await bob.chat.conversations()     # the local store only: no sync asked for
        assert [c.name for c in convs] == ["acme#general"]
        local = await bob.chat.read("acme", sync=False)
        assert [(m.sender, m.text) for m in local.messages] == [("alice", "welcome aboard")]
        for _ in range(100):                       # the push channel follows the team now
            if f"team:{view.team_id}" in runner.topics:
                break
            await asyncio.sleep(0.1)
        assert f"team:{view.team_id}" in runner.topics
    finally:
        bob.events.unsubscribe(q)
        await runner.stop()


async def test_a_new_team_ek_is_opened_on_its_push_hint(server_factory, tmp_path, apps):
    srv = server_factory()
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    await alice.chat.send("alice,bob", "hello")
    await bob.chat.read("alice,bob", sync=True)          # bob's device EK for today; he knows the team
    conv = await bob.chat.conv("alice,bob")
    runner = await online(bob)
    q = bob.events.subscribe()
    try:
        await alice.chat.send("alice,bob", "this explodes", exploding="1h")     # team EK generation 1
        ready = await first(q, ChatEkReady)
        assert (ready.team_id, ready.generation) == (conv.team_id, 1)
        con = sqlite3.connect(f"file:{bob.home / eph.FILE}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT generation, seed FROM team_ek WHERE team_id = ?", (conv.team_id,)).fetchall()
        finally:
            con.close()
        assert [(g, len(s)) for g, s in rows] == [(1, 32)]          # kept before bob read anything
    finally:
        bob.events.unsubscribe(q)
        await runner.stop()
    view = await bob.chat.read("alice,bob", sync=True)
    assert [m.text for m in view.messages] == ["hello", "this explodes"]


async def test_cli_typing_reaches_the_other_member(server_factory, tmp_path, apps):
    """`kbapp chat typing CONV` in its own process: bob's client shows alice typing."""
    from kbapp.client.chat.models import ChatTyping

    from e2e_support import cli

    srv = server_factory()
    a = tmp_path / "alice"
    await asyncio.to_thread(cli, a, "signup", "alice", "--server", srv.url)
    bob = await apps(tmp_path / "bob")
    await bob.signup("bob", server_url=srv.url, device_name="bob-laptop")
    await asyncio.to_thread(cli, a, "chat", "send", "alice,bob", "hi")
    await bob.chat.read("alice,bob", sync=True)
    conv = await bob.chat.conv("alice,bob")
    runner = await online(bob)
    q = bob.events.subscribe()
    try:
        told = await asyncio.to_thread(cli, a, "chat", "typing", "alice,bob")
        assert told.json == {"conv": "alice,bob", "told": True}
        ev = await first(q, ChatTyping)
        assert (ev.conv_id, ev.username) == (conv.conv_id, "alice")
    finally:
        bob.events.unsubscribe(q)
        await runner.stop()


async def test_read_follow_shows_who_is_typing(server_factory, tmp_path, apps):
    """`kbapp chat read CONV --follow` (text mode) prints `alice is typing…` on stderr."""
    import os
    import subprocess
    import sys

    from e2e_support import PASSPHRASE, ROOT, cli

    srv = server_factory()
    b = tmp_path / "bob"
    await asyncio.to_thread(cli, b, "signup", "bob", "--server", srv.url)
    alice = await apps(tmp_path / "alice")
    await alice.signup("alice", server_url=srv.url, device_name="alice-laptop")
    await alice.chat.send("alice,bob", "hello bob")
    env = dict(os.environ, KBAPP_KEYSTORE="file", KBAPP_PASSPHRASE=PASSPHRASE)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kbapp", "--home", str(b), "chat", "read", "alice,bob", "--follow", "--timeout", "60",
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert b"hello bob" in await asyncio.wait_for(proc.stdout.readuntil(b"hello bob"), 60)
        heard = asyncio.Event()

        async def lines():
            while raw := await proc.stderr.readline():
                if raw.decode().strip() == "alice is typing…":
                    heard.set()
        reader = asyncio.ensure_future(lines())
        for _ in range(15):                   # until bob's push channel is up and hears one
            await alice.chat.typing("alice,bob")
            try:
                await asyncio.wait_for(heard.wait(), 3.2)
                break
            except asyncio.TimeoutError:
                continue
        reader.cancel()
        assert heard.is_set()
    finally:
        proc.kill()
        await proc.wait()
