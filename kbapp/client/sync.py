"""Push from the server: a WebSocket of hints, kept open by an explicit state machine.

The server only says *that* a topic changed (server/push.py); what changed is fetched
and verified the usual way, so a lying or silent push channel costs latency, never a
wrong state. The machine has four states:

    offline --start--> connecting --ok--> online --drop--> offline --> backoff
                           |  ^                                          |
                           |  +------------- delay over -----------------+
                           +--failed--> backoff

Backoff is exponential with jitter, capped (a restarted server is not hit by every
client at the same instant). Each hint's cursor is remembered in the profile, and
a reconnect asks for `since=` it, so hints written while we were away are replayed;
if the server kept too few, it says `resync` and we reload everything we follow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from enum import Enum

import httpx

from kbapp.core import errors

from .events import DevicesChanged, Event, TeamChanged

log = logging.getLogger(__name__)

CURSOR_KEY = "push.cursor"          # profile setting: "<server origin> <cursor>"
CURSOR_SAVE_S = 1.0                 # a heard cursor is written at most this often (see _heard)
MAX_MESSAGE = 16 * 1024
MAX_BATCH = 64                      # hints taken from one `hints` frame (the server sends at most 32)
KINDS = frozenset({"chain", "request", "acceptance", "kex", "chat", "typing",
                   "ek", "team", "read"})   # chat, typing, ek, team (user:<me>, added to a team), read
                                            # (user:<me>, a read marker: chat/readsync.py): app.chat acts
KINDS = KINDS | {"folder"}      # team:<id>, subject <folder id>:<revision>: app.files acts (fs/hints.py)
BASE_DELAY, MAX_DELAY = 0.5, 30.0
OPEN_TIMEOUT = 10.0


class State(str, Enum):
    OFFLINE = "offline"
    CONNECTING = "connecting"
    ONLINE = "online"
    BACKOFF = "backoff"


@dataclass(frozen=True)
class ConnectionStateChanged(Event):
    """The push channel's state; `retry_in` seconds until the next try (backoff only)."""

    state: str
    retry_in: float = 0.0


@dataclass(frozen=True)
class PushHint(Event):
    """The server says `topic` changed (`kind`: chain, request, acceptance, kex, chat, typing). Unverified."""

    topic: str
    kind: str
    cursor: int
    subject: str = ""      # chat: `<conv_id>:<msg_id>`, typing: `<conv_id>:<uid>` (unverified)


@dataclass(frozen=True)
class PushResync(Event):
    """The server kept too few hints for our cursor: reload everything followed."""

    cursor: int


# -- the pure part: states, transitions, delays ---------------------------------------------

_MOVES = {
    State.OFFLINE: {State.CONNECTING, State.BACKOFF},
    State.CONNECTING: {State.ONLINE, State.BACKOFF, State.OFFLINE},
    State.ONLINE: {State.OFFLINE},
    State.BACKOFF: {State.CONNECTING, State.OFFLINE},
}


class Backoff:
    """Delays base * 2**n, capped, each scaled by a jitter in [0.5, 1]."""

    def __init__(self, base: float = BASE_DELAY, cap: float = MAX_DELAY, rng=random.random):
        if base <= 0 or cap < base:
            raise ValueError("backoff needs 0 < base <= cap")
        self.base, self.cap, self.rng, self.attempt = base, cap, rng, 0

    def next(self) -> float:
        delay = min(self.cap, self.base * (2 ** min(self.attempt, 32)))
        self.attempt += 1
        return delay * (0.5 + 0.5 * self.rng())

    def reset(self) -> None:
        self.attempt = 0


