"""Storing chat posts: the checks a server can make (chat.py says which), the writes, and
the group commit that stores every post queued meanwhile in one transaction.

Why groups: each post was one transaction of its own on a worker thread, all of them
queued on the store's write lock (SQLite has one writer) and each waited for the GIL
between its statements behind every other worker thread; with 16 posters the server
stored 250-320 posts/s while its CPU sat partly idle. Now one task drains the queue:
whatever arrived while a group was being stored goes in the next one, on one worker
thread, with one commit, and the conversation versions and push hints recorded once at
its end.

Each post is still judged on its own. Everything that can refuse it (the read token, the
rate, the shape, the role, a repost, the targets, the reach, the blobs) runs before the
first write of that post, so a refusal answers that poster alone and the others go on.
A failure after a write (another server process took the conversation's first id or the
outbox id first) rolls the whole group back, and every post of it is then stored alone, as
before, retried on such a collision. Posts are written in conversation order (stable:
arrival order within a conversation), so two processes on one PostgreSQL take the
conversation rows' locks in one order.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, DataError, IntegrityError

from kbapp.core import errors
from kbapp.core.chat.judge import CONTENT, UNDELETABLE
from kbapp.core.encoding import canonical_json
from kbapp.core.teams import Role

from . import chat_blobs
from .chat import HISTORY_TYPES, ChatStore, Post
from .chat_tables import chat_vers, conversations, messages
from .group_commit import answer, enqueue, run_group

MAX_GROUP = 64          # posts in one transaction at most (the write lock is held for all of them)
TRIES = 3               # a post stored alone, when a twin process collides with it
RETRY_STATES = {"40P01", "40001"}   # PostgreSQL: deadlock, serialization failure (tried again)

# The post path's statements, built once (SQLAlchemy then reuses their compiled forms):
# building them per post cost about as much as running them.
_Q_LAST = select(conversations.c.last_msg_id).where(conversations.c.conv_id == bindparam("c"))
_NEXT_ID = (update(conversations).where(conversations.c.conv_id == bindparam("c"))
            .values(last_msg_id=conversations.c.last_msg_id + 1).returning(conversations.c.last_msg_id))
_INS_CONV = insert(conversations)
_Q_OUTBOX = select(messages).where((messages.c.conv_id == bindparam("c")) & (messages.c.outbox_id == bindparam("o")))
_INS_MSG = insert(messages)
_Q_TARGETS = select(messages.c.msg_id, messages.c.sender_uid, messages.c.type).where(
    (messages.c.conv_id == bindparam("c")) & messages.c.msg_id.in_(bindparam("ts", expanding=True)))
_DROP_BODIES = (update(messages).where((messages.c.conv_id == bindparam("c"))
                                       & messages.c.msg_id.in_(bindparam("ts", expanding=True)))
                .values(body=None, superseded_by=bindparam("by")))
_DROP_HISTORY = (update(messages).where((messages.c.conv_id == bindparam("c")) & (messages.c.msg_id <= bindparam("upto"))
                                         & messages.c.body.is_not(None) & messages.c.type.in_(HISTORY_TYPES))
                 .values(body=None, superseded_by=bindparam("by")).returning(messages.c.msg_id))
_DROP_MINE = (update(messages).where((messages.c.conv_id == bindparam("c")) & (messages.c.msg_id <= bindparam("upto"))
                                      & (messages.c.sender_uid == bindparam("u")) & messages.c.body.is_not(None)
                                      & messages.c.type.in_(HISTORY_TYPES))
              .values(body=None, superseded_by=bindparam("by")).returning(messages.c.msg_id))   # a member's own
_NEXT_VERS = (update(chat_vers).where(chat_vers.c.id == 1).values(vers=chat_vers.c.vers + bindparam("k"))
              .returning(chat_vers.c.vers))
_SET_VERS = update(conversations).where(conversations.c.conv_id == bindparam("c")).values(vers=bindparam("v"))


@dataclass(eq=False)
class PostJob:
    """One post waiting to be stored. `prepare(conn, memo)` -> Post checks the poster (read
    token, rate) and the message's shape in the group's transaction, raising a refusal (`memo`:
    the group's, for lookups its posts share); `hint(post, msg_id)` -> its push hint
    (topic, kind, subject), recorded last in that transaction."""

    conv_id: str
    prepare: Callable[[Connection, dict], Post]
    hint: Callable[[Post, int], tuple] | None = None
    future: asyncio.Future | None = None


class _Repost(Exception):
    """The outbox id is already stored: answer the stored message."""

    def __init__(self, row):
        self.row = row


class _Moved(Exception):
    """Found after a write: the post's reach no longer holds (another process posted between
    the check and the id); the group is rolled back and the post judged again alone."""


def _repost(p: Post, row) -> tuple[int, int, bool]:
    if row.sender_uid != p.hints["sender_uid"] or row.header != p.header:
        raise errors.ChatOutboxConflict("this outbox id was used for another message", 409)
    return row.msg_id, row.ctime, False


def check(conn: Connection, p: Post, memo: dict | None = None) -> bool:
    """Every refusal the server can make of `p`, before anything of it is written; whether the
    poster may delete others' messages (a team admin; nobody in an implicit team). `memo`:
    the poster's role, looked up once per group (no post of a group changes a role)."""
    uid = p.hints["sender_uid"]
    memo = {} if memo is None else memo
    key = ("role", p.team_id, uid)
    if key not in memo:
        role = ChatStore.role(conn, p.team_id, uid)
        memo[key] = role, role >= Role.ADMIN and not ChatStore.implicit(conn, p.team_id)
    role, admin = memo[key]
    if role < Role.WRITER:
        raise errors.ChatPostNotAllowed("only a writer of the team posts in its conversations", 403)
    if p.hints["type"] == "delete_history" and not admin:
        raise errors.ChatHistoryRefused("only an admin of a team deletes a conversation's history", 403)
    old = conn.execute(_Q_OUTBOX, {"c": p.conv_id, "o": p.hints["outbox_id"]}).first()
    if old is not None:
        raise _Repost(old)
    if p.targets:
        _check_targets(conn, p, p.targets, uid, admin)
    if p.upto is not None and p.upto > (conn.execute(_Q_LAST, {"c": p.conv_id}).scalar() or 0):
        raise errors.ChatHistoryRefused("a delete_history reaches only messages before it", 403)
    chat_blobs.check(conn, uid, p.blobs)
    return admin


