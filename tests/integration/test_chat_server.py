"""The chat server (kbapp/server/chat.py, routes/chat.py) from the outside: real server
processes on 127.0.0.1, SQLite and PostgreSQL, real users and teams, raw HTTP.

The server cannot open a message, so posts carry random "sealed" bytes; what it must get
right is what it can check: who posts (writers, with their own token's uid and device),
who reads (members only), conversation ids derived from team and topic, sizes, rates,
msg ids 1, 2, 3... without gaps under concurrency, the same answer for an outbox id sent
twice, bodies removed only where a reader would accept it, exploded messages purged,
and the inbox cursor. Every refusal is a typed code, never a 5xx.
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from sqlalchemy import select

from kbapp.core import errors
from kbapp.core.encoding import b64decode, b64encode
from kbapp.server import db as server_db
from kbapp.server.chat_tables import messages as messages_table

from chat_server_support import ChatHTTP, Member, channel, code, general
from e2e_support import signup_all

pytestmark = pytest.mark.timeout(300)


async def team_with(apps, tmp_path, url, roles: dict, names=("alice",), team="acme"):
    """alice's team with the other users in `roles`; {name: Member}, team_id."""
    users = await signup_all(apps, tmp_path, url, tuple(dict.fromkeys((*names, *roles))))
    alice = users["alice"]
    view = await alice.create_team(team)
    for name, role in roles.items():
        if name != "alice":
            await alice.add_member(team, name, role)
    return {n: Member(a) for n, a in users.items()}, view.team_id


def ok(r, status: int = 200) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    return r.json()


def refused(r, status: int, error: str) -> None:
    assert r.status_code == status and code(r) == error, (r.status_code, r.text)


def stored_rows(server, db_url, conv_id: str) -> dict:
    """msg_id -> row of the server's own database (what it keeps on disk)."""
    engine = server_db.make_engine(server_db.normalise_url(db_url, server.data_dir))
    try:
        with engine.connect() as conn:
            return {r.msg_id: r for r in conn.execute(select(messages_table)
                                                      .where(messages_table.c.conv_id == conv_id))}
    finally:
        engine.dispose()


