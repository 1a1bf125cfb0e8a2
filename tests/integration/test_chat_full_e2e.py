"""The chat end-to-end run issue 14 asks for, once per database (SQLite and PostgreSQL), with
a real server process on 127.0.0.1 and real `App` clients (one module-scoped server per db):

three users with two devices each; a DM (edits, deletes, reactions, replies, a thread), a
group DM with a not-yet-joined `carol@github` who later proves the account and reads the
history on both her devices, a team channel with a 50 MB attachment; a member removed and a
device revoked read nothing that follows; a new device reads the history; an exploding
message explodes on every device that had it (text, search).
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from pathlib import Path

import pytest

from kbapp.client.app import App
from kbapp.client.keystore import open_keystore
from kbapp.core import errors

from server_support import ServerProcess

pytestmark = pytest.mark.timeout(900)
BIG = 50 * 1024 * 1024


class Clock:
    """Real time plus an offset the test moves (the clients' clocks only)."""

    def __init__(self):
        self.offset = 0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def full_server(request, tmp_path_factory):
    db = None
    name = None
    if request.param == "postgres":
        import psycopg
        url = request.getfixturevalue("pg_url")
        name = "kbapp_full_" + uuid.uuid4().hex[:12]
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        db = url.rsplit("/", 1)[0] + "/" + name
    srv = ServerProcess(tmp_path_factory.mktemp(f"full-{request.param}"), db)
    yield srv
    srv.stop()
    if name is not None:
        import psycopg
        with psycopg.connect(request.getfixturevalue("pg_url"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def texts(view) -> list:
    return [(m.sender, m.text) for m in view.messages]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


async def test_three_users_two_devices_each_all_of_chat(full_server, tmp_path):
    from fake_services import FakeGitHub, FakeWebsite
    from test_proofs_services import config_for
    from test_teams_e2e import _NoDns

    clock, opened = Clock(), []

    async def app_at(home: Path) -> App:
        app = App(home, keystore=open_keystore(home, backend="memory"), clock=clock)
        await app.open()
        opened.append(app)
        return app

    gh, web = FakeGitHub(), FakeWebsite()
    cfg = config_for({"web": web, "github": gh, "dns": _NoDns(), "mastodon": web, "profiles": web})
    url = full_server.url
    try:
        # -- three users, two devices each --------------------------------------------------
        d1, d2 = {}, {}
        for n in ("alice", "bob", "carol"):
            d1[n] = await app_at(tmp_path / n)
            await d1[n].signup(n, server_url=url, device_name=f"{n}-laptop")
            phrase = await d1[n].create_paperkey()
            d2[n] = await app_at(tmp_path / f"{n}2")
            await d2[n].login_paperkey(n, phrase, device_name=f"{n}-phone", server_url=url)
            for app in (d1[n], d2[n]):
                app.proof_config = cfg
        alice, bob, carol = d1["alice"], d1["bob"], d1["carol"]
        alice2, bob2, carol2 = d2["alice"], d2["bob"], d2["carol"]

        # -- a DM: replies, reactions, edits, a thread, deletes (from either device) ---------
        first = await alice.chat.send("alice,bob", "welcome all")
        assert first.state == "sent"
        for app in (alice2, bob, bob2):                          # each device reads before it answers
            assert texts(await app.chat.read("alice,bob", sync=True)) == [("alice", "welcome all")]
        reply = await bob2.chat.send("alice,bob", "hi alice", reply_to=first.msg_id)
        await bob.chat.react("alice,bob", first.msg_id, "👍")
        await alice.chat.edit("alice,bob", first.msg_id, "welcome everyone")
        t1 = await alice2.chat.send("alice,bob", "thread: lunch?", thread=first.msg_id)
        t2 = await bob.chat.send("alice,bob", "thread: yes", thread=first.msg_id)
        await bob2.chat.read("alice,bob", sync=True)
        oops = await bob2.chat.send("alice,bob", "oops wrong chat")
        await bob2.chat.delete("alice,bob", oops.msg_id)
        for app in (alice, alice2, bob, bob2):
            view = await app.chat.read("alice,bob", sync=True)
            top = view.messages[0]
            assert (top.text, top.edited, top.reactions, top.replies) == ("welcome everyone", True, {"👍": ["bob"]}, 2)
            assert texts(view) == [("alice", "welcome everyone"), ("bob", "hi alice")]
            assert view.messages[1].reply_to == first.msg_id and not view.problems
            thread = await app.chat.read("alice,bob", thread=first.msg_id)
            assert [m.msg_id for m in thread.messages] == [first.msg_id, t1.msg_id, t2.msg_id]
            assert [h.msg_id for h in await app.chat.search("welcome")] == [first.msg_id]
            assert await app.chat.search("oops") == [] and await app.chat.search("all") == []
        assert reply.msg_id == view.messages[1].msg_id

        # -- a group DM with a member not yet joined, who proves and reads the history --------
        await alice.chat.send("alice,bob,carol@github", "welcome, carol on github")
        await bob2.chat.send("alice,bob,carol@github", "hi from bob's phone")
        req = await carol.start_proof("github", "carol")
        gh.set_gist("carol", req.text)
        await carol.finish_proof(req)
        await alice.housekeeper.team("alice,bob,carol@github")     # a member's client adds her
        for app in (carol, carol2):
            view = await app.chat.read("alice,bob,carol", sync=True)
            assert texts(view) == [("alice", "welcome, carol on github"), ("bob", "hi from bob's phone")]
            assert view.conv.name == "alice,bob,carol"
        await carol2.chat.send("alice,bob,carol", "carol here")
        assert texts(await bob.chat.read("alice,bob,carol@github", sync=True))[-1] == ("carol", "carol here")

        # -- a team channel with a 50 MB attachment ------------------------------------------
        await alice.create_team("acme")
        await alice.add_member("acme", "bob", "writer")
        await alice.add_member("acme", "carol", "writer")
        await alice.chat.send("acme#general", "acme is open")
        big = tmp_path / "big.bin"
        with open(big, "wb") as f:
            for _ in range(BIG >> 20):
                f.write(os.urandom(1 << 20))
        up = await bob2.chat.upload("acme#general", big)
        assert up.state == "sent"
        view = await carol2.chat.read("acme#general", sync=True)
        att = [m for m in view.messages if m.msg_id == up.msg_id][0]
        assert att.type == "attachment" and att.status == "ok"
        got = await carol2.chat.download("acme#general", up.msg_id, tmp_path / "got.bin")
        assert Path(got).stat().st_size == BIG and sha256_file(got) == sha256_file(big)

        assert texts(await carol.chat.read("acme#general", sync=True))[0] == ("alice", "acme is open")
        # -- a member removed: neither of her devices reads what follows ---------------------
        await alice.remove_member("acme", "carol")
        await alice.chat.send("acme#general", "after carol left")
        for app in (carol, carol2):
            with pytest.raises((errors.ReadNotAllowed, errors.NotFound)):
                await app.chat.read("acme#general", sync=True)
            local = texts(await app.chat.read("acme#general"))
            assert ("alice", "after carol left") not in local
        # her client's last verified state still lists her (she cannot load the newer one):
        # the server refuses the post, and the outbox keeps it as refused for good, not to retry
        res = await carol.chat.send("acme#general", "still here?")
        assert res.state == "failed" and not res.retryable and res.error.startswith("CHAT_POST_NOT_ALLOWED: ")
        with pytest.raises(errors.OutboxRefused):
            await carol.chat.retry(res.outbox_id)
        shown = [m for m in (await carol.chat.read("acme#general")).messages if m.outbox_id == res.outbox_id]
        assert [(m.status, m.error_code) for m in shown] == [("failed", "CHAT_OUTBOX_REFUSED")]

        # -- a device revoked: it reads nothing that follows; the other device does -----------
        await bob.revoke_device("bob-phone")
        await alice.chat.send("alice,bob", "after the phone was revoked")
        with pytest.raises(errors.BadReadToken):
            await bob2.chat.read("alice,bob", sync=True)
        assert ("alice", "after the phone was revoked") not in texts(await bob2.chat.read("alice,bob"))
        assert texts(await bob.chat.read("alice,bob", sync=True))[-1] == ("alice", "after the phone was revoked")

        # -- a new device reads the whole history -------------------------------------------
        phrase = await bob.create_paperkey()
        bob3 = await app_at(tmp_path / "bob3")
        await bob3.login_paperkey("bob", phrase, device_name="bob-tablet", server_url=url)
        view = await bob3.chat.read("alice,bob", sync=True)
        assert texts(view) == [("alice", "welcome everyone"), ("bob", "hi alice"),
                               ("alice", "after the phone was revoked")]
        assert view.messages[0].edited and view.messages[0].reactions == {"👍": ["bob"]} and not view.problems
        assert texts(await bob3.chat.read("alice,bob,carol", sync=True))[-1] == ("carol", "carol here")
        view = await bob3.chat.read("acme#general", sync=True)
        assert [m.msg_id for m in view.messages if m.type == "attachment"] == [up.msg_id]
        assert texts(view)[-1] == ("alice", "after carol left")

        # -- an exploding message explodes on every device that had it ----------------------
        # bob3 is minutes old: alice's client, making the team EK, identifies bob again to box it
        boom = await alice.chat.send("alice,bob", "self destruct zqxwvk", exploding=30)
        for app in (bob, bob3, alice2):
            last = (await app.chat.read("alice,bob", sync=True)).messages[-1]
            assert (last.sender, last.text) == ("alice", "self destruct zqxwvk"), (app.home.name, last)
            assert [h.msg_id for h in await app.chat.search("zqxwvk")] == [boom.msg_id]
        clock.offset += 31
        for app in (alice, bob, bob3, alice2):
            view = await app.chat.read("alice,bob")
            assert "self destruct zqxwvk" not in [m.text for m in view.messages]
            assert await app.chat.search("zqxwvk") == []
    finally:
        for app in opened:
            try:
                await app.close()
            except Exception:  # noqa: BLE001 - closing what the test opened
                pass
        gh.stop()
        web.stop()