class Machine:
    """The reconnect state machine without I/O: every move is checked and returns the
    event to announce. `clock` is injected (tests drive it by hand)."""

    def __init__(self, backoff: Backoff | None = None, clock=time.monotonic):
        self.backoff, self.clock = backoff or Backoff(), clock
        self.state, self.retry_at = State.OFFLINE, 0.0

    def _move(self, to: State, retry_in: float = 0.0) -> ConnectionStateChanged:
        if to not in _MOVES[self.state]:
            raise errors.KbappError(f"push: no move from {self.state.value} to {to.value}")
        self.state = to
        self.retry_at = self.clock() + retry_in if to is State.BACKOFF else 0.0
        return ConnectionStateChanged(to.value, round(retry_in, 3))

    def connecting(self) -> ConnectionStateChanged:
        """Try now: from offline, or from backoff once its delay is over."""
        if self.state is State.BACKOFF and self.clock() < self.retry_at:
            raise errors.KbappError("push: still backing off")
        return self._move(State.CONNECTING)

    def connected(self) -> ConnectionStateChanged:
        self.backoff.reset()
        return self._move(State.ONLINE)

    def dropped(self) -> ConnectionStateChanged:
        """An open channel closed (server gone, network down, token expired)."""
        return self._move(State.OFFLINE)

    def failed(self, *, immediate: bool = False) -> ConnectionStateChanged:
        """A try failed (or the channel dropped): wait before the next one."""
        return self._move(State.BACKOFF, 0.0 if immediate else self.backoff.next())

    def stopped(self) -> ConnectionStateChanged | None:
        return None if self.state is State.OFFLINE else self._move(State.OFFLINE)

    def wait(self) -> float:
        return max(0.0, self.retry_at - self.clock()) if self.state is State.BACKOFF else 0.0


def parse_message(raw: object, topics: frozenset) -> tuple[str, int, str, str] | None:
    """(type, cursor, topic, kind) of a server message, or None for anything malformed or
    about a topic we did not ask for (ignored: it is only a hint)."""
    if not isinstance(raw, dict):
        return None
    kind_of, cursor = raw.get("type"), raw.get("cursor")
    if type(cursor) is not int or not 0 <= cursor < 1 << 62:
        return None
    if kind_of in ("ready", "resync"):
        return kind_of, cursor, "", ""
    topic, kind = raw.get("topic"), raw.get("kind")
    if kind_of != "hint" or topic not in topics or kind not in KINDS:
        return None
    return "hint", cursor, topic, kind


def frames_of(raw: object) -> list:
    """A `hints` frame (asked for with batch=1: the hints that queued at the server, in
    order) as its hints; any other frame as itself. Each is judged by parse_message."""
    if isinstance(raw, dict) and raw.get("type") == "hints":
        hints = raw.get("hints")
        return hints[:MAX_BATCH] if isinstance(hints, list) else []
    return [raw]


def subject_of(raw: object) -> str:
    """A hint frame's `subject` (what in the topic changed), or "" when absent or malformed."""
    sub = raw.get("subject") if isinstance(raw, dict) else None
    return sub if isinstance(sub, str) and len(sub) <= 200 else ""


# -- the runner ------------------------------------------------------------------------------


