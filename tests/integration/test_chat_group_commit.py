"""The chat store's group commit (kbapp/server/chat_posts.py), on SQLite and PostgreSQL.

In-process on a real migrated database: posts queued together are stored in one
transaction, yet each is judged alone (a refusal answers its poster only, nothing of it
is written); a collision found after a write rolls the group back and every post is then
stored alone. Through a real server process: many concurrent posts, refused ones among
them, each get their own answer and the ids stay gap-free.
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from sqlalchemy import insert, select

from kbapp.core import errors
from kbapp.core.chat.ids import conv_id_hex
from kbapp.core.encoding import b64encode
from kbapp.server import chat_posts
from kbapp.server import db as server_db
from kbapp.server.chat import ChatStore, parse_post
from kbapp.server.chat_posts import ChatPosts, PostJob
from kbapp.server.chat_tables import messages

from chat_server_support import ChatHTTP, code, general
from test_chat_server import team_with

pytestmark = pytest.mark.timeout(300)

TEAM = "ab" * 16
UIDS = {"alice": "a1" * 16, "bob": "b0" * 16, "mallory": "dd" * 16}
KIDS = {name: "0120" + os.urandom(32).hex() + "0a" for name in UIDS}


@pytest.fixture
def store(db_url, tmp_path):
    url = server_db.normalise_url(db_url, tmp_path)
    engine = server_db.make_engine(url)
    server_db.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(insert(server_db.teams), [{"team_id": TEAM, "name": "acme", "parent_id": None,
                                                "implicit": False, "created": 1}])
        conn.execute(insert(server_db.team_members), [{"team_id": TEAM, "uid": UIDS["alice"], "role": "admin"},
                                                      {"team_id": TEAM, "uid": UIDS["bob"], "role": "writer"}])
    yield ChatStore(engine, time.time)
    engine.dispose()


def body(name: str, topic: str, *, kind: str = "text", outbox: str | None = None, header: bytes | None = None,
         **hints) -> dict:
    return {"team_id": TEAM, "topic_type": 1, "topic_id": topic, "key_gen": 1, "ek_gen": None,
            "header": b64encode(header or os.urandom(120)), "body": b64encode(os.urandom(256)),
            "hints": {"type": kind, "sender_uid": UIDS[name], "sender_kid": KIDS[name],
                      "outbox_id": outbox or os.urandom(16).hex(), **hints}}


def job(name: str, topic: str, b: dict | None = None, **kw) -> PostJob:
    conv = conv_id_hex(TEAM, 1, topic)
    b = b or body(name, topic, **kw)

    def prepare(conn, memo):
        return parse_post(conv, b, UIDS[name], KIDS[name])

    def hint(p, msg_id):
        return "team:" + p.team_id, "chat", f"{p.conv_id}:{msg_id}"
    return PostJob(conv, prepare, hint)


def recorder(seen: list):
    """What the push hub would record, in one call per group."""
    def record(conn, hints):
        seen.append([tuple(h[2].split(":")) for h in hints])
    return record


def stored(store: ChatStore) -> list[tuple]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(messages.c.conv_id, messages.c.msg_id, messages.c.sender_uid,
                                                      messages.c.outbox_id).order_by(messages.c.conv_id,
                                                                                     messages.c.msg_id))]


async def test_a_group_is_stored_at_once_and_a_refusal_answers_only_its_poster(store):
    t1, t2 = os.urandom(16).hex(), os.urandom(16).hex()
    first = chat_posts.post_group(store, [job("alice", t1)])[0]
    assert first[:1] == (1,) and first[2] is True
    posted = body("alice", t1)
    chat_posts.post_group(store, [job("alice", t1, posted)])
    seen: list = []
    group = [
        job("alice", t1),
        job("mallory", t1),                                                   # not a member
        job("bob", t2),
        job("bob", t1, kind="edit", supersedes=1),                            # alice's message
        job("alice", t1, {**posted, "header": b64encode(os.urandom(99))}),    # her outbox id, another header
        job("alice", t1, posted),                                             # a repost: the stored answer
        job("bob", t2, kind="delete", deletes=[7]),                           # no such message
        job("alice", t2),
    ]
    got = chat_posts.store_group(store, group, recorder(seen))
    assert isinstance(got[1], errors.ChatPostNotAllowed)
    assert isinstance(got[3], errors.ChatTargetRefused)
    assert isinstance(got[4], errors.ChatOutboxConflict)
    assert got[5][0] == 2 and got[5][2] is False
    assert isinstance(got[6], errors.ChatTargetRefused)
    # the others: stored, numbered in arrival order per conversation, hints recorded once each
    assert got[0][0] == 3 and got[0][2] and got[2][0] == 1 and got[7][0] == 2
    conv1, conv2 = conv_id_hex(TEAM, 1, t1), conv_id_hex(TEAM, 1, t2)
    assert len(seen) == 1 and sorted(seen[0]) == sorted([(conv1, "3"), (conv2, "1"), (conv2, "2")])
    rows = stored(store)
    assert [(c, i) for c, i, _, _ in rows] == sorted([(conv1, 1), (conv1, 2), (conv1, 3), (conv2, 1), (conv2, 2)])
    assert UIDS["mallory"] not in {u for _, _, u, _ in rows}


async def test_a_collision_after_a_write_rolls_the_group_back_and_each_goes_alone(store, monkeypatch):
    """Another process took an id first (IntegrityError mid-group): nothing of the group stays
    from that try, every post is stored alone and answered once."""
    topic = os.urandom(16).hex()
    real_write, calls = chat_posts.write, []

    def flaky(conn, p, now):
        calls.append(p.hints["outbox_id"])
        if len(calls) == 2:
            from sqlalchemy.exc import IntegrityError
            raise IntegrityError("INSERT", {}, Exception("a twin's key"))
        return real_write(conn, p, now)

    monkeypatch.setattr(chat_posts, "write", flaky)
    got = chat_posts.post_group(store, [job("alice", topic), job("bob", topic), job("alice", topic)])
    assert [g[0] for g in got] == [1, 2, 3] and all(g[2] for g in got)
    assert [i for _, i, _, _ in stored(store)] == [1, 2, 3]
    assert len(calls) == 2 + 3           # the group's two tries, then three alone


async def test_the_queue_stores_what_waited_in_groups_and_drops_cancelled_posts(store):
    posts = ChatPosts(store)
    topic = os.urandom(16).hex()
    results = await asyncio.gather(*(posts.post(job("alice" if i % 2 else "bob", topic)) for i in range(40)))
    assert sorted(r[0] for r in results) == list(range(1, 41))
    assert posts.posts == 40 and posts.groups < 40          # they went together
    # a post whose request went away while it waited is not stored
    waiting = [asyncio.ensure_future(posts.post(job("alice", topic))) for _ in range(3)]
    await asyncio.sleep(0)
    waiting[1].cancel()
    done = await asyncio.gather(*waiting, return_exceptions=True)
    assert isinstance(done[1], asyncio.CancelledError)
    assert sorted(d[0] for d in (done[0], done[2])) == [41, 42]
    assert len(stored(store)) == 42


async def test_concurrent_posts_through_the_server_each_get_their_own_answer(db_url, server_factory, tmp_path, apps):
    server = server_factory(db=db_url)
    m, tid = await team_with(apps, tmp_path, server.url, {"bob": "writer"}, names=("alice", "mallory"))
    alice, bob, mallory = m["alice"], m["bob"], m["mallory"]
    conv, topic = general(tid)
    http = ChatHTTP(server.url)
    try:
        msgs = [await (alice if i % 2 else bob).message(tid, topic) for i in range(30)]
        bad = [await mallory.message(tid, topic) for _ in range(5)]
        who = [alice if i % 2 else bob for i in range(30)]
        answers = await asyncio.gather(*(http.post(w, conv, b) for w, b in zip(who, msgs)),
                                       *(http.post(mallory, conv, b) for b in bad))
        good, refused = answers[:30], answers[30:]
        assert all(r.status_code == 200 for r in good), [r.text for r in good if r.status_code != 200]
        assert sorted(r.json()["msg_id"] for r in good) == list(range(1, 31))
        assert all(r.status_code == 403 and code(r) == "CHAT_POST_NOT_ALLOWED" for r in refused)
        page = (await http.messages(alice, conv, limit=100)).json()
        assert [x["msg_id"] for x in page["messages"]] == list(range(1, 31))
        by_outbox = {x["hints"]["outbox_id"]: x["msg_id"] for x in page["messages"]}
        assert all(by_outbox[b["hints"]["outbox_id"]] == r.json()["msg_id"] for b, r in zip(msgs, good))
    finally:
        await http.aclose()


async def test_a_groups_hints_are_recorded_in_order_and_old_ones_pruned(store):
    """PushHub.record_all: one statement for a group's hints, in order, cursors ascending; the
    prune that `record` runs every PRUNE_EVERY hints also runs when a group crosses that count,
    and never takes the newest row (SQLite would hand its cursor out again)."""
    from types import SimpleNamespace

    from kbapp.server import push

    now = 10_000_000
    hub = push.PushHub(SimpleNamespace(engine=store.engine), clock=lambda: now)
    events = server_db.push_events
    with store.engine.begin() as conn:
        conn.execute(insert(events), [{"topic": "team:" + TEAM, "kind": "chat", "subject": f"old:{i}",
                                       "created": now - push.RETENTION - 5} for i in range(3)])
    hub._published = push.PRUNE_EVERY - 1
    with store.engine.begin() as conn:
        hub.record_all(conn, [("team:" + TEAM, "chat", f"c:{i}") for i in range(3)])
    with store.engine.connect() as conn:
        rows = conn.execute(select(events.c.cursor, events.c.subject).order_by(events.c.cursor)).all()
    assert [s for _, s in rows] == ["c:0", "c:1", "c:2"]            # the old ones pruned, ours in order
    assert hub._published == push.PRUNE_EVERY + 2


async def test_a_value_the_database_cannot_hold_is_refused_and_spoils_no_group(store, monkeypatch):
    """key_gen 2^31 passed the shape check but overflowed PostgreSQL's 32-bit column at the
    insert: every group with it rolled back, and its poster got a 500 (found in review). Now
    refused at the shape check; and a DataError found alone is the post's typed refusal."""
    topic = os.urandom(16).hex()
    big = body("alice", topic)
    big["key_gen"] = 1 << 31
    with pytest.raises(errors.EncodingError):
        parse_post(conv_id_hex(TEAM, 1, topic), big, UIDS["alice"], KIDS["alice"])
    from sqlalchemy.exc import DataError

    real_write = chat_posts.write

    def overflow(conn, p, now):
        if p.hints["sender_uid"] == UIDS["bob"]:
            raise DataError("INSERT", {}, Exception("integer out of range"))
        return real_write(conn, p, now)

    monkeypatch.setattr(chat_posts, "write", overflow)
    got = chat_posts.post_group(store, [job("alice", topic), job("bob", topic), job("alice", topic)])
    assert isinstance(got[1], errors.EncodingError)
    assert [got[0][0], got[2][0]] == [1, 2]


