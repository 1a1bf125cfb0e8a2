"""The Chat page's two list models: conversations, and one conversation's timeline.

Both hold what `app.chat` handed back (plain dataclasses read off the Qt thread) and
change in place: rows inserted, removed or updated by key, never a reset for a new
message, so the view keeps its scroll position and selection while messages arrive.
Every string in them came from other people: views paint it as plain text.
"""

from __future__ import annotations

import difflib
import time
from dataclasses import dataclass, field, replace
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QSize, Qt
from PySide6.QtGui import QColor, QFont

from ... import gcpolicy, theme
from ...list_models import ItemListModel
from ...models import ObjectRole

_Index = QModelIndex | QPersistentModelIndex


# -- conversations ------------------------------------------------------------------------


@dataclass(frozen=True)
class ConvItem:
    """A row of the conversation list: a group header (`conv` None) or a conversation."""

    key: str                       # "h:<group>" or the conv id
    group: str                     # "Direct messages" or the team's name
    conv: Any = None               # ConvView
    collapsed: bool = False        # headers only
    mentions: int = 0              # unread mentions of me (the notifier counts them)

    @property
    def header(self) -> bool:
        return self.conv is None

    me: str = ""

    @property
    def title(self) -> str:
        if self.conv is None:
            return self.group
        if self.conv.kind == "implicit":
            return dm_title(self.conv.name, self.me)
        return "#" + self.conv.channel


def dm_title(name: str, me: str) -> str:
    """`alice,bob` is "bob" to alice (a readers' part `#carol` stays as written)."""
    writers, hashmark, readers = name.partition("#")
    others = [n for n in writers.split(",") if n != me] or [me]
    return ", ".join(others) + (f" (readers: {readers})" if hashmark else "")


DMS = "Direct messages"


def conv_items(convs: list, *, collapsed: set[str] = frozenset(), needle: str = "",
               mentions: dict[str, int] | None = None, me: str = "") -> list[ConvItem]:
    """Grouped rows: direct messages first, then each team's channels (#general first)."""
    needle = needle.strip().lower()
    groups: dict[str, list] = {}
    for c in convs:
        if needle and needle not in c.name.lower():
            continue
        groups.setdefault(DMS if c.kind == "implicit" else c.name.partition("#")[0], []).append(c)
    out: list[ConvItem] = []
    order = ([DMS] if DMS in groups else []) + sorted(g for g in groups if g != DMS)
    for g in order:
        shut = g in collapsed and not needle
        out.append(ConvItem("h:" + g, g, None, shut))
        if shut:
            continue
        rows = sorted(groups[g], key=lambda c: (c.channel != "general", c.name) if g != DMS
                      else (-c.last_msg_id, c.name))
        out += [ConvItem(c.conv_id, g, c, mentions=(mentions or {}).get(c.conv_id, 0), me=me) for c in rows]
    return out


