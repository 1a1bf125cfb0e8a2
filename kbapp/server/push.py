"""Push: hints over a WebSocket (/v1/push) that something changed, never what.

Why hints only: the server is untrusted, so a pushed "your chain changed" is just
a reason to fetch and verify now rather than at the next poll. Every accepted
write (user and team links, join requests, acceptances, kex mailbox posts) leaves a
row (cursor, topic, kind, subject) in `push_events`; a connected client gets the
rows of the topics it subscribed to, and one that reconnects with `since=cursor`
gets the rows it missed (up to REPLAY_MAX, kept RETENTION seconds; else it is told
to resync in full). A lost hint costs latency, never data.

Topics and who may subscribe: `user:<uid>` only that user (a read token signed by a
live device key), `team:<id>` whoever may read the team chain (team_access.py),
`kex:<channel>` anyone who knows the channel (a hash of the provisioning phrase:
the capability itself), so a device not yet provisioned can listen without a token.

Several server processes on one PostgreSQL database: a write's hint is committed
with `pg_notify`, and each process LISTENs in a thread that wakes its dispatcher,
which reads the new rows in cursor order. Hint inserts take a transaction-scoped
advisory lock so cursors commit in order (a reader never skips a late commit).
On SQLite (one process) the writer wakes the dispatcher in-process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import bindparam, delete, func, insert, select, text
from starlette.concurrency import run_in_threadpool
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from kbapp.core import errors

from . import db
from . import limits as lim
from .service import Service
from .team_access import CHAIN, ReadAccess

log = logging.getLogger(__name__)

PATH = "/v1/push"
CHANNEL = "kbapp_push"          # the LISTEN/NOTIFY channel
LOCK_KEY = 0x6B627075           # advisory lock that orders hint commits ("kbpu")
TOPIC = re.compile(r"^(?:(?:user|team):[0-9a-f]{32}|kex:[0-9a-f]{32,64})$")
MAX_TOPICS = 64
MAX_TOPICS_PARAM = 64 * 72
REPLAY_MAX = 500                # hints replayed on reconnect; more: resync in full
RETENTION = 24 * 3600           # seconds a hint is kept for replays
PRUNE_EVERY = 256               # hints published between prunes
PAGE = 1000                     # rows the dispatcher reads at a time
QUEUE = 256                     # hints waiting for one slow client; over: it is closed
BATCH_HINTS = 32                # hints in one `hints` frame at most (about 6 KiB: clients take 16 KiB frames)
FALLBACK_POLL = 5.0             # the dispatcher looks anyway this often (a lost NOTIFY)
MAX_PER_ADDRESS = 16            # open push connections per client address (/64 for IPv6)
MAX_PER_ACCOUNT = 32            # ... per authenticated account
MAX_ANONYMOUS_TOPICS = 4        # kex channels an anonymous connection may follow
MAX_CONNECTIONS = 10000

SUBJECT_KINDS = frozenset({"chat", "typing", "folder", "ek", "team",
                           "read"})   # hints whose frames carry their subject (read: `<conv_id>:<upto>`)
CLOSE_TOKEN_EXPIRED = 4001      # reconnect with a fresh token
CLOSE_NOT_ALLOWED = 4003        # lost the right to a topic (device revoked, removed from a team)
CLOSE_SPOKE = 4008              # the client sent a message: it only listens
CLOSE_SLOW = 4013               # fell behind: reconnect with since= to catch up


def parse_topics(raw: str | None) -> tuple[str, ...]:
    if not raw:
        raise errors.EncodingError("subscribe to at least one topic (topics=user:<uid>,team:<id>,kex:<channel>)")
    if len(raw) > MAX_TOPICS_PARAM:
        raise errors.EncodingError("topic list too long")
    topics = tuple(dict.fromkeys(t for t in raw.split(",") if t))
    if not topics or len(topics) > MAX_TOPICS:
        raise errors.EncodingError(f"subscribe to 1..{MAX_TOPICS} topics")
    for t in topics:
        if not TOPIC.match(t):
            raise errors.EncodingError(f"malformed topic {t[:80]!r}")
    return topics


def parse_batch(raw: str | None) -> bool:
    if raw not in (None, "0", "1"):
        raise errors.EncodingError("batch is 0 or 1")
    return raw == "1"


def parse_since(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise errors.EncodingError("since must be a small non-negative integer")
    return int(raw)


@dataclass(eq=False)
class _Conn:
    topics: frozenset
    uid: str | None
    kid: str | None
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)   # lists of hints, one per dispatch
    pending: int = 0                     # hints in the queue (QUEUE at most)
    overflow: bool = False
    batch: bool = False                  # asked for `hints` frames (batch=1): several hints a frame


# Built once: a statement made per call (`insert(...).values(...)`) had its cache key
# generated again at every hint, a sixth of a chat post's database work.
_INS_EVENT = insert(db.push_events)
_PG_LOCK = text("SELECT pg_advisory_xact_lock(:k)")
_PG_NOTIFY = text("SELECT pg_notify(:ch, :c)")
_Q_AFTER = (select(db.push_events.c.cursor, db.push_events.c.topic, db.push_events.c.kind, db.push_events.c.subject)
            .where(db.push_events.c.cursor > bindparam("c")).order_by(db.push_events.c.cursor).limit(bindparam("n")))


class PushHub:
    """Records hints, fans them out to this process's WebSockets, replays missed ones."""

    def __init__(self, service: Service, *, max_per_address: int = MAX_PER_ADDRESS,
                 max_per_account: int = MAX_PER_ACCOUNT, clock=time.time):
        self.service, self.engine, self.clock = service, service.engine, clock
        self.access = ReadAccess(service)
        self.max_per_address, self.max_per_account = max_per_address, max_per_account
        self.pg = self.engine.dialect.name == "postgresql"
        self._conns: set[_Conn] = set()
        self._by_topic: dict[str, set[_Conn]] = {}
        self._per_address: dict[str, int] = {}
        self._per_account: dict[str, int] = {}
        self._published = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._stop = threading.Event()
        self.head: int | None = None          # the last cursor dispatched

    # -- storage (worker threads) ---------------------------------------------------------

    def publish(self, topic: str, kind: str, subject: str = "") -> int:
        """Record a hint (after its write was accepted); returns its cursor."""
        with self.engine.begin() as conn:
            cursor = self.record(conn, topic, kind, subject)
        self.wake()
        return cursor

    def record(self, conn, topic: str, kind: str, subject: str = "") -> int:
        """Record a hint in the caller's transaction, as its last statement (the advisory lock
        is held to the commit): the write and its hint commit together. Call `wake()` after."""
        now = int(self.clock())
        if self.pg:
            conn.execute(_PG_LOCK, {"k": LOCK_KEY})
        cursor = conn.execute(_INS_EVENT, {"topic": topic, "kind": kind, "subject": subject,
                                           "created": now}).inserted_primary_key[0]
        if self.pg:
            conn.execute(_PG_NOTIFY, {"ch": CHANNEL, "c": str(cursor)})
        self._count(conn, 1, now, cursor)
        return int(cursor)

    def record_all(self, conn, hints: list[tuple[str, str, str]]) -> None:
        """`record` of several (topic, kind, subject) hints in one statement, in order (a chat
        group's posts); the advisory lock and NOTIFY once. Call `wake()` after."""
        if not hints:
            return
        now = int(self.clock())
        if self.pg:
            conn.execute(_PG_LOCK, {"k": LOCK_KEY})
        conn.execute(_INS_EVENT, [{"topic": t, "kind": k, "subject": s, "created": now} for t, k, s in hints])
        if self.pg:
            conn.execute(_PG_NOTIFY, {"ch": CHANNEL, "c": ""})
        self._count(conn, len(hints), now)

    def _count(self, conn, n: int, now: int, newest: int | None = None) -> None:
        """`n` more hints published; each time the count passes a multiple of PRUNE_EVERY, the
        hints older than RETENTION go, never the newest row (`newest`, or the largest cursor):
        on SQLite the next cursor must not go back."""
        before, self._published = self._published, self._published + n
        if before // PRUNE_EVERY == self._published // PRUNE_EVERY:
            return
        if newest is None:
            newest = conn.execute(select(func.max(db.push_events.c.cursor))).scalar() or 0
        conn.execute(delete(db.push_events).where((db.push_events.c.created < now - RETENTION)
                                                  & (db.push_events.c.cursor < newest)))

    def wake(self) -> None:
        """This process's dispatcher looks for new hints now (other processes hear NOTIFY)."""
        self._wake_threadsafe()

    def head_cursor(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(db.push_events.c.cursor))).scalar() or 0)

    def _rows_after(self, cursor: int, limit: int = PAGE) -> list:
        with self.engine.connect() as conn:
            return conn.execute(_Q_AFTER, {"c": cursor, "n": limit}).all()

    def replay(self, topics, since: int | None) -> tuple[list, int, bool]:
        """(hints of `topics` after `since`, the head cursor, resync?) in one snapshot."""
        with self.engine.connect() as conn:
            head = int(conn.execute(select(func.max(db.push_events.c.cursor))).scalar() or 0)
            if since is None:
                return [], head, False
            oldest = conn.execute(select(func.min(db.push_events.c.cursor))).scalar()
            if since > head or (oldest is not None and since < oldest - 1):
                return [], head, True        # another server's cursor, or hints pruned since
            rows = conn.execute(select(db.push_events.c.cursor, db.push_events.c.topic, db.push_events.c.kind,
                                       db.push_events.c.subject)
                                .where((db.push_events.c.cursor > since) & (db.push_events.c.cursor <= head)
                                       & db.push_events.c.topic.in_(list(topics)))
                                .order_by(db.push_events.c.cursor).limit(REPLAY_MAX + 1)).all()
        if len(rows) > REPLAY_MAX:
            return [], head, True
        return rows, head, False

    # -- who may listen to what (worker threads) --------------------------------------------

    def authorize(self, authorization: str | None, topics) -> tuple[str | None, str | None, int | None]:
        """(uid, kid, token expiry) of the token; anonymous (None) only for kex topics."""
        needs_token = any(not t.startswith("kex:") for t in topics)
        if authorization is None and not needs_token:
            if len(topics) > MAX_ANONYMOUS_TOPICS:
                raise errors.PushRefused(f"at most {MAX_ANONYMOUS_TOPICS} kex channels without a token", 400)
            return None, None, None
        with self.engine.connect() as conn:
            token, _ = self.access.device(conn, authorization)
            for t in topics:
                self._check_topic(conn, token.uid, t)
        return token.uid, token.kid, token.expires

    def _check_topic(self, conn, uid: str, topic: str) -> None:
        kind, _, ident = topic.partition(":")
        if kind == "user" and ident != uid:
            raise errors.ReadNotAllowed("only a user listens to their own chain's hints", 403)
        if kind == "team":
            exists = conn.execute(select(db.teams.c.team_id).where(db.teams.c.team_id == ident)).first()
            if exists is None or not self.access.may_read(conn, uid, ident, CHAIN):
                # the same answer for "no such team" and "not yours": no probing for team ids
                raise errors.ReadNotAllowed(f"{uid} may not listen to team {ident}", 403)

    def still_allowed(self, c: _Conn, topic: str) -> bool:
        """Re-checked at each chain hint: a revoked device or a removed member stops hearing."""
        if c.uid is None or topic.startswith("kex:"):
            return True
        with self.engine.connect() as conn:
            keys, _ = self.access.live_sibkeys(conn, c.uid)
            if c.kid not in keys:
                return False
            try:
                self._check_topic(conn, c.uid, topic)
            except errors.KbappError:
                return False
        return True

    # -- the dispatcher (event loop) ---------------------------------------------------------

    def _wake_threadsafe(self) -> None:
        loop, wake = self._loop, self._wake
        if wake is not None and wake.is_set():
            # Already woken, not yet cleared: the dispatcher clears it before it reads, so it will
            # read what the caller committed. One wake-up per burst of posts, not one per post.
            return
        if loop is not None and wake is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:   # the loop is closing
                pass

    def ensure_started(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = self._loop.create_task(self._run())
        if self.pg:
            threading.Thread(target=self._listen, name="kbapp-push-listen", daemon=True).start()

    async def _run(self) -> None:
        self.head = await run_in_threadpool(self.head_cursor)
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._wake.wait(), FALLBACK_POLL)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            try:
                while True:
                    rows = await run_in_threadpool(self._rows_after, self.head)
                    self._fan_out(rows)
                    if len(rows) < PAGE:
                        break
            except Exception:  # noqa: BLE001 - the database is away: try again at the next wake
                log.exception("push dispatcher")
                await asyncio.sleep(1.0)

    def _fan_out(self, rows) -> None:
        """Hand each listener the rows of its topics as one list per dispatch (a queue put and a
        wake-up per listener per dispatch, not per hint: with 100 listeners and a busy
        conversation that was most of the dispatcher's time). A listener with more than QUEUE
        hints waiting is closed as a slow reader (it catches up with since=)."""
        per: dict[_Conn, list] = {}
        for cursor, topic, kind, subject in rows:
            self.head = cursor
            listeners = self._by_topic.get(topic)
            if not listeners:
                continue
            item = (cursor, topic, kind, subject, _frame(cursor, topic, kind, subject))   # encoded once
            for c in listeners:
                got = per.get(c)
                if got is None:
                    per[c] = [item]
                else:
                    got.append(item)
        for c, items in per.items():
            if c.overflow:
                continue
            if c.pending + len(items) > QUEUE:
                c.overflow = True             # its speaker closes it at once
                c.queue.put_nowait([])
                continue
            c.pending += len(items)
            c.queue.put_nowait(items)

    def _listen(self) -> None:
        """LISTEN in a thread: another process's hint wakes our dispatcher."""
        import psycopg

        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._wake_threadsafe()        # catch up on what came while we were away
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=64):
                            self._wake_threadsafe()
            except Exception:  # noqa: BLE001 - reconnect; the fallback poll covers the gap
                log.warning("push listener lost its database connection; retrying", exc_info=True)
                self._stop.wait(1.0)

    def close(self) -> None:
        self._stop.set()
        self._wake_threadsafe()

    # -- the WebSocket -------------------------------------------------------------------------

    def _admit(self, address: str, uid: str | None) -> None:
        if len(self._conns) >= MAX_CONNECTIONS:
            raise errors.ServerBusy("too many push connections; retry shortly", 503)
        if self.max_per_address and self._per_address.get(address, 0) >= self.max_per_address:
            raise errors.PushRefused(f"at most {self.max_per_address} push connections per address", 429)
        if uid is not None and self.max_per_account and self._per_account.get(uid, 0) >= self.max_per_account:
            raise errors.PushRefused(f"at most {self.max_per_account} push connections per account", 429)
        self._per_address[address] = self._per_address.get(address, 0) + 1
        if uid is not None:
            self._per_account[uid] = self._per_account.get(uid, 0) + 1

    def _add(self, c: _Conn) -> None:
        self._conns.add(c)
        for t in c.topics:
            self._by_topic.setdefault(t, set()).add(c)

    def _remove(self, c: _Conn) -> None:
        self._conns.discard(c)
        for t in c.topics:
            listeners = self._by_topic.get(t)
            if listeners is not None:
                listeners.discard(c)
                if not listeners:
                    del self._by_topic[t]

    def _release(self, address: str, uid: str | None) -> None:
        for counts, key in ((self._per_address, address), (self._per_account, uid)):
            if key is None:
                continue
            left = counts.get(key, 1) - 1
            if left > 0:
                counts[key] = left
            else:
                counts.pop(key, None)

    async def endpoint(self, ws: WebSocket) -> None:
        self.ensure_started()
        address = lim.client_key((ws.client.host if ws.client else "") or "?")
        try:
            topics = parse_topics(ws.query_params.get("topics"))
            since = parse_since(ws.query_params.get("since"))
            batch = parse_batch(ws.query_params.get("batch"))
            uid, kid, expires = await run_in_threadpool(self.authorize, ws.headers.get("authorization"), topics)
            self._admit(address, uid)
        except errors.KbappError as e:
            answer = lim.error_response(e, getattr(e, "status", 0) or 400)   # 400, 401, 403, 429, 503
            answer.headers["connection"] = "close"   # the server closes it: no client may reuse it
            await ws.send_denial_response(answer)
            return
        c = _Conn(frozenset(topics), uid, kid, batch=batch)
        self._add(c)                         # before the replay: nothing falls between the two
        try:
            await ws.accept()
            rows, head, resync = await run_in_threadpool(self.replay, topics, since)
            for cursor, topic, kind, subject in rows:
                await ws.send_json(_hint(cursor, topic, kind, subject))
            await ws.send_json({"type": "resync" if resync else "ready", "cursor": head})
            await self._serve(ws, c, head, expires)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass                              # the client went away
        finally:
            self._remove(c)
            self._release(address, uid)

    async def _serve(self, ws: WebSocket, c: _Conn, sent: int, expires: int | None) -> None:
        async def listen() -> int:
            """The client only listens: any message it sends ends the connection."""
            msg = await ws.receive()
            return CLOSE_SPOKE if msg["type"] == "websocket.receive" else 0

        async def speak() -> int:
            nonlocal sent
            while True:
                items = list(await c.queue.get())
                while not c.queue.empty():
                    items += c.queue.get_nowait()           # what queued meanwhile goes out now too
                c.pending -= len(items)
                if c.overflow:
                    return CLOSE_SLOW
                frames, code = [], 0
                for cursor, topic, kind, _, frame in items:
                    if cursor <= sent:
                        continue              # already in the replay
                    if kind == "chain" and not await run_in_threadpool(self.still_allowed, c, topic):
                        code = CLOSE_NOT_ALLOWED     # what came before it still goes
                        break
                    frames.append(frame)
                    sent = cursor
                step = BATCH_HINTS if c.batch else 1      # at most BATCH_HINTS a `hints` frame
                for k in range(0, len(frames), step):
                    part = frames[k:k + step]
                    text = part[0] if len(part) == 1 else '{"type":"hints","hints":[' + ",".join(part) + "]}"
                    await ws.send({"type": "websocket.send", "text": text})
                if code:
                    return code

        async def expiry() -> int:
            await asyncio.sleep(max(0.0, expires - self.service.clock()))
            return CLOSE_TOKEN_EXPIRED

        tasks = [asyncio.ensure_future(listen()), asyncio.ensure_future(speak())]
        if expires is not None:
            tasks.append(asyncio.ensure_future(expiry()))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
        code = next(iter(done)).result()
        if code:
            await ws.close(code)

    def routes(self) -> list:
        return [WebSocketRoute(PATH, self.endpoint)]

    def recorder(self, app) -> "PushRecorder":
        return PushRecorder(app, self)