async def test_a_deadlock_alone_is_tried_again(store, monkeypatch):
    """PostgreSQL picks a victim in a deadlock (40P01): the post is stored on the next try,
    not answered with a 500."""
    from sqlalchemy.exc import OperationalError

    topic, real, tries = os.urandom(16).hex(), chat_posts.store_group, []

    class Deadlock(Exception):
        sqlstate = "40P01"

    def flaky(s, jobs, record=None):
        tries.append(len(jobs))
        if len(tries) == 1:
            raise OperationalError("UPDATE", {}, Deadlock("deadlock detected"))
        return real(s, jobs, record)

    monkeypatch.setattr(chat_posts, "store_group", flaky)
    got = chat_posts.post_group(store, [job("alice", topic)])
    assert got[0][0] == 1 and tries == [1, 1]


async def test_every_conversation_of_a_group_gets_its_own_version(store, monkeypatch):
    """The inbox pages by `vers > since` and hands back the last row's version when a page is
    full: a version shared by a group's conversations would skip those beyond the page for good
    (found in review)."""
    from kbapp.server import chat

    topics = [os.urandom(16).hex() for _ in range(5)]
    chat_posts.post_group(store, [job("alice", t) for t in topics])
    monkeypatch.setattr(chat, "INBOX_MAX", 3)
    seen, since, pages = set(), 0, 0
    while pages < 5:
        convs, since = store.inbox(UIDS["alice"], since)
        pages += 1
        if not convs:
            break
        seen |= {c["conv_id"] for c in convs}
    assert seen == {conv_id_hex(TEAM, 1, t) for t in topics}
    assert len({c["vers"] for c in store.inbox(UIDS["alice"], 0)[0]}) == 3