async def test_post_read_page_inbox_channels_and_refusals(db_url, server_factory, tmp_path, apps):
    server = server_factory(db=db_url)
    m, tid = await team_with(apps, tmp_path, server.url, {"bob": "writer", "carol": "reader"},
                             names=("alice", "mallory"))
    alice, bob, carol, mallory = m["alice"], m["bob"], m["carol"], m["mallory"]
    conv, topic = general(tid)
    http = ChatHTTP(server.url)
    try:
        # alice posts through the client API: ids 1, 2, 3; the same outbox id again: the same answer
        sent = [await alice.message(tid, topic) for _ in range(3)]
        answers = [await alice.app.api.chat_post(conv, p) for p in sent]
        assert [a["msg_id"] for a in answers] == [1, 2, 3] and all(type(a["ctime"]) is int for a in answers)
        assert await alice.app.api.chat_post(conv, sent[1]) == answers[1]
        # another sender, or another header, under a used outbox id: a conflict, no new message
        stolen = await bob.message(tid, topic, outbox_id=sent[2]["hints"]["outbox_id"])
        refused(await http.post(bob, conv, stolen), 409, "CHAT_OUTBOX_CONFLICT")
        changed = {**sent[2], "header": b64encode(os.urandom(100))}
        refused(await http.post(alice, conv, changed), 409, "CHAT_OUTBOX_CONFLICT")
        assert ok(await http.post(bob, conv, await bob.message(tid, topic)))["msg_id"] == 4

        # reads: members (readers too), paged both ways, bytes as posted
        page = await bob.app.api.chat_messages(conv, after=0, limit=2)
        assert [x["msg_id"] for x in page["messages"]] == [1, 2] and page["last"] == 4
        first = page["messages"][0]
        assert b64decode(first["header"]) == b64decode(sent[0]["header"])
        assert b64decode(first["body"]) == b64decode(sent[0]["body"])
        assert first["hints"] == sent[0]["hints"] and first["conv_id"] == conv and first["superseded_by"] is None
        assert [x["msg_id"] for x in (await carol.app.api.chat_messages(conv, after=2))["messages"]] == [3, 4]
        back = await carol.app.api.chat_messages(conv, before=4, limit=2)
        assert [x["msg_id"] for x in back["messages"]] == [3, 2]
        refused(await http.messages(bob, conv, limit=501), 400, "BAD_ENCODING")
        refused(await http.messages(bob, conv, after=1, before=3), 400, "BAD_ENCODING")

        # strangers: no token, a non-member (reads look like "no such conversation"), a reader posting
        refused(await http.post(None, conv, await alice.message(tid, topic)), 401, "BAD_READ_TOKEN")
        refused(await http.messages(mallory, conv), 404, "NOT_FOUND")
        refused(await http.messages(mallory, "ab" * 16), 404, "NOT_FOUND")
        refused(await http.post(mallory, conv, await mallory.message(tid, topic)), 403, "CHAT_POST_NOT_ALLOWED")
        refused(await http.post(carol, conv, await carol.message(tid, topic)), 403, "CHAT_POST_NOT_ALLOWED")
        refused(await http.typing(carol, conv), 403, "CHAT_POST_NOT_ALLOWED")
        refused(await http.typing(mallory, conv), 403, "CHAT_POST_NOT_ALLOWED")
        assert ok(await http.typing(bob, conv)) == {}
        refused(await http.get(mallory, f"/v1/teams/{tid}/channels"), 403, "READ_NOT_ALLOWED")

        # another's uid or device in the hints; a conv id that is not the team's and topic's
        _, alice_kid = await alice.ids()
        bob_uid, _ = await bob.ids()
        refused(await http.post(bob, conv, await bob.message(tid, topic, sender_uid=(await alice.ids())[0])),
                403, "CHAT_SENDER_MISMATCH")
        refused(await http.post(bob, conv, await bob.message(tid, topic, sender_kid=alice_kid)),
                403, "CHAT_SENDER_MISMATCH")
        other_conv, other_topic = channel(tid)
        refused(await http.post(bob, other_conv, await bob.message(tid, topic)), 400, "CHAT_CONV_ID_MISMATCH")
        refused(await http.post(bob, conv, await bob.message(tid, other_topic)), 400, "CHAT_CONV_ID_MISMATCH")
        mallory_team = (await mallory.app.create_team("mallory_team")).team_id
        forged = await mallory.message(mallory_team, topic)        # mallory's own team, acme's conv id
        refused(await http.post(mallory, conv, forged), 400, "CHAT_CONV_ID_MISMATCH")

        # size caps (sealed bytes after base64): 4 KiB headers, 80 KiB bodies
        big = await bob.message(tid, topic, header=os.urandom(4097))
        refused(await http.post(bob, conv, big), 413, "TOO_LARGE")
        big = await bob.message(tid, topic, body=os.urandom(80 * 1024 + 1))
        refused(await http.post(bob, conv, big), 413, "TOO_LARGE")
        edge = await bob.message(tid, topic, header=os.urandom(4096), body=os.urandom(80 * 1024))
        assert ok(await http.post(bob, conv, edge))["msg_id"] == 5     # refusals took no msg id
        malformed = await bob.message(tid, topic)
        for bad in ({**malformed, "extra": 1}, {**malformed, "key_gen": "1"}, {**malformed, "header": "!!"},
                    {**malformed, "hints": {**malformed["hints"], "deletes": "3"}},
                    {**malformed, "hints": {**malformed["hints"], "lifetime": 10 ** 9}},
                    {**malformed, "hints": {**malformed["hints"], "type": "Text!"}}):
            r = await http.post(bob, conv, bad)
            assert r.status_code == 400 and code(r) == "BAD_ENCODING", r.text

        # channels: a second channel by its first post; every member lists both, newest vers last
        chan_conv, chan_topic = channel(tid)
        assert ok(await http.post(alice, chan_conv, await alice.message(tid, chan_topic)))["msg_id"] == 1
        listed = await carol.app.api.team_channels(tid)
        assert {c["conv_id"] for c in listed} == {conv, chan_conv}
        assert all(c["team_id"] == tid and c["topic_type"] == 1 for c in listed)

        # inbox: all of my teams' conversations, then only what changed since
        inbox = await bob.app.api.chat_inbox(0)
        assert {c["conv_id"]: c["last_msg_id"] for c in inbox["convs"]} == {conv: 5, chan_conv: 1}
        assert (await bob.app.api.chat_inbox(inbox["vers"]))["convs"] == []
        ok(await http.post(bob, chan_conv, await bob.message(tid, chan_topic)))
        later = await carol.app.api.chat_inbox(inbox["vers"])
        assert [(c["conv_id"], c["last_msg_id"]) for c in later["convs"]] == [(chan_conv, 2)]
        assert later["vers"] > inbox["vers"]
        assert (await carol.app.api.chat_inbox(10 ** 12))["vers"] == later["vers"]   # a foreign cursor: all again
        assert (await mallory.app.api.chat_inbox(0))["convs"] == []

        # an implicit team with a reader: alice and bob write, carol reads only
        imp = await alice.app.implicit_team("alice,bob#carol")
        iconv, itopic = general(imp.team_id)
        assert ok(await http.post(alice, iconv, await alice.message(imp.team_id, itopic)))["msg_id"] == 1
        assert [x["msg_id"] for x in ok(await http.messages(carol, iconv))["messages"]] == [1]
        refused(await http.post(carol, iconv, await carol.message(imp.team_id, itopic)), 403,
                "CHAT_POST_NOT_ALLOWED")
        refused(await http.messages(mallory, iconv), 404, "NOT_FOUND")
        assert (await bob.app.api.chat_messages(conv, after=0))["last"] == 5

        # removed from the team: no more reads, posts, channels or inbox entries of it
        await alice.app.remove_member("acme", "bob")
        refused(await http.messages(bob, conv), 404, "NOT_FOUND")
        refused(await http.post(bob, conv, await bob.message(tid, topic)), 403, "CHAT_POST_NOT_ALLOWED")
        refused(await http.get(bob, f"/v1/teams/{tid}/channels"), 403, "READ_NOT_ALLOWED")
        assert {c["team_id"] for c in (await bob.app.api.chat_inbox(0))["convs"]} == {imp.team_id}
    finally:
        await http.aclose()


