"""The local chat store: what this device verified and decrypted, and what it is sending.

Its own SQLite file in the profile (`chat.sqlite3`, 0600, on its own db thread:
kbapp/client/db), so a busy conversation never queues behind a write of trusted
identity or team state, and the decrypted history can be wiped or scrubbed without
touching the profile's trusted state. A profile made before chat existed simply
has no such file yet: the first open makes it at the current schema.

Tables: `conversations` (ids, names, the sync cursor, read marker, mute, the judge's
state between syncs), `messages` (the verified header fields, the decrypted body, a
status `ok`/`withheld`/`bad` and its error code: a bad message is kept, shown as bad,
and never applied), `outbox` (what this device is sending: pending -> sending ->
sent | failed), and the FTS5 index `messages_fts` of the text as it now reads
(edits applied, deleted ones gone). Every sync lands in one transaction.

Methods block a synchronous caller; `store.aio.<method>` is the coroutine form.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import fields, replace
from pathlib import Path

from sqlalchemy import delete, event, func, insert, literal_column, select, update

from ..db import Database
from .schema import (MIGRATIONS, SCHEMA_VERSION, ConvRow, MessageRow, OutboxRow, SearchHit,  # noqa: F401
                     _conv, _jsonable, _msg, _msg_values, _normal, _out, conversations, fts_query, indexed_text,
                     mention_marks, messages, meta, outbox)

HISTORY_TYPES = ("text", "attachment", "edit", "reaction")   # what an admin's delete_history removes (server/chat.py)


_MSG_COLS = tuple(_msg_values(MessageRow(conv_id="", msg_id=1, status="ok", type="text")))
_INSERT_SQL = f"INSERT INTO messages ({', '.join(_MSG_COLS)}) VALUES ({', '.join('?' * len(_MSG_COLS))})"


def _ids_of(conn, conv_id: str, msg_ids: list[int]) -> list[tuple[int, int]]:
    """[(msg_id, row id)] of the stored ones among `msg_ids` (plain SQL: compiling an IN of
    500 bound values cost SQLAlchemy more than the query)."""
    out = []
    for i in range(0, len(msg_ids), 500):
        part = msg_ids[i:i + 500]
        out += conn.exec_driver_sql("SELECT msg_id, id FROM messages WHERE conv_id = ? AND msg_id IN (%s)"
                                    % ",".join("?" * len(part)), (conv_id, *part)).all()
    return out


def on_db(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        return self.db.call(method, self, *args, **kwargs)
    return wrapper


class ChatStore:
    FILE = "chat.sqlite3"

    def __init__(self, path: Path, *, _open: bool = True, clock=time.time):
        self.path = Path(path)
        self.clock = clock
        self.db = Database(self.path, MIGRATIONS, name="chat store")
        self.aio = _Async(self)
        if _open:
            self.db.open_sync()
            self.db.call(self._relax)

    @classmethod
    async def open(cls, path: Path, *, clock=time.time) -> "ChatStore":
        store = cls(path, _open=False, clock=clock)
        await store.db.open()
        await store.db.run(store._relax)
        return store

    def _relax(self) -> None:
        """`synchronous=NORMAL` for this file (the profile's trusted store keeps FULL): in WAL
        mode a crash of the app loses nothing and the file is never corrupt; a power cut may
        undo the last syncs, which are fetched and judged again (rows, cursor and the judge's
        memory go back together, one transaction each). It saves an fsync per write: a
        sent message is about five writes."""
        event.listen(self.engine, "connect", _normal)
        self.engine.dispose()          # pooled connections were opened with FULL

    @property
    def engine(self):
        return self.db.engine

    def close(self) -> None:
        self.db.close()

    # -- conversations ---------------------------------------------------------------------

    @on_db
    def put_conv(self, conv: ConvRow) -> ConvRow:
        """Insert a conversation, or update its names and server hint (cursor, marks kept)."""
        with self.engine.begin() as conn:
            old = conn.execute(select(conversations).where(conversations.c.conv_id == conv.conv_id)).first()
            now = int(self.clock())
            if old is None:
                vals = {f.name: getattr(conv, f.name) for f in fields(ConvRow)}
                vals.update(muted=int(conv.muted), updated_at=now)
                conn.execute(insert(conversations).values(**vals))
            else:
                conn.execute(update(conversations).where(conversations.c.conv_id == conv.conv_id).values(
                    team_name=conv.team_name or old.team_name,
                    last_msg_id=max(old.last_msg_id, conv.last_msg_id), updated_at=now))
            return _conv(conn.execute(select(conversations).where(conversations.c.conv_id == conv.conv_id)).one())

    @on_db
    def conv(self, conv_id: str) -> ConvRow | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(conversations).where(conversations.c.conv_id == conv_id)).first()
        return None if r is None else _conv(r)

    @on_db
    def convs(self, team_id: str | None = None) -> list[ConvRow]:
        listed = [c for c in conversations.c if c.name != "judge_state"]     # a list needs no judge memory
        q = select(*listed).order_by(conversations.c.team_name, conversations.c.channel)
        if team_id is not None:
            q = q.where(conversations.c.team_id == team_id)
        with self.engine.connect() as conn:
            return [_conv(r) for r in conn.execute(q)]

    @on_db
    def set_conv(self, conv_id: str, **values) -> None:
        """Local marks and names: read_upto (only forward), muted, channel, topic, last_msg_id."""
        allowed = {"read_upto", "muted", "channel", "topic", "last_msg_id", "team_name"}
        if not set(values) <= allowed:
            raise ValueError(f"not a settable conversation field: {set(values) - allowed}")
        with self.engine.begin() as conn:
            old = conn.execute(select(conversations).where(conversations.c.conv_id == conv_id)).first()
            if old is None:
                return
            if "read_upto" in values:
                values["read_upto"] = max(old.read_upto, int(values["read_upto"]))
            if "last_msg_id" in values:
                values["last_msg_id"] = max(old.last_msg_id, int(values["last_msg_id"]))
            if "muted" in values:
                values["muted"] = int(bool(values["muted"]))
            conn.execute(update(conversations).where(conversations.c.conv_id == conv_id).values(**values))

    @on_db
    def unread_mentions(self, conv_id: str, me: str) -> int:
        """Unread messages of others that mention `me` (a uid) or the whole channel."""
        with self.engine.connect() as conn:
            upto = conn.execute(select(conversations.c.read_upto)
                                .where(conversations.c.conv_id == conv_id)).scalar() or 0
            return conn.execute(select(func.count()).select_from(messages).where(
                messages.c.conv_id == conv_id, messages.c.msg_id > upto, messages.c.status == "ok",
                messages.c.deleted_by.is_(None), messages.c.sender_uid != me,
                messages.c.mentions.like(f"% {me} %") | messages.c.mentions.like("% @channel %"))).scalar()

    @on_db
    def unread(self, conv_id: str, me: str) -> int:
        """Messages of others after the read marker that still show (local state only)."""
        with self.engine.connect() as conn:
            upto = conn.execute(select(conversations.c.read_upto)
                                .where(conversations.c.conv_id == conv_id)).scalar() or 0
            return conn.execute(select(func.count()).select_from(messages).where(
                messages.c.conv_id == conv_id, messages.c.msg_id > upto, messages.c.status == "ok",
                messages.c.type.in_(("text", "attachment")), messages.c.deleted_by.is_(None),
                messages.c.sender_uid != me)).scalar()

    # -- messages --------------------------------------------------------------------------

    @staticmethod
    def _history_cut(conn, conv_id: str, m: MessageRow) -> list[int]:
        """What a valid delete_history (an admin's, rule 6: everyone's content) or delete_mine
        (the sender's own content only) takes from the store: their text and body dropped."""
        q = select(messages.c.msg_id).where(
            messages.c.conv_id == conv_id, messages.c.msg_id <= int(m.body["upto"]),
            messages.c.type.in_(HISTORY_TYPES), messages.c.deleted_by.is_(None))
        if m.type == "delete_mine":
            q = q.where(messages.c.sender_uid == m.sender_uid)
        gone = [i for (i,) in conn.execute(q)]
        if gone:
            conn.execute(update(messages).where(messages.c.conv_id == conv_id, messages.c.msg_id.in_(gone))
                         .values(text=None, body=None, deleted_by=m.msg_id))
        return gone

    @on_db
    def commit_sync(self, conv_id: str, rows: list[MessageRow], *, cursor: int, judge_state: bytes | None,
                    covered: list[int] = (), channel: str | None = None, topic: str | None = None,
                    me: str = "") -> ConvRow | None:
        """One sync's verified rows, their effects (edits, deletes) and the new cursor, all or nothing;
        our sent outbox entries up to the cursor are settled too (`_settle_sent`; `me`: our uid).
        The row after.

        Effects are applied only for rows the reader rules passed (`ok`): they checked that an
        edit is the target's sender's and a delete the sender's or an admin's."""
        with self.engine.begin() as conn:
            touched: set[int] = {m.msg_id for m in rows}
            ids = [m.msg_id for m in rows]
            have = dict(_ids_of(conn, conv_id, ids))
            fresh = [_msg_values(m) for m in rows if m.msg_id not in have]
            if fresh:                    # prepared tuples: SQLAlchemy's per-row dict binding cost more than SQLite
                conn.exec_driver_sql(_INSERT_SQL, [tuple(v.values()) for v in fresh])
            for m in rows:
                if m.msg_id in have:
                    conn.execute(update(messages).where(messages.c.id == have[m.msg_id]).values(**_msg_values(m)))
            cut: set[int] = set()
            for m in rows:
                if m.status != "ok":
                    continue
                if m.type == "edit" and m.supersedes is not None and m.body is not None:
                    conn.execute(update(messages).where(
                        messages.c.conv_id == conv_id, messages.c.msg_id == m.supersedes,
                        messages.c.deleted_by.is_(None)).values(text=str(m.body.get("text", "")), edited=1))
                    touched.add(m.supersedes)
                if m.type == "delete" and m.deletes:
                    conn.execute(update(messages).where(
                        messages.c.conv_id == conv_id, messages.c.msg_id.in_(list(m.deletes))).values(
                        text=None, body=None, deleted_by=m.msg_id))
                    touched.update(m.deletes)
                if m.type in ("delete_history", "delete_mine") and m.body is not None:
                    cut.update(self._history_cut(conn, conv_id, m))
            touched.update(cut)
            if covered:      # withheld until now: a later valid edit or delete explains the missing body
                conn.execute(update(messages).where(messages.c.conv_id == conv_id, messages.c.status == "withheld",
                                                    messages.c.msg_id.in_(list(covered))).values(
                    status="ok", error_code=None, error=None))
                touched.update(covered)
            # rows inserted just now and touched by nothing else here are indexed as they are,
            # without reading them back (the rest: as stored, after the effects above)
            as_is = {m.msg_id: m for m in rows if m.msg_id not in have}
            for m in rows:
                if m.status == "ok" and (m.type == "edit" or m.type == "delete"):
                    as_is.pop(m.supersedes, None)
                    for t in m.deletes:
                        as_is.pop(t, None)
            for t in cut:
                as_is.pop(t, None)
            for t in covered:
                as_is.pop(t, None)
            self._reindex(conn, conv_id, touched, as_is)
            vals = {"cursor": cursor, "judge_state": judge_state, "updated_at": int(self.clock())}
            if channel is not None:
                vals["channel"] = channel
            if topic is not None:
                vals["topic"] = topic
            conn.execute(update(conversations).where(conversations.c.conv_id == conv_id).values(
                last_msg_id=func.max(conversations.c.last_msg_id, cursor), **vals))
            _settle_sent(conn, conv_id, cursor, me)
            r = conn.execute(select(conversations).where(conversations.c.conv_id == conv_id)).first()
            return None if r is None else _conv(r)

    @staticmethod
    def _reindex(conn, conv_id: str, msg_ids: set[int], as_is: dict | None = None) -> None:
        if not msg_ids:
            return
        as_is = as_is or {}
        ids = _ids_of(conn, conv_id, sorted(msg_ids))
        if not ids:
            return
        conn.exec_driver_sql("DELETE FROM messages_fts WHERE rowid IN (%s)" % ",".join("?" * len(ids)),
                             tuple(rowid for _, rowid in ids))
        index = [(rowid, t) for msg_id, rowid in ids if msg_id in as_is for t in [indexed_text(as_is[msg_id])] if t]
        rest = sorted(msg_id for msg_id, _ in ids if msg_id not in as_is)
        if rest:
            found = conn.execute(select(messages).where(messages.c.conv_id == conv_id,
                                                        messages.c.msg_id.in_(rest))).all()
            index += [(r.id, t) for r in found for t in [indexed_text(_msg(r))] if t]
        if index:
            conn.exec_driver_sql("INSERT INTO messages_fts(rowid, text) VALUES (?, ?)", index)

    @on_db
    def gaps(self, conv_id: str, upto: int) -> list[tuple[int, int]]:
        """Ranges of msg ids from 1 to `upto` with no stored row (the server dropped them)."""
        with self.engine.connect() as conn:
            have = conn.execute(select(func.count()).select_from(messages).where(
                messages.c.conv_id == conv_id, messages.c.msg_id <= upto)).scalar()
            if have == upto:           # msg ids are unique per conversation: none is missing
                return []
            rows = conn.exec_driver_sql(
                "SELECT msg_id, LAG(msg_id, 1, 0) OVER (ORDER BY msg_id) FROM messages "
                "WHERE conv_id = ? AND msg_id <= ?", (conv_id, int(upto))).all()
        out = [(prev + 1, cur - 1) for cur, prev in rows if cur - prev > 1]
        last = rows[-1][0] if rows else 0
        if last < upto:
            out.append((last + 1, upto))
        return out

    @on_db
    def messages(self, conv_id: str, *, after: int | None = None, before: int | None = None,
                 limit: int | None = None, thread: int | None = None) -> list[MessageRow]:
        """Stored rows in msg_id order (the newest `limit` of them with `before` or no bound)."""
        q = select(messages).where(messages.c.conv_id == conv_id)
        if after is not None:
            q = q.where(messages.c.msg_id > after)
        if before is not None:
            q = q.where(messages.c.msg_id < before)
        if thread is not None:
            q = q.where((messages.c.msg_id == thread) | (messages.c.thread_root == thread))
        newest_first = limit is not None and after is None
        q = q.order_by(messages.c.msg_id.desc() if newest_first else messages.c.msg_id)
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            rows = [_msg(r) for r in conn.execute(q)]
        return rows[::-1] if newest_first else rows

    @on_db
    def message(self, conv_id: str, msg_id: int) -> MessageRow | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(messages).where(messages.c.conv_id == conv_id,
                                                    messages.c.msg_id == msg_id)).first()
        return None if r is None else _msg(r)

    @on_db
    def heads(self, conv_id: str, *, limit: int = 10, window: int = 500) -> list[tuple[int, str]]:
        """[(msg_id, header_hash)] of the newest verified messages no stored message points at
        yet (what a new message's prev pointers name), at most `limit`, ascending."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(messages.c.msg_id, messages.c.header_hash, messages.c.prev, messages.c.status)
                                .where(messages.c.conv_id == conv_id)
                                .order_by(messages.c.msg_id.desc()).limit(window)).all()
        pointed = {p for r in rows for p in json.loads(r.prev)}
        heads = [(r.msg_id, r.header_hash) for r in rows
                 if r.status != "bad" and r.msg_id not in pointed and r.header_hash]
        return sorted(heads[:limit])

    @on_db
    def conv_and_heads(self, conv_id: str, *, heads: bool = True) -> tuple[ConvRow | None, list]:
        """The conversation and its heads (what sealing a message needs) in one hop."""
        return self.conv(conv_id), self.heads(conv_id) if heads else []

    @on_db
    def search(self, query: str, *, conv_id: str | None = None, limit: int = 50) -> list[SearchHit]:
        match = fts_query(query)
        if not match:
            return []
        sql = ("SELECT m.conv_id, m.msg_id, m.sender, m.text, m.ctime, "
               "snippet(messages_fts, 0, '[', ']', '…', 12) AS snip, m.type, m.body "
               "FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid WHERE messages_fts MATCH ?")
        params: list = [match]
        if conv_id is not None:
            sql += " AND m.conv_id = ?"
            params.append(conv_id)
        sql += " ORDER BY m.ctime DESC, m.msg_id DESC LIMIT ?"
        params.append(int(limit))
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(sql, tuple(params)).all()
        return [SearchHit(r.conv_id, r.msg_id, r.sender, r.text or "", r.snip, r.ctime) for r in rows]

    @on_db
    def indexed_rows(self) -> int:
        with self.engine.connect() as conn:
            return conn.exec_driver_sql("SELECT count(*) FROM messages_fts").scalar()

    # -- outbox ----------------------------------------------------------------------------

    @on_db
    def outbox_add(self, row: OutboxRow) -> OutboxRow:
        with self.engine.begin() as conn:
            conn.execute(insert(outbox).values(
                outbox_id=row.outbox_id, conv_id=row.conv_id, payload=json.dumps(_jsonable(row.payload)),
                sealed=None, state="pending", attempts=0, next_try=row.next_try, last_error=None, retryable=1,
                msg_id=None, created_at=row.created_at or int(self.clock())))
            return _out(conn.execute(select(outbox).where(outbox.c.outbox_id == row.outbox_id)).one())

    @on_db
    def outbox_claim_sealed(self, outbox_id: str, seal) -> tuple[OutboxRow, ConvRow] | None:
        """Claim a pending entry (`sending`, one attempt more) with its sealed post, when it is
        the oldest of its conversation not yet sent and none is in flight: (entry,
        conversation), in one hop for what was four (list, claim, read the heads, store the
        sealed post). `seal(entry, conv, heads)` (sending.seal_entry) runs here, between reading the
        heads and writing the entry, so no stored message slips in between; on this db
        thread nothing else of the store runs meanwhile. None, nothing written, otherwise
        (the caller flushes the conversation the usual way, in order)."""
        with self.engine.connect() as conn:
            e = conn.execute(select(outbox).where(outbox.c.outbox_id == outbox_id)).first()
            if e is None or e.state != "pending" or e.sealed is not None:
                return None
            first = conn.execute(select(outbox.c.outbox_id).where(
                outbox.c.conv_id == e.conv_id, outbox.c.state.in_(["pending", "sending"])).order_by(
                outbox.c.created_at, literal_column("outbox.rowid")).limit(1)).scalar()
            busy = conn.execute(select(outbox.c.outbox_id).where(
                outbox.c.conv_id == e.conv_id, outbox.c.state == "sending").limit(1)).first()
        conv = self.conv(e.conv_id)
        if first != outbox_id or busy is not None or conv is None:
            return None
        sealed = seal(_out(e), conv, self.heads(e.conv_id))
        with self.engine.begin() as conn:
            done = conn.execute(update(outbox).where(outbox.c.outbox_id == outbox_id, outbox.c.state == "pending")
                                .values(state="sending", attempts=e.attempts + 1, sealed=json.dumps(sealed)))
            if done.rowcount != 1:
                return None
            return _out(conn.execute(select(outbox).where(outbox.c.outbox_id == outbox_id)).one()), conv

    @on_db
    def outbox_get(self, outbox_id: str) -> OutboxRow | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(outbox).where(outbox.c.outbox_id == outbox_id)).first()
        return None if r is None else _out(r)

    @on_db
    def outbox_list(self, conv_id: str | None = None, *, states=("pending", "sending", "failed")) -> list[OutboxRow]:
        # insertion order (SQLite's rowid) within a second: several sends queued at once keep their order
        q = select(outbox).where(outbox.c.state.in_(list(states))).order_by(outbox.c.created_at,
                                                                            literal_column("outbox.rowid"))
        if conv_id is not None:
            q = q.where(outbox.c.conv_id == conv_id)
        with self.engine.connect() as conn:
            return [_out(r) for r in conn.execute(q)]

    @on_db
    def outbox_update(self, outbox_id: str, *, expect: tuple[str, ...], **values) -> OutboxRow | None:
        """Move an entry if it is still in one of the `expect` states (compare-and-set: two
        flushes never both send one entry); None if it was not."""
        if "sealed" in values and values["sealed"] is not None:
            values["sealed"] = json.dumps(values["sealed"])
        if "retryable" in values:
            values["retryable"] = int(bool(values["retryable"]))
        if "last_error" in values and values["last_error"]:
            values["last_error"] = str(values["last_error"])[:500]
        with self.engine.begin() as conn:
            done = conn.execute(update(outbox).where(outbox.c.outbox_id == outbox_id,
                                                     outbox.c.state.in_(list(expect))).values(**values))
            if done.rowcount != 1:
                return None
            return _out(conn.execute(select(outbox).where(outbox.c.outbox_id == outbox_id)).one())

    @on_db
    def outbox_renew(self, outbox_id: str, new_id: str, next_try: int) -> OutboxRow | None:
        """A failed entry the server acknowledged but did not deliver (`_settle_sent`) becomes a new
        entry: a new id, sealed again when sent. Resending its bytes would get the same answer (the
        server knows the id) for a msg_id our cursor has passed. None if it is not such an entry."""
        with self.engine.begin() as conn:
            old = conn.execute(select(outbox).where(outbox.c.outbox_id == outbox_id, outbox.c.state == "failed",
                                                    outbox.c.msg_id.is_not(None))).first()
            if old is None:
                return None
            conn.execute(insert(outbox).values(
                outbox_id=new_id, conv_id=old.conv_id, payload=old.payload, sealed=None, state="pending",
                attempts=0, next_try=next_try, last_error=None, retryable=1, msg_id=None, created_at=old.created_at))
            conn.execute(delete(outbox).where(outbox.c.outbox_id == outbox_id))
            return _out(conn.execute(select(outbox).where(outbox.c.outbox_id == new_id)).one())

    @on_db
    def outbox_drop_sent(self, conv_id: str, upto: int, me: str = "") -> None:
        """Sent entries up to `upto` settled (`_settle_sent`): stored ones go, the message row shows them."""
        with self.engine.begin() as conn:
            _settle_sent(conn, conv_id, upto, me)

    @on_db
    def drop_sent(self, conv_id: str, upto: int, me: str = "") -> ConvRow | None:
        """`outbox_drop_sent`, then the conversation's row: the end of a sync in one hop."""
        self.outbox_drop_sent(conv_id, upto, me)
        return self.conv(conv_id)

    @on_db
    def outbox_discard(self, outbox_id: str) -> bool:
        """Delete an unsent entry (pending or failed: never one being posted right now)."""
        with self.engine.begin() as conn:
            return conn.execute(delete(outbox).where(outbox.c.outbox_id == outbox_id,
                                                     outbox.c.state.in_(["pending", "failed"]))).rowcount == 1

    @on_db
    def msg_id_of_outbox(self, conv_id: str, outbox_id: str) -> int | None:
        """The stored message an outbox entry became (its entry is dropped once stored)."""
        with self.engine.connect() as conn:
            return conn.execute(select(messages.c.msg_id).where(messages.c.conv_id == conv_id,
                                                                messages.c.outbox_id == outbox_id)
                                .order_by(messages.c.msg_id)).scalar()

    # -- local values ----------------------------------------------------------------------

    @on_db
    def meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()

    @on_db
    def set_meta(self, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(meta).where(meta.c.key == key))
            conn.execute(insert(meta).values(key=key, value=value))

    # -- scrubbing -------------------------------------------------------------------------

    @on_db
    def forget_conv(self, conv_id: str) -> None:
        """Drop a conversation's local history (left the team, or the user asked)."""
        with self.engine.begin() as conn:
            ids = [r.id for r in conn.execute(select(messages.c.id).where(messages.c.conv_id == conv_id))]
            for i in ids:
                conn.exec_driver_sql("DELETE FROM messages_fts WHERE rowid = ?", (i,))
            conn.execute(delete(messages).where(messages.c.conv_id == conv_id))
            conn.execute(delete(outbox).where(outbox.c.conv_id == conv_id))
            conn.execute(delete(conversations).where(conversations.c.conv_id == conv_id))


class _Async:
    """`ChatStore` methods as coroutines run on its db thread."""

    def __init__(self, store: ChatStore):
        self._store = store

    def __getattr__(self, name: str):
        method = getattr(self._store, name)
        if name.startswith("_") or not callable(method) or name in ("close", "open"):
            raise AttributeError(name)
        db = self._store.db

        async def run(*args, **kwargs):
            return await db.run(method, *args, **kwargs)
        run.__name__ = name
        return run


__all__ = ["ChatStore", "ConvRow", "MessageRow", "OutboxRow", "SearchHit", "replace", "fts_query", "mention_marks",
           "SCHEMA_VERSION", "MIGRATIONS"]


NOT_DELIVERED = ("the server answered that it stored this as #{n}, but no message of yours that passed the "
                 "checks is there: it was not delivered. Retry sends it again, as a new message.")


def _settle_sent(conn, conv_id: str, upto: int, me: str) -> None:
    """Our sent entries the server placed at or below the cursor: those whose message is stored
    (its signed header carries the entry's id; ours when `me` is given) go, the row shows them.
    The others were acknowledged and then not served (a server that drops a message after its
    answer, or serves another in its place): they become failed, with Retry, never silently gone."""
    left = conn.execute(select(outbox.c.outbox_id, outbox.c.msg_id).where(
        outbox.c.conv_id == conv_id, outbox.c.state == "sent", outbox.c.msg_id <= upto)).all()
    if not left:
        return
    ids = [r.outbox_id for r in left]
    q = select(messages.c.outbox_id).where(messages.c.conv_id == conv_id, messages.c.outbox_id.in_(ids))
    if me:
        q = q.where(messages.c.sender_uid == me)
    stored = set(conn.execute(q).scalars())
    if stored:
        conn.execute(delete(outbox).where(outbox.c.outbox_id.in_(list(stored))))
    for r in left:
        if r.outbox_id not in stored:
            conn.execute(update(outbox).where(outbox.c.outbox_id == r.outbox_id, outbox.c.state == "sent").values(
                state="failed", retryable=1, last_error=NOT_DELIVERED.format(n=r.msg_id)))