def _check_targets(conn: Connection, p: Post, targets: list[int], uid: str, admin: bool) -> None:
    """The reader's rule 6 on what the server can see (core/chat/judge.py): an edit's target
    is the poster's own text or attachment; a delete's targets are the poster's own, or
    the poster is an admin, and none is itself a delete; all in this conversation."""
    rows = {r.msg_id: r for r in conn.execute(_Q_TARGETS, {"c": p.conv_id, "ts": targets})}
    edited = p.hints["supersedes"] if p.hints["type"] == "edit" else None
    for t in targets:
        row = rows.get(t)
        if row is None:
            raise errors.ChatTargetRefused(f"message {t} is not in this conversation", 403)
        if t == edited:
            if row.sender_uid != uid or row.type not in CONTENT:
                raise errors.ChatTargetRefused(f"message {t} is not a text or attachment of the poster's", 403)
        elif row.type in UNDELETABLE or (row.sender_uid != uid and not admin):
            raise errors.ChatTargetRefused(f"message {t} may not be deleted by the poster: only its "
                                           "sender or a team admin deletes it, and deletes stay", 403)


def write(conn: Connection, p: Post, now: int) -> tuple[int, list[str]]:
    """Store a `check`ed post: (its msg_id, the blob ids nobody holds any more)."""
    uid = p.hints["sender_uid"]
    msg_id = conn.execute(_NEXT_ID, {"c": p.conv_id}).scalar()   # the row stays locked to the commit
    if msg_id is None:               # the first post: a twin doing the same fails on the key
        msg_id = 1
        conn.execute(_INS_CONV, {"conv_id": p.conv_id, "team_id": p.team_id, "topic_type": p.topic_type,
                                 "topic_id": p.topic_id, "created_by": uid, "ctime": now,
                                 "last_msg_id": msg_id, "vers": 0})
    if p.upto is not None and p.upto >= msg_id:
        raise _Moved()
    lifetime = p.hints["lifetime"]
    conn.execute(_INS_MSG, {
        "conv_id": p.conv_id, "msg_id": msg_id, "ctime": now, "sender_uid": uid,
        "sender_kid": p.hints["sender_kid"], "outbox_id": p.hints["outbox_id"], "key_gen": p.key_gen,
        "ek_gen": p.ek_gen, "type": p.hints["type"], "header": p.header, "body": p.body,
        "hints": canonical_json(p.hints).decode(), "superseded_by": None,
        "expires_at": None if lifetime is None else now + lifetime})
    chat_blobs.attach(conn, p.conv_id, msg_id, uid, p.blobs)
    targets = p.targets
    dropped = list(targets)
    if targets:
        conn.execute(_DROP_BODIES, {"c": p.conv_id, "ts": targets, "by": msg_id})
    if p.upto is not None:
        drop, args = (_DROP_MINE, {"u": uid}) if p.hints["type"] == "delete_mine" else (_DROP_HISTORY, {})
        dropped += conn.execute(drop, {"c": p.conv_id, "upto": p.upto, "by": msg_id, **args}).scalars().all()
    return msg_id, chat_blobs.release(conn, p.conv_id, dropped)