def _hint(cursor: int, topic: str, kind: str, subject: str) -> dict:
    """A hint frame; `subject` only where it says more than the topic (chat: `<conv_id>:<msg_id>`,
    typing: `<conv_id>:<uid>`), so older clients see the frames they always saw."""
    frame = {"type": "hint", "cursor": cursor, "topic": topic, "kind": kind}
    if subject and kind in SUBJECT_KINDS:
        frame["subject"] = subject
    return frame


def _frame(cursor: int, topic: str, kind: str, subject: str) -> str:
    """A hint frame's text, as WebSocket.send_json writes it: made once per hint for all listeners."""
    return json.dumps(_hint(cursor, topic, kind, subject), separators=(",", ":"), ensure_ascii=False)


# Accepted writes and the hint each leaves: (path pattern, topic prefix, kind).
_WRITES = [
    (re.compile(r"^/v1/chain/([0-9a-fA-F]{32})/links$"), "user", "chain"),
    (re.compile(r"^/v1/team/([0-9a-fA-F]{32})/links$"), "team", "chain"),
    (re.compile(r"^/v1/team/([0-9a-fA-F]{32})/requests(?:/deny)?$"), "team", "request"),
    (re.compile(r"^/v1/team/([0-9a-fA-F]{32})/invites/[^/]+/accept$"), "team", "acceptance"),
    (re.compile(r"^/v1/kex/([0-9a-f]{32,64})$"), "kex", "kex"),
]


