"""Fetching, verifying and storing: the only way a message gets into the local store.

One conversation's sync, under its lock (`chat:<conv_id>`):
1. load the team (a full verified load: roles, key generations, the tail the log names)
   and open our chat keys of every generation we hold;
2. fetch pages after the stored cursor;
3. before judging: identify each sender's chain (their keys at a log size: `key_at`),
   check every checkpoint the headers name against our own log (`logview.roots_in_log`:
   a fork shows up here), and reload the team once if a header names a newer team seqno;
4. feed core/chat/judge.py in msg_id order, from the state it kept after the last sync;
5. store the verdicts (ok rows, and withheld / bad ones with their error code), the
   effects of valid edits and deletes, the judge's state and the cursor in ONE transaction.

A refused message changes nothing it names: only `ok` rows are applied. A sync that
fails half-way (network, a fork) stores nothing of that page.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from kbapp.core import errors
from kbapp.core.chat import seal as chat_seal
from kbapp.core.chat.judge import ConversationJudge
from kbapp.core.chat.state import BAD, JudgeState, Verdict
from kbapp.core.encoding import unpack

from ..team_loading import _current_implicit_name
from . import convs as names
from . import ephemeral, media
from .models import ChatMessagesChanged, ConvView
from .store import ConvRow, MessageRow, mention_marks

log = logging.getLogger(__name__)

PAGE = 500               # the server's largest page; smaller when a page of big messages is over the answer cap
MAX_STATE = 64 << 20
TEAM_TTL = 30.0          # seconds a verified team load serves chat before it is loaded again
INBOX_KEY = "inbox.vers"


def _senders(judge: ConversationJudge, wires: list) -> dict[str, tuple[set, int]]:
    """uid -> (device kids, largest checkpoint size) named by the headers that open: whose
    chains to have before judging, and how recent they must be."""
    out: dict[str, tuple[set, int]] = {}
    for w in wires:
        h = judge.opened(w)                 # opened and checked once per sync: feed() reuses it
        if h is None:
            continue
        kids, size = out.get(h.uid, (set(), 0))
        kids.add(h.kid)
        out[h.uid] = (kids, max(size, h.checkpoint[0]))
    return out


_OPENERS = ThreadPoolExecutor(2, thread_name_prefix="kbapp-chat-open")
PARALLEL_FROM = 32       # a page this long has its headers opened on two threads


async def _open_headers(judge: ConversationJudge, wires: list) -> None:
    """Open and check a long page's headers on two worker threads before judging: the
    Ed25519 check and the secretbox (most of the work) release the GIL, so a second core
    halves them. judge.opened() keeps each answer for feed() (a pure function of key and
    bytes: the same checks, run earlier); nothing is judged here."""
    if len(wires) < PARALLEL_FROM:
        return
    loop, half = asyncio.get_running_loop(), len(wires) // 2
    await asyncio.gather(*(loop.run_in_executor(_OPENERS, _open_all, judge, part)
                           for part in (wires[:half], wires[half:])))


def _open_all(judge: ConversationJudge, wires: list) -> None:
    for w in wires:
        judge.opened(w)


def _stale(user, kids: set, size: int) -> bool:
    """A cached chain cannot judge these messages: it lacks one of their device keys, or the
    log they name is longer than the one it was verified against (a revocation may be there)."""
    if user is None:
        return True
    live = {k.hex() if isinstance(k, (bytes, bytearray)) else str(k) for k in user.state.sibkeys}
    return not kids <= live or size > user.checkpoint.size


def _row(conv_id: str, wire: dict, v: Verdict, users: dict) -> MessageRow:
    ctime = wire.get("ctime") if isinstance(wire, dict) and type(wire.get("ctime")) is int else 0
    if v.status == BAD or v.header is None:
        hints = wire.get("hints") if isinstance(wire, dict) and isinstance(wire.get("hints"), dict) else {}
        shown = hints.get("type") if isinstance(hints.get("type"), str) else "?"
        return MessageRow(conv_id=conv_id, msg_id=v.msg_id, status="bad", type=shown[:24], ctime=ctime,
                          error_code=v.code or "CHAT", error=str(v.error or "")[:1000])
    h, body = v.header, v.body
    user = users.get(h.uid)
    text = body.get("text") if body and h.type == "text" else None
    return MessageRow(
        conv_id=conv_id, msg_id=v.msg_id, status=v.status, type=h.type, sender_uid=h.uid, sender_kid=h.kid,
        sender=user.username if user is not None else h.uid[:12], ctime=ctime, compose_time=h.compose_time,
        key_gen=h.key_gen, header_hash=v.header_hash.hex(), prev=tuple(i for i, _ in h.prev),
        supersedes=h.supersedes, deletes=tuple(h.deletes), reply_to=h.reply_to, thread_root=h.thread_root,
        outbox_id=h.outbox_id.hex(), body=body, text=text, error_code=v.code,
        mentions=mention_marks(body.get("mentions") or (), bool(body.get("channel_mention")))
        if body and h.type == "text" else "",
        error=None if v.error is None else str(v.error)[:1000],
        explodes_at=None if h.ephemeral is None else h.compose_time + h.ephemeral["lifetime"])


def _names(conv: ConvRow, rows: list[MessageRow]) -> tuple[str | None, str | None]:
    """(channel, topic) from the newest valid metadata among `rows` (#general keeps its name)."""
    meta = [m for m in rows if m.status == "ok" and m.type == "metadata" and m.body]
    if not meta:
        return None, None
    newest = meta[-1].body
    general = conv.conv_id == names.general_ids(conv.team_id)[0]
    name = None if general or conv.kind != "team" or newest.get("name") == names.GENERAL else newest.get("name")
    return name, str(newest.get("topic") or "")


class SyncMixin:
    """ChatService's fetching side (service.py composes it)."""

    _known: set          # (size, root) checkpoints our log proved ours (this session)

    async def _checkpoints_known(self, unknown: set) -> None:
        """Add to `self._known` each (size, root) the log proves ours; the rest stay unknown
        (the judge marks those messages ForkedCheckpoint). A server that cannot prove its own
        log consistent raises ForkDetected here: the whole sync stops."""
        await self.ctx.logview.add_known(unknown, self._known)

    async def team_for_chat(self, team_id: str, *, min_seqno: int = 0, fresh: bool = False):
        """(loaded team, keys by generation): a verified load, reused for TEAM_TTL seconds unless
        a message names a newer team seqno or the team changed (a TeamChanged event drops it).
        Reusing is safe: the reader rules judge removals and revocations by the high-water marks
        the messages themselves carry, and a sender's stale seqno only makes its own message fail."""
        now = self.ctx.clock()
        hit = self._teams_cache.get(team_id)
        if (hit is None or fresh or now - hit[2] > TEAM_TTL or hit[0].state.seqno < min_seqno
                or self.teams._team_states().get(team_id) is not hit[0].state):
            loaded = await self.teams._load_ref(team_id)
            keys = await self.teams._team_keys(loaded.state)
            hit = self._teams_cache[team_id] = (loaded, keys, now)
        return hit[0], hit[1]

    async def _team_name(self, loaded) -> str:
        """The name people use now: for an implicit team, its members and pending assertions
        (`alice,bob@github` becomes `alice,bob` once bob proves it), from verified chains."""
        st = loaded.state
        if not st.implicit:
            return st.name
        for uid in st.members:
            if uid not in loaded.users:
                try:
                    await self.teams._user_by_uid(uid, None, loaded.users)
                except errors.NotFound:
                    pass
        return str(_current_implicit_name(st, loaded))

    def _judge_for(self, row: ConvRow, loaded, keys: dict) -> ConversationJudge:
        state = None
        if row.judge_state:
            # our own database's bytes, shape-checked by from_dict: the depth walk in Python (20 ms
            # at 10,000 messages, every sync of the conversation) is left to msgpack's own limit
            state = JudgeState.from_dict(unpack(row.judge_state, max_size=MAX_STATE, max_depth=None))
        trusted = self.ctx.logview.trusted()
        known = self._known
        if trusted is not None:
            known.add((trusted.size, trusted.root))
        return ConversationJudge(conv_id=row.conv_id, team=loaded.state,
                                 chat_keys={g: chat_seal.chat_key(k) for g, k in keys.items()},
                                 key_at=self.teams._user_key_at(loaded.users), known_checkpoints=known,
                                 now=int(self.ctx.clock()), state=state)

    async def sync_conv(self, conv: ConvRow | str, *, hinted: int = 0, posted: dict | None = None) -> ConvRow:
        """Fetch, verify and store what is new in one conversation; returns its row. `hinted`:
        a push hint's msg_id; the sync is skipped when the stored cursor has reached it.
        `posted`: our own message as the server took it (own_wire); see _sync_locked."""
        await self.open()
        row = conv if isinstance(conv, ConvRow) else await self.conv(conv)
        async with self.ctx.locks(f"chat:{row.conv_id}"):
            row = await self.store.aio.conv(row.conv_id) or row
            return await self._sync_locked(row, hinted, posted)

    async def _sync_locked(self, row: ConvRow, hinted: int = 0, posted: dict | None = None) -> ConvRow:
        """sync_conv's work, under the conversation's lock, from its row as stored now.

        `posted` is the message we just posted, as the server would serve it: our own sealed
        bytes under the msg_id and ctime its answer gave. When it directly follows what we hold,
        it is judged as the first page instead of fetching that page back (one round trip
        less): every rule runs on it as on a fetched one, and it is only a claim the server
        could have served us anyway. Anything else (someone posted in between) is fetched."""
        if hinted and row.cursor >= hinted:
            return row                                  # another sync stored it meanwhile
        loaded, keys = await self.team_for_chat(row.team_id)
        judge, me = self._judge_for(row, loaded, keys), self.ctx.store.get("uid") or ""
        cursor, stored, problems, limit = judge.state.last_msg_id, 0, 0, PAGE
        given = [posted] if posted is not None and posted.get("msg_id") == cursor + 1 else None
        fetched = False
        fresh: set[str] = set()
        got: list[MessageRow] = []
        name = await self._team_name(loaded)
        if name != row.team_name:                       # an implicit team renamed (assertion proven)
            await self.store.aio.set_conv(row.conv_id, team_name=name)
        while True:
            try:
                page = {"messages": given} if given else await self.ctx.api.chat_messages(
                    row.conv_id, after=cursor, limit=limit)
                fetched, given = fetched or not given, None
            except errors.TooLarge:
                if limit == 1:
                    raise
                limit = max(1, limit // 8)     # big bodies: smaller pages (one message always fits)
                continue
            wires = page["messages"][:limit]
            if not wires:
                break
            await _open_headers(judge, wires)
            seqno, unknown = judge.needs(wires)
            new_gen = any(isinstance(w, dict) and w.get("key_gen") not in keys for w in wires)
            if seqno > loaded.state.seqno or new_gen:
                loaded, keys = await self.team_for_chat(row.team_id, fresh=True)   # once: then UnknownTeamState
                judge.update_team(loaded.state, {g: chat_seal.chat_key(k) for g, k in keys.items()})
                judge.key_at = self.teams._user_key_at(loaded.users)
                seqno, unknown = judge.needs(wires)
            await self._checkpoints_known(unknown)
            for uid, (kids, size) in _senders(judge, wires).items():
                # a sender's chain as the log has it now when the cached one cannot judge:
                # a device added (or revoked) since is judged by the chain that has it
                if uid in fresh or not _stale(loaded.users.get(uid), kids, max(size, judge.state.hw_size)):
                    continue
                fresh.add(uid)
                old = loaded.users.pop(uid, None)
                try:
                    await self.teams._user_by_uid(uid, old.username if old is not None else None, loaded.users)
                except errors.NotFound:
                    pass                      # no such user: the judge finds the key not live
            await ephemeral.of(self).judge_keys(judge, row.team_id, wires, loaded)   # exploding: team EKs
            verdicts = judge.feed_all(wires)
            rows = [_row(row.conv_id, w, v, loaded.users) for w, v in zip(wires, verdicts) if v.msg_id]
            covered = [t for v in verdicts for t, _why in v.covers]
            channel, topic = _names(row, rows)
            new_cursor = max(cursor, judge.state.last_msg_id)
            done = await self.store.aio.commit_sync(row.conv_id, rows, cursor=new_cursor,
                                                    judge_state=judge.state.packed(), covered=covered,
                                                    channel=channel, topic=topic, me=me)
            stored += len(rows)
            got += [r for r in rows if r.type == "attachment"]
            problems += sum(r.status != "ok" for r in rows)
            if new_cursor <= cursor:
                break                         # a page that does not move on: stop here
            cursor = new_cursor
            if len(wires) < limit:
                break
        # our sent entries whose messages are stored now go (the last commit did it), and the row
        row = done if stored and done is not None else await self.store.aio.drop_sent(row.conv_id, cursor, me) or row
        if stored:      # told first: what follows is housekeeping (a view's read() scrubs first anyway)
            self.ctx.events.emit(ChatMessagesChanged(row.conv_id, row.name, row.cursor, problems))
        if fetched:        # (our own message alone: the next sync, or the sweeper, does the housekeeping)
            await ephemeral.of(self).housekeep()   # our device EK for today; what exploded leaves every local copy
        if stored:                             # images: previews to the photo library; deleted ones leave it
            await media.of(self).received(row, got)
            await media.of(self).sweep({row.conv_id})
        return row

    async def sync_inbox(self) -> list[ConvRow]:
        """The server's list of our conversations that changed (a hint: every id is
        recomputed, every team verified), then a sync of each one that moved."""
        await self.open()
        await ephemeral.of(self).housekeep()       # a device EK for today, before others box team EKs to it
        since = int(await self.store.aio.meta(INBOX_KEY) or 0)
        ans = await self.ctx.api.chat_inbox(since=since)
        if since and type(ans.get("vers")) is int and ans["vers"] < since:
            since = 0                              # the server's counter went back (restored?): ask for all
            ans = await self.ctx.api.chat_inbox(since=0)
        changed = []
        for item in ans["convs"][:1000]:
            team_id = item.get("team_id") if isinstance(item, dict) else None
            if not isinstance(team_id, str) or not names._HEX32.match(team_id):
                continue
            listed = names.listed_channel(team_id, item)
            if listed is None:
                continue
            row = await self._known_conv(team_id, *listed)
            if row is None:
                continue
            last = item.get("last_msg_id")
            if type(last) is int and last > row.cursor:
                await self.store.aio.set_conv(row.conv_id, last_msg_id=last)
                changed.append(row)
        for row in changed:
            try:
                await self.sync_conv(row)
            except (errors.ReadNotAllowed, errors.NotFound) as e:
                log.info("chat: %s: %s", row.name, e)
        if type(ans.get("vers")) is int and ans["vers"] >= since:
            await self.store.aio.set_meta(INBOX_KEY, str(ans["vers"]))
        return changed

    async def _known_conv(self, team_id: str, conv_id: str, topic_type: int, topic_id: str) -> ConvRow | None:
        row = await self.store.aio.conv(conv_id)
        if row is not None:
            return row
        try:
            view = await self.teams.team(team_id, badges=False)
        except (errors.ReadNotAllowed, errors.NotFound) as e:
            log.info("chat: team %s of conversation %s: %s", team_id, conv_id, e)
            return None
        general = conv_id == names.general_ids(team_id)[0]
        kind = "implicit" if view.implicit else "team"
        return await self.store.aio.put_conv(ConvRow(
            conv_id=conv_id, team_id=team_id, topic_type=topic_type, topic_id=topic_id, kind=kind,
            team_name=view.name, channel=names.GENERAL if general else conv_id))

    async def sync_channels(self, team_id: str, team_name: str) -> list[ConvRow]:
        """Every channel the server lists for a team (a member sees them without joining),
        each synced so its name comes from its signed metadata."""
        await self.open()
        out = []
        for item in (await self.ctx.api.team_channels(team_id))[:1000]:
            listed = names.listed_channel(team_id, item)
            if listed is None:
                continue
            row = await self._known_conv(team_id, *listed)
            if row is None:
                continue
            if row.cursor == 0 or (type(item.get("last_msg_id")) is int and item["last_msg_id"] > row.cursor):
                row = await self.sync_conv(row)
            out.append(row)
        return out

    async def channels(self, team: str) -> list[ConvView]:
        """A team's channels (`acme` or `acme#anything`), named by their signed metadata."""
        name = names.parse_conv_name(team)
        if name.kind != "team":
            raise errors.InvalidTeamName("channels belong to teams: name one, like acme")
        await self.open()
        view = await self.teams.team(name.team, badges=False)
        await self._put_general_row(view)
        await self.sync_channels(view.team_id, view.name)
        return [await self._view(r) for r in await self.store.aio.convs(view.team_id)]

    async def _put_general_row(self, view) -> None:
        conv_id, topic_id = names.general_ids(view.team_id)
        if await self.store.aio.conv(conv_id) is None:
            await self.store.aio.put_conv(ConvRow(conv_id=conv_id, team_id=view.team_id, topic_type=1,
                                                  topic_id=topic_id, kind="implicit" if view.implicit else "team",
                                                  team_name=view.name))

    # -- push hints ------------------------------------------------------------------------

    def _listen(self) -> None:
        """A `chat` hint on `team:<id>` wakes a sync of the conversation it names (or of the
        inbox: what changed, from our cursor); the push channel coming back online wakes the
        inbox's too, and the outbox."""
        if self._listening:
            return
        self._listening = True
        from ..events import TeamChanged
        from ..sync import ConnectionStateChanged, PushHint, PushResync

        def on_event(ev) -> None:
            if isinstance(ev, PushHint) and ev.kind == "chat" and ev.topic.startswith("team:"):
                self._wake_hinted(ev.topic.partition(":")[2], ev.subject)
            elif isinstance(ev, PushHint) and ev.kind == "typing" and ev.topic.startswith("team:"):
                self._heard_typing(ev.topic, ev.subject)
            elif isinstance(ev, TeamChanged):
                self._teams_cache.pop(ev.team_id, None)     # members or keys moved: load it again
            elif isinstance(ev, PushResync) or (isinstance(ev, ConnectionStateChanged) and ev.state == "online"):
                self._wake_team("*")                         # back online: catch up, send what waits
        self.ctx.events.on(on_event)

    def _heard_typing(self, topic: str, subject: str) -> None:
        """A typing hint becomes a ChatTyping (typing.py) if it names a member we know."""
        from . import typing

        async def run() -> None:
            try:
                await typing.of(self).heard(topic, subject)
            except errors.KbappError as e:
                log.info("chat: typing hint: %s", e)
        try:
            asyncio.get_running_loop().create_task(run())
        except RuntimeError:
            pass

    def _wake_hinted(self, team_id: str, subject: str) -> None:
        """A chat hint names its conversation and message (`<conv_id>:<msg_id>`, unverified):
        a conversation this device knows, of that team, is synced alone (one round trip, not
        the inbox's two). The subject only chooses what to fetch: a lying one costs a fetch
        that finds nothing, the inbox sync runs as before for anything else."""
        conv_id, _, msg = subject.partition(":")
        if not (names._HEX32.match(conv_id) and msg.isdigit() and len(msg) < 19):
            return self._wake_team(team_id)
        self._wake(f"conv:{conv_id}", lambda: self._sync_hinted(team_id, conv_id, int(msg)))

    async def _sync_hinted(self, team_id: str, conv_id: str, msg_id: int) -> None:
        await self.open()
        async with self.ctx.locks(f"chat:{conv_id}"):
            row = await self.store.aio.conv(conv_id)
            if row is not None and row.team_id == team_id:
                try:
                    return await self._sync_locked(row, msg_id)
                except (errors.ReadNotAllowed, errors.NotFound) as e:
                    return log.info("chat: %s: %s", row.name, e)
        await self.sync_inbox()                     # a conversation new to us: the inbox lists it

    def _wake_team(self, team_id: str) -> None:
        self._wake(team_id, self.sync_inbox)

    def _wake(self, key: str, sync) -> None:
        """One sync per team (or conversation) at a time; a hint that comes while it runs (the
        inbox may have been read before that message was posted) makes it run once more, never
        is lost."""
        again = self.__dict__.setdefault("_sync_again", set())
        latest = self.__dict__.setdefault("_sync_latest", {})
        latest[key] = sync       # the run once more is the newest hint's (its msg id: not skipped as
        task = self._syncing.get(key)          # already reached, as the first hint's would be)
        if task is not None and not task.done():
            again.add(key)
            return

        async def run() -> None:
            while True:
                again.discard(key)
                try:
                    await latest.pop(key, sync)()
                    if self.outbox is not None:
                        self.outbox.wake()
                except errors.KbappError as e:
                    log.info("chat: sync on a push hint (%s): %s", key, e)
                if key not in again:
                    return
        try:
            self._syncing[key] = asyncio.get_running_loop().create_task(run())
        except RuntimeError:
            pass                                  # no loop: nothing to wake