async def test_superseded_bodies_only_by_their_sender_or_an_admin(db_url, server_factory, tmp_path, apps):
    server = server_factory(db=db_url)
    m, tid = await team_with(apps, tmp_path, server.url, {"bob": "writer", "carol": "writer"})
    alice, bob, carol = m["alice"], m["bob"], m["carol"]
    conv, topic = general(tid)
    other_conv, other_topic = channel(tid)
    http = ChatHTTP(server.url)

    async def post(who, **kw) -> int:
        return ok(await http.post(who, conv, await who.message(tid, topic, **kw)))["msg_id"]

    try:
        b1, b2, c3 = await post(bob), await post(bob), await post(carol)          # 1, 2, 3
        assert ok(await http.post(carol, other_conv, await carol.message(tid, other_topic)))["msg_id"] == 1
        # carol edits or deletes bob's messages; targets that do not exist or live elsewhere
        for hints in ({"type": "edit", "supersedes": b1}, {"type": "delete", "deletes": [b2]},
                      {"type": "delete", "deletes": [c3, b2]}, {"type": "edit", "supersedes": 99},
                      {"type": "delete", "deletes": [4]}):
            refused(await http.post(carol, conv, await carol.message(tid, topic, **hints)), 403,
                    "CHAT_TARGET_REFUSED")
        rows = stored_rows(server, db_url, conv)
        assert all(rows[i].body is not None and rows[i].superseded_by is None for i in (b1, b2, c3))
        # a reaction names its target but removes nothing
        react = await post(bob, type="reaction", supersedes=c3)
        assert react == 4                                                          # no id lost to the refusals
        # bob edits his own: the old body goes, its header stays, superseded_by says by what
        edit = await post(bob, type="edit", supersedes=b1)
        # alice (owner: an admin) deletes carol's message; carol deletes her own reaction? not hers: refused
        refused(await http.post(carol, conv, await carol.message(tid, topic, type="delete", deletes=[react])),
                403, "CHAT_TARGET_REFUSED")
        delete = await post(alice, type="delete", deletes=[c3])
        served = {x["msg_id"]: x for x in ok(await http.messages(carol, conv))["messages"]}
        assert list(served) == [1, 2, 3, 4, 5, 6]
        assert served[b1]["body"] is None and served[b1]["header"] is not None and served[b1]["superseded_by"] == edit
        assert served[c3]["body"] is None and served[c3]["superseded_by"] == delete
        assert served[b2]["body"] is not None and served[react]["body"] is not None
        rows = stored_rows(server, db_url, conv)
        assert rows[b1].body is None and rows[c3].body is None and rows[b2].body is not None
        assert rows[b1].header is not None
        # the other channel's message 1 was never touched by deletes aimed at this one's
        assert stored_rows(server, db_url, other_conv)[1].body is not None

        # what readers would refuse anyway: deleting a delete (even an admin), editing a reaction
        # (even one's own), deletes named by a message that is not a delete
        refused(await http.post(alice, conv, await alice.message(tid, topic, type="delete", deletes=[delete])),
                403, "CHAT_TARGET_REFUSED")
        refused(await http.post(bob, conv, await bob.message(tid, topic, type="edit", supersedes=react)),
                403, "CHAT_TARGET_REFUSED")
        refused(await http.post(bob, conv, await bob.message(tid, topic, type="text", deletes=[b2])),
                400, "BAD_ENCODING")
        refused(await http.post(bob, conv, await bob.message(tid, topic, type="text", supersedes=b2)),
                400, "BAD_ENCODING")
        assert stored_rows(server, db_url, conv)[react].body is not None
        assert stored_rows(server, db_url, conv)[b2].body is not None

        # a DM (implicit team, both owners): nobody deletes the other's message, each their own
        imp = (await alice.app.implicit_team("alice,bob")).team_id
        iconv, itopic = general(imp)
        mine = ok(await http.post(bob, iconv, await bob.message(imp, itopic)))["msg_id"]
        refused(await http.post(alice, iconv, await alice.message(imp, itopic, type="delete", deletes=[mine])),
                403, "CHAT_TARGET_REFUSED")
        ok(await http.post(bob, iconv, await bob.message(imp, itopic, type="delete", deletes=[mine])))
        assert stored_rows(server, db_url, iconv)[mine].body is None
    finally:
        await http.aclose()