class KeyedListModel(QAbstractListModel):
    """Rows with a `key`; `set_items` moves from the old list to the new one by the smallest
    edit (rows inserted, removed, changed), never a reset once filled."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.items: list = []

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.items)

    def item(self, row: int):
        return self.items[row] if 0 <= row < len(self.items) else None

    def row_of(self, key: str) -> int:
        for i, it in enumerate(self.items):
            if it.key == key:
                return i
        return -1

    def set_items(self, new: list) -> None:
        old = self.items
        if not old or not new:
            if old or new:
                self.beginResetModel()
                self.items = list(new)
                self.endResetModel()
            return
        ok, nk = [i.key for i in old], [i.key for i in new]
        if nk[:len(ok)] == ok:                     # the common case: rows appended
            self._update(0, new[:len(old)])
            if len(new) > len(old):
                self.beginInsertRows(QModelIndex(), len(old), len(new) - 1)
                self.items = old + list(new[len(old):])
                self.endInsertRows()
            return
        try:                                       # a window sliding on: rows gone at the top
            k = ok.index(nk[0])
        except ValueError:
            k = -1
        if k > 0 and nk[:len(ok) - k] == ok[k:]:
            self.beginRemoveRows(QModelIndex(), 0, k - 1)
            del self.items[:k]
            self.endRemoveRows()
            return self.set_items(new)
        ops = difflib.SequenceMatcher(None, ok, nk, autojunk=False).get_opcodes()
        for tag, i1, i2, j1, j2 in reversed(ops):  # from the end: earlier indexes stay valid
            if tag == "equal":
                self._update(i1, new[j1:j2])
                continue
            if tag in ("delete", "replace"):
                self.beginRemoveRows(QModelIndex(), i1, i2 - 1)
                del self.items[i1:i2]
                self.endRemoveRows()
            if tag in ("insert", "replace"):
                self.beginInsertRows(QModelIndex(), i1, i1 + (j2 - j1) - 1)
                self.items[i1:i1] = new[j1:j2]
                self.endInsertRows()

    def _update(self, start: int, rows: list) -> None:
        for k, it in enumerate(rows):
            i = start + k
            if self.items[i] != it:
                self.items[i] = it
                idx = self.index(i)
                self.dataChanged.emit(idx, idx)


class ConvListModel(KeyedListModel):
    def data(self, index: _Index, role: int = Qt.DisplayRole):
        it = self.item(index.row()) if index.isValid() else None
        if it is None:
            return None
        if role == Qt.DisplayRole:
            if it.header:
                return it.group
            return it.title + (f" ({it.conv.unread})" if it.conv.unread else "")
        if role == Qt.ToolTipRole:
            from ...plain import plain_tip
            if it.header:
                return plain_tip(f"{it.group}: click to {'show' if it.collapsed else 'hide'}")
            c = it.conv
            return plain_tip(c.name + (f"\n{c.topic}" if c.topic else "") + ("\nmuted" if c.muted else ""))
        if role == ObjectRole:
            return it
        return None

    def flags(self, index: _Index):
        it = self.item(index.row()) if index.isValid() else None
        if it is None:
            return Qt.NoItemFlags
        return Qt.ItemIsEnabled | (Qt.NoItemFlags if it.header else Qt.ItemIsSelectable)


# -- timeline -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """A painted timeline row: a message (`msg`), or a problem line (gap) with `note`."""

    key: str
    msg: Any = None                # MessageView
    note: str = ""                 # a gap's words
    day: str = ""                  # a day separator above this row
    head: bool = True              # sender and time shown (first of a group)
    quote: str = ""                # "sender: text" of the message this one replies to
    badge: str = ""                # the sender's identity badge: verified | broken | ""
    mine: bool = False
    extra: tuple = field(default=())   # reserved for painted extras (progress)
    image: Any = None              # an image attachment's ImageInfo (images.py), once read

    @property
    def ok(self) -> bool:
        return self.msg is not None and self.msg.status == "ok"


GROUP_SECONDS = 5 * 60


def day_text(ts: int, now: float | None = None) -> str:
    t, today = time.localtime(ts), time.localtime(now or time.time())
    if t[:3] == today[:3]:
        return "Today"
    if time.localtime((now or time.time()) - 86400)[:3] == t[:3]:
        return "Yesterday"
    return time.strftime("%A, %d %B %Y", t)


class _Days:
    """day_text for messages in order: worked out once per local day, not per message (a
    reload of 200 messages asked localtime 400 times)."""

    def __init__(self, now: float):
        self.now = now
        self.lo = self.hi = 0
        self.last = ""

    def text(self, ts: int) -> str:
        if not self.lo <= ts < self.hi:
            t = time.localtime(ts)
            self.lo = int(time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1)))
            self.hi = int(time.mktime((t.tm_year, t.tm_mon, t.tm_mday + 1, 0, 0, 0, 0, 0, -1)))
            self.last = day_text(ts, self.now)
        return self.last


def build_lines(timeline, *, me: str, badges: dict[str, str] | None = None, in_thread: bool = False,
                now: float | None = None, images: dict | None = None) -> list[Line]:
    """From the engine's fold to painted rows: day separators, sender groups, reply quotes,
    inline images (`images`: msg id -> ImageInfo), and a line for each gap where its
    messages would be."""
    badges = badges or {}
    images = images or {}
    by_id = {m.msg_id: m for m in timeline.messages if m.msg_id is not None}
    gaps = sorted((p for p in timeline.problems if p.code == "CHAT_GAP"), key=lambda p: p.msg_id)
    out: list[Line] = []
    prev = None
    last_day = ""
    now = time.time() if now is None else now
    days = _Days(now)
    held = False                                 # an unsent message waits out its backoff: those after it wait too
    for m in timeline.messages:
        if m.msg_id is None and m.status == "pending":
            if m.error:
                held = True
            elif held:                           # the outbox posts in order (client/chat/outbox.py)
                m = replace(m, error="waiting for the message before it to go out")
        boom = getattr(m, "explodes_at", None)
        if boom is not None and boom <= now:
            continue                             # exploded: gone here even before the store scrubs it
        while gaps and m.msg_id is not None and gaps[0].msg_id < m.msg_id:
            g = gaps.pop(0)
            out.append(Line(f"g:{g.msg_id}", note=g.message))
            prev = None
        day = days.text(m.ctime)
        sep = day if day != last_day else ""
        last_day = day
        head = (prev is None or sep or prev.sender != m.sender or m.ctime - prev.ctime > GROUP_SECONDS
                or m.status != "ok" or prev.status != "ok" or m.reply_to is not None or boom is not None)
        quote = ""
        if m.reply_to is not None:
            t = by_id.get(m.reply_to)
            quote = f"{t.sender}: {t.text or ''}" if t is not None else f"message #{m.reply_to}"
        if in_thread and m.replies:
            m = replace(m, replies=0)            # the panel is the thread: no link to itself
        key = f"o:{m.outbox_id}" if m.outbox_id else f"m:{m.msg_id}"
        out.append(Line(key, m, day=sep, head=bool(head), quote=quote, badge=badges.get(m.sender, ""),
                        mine=bool(me) and m.sender == me,
                        image=images.get(m.msg_id) if m.type == "attachment" else None))
        prev = m
    for g in gaps:
        out.append(Line(f"g:{g.msg_id}", note=g.message))
    return out


def summary(line: Line) -> str:
    """One row as plain words (accessibility, tests, copy)."""
    if line.msg is None:
        return "gap: " + line.note
    m = line.msg
    if m.status == "withheld":
        return f"message #{m.msg_id} withheld by the server"
    if m.status == "bad":
        return f"message #{m.msg_id} refused ({m.error_code})"
    return f"{m.sender}: {m.text or ''}"


class TimelineModel(KeyedListModel):
    """One conversation (or one thread) as painted rows.

    History grows at the top: the page asks `wants_older()` when the view reaches the top
    and reloads with a bigger window (Qt's own fetchMore fires at the bottom, where a chat
    timeline is always, so it is not used for older pages).
    """

    PAGE = 200

    def __init__(self, parent=None):
        super().__init__(parent)
        self.conv_id: str | None = None
        self.thread: int | None = None
        self.limit = self.PAGE
        self.timeline = None
        self._settled = 0                        # rows held when what we loaded was last frozen

    def set_items(self, new: list) -> None:
        super().set_items(new)
        n = len(self.items)
        if n - self._settled >= gcpolicy.PER_SETTLE:      # a big load: kept out of full collections
            gcpolicy.settle_soon()
        if n - self._settled >= gcpolicy.PER_SETTLE or n < self._settled:
            self._settled = n

    def clear(self) -> None:
        self.timeline = None
        self.set_items([])

    def oldest_id(self) -> int | None:
        ids = [ln.msg.msg_id for ln in self.items if ln.msg is not None and ln.msg.msg_id is not None]
        return min(ids) if ids else None

    def wants_older(self) -> bool:
        """Stored history older than what is shown exists (msg ids start at 1 and have no holes)."""
        o = self.oldest_id()
        return self.thread is None and o is not None and o > 1

    def canFetchMore(self, parent: _Index = QModelIndex()) -> bool:
        return False

    def index_of_msg(self, msg_id: int) -> QModelIndex:
        for i, ln in enumerate(self.items):
            if ln.msg is not None and ln.msg.msg_id == msg_id:
                return self.index(i)
        return QModelIndex()

    def last_own_text(self):
        for ln in reversed(self.items):
            m = ln.msg
            if ln.mine and m is not None and m.status == "ok" and m.type == "text" and m.msg_id is not None:
                return m
        return None

    def data(self, index: _Index, role: int = Qt.DisplayRole):
        if role == ObjectRole:                   # the delegate asks this for every row, often
            return self.item(index.row()) if index.isValid() else None
        ln = self.item(index.row()) if index.isValid() else None
        if ln is None:
            return None
        if role == Qt.DisplayRole:
            return summary(ln)
        if role == Qt.ToolTipRole:
            from ...plain import plain_tip
            m = ln.msg
            if m is None:
                return plain_tip(ln.note)
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(m.ctime))
            tip = f"{m.sender} · {when}" + (f" · #{m.msg_id}" if m.msg_id else "")
            if m.error:
                tip += f"\n{m.error}"
            if ln.badge == "broken":
                tip += f"\n{m.sender}'s identity did not verify"
            return plain_tip(tip)
        if role == ObjectRole:
            return ln
        return None


class ConvListStyled(ConvListModel):
    """Headers small and bold, unread conversations bold, muted ones faint."""

    def data(self, index, role=Qt.DisplayRole):
        it = self.item(index.row()) if index.isValid() else None
        if it is not None and role == Qt.FontRole:
            f = QFont()
            f.setBold(it.header or bool(it.conv.unread))
            if it.header:
                f.setPixelSize(11)
            return f
        if it is not None and role == Qt.SizeHintRole:
            return QSize(0, 30 if it.header else 28)
        if it is not None and role == Qt.ForegroundRole:
            tok = "text-faint" if it.header or it.conv.muted else "text"
            return QColor(theme.colour(tok))
        if it is not None and role == Qt.DisplayRole and not it.header and it.mentions:
            return super().data(index, role) + f"  @{it.mentions}"
        if it is not None and role == Qt.DisplayRole and it.header:
            return ("▸  " if it.collapsed else "▾  ") + it.group.upper()
        return super().data(index, role)


class SearchModel(ItemListModel):
    def display(self, hit) -> str:
        return f"{hit.conv} · {hit.sender}: {hit.snippet or hit.text}"