class Sync:
    """Keeps the push channel of a logged-in App open and turns hints into events.

    `user:<me>` hints become DevicesChanged (the Devices page reloads and verifies),
    `team:<id>` hints reload that team (TeamChanged if its verified chain moved: a read,
    which posts nothing; the admin chores a hint may make due are the front end's to ask
    of the housekeeper, as the GUI's Teams page does), and every hint is also emitted as
    PushHint.
    """

    def __init__(self, app, *, machine: Machine | None = None, client: httpx.AsyncClient | None = None):
        self.app = app
        self.machine = machine or Machine()
        self._client = client
        self._task: asyncio.Task | None = None
        self._kick = asyncio.Event()
        self._close_now: asyncio.Event | None = None
        self._reloading: dict[str, asyncio.Task] = {}
        self.topics: frozenset = frozenset()
        self._listening = False
        self._unreadable: set[str] = set()
        self._heard_at: tuple[str, int] | None = None      # (server origin, cursor) heard, maybe unsaved
        self._saved_at: tuple[str, int] | None = None      # the last one written
        self._saver: asyncio.Task | None = None

    # cursor (per server origin: another server's numbers mean nothing here)
    def cursor(self) -> int | None:
        here = self.app.store.get("server_origin") or ""
        if self._heard_at is not None and self._heard_at[0] == here:
            return self._heard_at[1]
        raw = self.app.store.get(CURSOR_KEY) or ""
        origin, _, value = raw.rpartition(" ")
        if origin != here or not value.isdigit():
            return None
        return int(value)

    def _heard(self, cursor: int) -> None:
        """Remember the cursor at once; write it to the profile at most once a CURSOR_SAVE_S.
        It only spares hints on the next start (a cursor a second old costs hints heard again,
        each a sync that finds nothing new), and a write per hint, with the trusted store's
        full fsync, ran beside the very sync the hint started: on the path of every message."""
        self._heard_at = (self.app.store.get("server_origin") or "", cursor)
        if self._saver is None or self._saver.done():
            self._saver = asyncio.get_running_loop().create_task(self._save_later(), name="kbapp-push-cursor")

    async def _save_later(self) -> None:
        await asyncio.sleep(CURSOR_SAVE_S)
        await self._save_cursor()

    async def _save_cursor(self) -> None:
        heard = self._heard_at
        if heard is not None and heard != self._saved_at:
            await self.app.store.aio.set(CURSOR_KEY, f"{heard[0]} {heard[1]}")
            self._saved_at = heard

    @property
    def state(self) -> State:
        return self.machine.state

    def _announce(self, ev: ConnectionStateChanged | None) -> None:
        if ev is not None:
            self.app.events.emit(ev)

    # life cycle
    def start(self) -> None:
        if self._task is None or self._task.done():
            if not self._listening:
                self._listening = True
                self.app.events.on(self._on_event)
            self._task = asyncio.get_running_loop().create_task(self._run(), name="kbapp-sync")

    def _on_event(self, ev: Event) -> None:
        """A team we do not listen to yet (made or joined here): reconnect with it."""
        if (isinstance(ev, TeamChanged) and self.machine.state is State.ONLINE
                and f"team:{ev.team_id}" not in self.topics and len(self.topics) < 64):
            self.resubscribe()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for t in list(self._reloading.values()):
            t.cancel()
        saver, self._saver = self._saver, None
        if saver is not None and not saver.done():
            saver.cancel()
        with contextlib.suppress(Exception):                # the last cursor heard, written now
            await self._save_cursor()
        self._announce(self.machine.stopped())

    def resubscribe(self) -> None:
        """Our topics changed (joined a team, say): reconnect at once with the new list."""
        if self._close_now is not None:
            self._close_now.set()
        self._kick.set()

    async def _topics(self) -> frozenset:
        uid = self.app.store.get("uid")
        teams = [f"team:{t.team_id}" for t in await self.app.store.aio.known_teams()]
        return frozenset([f"user:{uid}"] + [t for t in teams if t not in self._unreadable][:63])

    async def _drop_unreadable(self) -> None:
        """After a 403: leave out the teams we may no longer read (asked one by one)."""
        for topic in sorted(self.topics):
            kind, _, ident = topic.partition(":")
            if kind != "team":
                continue
            try:
                view = await self.app.teams.team(ident, badges=False)
                if view.implicit and view.my_role == "none":   # a public folder's team we only read
                    self._unreadable.add(topic)
            except (errors.ReadNotAllowed, errors.NotFound):
                self._unreadable.add(topic)
            except errors.KbappError:
                pass

    async def _run(self) -> None:
        client = self._client or httpx.AsyncClient(timeout=httpx.Timeout(OPEN_TIMEOUT))
        try:
            while True:
                if self.machine.state is State.BACKOFF:
                    self._kick.clear()
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._kick.wait(), self.machine.wait())
                    if self.machine.wait() > 0:        # kicked early (resubscribe): go now
                        self.machine.retry_at = 0.0
                self._announce(self.machine.connecting())
                try:
                    immediate = await self._session(client)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - a bug must not end the reconnect loop
                    log.exception("push session")
                    immediate = False
                    if self.machine.state is State.ONLINE:
                        self._announce(self.machine.dropped())
                self._announce(self.machine.failed(immediate=immediate))
        finally:
            if self._client is None:
                await client.aclose()

    async def _session(self, client: httpx.AsyncClient) -> bool:
        """One connection, until it ends. True: reconnect at once (token expired, new topics)."""
        from httpx_ws import HTTPXWSException, WebSocketUpgradeError, aconnect_ws

        app = self.app
        try:
            self.topics = await self._topics()
            header = await app.api.read_tokens.header()
        except errors.KbappError as e:
            log.info("push: not connecting: %s", e)
            return False
        params = {"topics": ",".join(sorted(self.topics)), "batch": "1"}   # several hints a frame
        since = self.cursor()
        if since is not None:
            params["since"] = str(since)
        url = app.api.base_url + "/v1/push?" + str(httpx.QueryParams(params))
        self._close_now = asyncio.Event()
        try:
            async with aconnect_ws(url, client, headers={"Authorization": header},
                                   max_message_size_bytes=MAX_MESSAGE,
                                   keepalive_ping_interval_seconds=20.0,
                                   keepalive_ping_timeout_seconds=20.0) as ws:
                self._announce(self.machine.connected())
                try:
                    return await self._receive(ws)
                finally:
                    self._announce(self.machine.dropped())
        except WebSocketUpgradeError as e:
            status = e.response.status_code
            if status == 401:
                app.api.read_tokens.forget()
            elif status == 403:
                await self._drop_unreadable()     # removed from a team we still remember, say
            log.info("push: refused (%s)", status)
            return False
        except (HTTPXWSException, httpx.HTTPError, OSError, errors.KbappError) as e:
            log.info("push: connection ended: %s", e)
            return False
        finally:
            self._close_now = None

    async def _receive(self, ws) -> bool:
        from httpx_ws import WebSocketDisconnect

        closer = asyncio.ensure_future(self._close_now.wait())
        reader = None
        try:
            while True:
                reader = asyncio.ensure_future(ws.receive_json())
                # a read still pending when the session ends fails as the socket closes:
                # its error is retrieved here, not logged as "never retrieved"
                reader.add_done_callback(_quiet)
                done, _ = await asyncio.wait({reader, closer}, return_when=asyncio.FIRST_COMPLETED)
                if closer in done:
                    reader.cancel()
                    return True
                try:
                    raw = reader.result()
                except WebSocketDisconnect as e:
                    return e.code in (4001, 4013)   # token expired, fell behind: straight back
                except ValueError:
                    continue                        # not JSON: ignore
                for one in frames_of(raw):
                    await self._handle(parse_message(one, self.topics), subject_of(one))
        finally:
            closer.cancel()
            if reader is not None:
                reader.cancel()

    async def _handle(self, msg, subject: str = "") -> None:
        if msg is None:
            return
        what, cursor, topic, kind = msg
        if what == "hint":
            self.app.events.emit(PushHint(topic, kind, cursor, subject))
            if kind not in ("chat", "typing", "ek", "team", "read", "folder"):   # not a chain change: app.chat acts
                self._react(topic)
        elif what == "resync":
            self.app.events.emit(PushResync(cursor))
            for t in self.topics:
                self._react(t)
        self._heard(cursor)

    def _react(self, topic: str) -> None:
        """Reload what a hint names, once at a time per topic (a burst of hints is one reload)."""
        kind, _, ident = topic.partition(":")
        app = self.app
        if kind == "user" and ident == app.store.get("uid"):
            app.events.emit(DevicesChanged(app.store.get("username") or ""))
        elif kind == "team" and (topic not in self._reloading or self._reloading[topic].done()):
            async def reload():
                try:
                    await app.teams.team(ident, badges=False)   # TeamChanged if it moved; posts nothing
                except errors.KbappError as e:
                    log.info("push: reloading team %s: %s", ident, e)
            self._reloading[topic] = asyncio.get_running_loop().create_task(reload())


