"""Chat end to end: real server processes on 127.0.0.1 (SQLite and PostgreSQL), real
`App` clients (app.chat), and the real `kbapp chat` CLI.

* a DM alice,bob: send, read, reply, react (and take it back), edit, delete, a thread;
  search and export over the local store; unread counts and read markers;
* a group DM alice,bob,carol and a team channel: #general, a new channel found by its
  signed name, a reader who reads but cannot post;
* the outbox: a message typed while the server is down stays pending, and is sent exactly
  once when the server is back (also when the answer to a post was lost);
* a removed member neither reads nor posts what follows; a new device of bob reads the
  history; a profile made before chat existed opens and chats;
* CLI smoke tests: list, send, read --json through `python -m kbapp`.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from kbapp.client.chat.store import ChatStore
from kbapp.core import errors

from e2e_support import cli, open_app, signup_all

pytestmark = pytest.mark.timeout(300)
DATA = Path(__file__).resolve().parents[1] / "data" / "profiles"


def texts(view) -> list:
    return [(m.sender, m.text) for m in view.messages]


async def test_dm_messages_edits_reactions_threads_search_export(db_url, server_factory, tmp_path, apps):
    srv = server_factory(db=db_url)
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]

    sent = await alice.chat.send("alice,bob", "hello bob")
    assert sent.state == "sent" and sent.msg_id == 1
    view = await bob.chat.read("bob,alice", sync=True)          # either order names the same DM
    assert texts(view) == [("alice", "hello bob")] and view.messages[0].status == "ok"
    assert view.conv.name == "alice,bob" and not view.problems

    r = await bob.chat.send("alice,bob", "hi alice", reply_to=1)
    await bob.chat.react("alice,bob", 1, "👍")
    await alice.chat.edit("alice,bob", 1, "hello bob!")
    t1 = await alice.chat.send("alice,bob", "a thread reply", thread=1)
    t2 = await bob.chat.send("alice,bob", "another in the thread", thread=1)
    oops = await alice.chat.send("alice,bob", "oops, wrong chat")
    await alice.chat.delete("alice,bob", oops.msg_id)

    view = await bob.chat.read("alice,bob", sync=True)
    first = view.messages[0]
    assert first.text == "hello bob!" and first.edited and first.reactions == {"👍": ["bob"]}
    assert first.replies == 2
    assert [(m.text, m.reply_to) for m in view.messages] == [("hello bob!", None), ("hi alice", 1)]
    thread = await bob.chat.read("alice,bob", thread=1)
    assert [m.text for m in thread.messages] == ["hello bob!", "a thread reply", "another in the thread"]
    assert {t1.msg_id, t2.msg_id} == {m.msg_id for m in thread.messages[1:]}

    await alice.chat.pin("alice,bob", 1)
    await alice.chat.set_headline("alice,bob", "lunch plans")
    view = await bob.chat.read("alice,bob", sync=True)
    assert view.pins == [1] and view.headline == "lunch plans"
    await bob.chat.pin("alice,bob", 1, remove=True)
    await bob.chat.react("alice,bob", 1, "👍", remove=True)
    view = await alice.chat.read("alice,bob", sync=True)
    assert view.messages[0].reactions == {} and view.messages[1].msg_id == r.msg_id
    assert view.pins == [] and view.headline == "lunch plans"

    # search and export: local, over the verified and decrypted history
    hits = await bob.chat.search("thread")
    assert sorted(h.msg_id for h in hits) == sorted([t1.msg_id, t2.msg_id]) and hits[0].conv == "alice,bob"
    assert await bob.chat.search("oops") == [] and await bob.chat.search("hello", "alice,bob")
    doc = json.loads(await bob.chat.export("alice,bob", "json"))
    assert doc["conversation"]["name"] == "alice,bob"
    assert [m["text"] for m in doc["messages"]][:2] == ["hello bob!", "hi alice"]
    plain = await bob.chat.export("alice,bob", "text")
    assert "alice: hello bob! (edited)" in plain and "oops" not in plain

    # unread counts and read markers are local
    assert (await bob.chat.conversations())[0].unread == 2      # alice's #1 and her thread reply (a deleted one is not counted)
    await bob.chat.mark_read("alice,bob")
    await alice.chat.send("alice,bob", "are you there?")
    convs = {c.name: c for c in await bob.chat.conversations(sync=True)}
    assert convs["alice,bob"].unread == 1
    await bob.chat.read("alice,bob", mark_read=True)
    assert (await bob.chat.conversations())[0].unread == 0


async def test_group_dm_and_team_channels(db_url, server_factory, tmp_path, apps):
    srv = server_factory(db=db_url)
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob", "carol"))
    alice, bob, carol = u["alice"], u["bob"], u["carol"]

    await carol.chat.send("alice,bob,carol", "group hello")
    for app in (alice, bob):
        assert texts(await app.chat.read("carol,alice,bob", sync=True)) == [("carol", "group hello")]

    await alice.create_team("acme")
    await alice.add_member("acme", "bob", "writer")
    await alice.add_member("acme", "carol", "reader")
    await alice.chat.send("acme#general", "welcome to acme")
    assert texts(await bob.chat.read("acme", sync=True)) == [("alice", "welcome to acme")]
    await alice.chat.send("acme", "@bob and @nobody_here: look (mail me at x@y.z)")
    await alice.chat.send("acme", "@here lunch")
    convs = {c.name: c for c in await bob.chat.conversations(sync=True)}
    assert convs["acme#general"].mentions == 2 and convs["acme#general"].unread == 3
    assert {c.name: c.mentions for c in await carol.chat.conversations(sync=True)}["acme#general"] == 1
    await bob.chat.mark_read("acme")
    assert {c.name: c.mentions for c in await bob.chat.conversations()}["acme#general"] == 0

    made = await alice.chat.create_channel("acme#random", "anything goes")
    assert made.name == "acme#random" and made.topic == "anything goes"
    await bob.chat.send("acme#random", "random thought")           # found by its signed name
    view = await carol.chat.read("acme#random", sync=True)
    assert view.conv.topic == "anything goes"
    assert [m.text for m in view.messages] == ["channel is #random: anything goes", "random thought"]
    with pytest.raises(errors.Conflict):                               # a reader reads, never posts
        await carol.chat.send("acme#random", "may I?")

    await alice.chat.rename_channel("acme#random", "offtopic")
    names = {c.name for c in await carol.chat.channels("acme")}
    assert names == {"acme#general", "acme#offtopic"}
    assert texts(await bob.chat.read("acme#offtopic", sync=True))[-1] == ("alice", "channel is #offtopic: anything goes")
    with pytest.raises(errors.Conflict):
        await alice.chat.create_channel("acme#offtopic")
    await bob.chat.join_channel("acme#offtopic")
    assert texts(await alice.chat.read("acme#offtopic", sync=True))[-1] == ("bob", "joined")


async def test_group_dm_with_a_member_not_yet_joined_reads_the_history_once_proven(server, tmp_path, apps):
    from fake_services import FakeGitHub, FakeWebsite
    from test_proofs_services import config_for
    from test_teams_e2e import _NoDns

    gh, web = FakeGitHub(), FakeWebsite()
    cfg = config_for({"web": web, "github": gh, "dns": _NoDns(), "mastodon": web, "profiles": web})
    try:
        u = await signup_all(apps, tmp_path, server.url, ("alice", "bob", "carol"))
        for app in u.values():
            app.proof_config = cfg
        alice, bob, carol = u["alice"], u["bob"], u["carol"]
        sent = await alice.chat.send("alice,bob,carol@github", "welcome, whoever carol on github is")
        assert sent.state == "sent" and sent.conv == "alice,bob,carol@github"
        await bob.chat.send("alice,bob,carol@github", "hi from bob")
        # carol proves the GitHub account; a member's client adds her (the housekeeper's chore)
        req = await carol.start_proof("github", "carol")
        gh.set_gist("carol", req.text)
        await carol.finish_proof(req)
        await alice.housekeeper.team("alice,bob,carol@github")
        view = await carol.chat.read("alice,bob,carol", sync=True)
        assert texts(view) == [("alice", "welcome, whoever carol on github is"), ("bob", "hi from bob")]
        assert view.conv.name == "alice,bob,carol"
        await carol.chat.send("alice,bob,carol", "carol here")
        view = await alice.chat.read("alice,bob,carol@github", sync=True)    # the old name still finds it
        assert texts(view)[-1] == ("carol", "carol here") and view.conv.name == "alice,bob,carol"
    finally:
        gh.stop()
        web.stop()


async def test_outbox_server_down_sent_exactly_once(server_factory, tmp_path, apps):
    srv = server_factory()
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    await alice.chat.send("alice,bob", "before the outage")
    srv.stop()
    res = await alice.chat.send("alice,bob", "typed while the server was down")
    assert res.state == "pending" and res.msg_id is None and "NETWORK" in res.error
    view = await alice.chat.read("alice,bob")              # local: never waits on the network
    assert [(m.status, m.text) for m in view.messages][-1] == ("pending", "typed while the server was down")
    srv.start()
    for _ in range(300):                             # nobody asks: the outbox's runner retries (backoff)
        entry = await alice.chat.store.aio.outbox_get(res.outbox_id)
        if entry.state == "sent":
            break
        await asyncio.sleep(0.1)
    assert entry.state == "sent" and entry.attempts >= 2
    # a lost answer: the same sealed request posted again gets the same msg_id back
    again = await alice.api.chat_post(view.conv.conv_id, entry.sealed["post"])
    assert again["msg_id"] == entry.msg_id
    view = await bob.chat.read("alice,bob", sync=True)
    assert texts(view) == [("alice", "before the outage"), ("alice", "typed while the server was down")]
    view = await alice.chat.read("alice,bob", sync=True)
    assert [m.status for m in view.messages] == ["ok", "ok"]           # the outbox entry is gone
    assert await alice.chat.store.aio.outbox_list() == []


async def test_removed_member_cannot_read_or_post(db_url, server_factory, tmp_path, apps):
    srv = server_factory(db=db_url)
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob", "eve"))
    alice, bob, eve = u["alice"], u["bob"], u["eve"]
    await alice.create_team("acme")
    await alice.add_member("acme", "bob", "writer")
    await alice.add_member("acme", "eve", "writer")
    await eve.chat.send("acme", "eve was here")
    assert texts(await bob.chat.read("acme", sync=True)) == [("eve", "eve was here")]

    await alice.remove_member("acme", "eve")
    await alice.chat.send("acme", "after eve left")
    with pytest.raises((errors.ReadNotAllowed, errors.NotFound)):
        await eve.chat.read("acme", sync=True)
    local = await eve.chat.read("acme")                       # what she had stays hers, nothing new
    assert texts(local) == [("eve", "eve was here")]
    try:
        res = await eve.chat.send("acme", "still here?")
        assert res.state == "failed"                          # shown as failed, never posted
    except (errors.Conflict, errors.ReadNotAllowed):
        pass
    assert texts(await bob.chat.read("acme", sync=True)) == [("eve", "eve was here"), ("alice", "after eve left")]


async def test_new_device_reads_the_history(server_factory, tmp_path, apps):
    srv = server_factory()
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    await alice.chat.send("alice,bob", "one")
    await bob.chat.send("alice,bob", "two")
    assert len((await alice.chat.read("alice,bob", sync=True)).messages) == 2   # alice holds bob's chain now
    phrase = await bob.create_paperkey()
    bob2 = await apps(tmp_path / "bob2")
    await bob2.login_paperkey("bob", phrase, device_name="bob-phone", server_url=srv.url)
    view = await bob2.chat.read("alice,bob", sync=True)
    assert texts(view) == [("alice", "one"), ("bob", "two")]
    await bob2.chat.send("alice,bob", "from my phone")
    assert texts(await alice.chat.read("alice,bob", sync=True))[-1] == ("bob", "from my phone")

    # the phone is revoked: it reads nothing that follows, and what it sends is refused
    await bob.revoke_device("bob-phone")
    await alice.chat.send("alice,bob", "after the phone was revoked")
    with pytest.raises(errors.BadReadToken):            # its key is no longer live: no reads at all
        await bob2.chat.read("alice,bob", sync=True)
    assert texts(await bob2.chat.read("alice,bob"))[-1] == ("bob", "from my phone")
    assert texts(await bob.chat.read("alice,bob", sync=True))[-1] == ("alice", "after the phone was revoked")


async def test_a_push_hint_wakes_a_sync_and_files_go_both_ways(server_factory, tmp_path, apps):
    import asyncio

    from kbapp.client import sync as push
    from kbapp.client.chat.models import ChatMessagesChanged

    srv = server_factory()
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    await alice.chat.send("alice,bob", "first")
    await bob.chat.read("alice,bob", sync=True)             # bob knows the team: its push topic
    runner = push.attach(bob)
    runner.start()
    try:
        for _ in range(100):
            if runner.state == push.State.ONLINE:
                break
            await asyncio.sleep(0.1)
        q = bob.events.subscribe()
        await alice.chat.send("alice,bob", "pushed")
        async def changed():
            while True:
                ev = await q.get()
                if isinstance(ev, ChatMessagesChanged) and ev.upto == 2:
                    return ev
        ev = await asyncio.wait_for(changed(), 15)
        assert ev.name == "alice,bob"
        assert texts(await bob.chat.read("alice,bob"))[-1] == ("alice", "pushed")     # local, already there
    finally:
        await runner.stop()

    data = os.urandom(3 * 1024 * 1024 + 17)
    src = tmp_path / "holiday.bin"
    src.write_bytes(data)
    sent = await alice.chat.upload("alice,bob", src)
    assert sent.state == "sent"
    view = await bob.chat.read("alice,bob", sync=True)
    last = view.messages[-1]
    assert last.type == "attachment" and last.attachment["name"] == "holiday.bin" and last.attachment["size"] == len(data)
    got = await bob.chat.download("alice,bob", last.msg_id, tmp_path / "got.bin")
    assert Path(got).read_bytes() == data
    assert [h.msg_id for h in await bob.chat.search("holiday")] == [last.msg_id]


async def test_pages_of_big_messages_over_the_answer_cap_come_in_smaller_pages(server_factory, tmp_path, apps):
    srv = server_factory()
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    for i in range(6):
        await alice.chat.send("alice,bob", f"{i} " + "x" * 20000)
    bob.api.max_response = 64 * 1024                       # a page of six is ~160 KiB of JSON
    view = await bob.chat.read("alice,bob", sync=True)
    assert [m.text.split()[0] for m in view.messages] == [str(i) for i in range(6)] and not view.problems


async def test_profile_made_before_chat_opens_and_chats(server_factory, tmp_path):
    home = tmp_path / "old"
    home.mkdir()
    db = sqlite3.connect(home / "client.sqlite3")
    db.executescript((DATA / "client-7fdb448.sql").read_text())
    db.close()
    app = await open_app(home)
    try:
        assert not (home / ChatStore.FILE).exists()              # nothing made before it is needed
        assert await app.chat.conversations() == []
        assert stat.S_IMODE(os.stat(home / ChatStore.FILE).st_mode) == 0o600
        assert sqlite3.connect(home / ChatStore.FILE).execute("PRAGMA user_version").fetchone()[0] == 2
    finally:
        await app.close()


def test_cli_list_send_read_json(server, tmp_path):
    a, b = tmp_path / "alice", tmp_path / "bob"
    cli(a, "signup", "alice", "--server", server.url)
    cli(b, "signup", "bob", "--server", server.url)
    sent = cli(a, "chat", "send", "alice,bob", "hello from the cli").json
    assert sent["state"] == "sent" and sent["msg_id"] == 1
    read = cli(b, "chat", "read", "alice,bob").json
    assert [(m["sender"], m["text"], m["status"]) for m in read["messages"]] == [
        ("alice", "hello from the cli", "ok")]
    listed = cli(b, "chat", "list", "--json").json                  # --json after the subcommand too
    assert [(c["name"], c["unread"]) for c in listed] == [("alice,bob", 0)]
    text = cli(b, "chat", "read", "alice,bob", "--local", env={}, expect_rc=0)
    assert text.json is not None
    plain = cli(a, "chat", "export", "alice,bob", "--format", "text").stdout
    assert "alice: hello from the cli" in plain
    follow = cli(b, "chat", "read", "alice,bob", "--follow", "--timeout", "2")      # ends after 2 s
    assert "hello from the cli" in follow.stdout

    # the bot API: JSON lines in, JSON lines out; a bad request does not end the session
    reqs = [{"id": 1, "method": "send", "params": {"conv": "alice,bob", "text": "from a bot"}},
            {"id": 2, "method": "nope"},
            {"id": 3, "method": "read", "params": {"conv": "alice,bob"}},
            {"id": 4, "method": "search", "params": {"query": "bot"}}]
    api = cli(a, "chat", "api", stdin="".join(json.dumps(r) + "\n" for r in reqs))
    answers = [json.loads(line) for line in api.stdout.splitlines()]
    assert [x["id"] for x in answers] == [1, 2, 3, 4]
    assert answers[0]["result"]["state"] == "sent" and answers[1]["error"]["code"] == "CHAT_INVALID_INPUT"
    assert [m["text"] for m in answers[2]["result"]["messages"]] == ["hello from the cli", "from a bot"]
    assert [h["msg_id"] for h in answers[3]["result"]["hits"]] == [answers[0]["result"]["msg_id"]]


async def test_bot_api_listen_streams_new_messages(server, tmp_path, apps):
    """A bot (bob, through `kbapp chat api`) listens; alice's messages arrive as JSON lines."""
    import asyncio
    import subprocess
    import sys

    from e2e_support import PASSPHRASE, ROOT

    bob_home = tmp_path / "bob"
    cli(bob_home, "signup", "bob", "--server", server.url)
    alice = await apps(tmp_path / "alice")
    await alice.signup("alice", server_url=server.url)
    await alice.chat.send("alice,bob", "before listening")
    env = dict(os.environ, KBAPP_KEYSTORE="file", KBAPP_PASSPHRASE=PASSPHRASE)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kbapp", "--home", str(bob_home), "chat", "api", cwd=ROOT, env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(b'{"id": "l", "method": "listen"}\n')
        await proc.stdin.drain()
        first = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
        assert first == {"id": "l", "result": {"listening": True}}
        await alice.chat.send("alice,bob", "while listening")
        await alice.chat.send("alice,bob", "in a thread", thread=1)
        got = [json.loads(await asyncio.wait_for(proc.stdout.readline(), 30)) for _ in range(2)]
        assert [(g["event"], g["conv"], g["message"]["text"]) for g in got] == [
            ("message", "alice,bob", "while listening"), ("message", "alice,bob", "in a thread")]
    finally:
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0