async def test_exploding_messages_are_purged(db_url, server_factory, tmp_path, apps):
    """A periodic sweep purges the body on disk; a read in between serves none. The header
    stays, so a reader who comes later verifies the lifetime ran out."""
    sweeping = server_factory(db=db_url, name="sweeping", extra=["--chat-sweep-every", "0.3"])
    m, tid = await team_with(apps, tmp_path, sweeping.url, {"bob": "writer"})
    alice, bob = m["alice"], m["bob"]
    conv, topic = general(tid)
    http = ChatHTTP(sweeping.url)
    try:
        # expires_at = ctime (whole seconds) + lifetime: 3 s leaves at least 2 s for the read below
        short = ok(await http.post(alice, conv, await alice.message(tid, topic, lifetime=3)))["msg_id"]
        keep = ok(await http.post(alice, conv, await alice.message(tid, topic)))["msg_id"]
        week = ok(await http.post(alice, conv, await alice.message(tid, topic, lifetime=7 * 86400)))["msg_id"]
        served = {x["msg_id"]: x for x in ok(await http.messages(bob, conv))["messages"]}
        assert served[short]["body"] is not None and served[short]["hints"]["lifetime"] == 3
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:              # no reads: only the sweep can purge it
            rows = stored_rows(sweeping, db_url, conv)
            if rows[short].body is None:
                break
            await asyncio.sleep(0.2)
        assert rows[short].header is not None and rows[short].body is None, "the sweep never ran"
        assert rows[keep].body is not None and rows[week].body is not None
        served = {x["msg_id"]: x for x in ok(await http.messages(bob, conv))["messages"]}
        assert served[short]["header"] is not None and served[short]["body"] is None
        assert served[short]["hints"]["sender_uid"] == (await alice.ids())[0]   # the row stays: no gap
    finally:
        await http.aclose()