def store_group(store: ChatStore, jobs: list[PostJob], record: Callable | None = None) -> list:
    """Store the jobs' posts in one transaction; per job (msg_id, ctime, new?) or its refusal
    (an exception object). Raises only when the group must be rolled back. `record(conn,
    hints)`: stores the stored posts' push hints (PushHub.record_all), last."""
    now = int(store.clock())
    results: list = [None] * len(jobs)
    stored: list[tuple[int, Post, int]] = []
    orphans: list[str] = []
    memo: dict = {}
    with store._writing, store.engine.begin() as conn:
        for i in sorted(range(len(jobs)), key=lambda k: jobs[k].conv_id):
            p = None
            try:
                p = jobs[i].prepare(conn, memo)
                check(conn, p, memo)
            except _Repost as r:
                try:
                    results[i] = _repost(p, r.row)
                except errors.KbappError as e:
                    results[i] = e.with_traceback(None)
                continue
            except (errors.KbappError, ValueError) as e:
                # refused: nothing of it was written. Without its traceback (a frame cycle)
                results[i] = e.with_traceback(None)
                continue
            msg_id, gone = write(conn, p, now)
            orphans += gone
            stored.append((i, p, msg_id))
        if stored:
            # last: versions commit in order; one per conversation, so that an inbox page that
            # ends inside a group's versions (`vers > since`) skips none of its conversations
            touched = sorted({p.conv_id for _, p, _ in stored})
            top = conn.execute(_NEXT_VERS, {"k": len(touched)}).scalar_one()
            for vers, conv_id in enumerate(touched, start=top - len(touched) + 1):
                conn.execute(_SET_VERS, {"c": conv_id, "v": vers})
            hints = [jobs[i].hint(p, msg_id) for i, p, msg_id in stored if jobs[i].hint is not None]
            if hints and record is not None:
                record(conn, hints)
    chat_blobs.delete_bytes(store.blobs, orphans)
    for i, _p, msg_id in stored:
        results[i] = (msg_id, now, True)
    return results


def post_group(store: ChatStore, jobs: list[PostJob], record: Callable | None = None) -> list:
    """`store_group`, and when that was rolled back, each job alone (retried on collisions)."""
    if len(jobs) > 1:
        try:
            return store_group(store, jobs, record)
        except Exception:  # noqa: BLE001 - rolled back as a whole: each post alone, as before
            pass
    return [_alone(store, job, record) for job in jobs]


def _alone(store: ChatStore, job: PostJob, record: Callable | None):
    for _ in range(TRIES):
        try:
            return store_group(store, [job], record)[0]
        except (IntegrityError, _Moved):     # a twin created the conversation or the outbox row first
            continue
        except DataError:                    # a value the database cannot hold: the post's own fault
            return errors.EncodingError("a field of this post is out of the server's range")
        except DBAPIError as e:
            if getattr(e.orig, "sqlstate", None) in RETRY_STATES:
                continue
            return e.with_traceback(None)
        except Exception as e:  # noqa: BLE001 - handed to its poster
            return e.with_traceback(None)
    return errors.Conflict("concurrent posts collided; send again")


class ChatPosts:
    """The queue in front of the chat store's writes, drained by one task: whatever queued
    while a group was stored goes in the next (at most MAX_GROUP), on a worker thread."""

    def __init__(self, store: ChatStore, record: Callable | None = None, stored: Callable | None = None,
                 max_group: int = MAX_GROUP):
        """`record(conn, hints)`: stores a group's push hints; `stored(jobs)`: called with the
        group's newly stored posts once it committed (the push dispatcher is woken), whether
        or not their requests still wait."""
        self.store, self.record, self.stored, self.max_group = store, record, stored, max_group
        self._queue: list[PostJob] = []
        self._task: asyncio.Task | None = None
        self.groups = self.posts = 0            # groups stored and posts stored new (tests, benches)

    async def post(self, job: PostJob) -> tuple[int, int, bool]:
        """(msg_id, ctime, new?) of the job's post, or its refusal raised."""
        job.future = asyncio.get_running_loop().create_future()
        return await enqueue(self, job)

    async def _drain(self) -> None:
        while self._queue:
            # a post whose request is gone (cancelled while queued) is dropped, as it was when
            # it waited for the lock itself
            queued = [job for job in self._queue if not job.future.cancelled()]
            group, self._queue = queued[:self.max_group], queued[self.max_group:]
            if not group:
                continue
            results = await run_group(group, post_group, self.store, group, self.record)
            self.groups += 1
            new = [job for job, r in zip(group, results) if isinstance(r, tuple) and r[2]]
            self.posts += len(new)
            if new and self.stored is not None:
                self.stored(new)
            answer(group, results)