# -- kex: a one-channel listener for device provisioning --------------------------------------


class ChannelHints:
    """Wakes a provisioning wait when the mailbox channel gets a message. Anonymous (the
    channel id is the capability); if the push channel is down this simply never wakes,
    and the caller's slow poll carries on."""

    def __init__(self, base_url: str, channel: str):
        self.url = base_url.rstrip("/") + "/v1/push?topics=kex:" + channel
        self.event = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.connected = asyncio.Event()

    async def __aenter__(self) -> "ChannelHints":
        self._task = asyncio.get_running_loop().create_task(self._listen())
        return self

    async def __aexit__(self, *exc) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def wait(self, timeout: float) -> bool:
        """True if a hint came (or had come) within `timeout` seconds; clears it."""
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            self.event.clear()

    async def _listen(self) -> None:
        from httpx_ws import aconnect_ws

        backoff = Backoff()
        async with httpx.AsyncClient(timeout=httpx.Timeout(OPEN_TIMEOUT)) as client:
            while True:
                try:
                    async with aconnect_ws(self.url, client, max_message_size_bytes=MAX_MESSAGE) as ws:
                        self.connected.set()
                        backoff.reset()
                        while True:
                            msg = await ws.receive_json()
                            if isinstance(msg, dict) and msg.get("type") == "hint":
                                self.event.set()
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # noqa: BLE001 - the slow poll covers for us
                    log.debug("kex hints: %s", e)
                self.connected.clear()
                await asyncio.sleep(backoff.next())


def attach(app) -> Sync:
    """The App's Sync (one per App), created on first use."""
    sync = getattr(app, "sync", None)
    if sync is None:
        sync = app.sync = Sync(app)
    return sync


def _quiet(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()