_WRITE_PREFIXES = ("/v1/chain/", "/v1/team/", "/v1/kex/")


def hint_for(method: str, path: str) -> tuple[str, str, str] | None:
    if method != "POST" or not path.startswith(_WRITE_PREFIXES):
        return None
    for pattern, prefix, kind in _WRITES:
        m = pattern.match(path)
        if m:
            ident = m.group(1).lower()
            return f"{prefix}:{ident}", kind, "" if prefix == "kex" else ident
    return None


class PushRecorder:
    """ASGI middleware: a successful write records its hint before its answer's last
    byte leaves, so a client that saw "ok" finds the hint in any later replay."""

    def __init__(self, app, hub: PushHub):
        self.app, self.hub = app, hub

    async def __call__(self, scope, receive, send):
        hint = hint_for(scope.get("method", ""), scope.get("path", "")) if scope["type"] == "http" else None
        if hint is None:
            return await self.app(scope, receive, send)
        self.hub.ensure_started()
        status = 0

        async def send_and_record(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body") and 200 <= status < 300:
                try:
                    await run_in_threadpool(self.hub.publish, *hint)
                except Exception:  # noqa: BLE001 - the write stands; clients catch up by polling
                    log.exception("could not record a push hint")
            await send(message)

        await self.app(scope, receive, send_and_record)