async def test_a_post_whose_request_went_away_during_its_group_is_still_charged_and_woken(store):
    """Stored is stored: the dispatcher is woken from the queue, not by the request that may
    have been cancelled while its group ran (found in review; its rate was spent at admission)."""
    import threading

    told: list = []
    posts = ChatPosts(store, stored=told.extend)
    topic = os.urandom(16).hex()
    inside, go = threading.Event(), threading.Event()
    j = job("alice", topic)
    real_prepare = j.prepare

    def slow(conn, memo):
        inside.set()
        go.wait(10)
        return real_prepare(conn, memo)

    j.prepare = slow
    waiting = asyncio.ensure_future(posts.post(j))
    while not inside.is_set():
        await asyncio.sleep(0.01)
    waiting.cancel()
    go.set()
    await asyncio.gather(waiting, return_exceptions=True)
    for _ in range(100):
        if told:
            break
        await asyncio.sleep(0.02)
    assert len(stored(store)) == 1 and told == [j]


async def test_the_dispatcher_hands_each_listener_one_list_and_closes_a_slow_one(store, monkeypatch):
    """One queue entry per listener per dispatch, with only its topics' hints in order; a
    listener with more than QUEUE hints waiting is marked a slow reader (its speaker closes it,
    4013, and it catches up with since=)."""
    from types import SimpleNamespace

    from kbapp.server import push

    hub = push.PushHub(SimpleNamespace(engine=store.engine))
    a, b = push._Conn(frozenset({"team:" + TEAM}), None, None), push._Conn(frozenset({"user:" + "0" * 32}), None, None)
    hub._add(a)
    hub._add(b)
    hub._fan_out([(1, "team:" + TEAM, "chat", "x:1"), (2, "user:" + "0" * 32, "chain", ""),
                  (3, "team:" + TEAM, "chat", "x:2")])
    assert hub.head == 3
    assert [i[0] for i in a.queue.get_nowait()] == [1, 3] and a.queue.empty() and a.pending == 2
    assert [i[0] for i in b.queue.get_nowait()] == [2] and b.pending == 1
    monkeypatch.setattr(push, "QUEUE", 4)
    hub._fan_out([(c, "team:" + TEAM, "chat", f"x:{c}") for c in range(4, 7)])
    assert a.overflow and a.queue.get_nowait() == [] and not b.overflow
