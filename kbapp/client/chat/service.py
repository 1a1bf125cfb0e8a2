"""`app.chat`: conversations, messages, channels, search and export, on the account context.

Reads come from the local store (store.py) and never wait on the network: `read()` is
a local fold, `sync()` is what fetches, verifies (syncing.py) and stores. Writes go
through the outbox (outbox.py): written down first, shown as pending, posted, then
fetched back and verified like anyone else's message. Push hints (`team:<id>`, kind
`chat`) wake a sync of that team's conversations; a lost hint costs latency only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from kbapp.core import errors
from kbapp.core.chat import body as chat_body
from kbapp.core.chat import ids
from kbapp.core.chat.ephemeral import parse_lifetime
from kbapp.core.chat.judge import CONTENT                # what threads hang under and reactions go on
from kbapp.core.teams import Role
from kbapp.core.uid import uid_for

from . import convs as names
from .models import ChatOutboxChanged, ConvTimeline, ConvView, SearchResult, SendResult
from . import ephemeral
from .outbox import NOT_CLAIMED, Outbox, is_retryable
from .permissions import check_may_post, explain_not_found, named_refusals
from .sending import post_entry, send_now
from .store import ChatStore, ConvRow
from .syncing import SyncMixin
from .views import export_json, export_text, fold

MAX_READ = 1_000_000                       # messages one read may ask for


def _names_channel(channel: str, row: ConvRow) -> bool:
    """`TEAM#<32 hex>` names a channel by its conversation id and nothing else; any other
    word by its signed name (a member who named a channel like another's id takes nothing)."""
    return row.conv_id == channel if names._HEX32.fullmatch(channel) else row.channel == channel


def message_id(v, what: str = "message id") -> int:
    """A message id the user or a bot gave: an int in 1..2^53-1 (a string, a float or a huge
    number is their mistake, refused before any lookup)."""
    if type(v) is not int or not 1 <= v <= chat_body.MAX_MSG_ID:
        raise errors.InvalidChatInput(f"{what} is a message number (1..{chat_body.MAX_MSG_ID}), not {str(v)[:30]!r}")
    return v

log = logging.getLogger(__name__)
MENTION_RE = re.compile(r"(?<![\w@])@([a-z0-9_]{1,32})\b")


class ChatService(SyncMixin):
    def __init__(self, ctx, teams):
        self.ctx, self.teams = ctx, teams
        self._store: ChatStore | None = None
        self._open_lock = asyncio.Lock()
        self.outbox: Outbox | None = None
        self._syncing: dict[str, asyncio.Task] = {}
        self._listening = False
        self._known: set = set()
        self._teams_cache: dict = {}      # team id -> (loaded, keys, when): syncing.team_for_chat
        self.photos = None                # the app's PhotoService: chat images go to the photo library

    # -- life cycle ------------------------------------------------------------------------

    @property
    def store(self) -> ChatStore:
        if self._store is None:
            raise errors.DatabaseClosed("the chat store is not open: await app.chat.open() first")
        return self._store

    async def open(self) -> "ChatService":
        """Open the profile's chat store (made on first use) and its outbox; idempotent."""
        async with self._open_lock:
            if self._store is None:
                self._store = await ChatStore.open(self.ctx.home / ChatStore.FILE, clock=self.ctx.clock)
                self.outbox = Outbox(self._store, self._send_entry, clock=self.ctx.clock)
                self._listen()
                from . import hints
                hints.listen(self)                   # `ek` and `team` push hints (hints.py)
                ephemeral.of(self).start_sweeper()   # exploded messages leave the store on time
                if self.ctx.store.get("uid") and await self._store.aio.outbox_list(states=("pending", "sending")):
                    self.outbox.start()          # what an earlier session left: sent in the background
        return self

    async def close(self) -> None:
        if self.outbox is not None:
            await self.outbox.stop()
        for t in list(self._syncing.values()):
            t.cancel()
        eph = self.__dict__.get("_ephemeral")
        if eph is not None:
            await eph.close()                    # ephemeral.py's key store
        store, self._store = self._store, None
        if store is not None:
            await asyncio.get_running_loop().run_in_executor(None, store.close)

    async def _send_entry(self, entry) -> int:
        self.ctx.events.emit(ChatOutboxChanged(entry.conv_id, entry.outbox_id, "sending"))
        return await post_entry(self, entry)

    # -- conversations ---------------------------------------------------------------------

    async def _view(self, conv: ConvRow) -> ConvView:
        st = self.store.aio
        me = self.ctx.store.get("uid") or ""
        entries = await st.outbox_list(conv.conv_id)
        return ConvView(name=conv.name, conv_id=conv.conv_id, team_id=conv.team_id, kind=conv.kind,
                        channel=conv.channel, topic=conv.topic, unread=await st.unread(conv.conv_id, me),
                        muted=conv.muted, last_msg_id=max(conv.last_msg_id, conv.cursor), read_upto=conv.read_upto,
                        pending=sum(e.state in ("pending", "sending") for e in entries),
                        failed=sum(e.state == "failed" for e in entries),
                        mentions=await st.unread_mentions(conv.conv_id, me))

    async def conversations(self, *, sync: bool = False) -> list[ConvView]:
        """Every conversation this device knows; with `sync`, ask the server's inbox first and
        fetch what changed."""
        await self.open()
        if sync:
            await self._flush_quietly()
            await self.sync_inbox()
        return [await self._view(c) for c in await self.store.aio.convs()]

    async def _flush_quietly(self, conv_id: str | None = None) -> None:
        """Send what waits in the outbox (due or not) before fetching; a failure stays in the entry."""
        try:
            await self.outbox.flush(conv_id, force=True)
        except errors.KbappError as e:
            log.info("chat: outbox: %s", e)

    async def _local(self, name: names.ConvName) -> ConvRow | None:
        for c in await self.store.aio.convs():
            if c.kind != name.kind:
                continue
            if name.kind == "implicit" and c.team_name == name.team:
                return c
            if name.kind != "team" or c.team_name != name.team:
                continue
            general = c.conv_id == names.general_ids(c.team_id)[0]
            if general if name.channel == names.GENERAL else _names_channel(name.channel, c) and not general:
                return c
        return None

    async def conv(self, conv: str, *, create: bool = False, network: bool = True) -> ConvRow:
        """The conversation a name (or a conv id) means: the local store first, then the
        verified team (an implicit team is made with `create`)."""
        await self.open()
        if isinstance(conv, str) and names._HEX32.match(conv.strip().lower()):
            row = await self.store.aio.conv(conv.strip().lower())
            if row is None:
                raise errors.NotFound(f"no conversation {conv} on this device")
            return row
        name = names.parse_conv_name(conv)
        row = await self._local(name)
        if row is not None or not network:
            if row is None:
                raise errors.NotFound(f"no conversation {name} on this device yet")
            return row
        with named_refusals(self._me(), name.team):
            return await self._conv_from_team(name, create)

    async def _conv_from_team(self, name: names.ConvName, create: bool) -> ConvRow:
        if name.kind == "implicit":
            view = await (self.teams.implicit_team(name.team) if create else self._implicit_existing(name.team))
            return await self._put_general(view.team_id, "implicit", view.name)
        view = await self.teams.team(name.team, badges=False)
        if name.channel == names.GENERAL:
            return await self._put_general(view.team_id, "team", view.name)
        row = await self._find_channel(view.team_id, view.name, name.channel)
        if row is None:
            raise errors.NotFound(f"no channel #{name.channel} in {view.name} (kbapp chat channel create)")
        return row

    async def _implicit_existing(self, name: str):
        """Reading: the implicit team must exist (no team is made just to look)."""
        team_id, _ = await self.teams._team_ref(name)
        return await self.teams.team(team_id, badges=False)

    async def _put_general(self, team_id: str, kind: str, team_name: str) -> ConvRow:
        conv_id, topic_id = names.general_ids(team_id)
        return await self.store.aio.put_conv(ConvRow(conv_id=conv_id, team_id=team_id, topic_type=ids.TOPIC_TYPE_CHAT,
                                                     topic_id=topic_id, kind=kind, team_name=team_name))

    async def _find_channel(self, team_id: str, team_name: str, channel: str) -> ConvRow | None:
        """A channel by the name its signed metadata gives it (the server's list is a hint)."""
        found = []
        for row in await self.sync_channels(team_id, team_name):
            if _names_channel(channel, row):
                found.append(row)
        if len(found) > 1:
            raise errors.Conflict(f"{len(found)} channels of {team_name} are named #{channel}: name one by its id "
                                  + ", ".join(f"{team_name}#{r.conv_id}" for r in found))
        return found[0] if found else None

    # -- reading ---------------------------------------------------------------------------

    async def read(self, conv: str, *, thread: int | None = None, after: int | None = None,
                   limit: int | None = None, sync: bool = False, mark_read: bool = False,
                   flat: bool = False) -> ConvTimeline:
        """The conversation as stored here (edits applied, problems listed, the outbox's entries
        at the end); with `sync`, fetch and verify what is new first. Thread replies show under
        their root (`thread=ROOT`), or inline with `flat`."""
        if thread is not None:
            message_id(thread, "thread")
        if after is not None and after != 0:       # after=0: from the first message
            message_id(after, "after")
        if limit is not None and (type(limit) is not int or not 1 <= limit <= MAX_READ):
            raise errors.InvalidChatInput(f"limit is a number of messages, 1..{MAX_READ}")
        row = await self.conv(conv, network=sync)
        await ephemeral.of(self).scrub()           # what exploded is gone before anything is shown
        if sync:
            await self._flush_quietly(row.conv_id)
            try:
                with named_refusals(self._me(), row.team_name):
                    row = await self.sync_conv(row)
            except errors.NotFound as e:
                await explain_not_found(self, row, self._me(), e)
        st = self.store.aio
        # the outbox before the rows: a sync committing in between (rows stored, their entries
        # dropped, one transaction) then leaves an entry we skip as stored, never a message
        # (or our edit) missing from both reads. Sent entries too: posted, not yet stored by a
        # sync, they still read as sent (a message) and as we edited it (an edit), not as before
        outbox = await st.outbox_list(row.conv_id, states=("pending", "sending", "sent", "failed"))
        rows = await st.messages(row.conv_id, after=after, limit=limit)
        if thread is not None:
            root = await st.message(row.conv_id, thread)
            if root is None:
                raise errors.NotFound(f"no message #{thread} in {row.name}")
            rows = await st.messages(row.conv_id, thread=root.thread_root or thread)
            thread = root.thread_root or thread
        gaps = await st.gaps(row.conv_id, row.cursor) if after is None else []
        if mark_read and row.cursor:
            await st.set_conv(row.conv_id, read_upto=row.cursor)
            row = await st.conv(row.conv_id)
        return fold(await self._view(row), rows, outbox,
                    me=self.ctx.store.get("username") or "", thread=thread, gaps=gaps, flat=flat)

    async def mark_read(self, conv: str, upto: int | None = None) -> ConvView:
        row = await self.conv(conv, network=False)
        await self.store.aio.set_conv(row.conv_id, read_upto=row.cursor if upto is None else upto)
        return await self._view(await self.store.aio.conv(row.conv_id))

    async def mute(self, conv: str, muted: bool = True) -> ConvView:
        row = await self.conv(conv, network=False)
        await self.store.aio.set_conv(row.conv_id, muted=muted)
        return await self._view(await self.store.aio.conv(row.conv_id))

    async def search(self, query: str, conv: str | None = None, *, limit: int = 50) -> list[SearchResult]:
        """Full-text search over this device's decrypted history (never the server)."""
        await self.open()
        row = await self.conv(conv, network=False) if conv else None
        hits = await self.store.aio.search(query, conv_id=row.conv_id if row else None, limit=limit)
        rows = {c.conv_id: c for c in await self.store.aio.convs()}
        return [SearchResult(rows[h.conv_id].name if h.conv_id in rows else h.conv_id, h.conv_id, h.msg_id,
                             h.sender, h.text, h.snippet, h.ctime) for h in hits]

    async def export(self, conv: str, fmt: str = "json", *, sync: bool = False) -> str:
        if fmt not in ("json", "text"):
            raise errors.InvalidChatInput(f"export format is json or text, not {fmt!r}")
        view = await self.read(conv, sync=sync)
        return export_json(view) if fmt == "json" else export_text(view)

    # -- writing ---------------------------------------------------------------------------

    def _body(self, kind: str, **fields) -> dict:
        """A body the user's input makes; their mistake (too long, empty) is not a lie."""
        try:
            return chat_body.make_body(kind, **fields)
        except errors.BadChatMessage as e:
            raise errors.InvalidChatInput(str(e)) from None

    def _mentions(self, row: ConvRow, text: str) -> tuple[list[str], bool]:
        """The members `@name`s in `text` name (uids, signed in the body; a uid is the hash of
        the name, so no lookup), and whether it says @channel or @here."""
        st = self.teams._team_states().get(row.team_id)
        words = set(MENTION_RE.findall(text.lower())) if isinstance(text, str) else set()
        uids = sorted({uid_for(w) for w in words} & set(st.members)) if st is not None else []
        return uids[:chat_body.MAX_MENTIONS], bool(words & {"channel", "here"})

    async def _may_post(self, row: ConvRow) -> None:
        """Refuse at once (PostNotAllowed, nothing in the outbox) what the verified team state
        says we may not post: a reader, a removed member. With no state loaded yet it is loaded
        now; offline, the outbox's own load decides when the server is back."""
        st = self.teams._team_states().get(row.team_id)
        if st is None:
            try:
                with named_refusals(self._me(), row.team_name):
                    st = (await self.team_for_chat(row.team_id))[0].state
            except errors.KbappError as e:
                if not is_retryable(e):
                    raise
                return
        check_may_post(st, self.ctx.uid, need=Role.WRITER)

    def _me(self) -> str:
        return self.ctx.store.get("username") or "you"

    async def _enqueue(self, row: ConvRow, body: dict, *, supersedes=None, deletes=(), reply_to=None,
                       thread_root=None, wait: bool = True, exploding: int | None = None,
                       blobs: list[str] | None = None) -> SendResult:
        await self._may_post(row)
        outbox_id = self.ctx.rng(16).hex()
        payload = {"body": body, "supersedes": supersedes, "deletes": list(deletes), "reply_to": reply_to,
                   "thread_root": thread_root, "compose_time": int(self.ctx.clock())}
        if exploding is not None:
            payload["exploding"] = exploding      # seconds: sealed under a team EK (ephemeral.py)
        if blobs:
            payload["blobs"] = sorted(set(blobs))    # the server deletes them with the body (sending.py)
        await self.outbox.add(row.conv_id, outbox_id, payload)
        self.ctx.events.emit(ChatOutboxChanged(row.conv_id, outbox_id, "pending"))
        if not wait:
            self.outbox.start()
            return SendResult(row.name, outbox_id, "pending", None)
        if exploding is None and not blobs:
            entry = await send_now(self, row, outbox_id)     # one store hop before the post
            if entry is not NOT_CLAIMED:
                if entry is None:                            # it left `sending` meanwhile: as stored now
                    entry = await self.store.aio.outbox_get(outbox_id)
                return await self._finished(row, outbox_id, entry)
        return await self._flush_one(row, outbox_id)

    async def _flush_one(self, row: ConvRow, outbox_id: str) -> SendResult:
        done = [e for e in await self.outbox.flush(row.conv_id) if e.outbox_id == outbox_id]
        entry = done[0] if done else await self.store.aio.outbox_get(outbox_id)
        return await self._finished(row, outbox_id, entry)

    async def _finished(self, row: ConvRow, outbox_id: str, entry) -> SendResult:
        """How a send ended, told as events; a sent one stored (sync_conv) before we answer."""
        if entry is None:                        # another send's flush posted it and its sync stored it
            msg_id = await self.store.aio.msg_id_of_outbox(row.conv_id, outbox_id)
            if msg_id is None:
                raise errors.NotFound(f"outbox entry {outbox_id} was discarded")
            self.ctx.events.emit(ChatOutboxChanged(row.conv_id, outbox_id, "sent"))
            return SendResult(row.name, outbox_id, "sent", msg_id)
        if entry.state == "sent":
            try:
                posted = self.__dict__.get("_posted", {}).pop(outbox_id, None)       # sending.own_wire
                await self.sync_conv(row, hinted=entry.msg_id or 0, posted=posted)
            except errors.KbappError as e:       # sent is sent; the next sync stores it
                log.info("chat: sync after send: %s", e)
        self.ctx.events.emit(ChatOutboxChanged(row.conv_id, outbox_id, entry.state))
        if entry.state == "pending":
            self.outbox.start()                  # retried in the background (backoff)
        return SendResult(row.name, outbox_id, entry.state, entry.msg_id, entry.last_error, entry.retryable)

    async def _target(self, row: ConvRow, msg_id: int, *, mine: bool):
        m = await self.store.aio.message(row.conv_id, message_id(msg_id))
        if m is None or m.status != "ok" or m.deleted_by is not None:
            raise errors.NotFound(f"no message #{msg_id} in {row.name}")
        if mine and m.sender_uid != self.ctx.uid:
            raise errors.Conflict(f"message #{msg_id} is {m.sender}'s: only its sender can do that")
        return m

    async def send(self, conv: str, text: str, *, reply_to: int | None = None, thread: int | None = None,
                   exploding: int | None = None, wait: bool = True) -> SendResult:
        lifetime = None if exploding is None else parse_lifetime(exploding)     # 30 s .. 7 days
        self.ctx.require_login()
        row = await self.conv(conv, create=True)
        uids, channel = self._mentions(row, text)
        body = self._body("text", text=text, mentions=uids, channel_mention=channel)
        root = None
        if thread is not None:
            t = await self._target(row, thread, mine=False)
            root = t.thread_root or t.msg_id
            if t.thread_root is None and t.type not in CONTENT:    # every reader would refuse the reply
                raise errors.InvalidChatInput(f"message #{thread} is a {t.type}: a thread hangs under a text or a file")
        if reply_to is not None:
            await self._target(row, reply_to, mine=False)
        return await self._enqueue(row, body, reply_to=reply_to, thread_root=root, wait=wait, exploding=lifetime)

    async def edit(self, conv: str, msg_id: int, text: str) -> SendResult:
        row = await self.conv(conv)
        target = await self._target(row, msg_id, mine=True)
        if target.explodes_at is not None:
            raise errors.Conflict(f"message #{msg_id} explodes: it is not edited (the edit would outlive it)")
        if target.type != "text":
            raise errors.Conflict(f"message #{msg_id} is a {target.type}: only text is edited")
        return await self._enqueue(row, self._body("edit", target=target.msg_id, text=text),
                                   supersedes=target.msg_id)

    async def delete(self, conv: str, *msg_ids: int) -> SendResult:
        row = await self.conv(conv)
        if not msg_ids:
            raise errors.InvalidChatInput("name the messages to delete")
        for i in msg_ids:
            await self._target(row, i, mine=False)     # an admin may delete others' (readers check)
        targets = sorted(set(msg_ids))
        return await self._enqueue(row, self._body("delete", targets=targets), deletes=targets)

    async def delete_history(self, conv: str, upto: int) -> SendResult:
        """An admin of a team deletes its conversation's content up to #upto (texts, files,
        edits, reactions; names, pins and headlines stay): the server drops those bodies and
        blobs, and every reader's client checks the signed message is an admin's (rule 6)."""
        row = await self.conv(conv)
        if type(upto) is not int or not 1 <= upto <= row.cursor:
            raise errors.InvalidChatInput(f"delete history up to a message of {row.name} (1..{row.cursor})")
        loaded, _keys = await self.team_for_chat(row.team_id, fresh=True)
        if loaded.state.implicit:
            raise errors.PostNotAllowed(f"{row.name} has no admins: delete your own messages with delete_mine "
                                        "(`kbapp chat delete-history CONV --mine`)")
        if loaded.state.role_of(self.ctx.uid) < Role.ADMIN:
            raise errors.PostNotAllowed(f"only an admin of {loaded.state.name} deletes its history "
                                        "(delete your own with `kbapp chat delete-history CONV --mine`)")
        return await self._enqueue(row, self._body("delete_history", upto=upto))

    async def delete_mine(self, conv: str, upto: int | None = None) -> SendResult:
        """Any member (a DM's too) deletes their OWN content up to #upto (default: all of it so
        far) in one signed delete_mine: others' messages stay, and every reader's client lets
        it explain only the sender's own missing bodies (judge._reaches)."""
        row = await self.conv(conv)
        with contextlib.suppress(errors.NetworkError):
            row = await self.sync_conv(row)        # "all of it": what my other devices sent too
        upto = row.cursor if upto is None else upto
        if type(upto) is not int or not 1 <= upto <= row.cursor:
            raise errors.InvalidChatInput(f"delete your messages up to a message of {row.name} (1..{row.cursor})")
        return await self._enqueue(row, self._body("delete_mine", upto=upto))

    async def react(self, conv: str, msg_id: int, emoji: str, *, remove: bool = False) -> SendResult:
        row = await self.conv(conv)
        target = await self._target(row, msg_id, mine=False)
        if target.type not in CONTENT:                           # every reader would refuse the reaction
            raise errors.InvalidChatInput(f"message #{msg_id} is a {target.type}: reactions go on texts and files")
        if remove:
            mine = [m for m in await self.store.aio.messages(row.conv_id)
                    if m.type == "reaction" and m.status == "ok" and m.supersedes == target.msg_id
                    and m.sender_uid == self.ctx.uid and m.deleted_by is None and (m.body or {}).get("emoji") == emoji]
            if not mine:
                raise errors.NotFound(f"you did not react {emoji} to #{msg_id}")
            return await self._enqueue(row, self._body("delete", targets=[m.msg_id for m in mine]),
                                       deletes=[m.msg_id for m in mine])
        return await self._enqueue(row, self._body("reaction", target=target.msg_id, emoji=emoji),
                                   supersedes=target.msg_id)

    async def pin(self, conv: str, msg_id: int, *, remove: bool = False) -> SendResult:
        """Pin a message for everyone in the conversation (or take the pin back)."""
        row = await self.conv(conv)
        target = await self._target(row, msg_id, mine=False)
        if target.type not in ("text", "attachment"):
            raise errors.Conflict(f"message #{msg_id} is a {target.type}: only messages and files are pinned")
        return await self._enqueue(row, self._body("unpin" if remove else "pin", target=target.msg_id))

    async def set_headline(self, conv: str, text: str) -> SendResult:
        """The conversation's headline (shown above it; empty clears it)."""
        row = await self.conv(conv)
        return await self._enqueue(row, self._body("headline", text=text))

    async def retry(self, outbox_id: str) -> SendResult:
        await self.open()
        entry = await self.outbox.retry(outbox_id)
        return await self._flush_one(await self.store.aio.conv(entry.conv_id), entry.outbox_id)

    async def typing(self, conv: str) -> bool:
        """Tell the conversation's members we are typing (at most once per 3 s per conversation:
        False when this one was skipped). typing.py; they see a ChatTyping event."""
        from . import typing
        self.ctx.require_login()
        return await typing.of(self).send(conv)

    async def discard(self, outbox_id: str) -> None:
        """Delete an unsent (pending or failed) message from the outbox; one being posted right
        now, or already sent, is not (Conflict / NotFound)."""
        await self.open()
        entry = await self.store.aio.outbox_get(outbox_id)
        if entry is None or entry.state == "sent":
            raise errors.NotFound(f"no unsent outbox entry {outbox_id}")
        if not await self.store.aio.outbox_discard(outbox_id):
            raise errors.Conflict(f"outbox entry {outbox_id} is being sent: it cannot be discarded now")
        self.ctx.events.emit(ChatOutboxChanged(entry.conv_id, outbox_id, "discarded"))

    async def flush(self) -> list:
        """Send what the outbox holds (the app calls this when the server is back)."""
        await self.open()
        return await self.outbox.flush()

    # -- attachments (transfer.py: sign-then-encrypt chunks, the blob store) -------------------

    async def upload(self, conv: str, path, *, progress=None, exploding=None) -> SendResult:
        """Encrypt and upload a file, then send the message holding its one-time keys (the
        blob first: a message never names a blob the server does not have). `exploding`: the
        body, and so the blob keys, sealed under the team EK (docs/protocol.md); the server
        deletes the blobs with the body (the post names them: server/chat_blobs.py)."""
        from . import media, transfer
        lifetime = None if exploding is None else parse_lifetime(exploding)
        row = await self.conv(conv, create=True)
        await self._may_post(row)
        ref = await transfer.upload(self.ctx.api, path, rng=self.ctx.rng, progress=progress)
        pv = await media.of(self).preview(path, ref.mime)          # an image: its encrypted preview
        blobs = [ref.blob_id] + ([pv[0]["blob_id"]] if pv is not None else [])
        res = await self._enqueue(row, self._body("attachment", **ref.to_body(), preview=pv and pv[0]),
                                  exploding=lifetime, blobs=blobs)
        if pv is not None and res.state == "sent":
            await media.of(self).sent(row, res.msg_id, pv[1])
        return res

    async def download(self, conv: str, msg_id: int, dest, *, progress=None):
        """Fetch an attachment of a verified message, each chunk checked before it is written."""
        from . import transfer
        row = await self.conv(conv, network=False)
        m = await self._target(row, msg_id, mine=False)
        if m.type != "attachment" or not m.body:
            raise errors.Conflict(f"message #{msg_id} is a {m.type}, not a file")
        if not self.ctx.api:
            await self.ctx.connect()
        got = await transfer.download(self.ctx.api, transfer.AttachmentRef.from_body(m.body), dest,
                                      progress=progress)
        from . import media
        await media.of(self).downloaded(row, m, got)       # an image without a preview: indexed now
        return got

    # -- channels --------------------------------------------------------------------------

    async def create_channel(self, name: str, topic: str = "") -> ConvView:
        cn = names.parse_conv_name(name)
        if cn.kind != "team" or cn.channel == names.GENERAL or names._HEX32.match(cn.channel):
            raise errors.InvalidTeamName("name a new channel as TEAM#NAME (not #general)")
        await self.open()
        view = await self.teams.team(cn.team, badges=False)
        if await self._find_channel(view.team_id, view.name, cn.channel) is not None:
            raise errors.Conflict(f"{view.name}#{cn.channel} exists already")
        topic_id = ids.new_topic_id(self.ctx.rng(16))
        conv_id = ids.conv_id_hex(view.team_id, ids.TOPIC_TYPE_CHAT, topic_id)
        row = await self.store.aio.put_conv(ConvRow(conv_id=conv_id, team_id=view.team_id,
                                                    topic_type=ids.TOPIC_TYPE_CHAT, topic_id=topic_id.hex(),
                                                    kind="team", team_name=view.name, channel=cn.channel))
        body = self._body("metadata", name=cn.channel, topic=topic)
        res = await self._enqueue(row, body)
        if res.state != "sent":
            raise errors.NetworkError(f"the channel's first message is {res.state}: {res.error or ''}")
        return await self._view(await self.store.aio.conv(conv_id))

    async def rename_channel(self, name: str, new_name: str, *, topic: str | None = None) -> ConvView:
        row = await self.conv(name)
        if row.kind != "team" or row.channel == names.GENERAL and row.conv_id == names.general_ids(row.team_id)[0]:
            raise errors.Conflict("#general and direct conversations keep their names")
        new = names.check_channel_name(new_name)
        kept = " ".join(row.topic.split()) if topic is None else topic      # an older multi-line topic: one line now
        await self._enqueue(row, self._body("metadata", name=new, topic=kept))
        return await self._view(await self.store.aio.conv(row.conv_id))

    async def join_channel(self, name: str) -> ConvView:
        row = await self.conv(name)
        await self._enqueue(row, self._body("join"))
        return await self._view(await self.store.aio.conv(row.conv_id))

    async def leave_channel(self, name: str) -> ConvView:
        row = await self.conv(name)
        await self._enqueue(row, self._body("leave"))
        return await self._view(await self.store.aio.conv(row.conv_id))