async def test_an_exploded_message_is_never_served_and_a_read_purges_it(server_factory, tmp_path, apps):
    """Sweep off: the read path filters an expired message itself and drops it from the disk."""
    server = server_factory(extra=["--chat-sweep-every", "0"])
    m, tid = await team_with(apps, tmp_path, server.url, {"bob": "writer"})
    alice, bob = m["alice"], m["bob"]
    conv, topic = general(tid)
    http = ChatHTTP(server.url)
    try:
        short = ok(await http.post(alice, conv, await alice.message(tid, topic, lifetime=1)))["msg_id"]
        await asyncio.sleep(2.2)
        assert stored_rows(server, None, conv)[short].body is not None          # nobody swept it yet
        served = ok(await http.messages(bob, conv))["messages"]
        assert served[0]["header"] is not None and served[0]["body"] is None
        rows = stored_rows(server, None, conv)
        assert rows[short].header is not None and rows[short].body is None
    finally:
        await http.aclose()


async def test_concurrent_posts_get_ids_without_gaps(db_url, server_factory, tmp_path, apps):
    """200 posts from four members at once into a conversation none has created yet, 20 of
    them sent twice at the same time: ids exactly 1..200, each twin answered with one id."""
    server = server_factory(db=db_url)
    m, tid = await team_with(apps, tmp_path, server.url, {"bob": "writer", "carol": "writer", "dave": "admin"})
    conv, topic = general(tid)
    clients = {n: ChatHTTP(server.url) for n in m}
    try:
        posts = []
        for name, who in m.items():
            for _ in range(50):
                posts.append((name, who, await who.message(tid, topic)))
        twins = posts[::10]
        t0 = time.monotonic()
        answers = await asyncio.gather(*(clients[n].post(w, conv, p) for n, w, p in posts + twins))
        took = time.monotonic() - t0
        assert all(r.status_code == 200 for r in answers), [r.text for r in answers if r.status_code != 200][:3]
        ids = [r.json()["msg_id"] for r in answers]
        assert sorted(ids[:200]) == list(range(1, 201))
        assert ids[200:] == ids[:200:10]                                      # a twin: the same msg id
        served = []
        page = ok(await clients["alice"].messages(m["alice"], conv, limit=500))
        served = page["messages"]
        assert [x["msg_id"] for x in served] == list(range(1, 201)) and page["last"] == 200
        by_outbox = {x["hints"]["outbox_id"]: x["msg_id"] for x in served}
        assert {p["hints"]["outbox_id"]: i for (_, _, p), i in zip(posts, ids)} == by_outbox
        print(f"200 concurrent posts (+20 twins) on {'PostgreSQL' if db_url else 'SQLite'}: {took:.2f} s")
    finally:
        for c in clients.values():
            await c.aclose()


async def test_chat_posts_are_rate_limited_per_device(server_factory, tmp_path, apps):
    server = server_factory(extra=["--chat-rate", "0.2", "--chat-burst", "3"])
    m, tid = await team_with(apps, tmp_path, server.url, {"bob": "writer"})
    alice, bob = m["alice"], m["bob"]
    conv, topic = general(tid)
    http = ChatHTTP(server.url)
    try:
        first = await alice.message(tid, topic)
        for _ in range(3):
            ok(await http.post(alice, conv, first if _ == 0 else await alice.message(tid, topic)))
        r = await http.post(alice, conv, await alice.message(tid, topic))
        refused(r, 429, "RATE_LIMITED")
        assert int(r.headers["Retry-After"]) >= 1
        assert ok(await http.post(bob, conv, await bob.message(tid, topic)))["msg_id"] == 4   # his own bucket
        with pytest.raises(errors.RateLimited) as exc:                          # the client sees the type
            await alice.app.api.chat_post(conv, await alice.message(tid, topic))
        assert exc.value.retry_after >= 1
        for _ in range(3):                                                      # typing: a bucket of its own
            ok(await http.typing(alice, conv))
        refused(await http.typing(alice, conv), 429, "RATE_LIMITED")
        assert (await alice.app.api.chat_messages(conv))["last"] == 4
    finally:
        await http.aclose()


async def test_a_burst_of_posts_at_once_spends_the_burst_and_refusals_cost_nothing(server_factory, tmp_path, apps):
    """Posts queued together are stored in one group: each spends its token when admitted, so 10
    at once from one device store 3 (the burst), not 10; a refused post or a repost gives its
    token back."""
    server = server_factory(extra=["--chat-rate", "0.01", "--chat-burst", "3"])
    m, tid = await team_with(apps, tmp_path, server.url, {"bob": "reader"})
    alice, bob = m["alice"], m["bob"]
    conv, topic = general(tid)
    http = ChatHTTP(server.url)
    try:
        for _ in range(5):                                     # a reader's posts: refused, free
            refused(await http.post(bob, conv, await bob.message(tid, topic)), 403, "CHAT_POST_NOT_ALLOWED")
        first = await alice.message(tid, topic)
        ok(await http.post(alice, conv, first))
        for _ in range(3):
            ok(await http.post(alice, conv, first))            # reposts: the stored answer, free
        burst = [await alice.message(tid, topic) for _ in range(10)]
        answers = await asyncio.gather(*(http.post(alice, conv, b) for b in burst))
        assert sorted(r.status_code for r in answers) == [200, 200] + [429] * 8
        assert (await alice.app.api.chat_messages(conv))["last"] == 3
    finally:
        await http.aclose()


async def test_a_revoked_devices_token_reads_and_posts_nothing(server_factory, tmp_path, apps):
    """The token is signed by a key that was a live device: once revoked, every chat route refuses it."""
    from kbapp.core.paperkey import paper_device_keys
    from kbapp.core.tokens import make_read_token

    server = server_factory()
    m, tid = await team_with(apps, tmp_path, server.url, {"bob": "writer"})
    alice = m["alice"]
    conv, topic = general(tid)
    http = ChatHTTP(server.url)
    try:
        phrase = await alice.app.create_paperkey()
        await alice.app.paperkey_shown()
        paper = paper_device_keys(phrase)
        uid, _ = await alice.ids()
        origin = alice.app.store.get("server_origin")

        class Paper(Member):
            async def token(self) -> str:
                return make_read_token(paper.sibkey, uid=uid, origin=origin, ctime=int(time.time()), lifetime=300,
                                       nonce=os.urandom(16))[0]
        by_paper = Paper(alice.app)
        assert ok(await http.post(by_paper, conv, await by_paper.message(tid, topic)))["msg_id"] == 1
        dev = next(d for d in await alice.app.devices() if d.type == "paper")
        await alice.app.revoke_device(dev.id)
        refused(await http.post(by_paper, conv, await by_paper.message(tid, topic)), 401, "BAD_READ_TOKEN")
        refused(await http.messages(by_paper, conv), 401, "BAD_READ_TOKEN")
        refused(await http.get(by_paper, "/v1/chat/inbox"), 401, "BAD_READ_TOKEN")
        refused(await http.typing(by_paper, conv), 401, "BAD_READ_TOKEN")
        assert ok(await http.messages(alice, conv))["last"] == 1             # her laptop still reads
    finally:
        await http.aclose()
