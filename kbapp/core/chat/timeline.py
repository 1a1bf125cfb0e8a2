"""What a reader sees: verified messages folded into a conversation view.

Only verdicts the judge accepted contribute (a BAD one shows as a problem, never as text),
and only in the ways rule 6 allowed: edits from the author, deletes from the author or an
admin, reactions counted once per person and emoji, removed by deleting the reaction.
Folding is incremental (`add`), and `view(now)` can be asked again as time passes
(exploding messages leave the view once their lifetime is over).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from ..errors import MessageGap, Withheld
from .judge import HISTORY
from .state import BAD, DELETED, EXPLODED, HISTORY_DELETED, SUPERSEDED, WITHHELD, Verdict

SHOWN = frozenset({"text", "attachment", "join", "leave", "system", "metadata", "headline"})


@dataclass
class Item:
    """One shown message (untrusted text: plain text in any UI)."""

    msg_id: int
    sender_uid: str
    sender_kid: str
    kind: str
    compose_time: int
    text: str | None = None
    body: dict | None = None
    status: str = "ok"                 # ok / withheld / no_key
    edited_by: int | None = None       # the msg_id of the edit in force
    reactions: dict[str, list[str]] = field(default_factory=dict)     # emoji -> uids, in order
    reply_to: int | None = None
    thread_root: int | None = None
    pinned: bool = False
    lifetime: int | None = None        # exploding: seconds after compose_time


@dataclass(frozen=True)
class Problem:
    msg_id: int
    code: str
    detail: str


@dataclass
class View:
    items: list[Item]                  # every shown message, thread replies included, by msg_id
    threads: dict[int, list[int]]      # root -> replies' msg_ids
    pins: list[int]
    name: str | None
    topic: str | None
    headline: str | None
    problems: list[Problem]

    def main(self) -> list[Item]:
        """The conversation without thread replies (Keybase's main view)."""
        return [i for i in self.items if i.thread_root is None]

    def thread(self, root: int) -> list[Item]:
        ids = {root, *self.threads.get(root, ())}
        return [i for i in self.items if i.msg_id in ids]


class Timeline:
    """Fold verdicts (in msg_id order, as the judge gave them or as stored) into a View."""

    def __init__(self, verdicts: Iterable[Verdict] = ()):
        self.verdicts: dict[int, Verdict] = {}
        self.bad: list[Problem] = []
        self.gaps: list[tuple[int, int]] = []
        for v in verdicts:
            self.add(v)

    def add(self, v: Verdict) -> None:
        if v.gap is not None:
            self.gaps.append(v.gap)
        if v.status == BAD or v.header is None:
            self.bad.append(Problem(v.msg_id, v.code or "CHAT", str(v.error or "bad message")))
        else:
            self.verdicts[v.msg_id] = v

    def view(self, now: int) -> View:
        vs = sorted(self.verdicts.values(), key=lambda v: v.msg_id)
        gone = self._gone(vs, now)
        items = {v.msg_id: _item(v) for v in vs if v.header.type in SHOWN and v.msg_id not in gone}
        name = topic = headline = None
        pins: dict[int, None] = {}
        for v in vs:
            h, b = v.header, v.body
            if v.msg_id in gone or b is None:
                continue
            if h.type == "edit" and h.supersedes in items:
                it = items[h.supersedes]
                it.text, it.edited_by = b["text"], v.msg_id
            elif h.type == "reaction" and h.supersedes in items:
                who = items[h.supersedes].reactions.setdefault(b["emoji"], [])
                if h.uid not in who:
                    who.append(h.uid)
            elif h.type in ("pin", "unpin"):
                pins.pop(b["target"], None)
                if h.type == "pin" and b["target"] in items:
                    pins[b["target"]] = None
            elif h.type == "metadata":
                name, topic = b["name"], b["topic"]
            elif h.type == "headline":
                headline = b["text"]
        for p in pins:
            items[p].pinned = True
        threads: dict[int, list[int]] = {}
        for it in items.values():
            if it.thread_root is not None:
                threads.setdefault(it.thread_root, []).append(it.msg_id)
        return View(list(items.values()), threads, list(pins), name, topic, headline,
                    self._problems(vs, gone, items))

    def _gone(self, vs: list[Verdict], now: int) -> dict[int, str]:
        """msg_id -> why it is not shown: deleted (by a valid delete or delete_history), exploded."""
        gone: dict[int, str] = {}
        upto = 0
        mine: dict[str, int] = {}            # uid -> how far that sender's own delete_mine reaches
        for v in vs:
            gone.update({t: DELETED for t in v.header.deletes})
            if v.header.type == "delete_history" and v.body is not None:
                upto = max(upto, v.body["upto"])
            elif v.header.type == "delete_mine" and v.body is not None:
                mine[v.header.uid] = max(mine.get(v.header.uid, 0), v.body["upto"])
            eph = v.header.ephemeral
            if v.status == EXPLODED or (eph is not None and v.header.compose_time + eph["lifetime"] < now):
                gone[v.msg_id] = EXPLODED
        for v in vs:
            if v.msg_id <= upto or (v.msg_id <= mine.get(v.header.uid, 0) and v.header.type in HISTORY):
                gone.setdefault(v.msg_id, HISTORY_DELETED)
        return gone

    def _problems(self, vs: list[Verdict], gone: dict[int, str], items: dict[int, Item]) -> list[Problem]:
        edited = {v.header.supersedes for v in vs if v.header.type == "edit" and v.msg_id not in gone}
        out = list(self.bad)
        out += [Problem(a, MessageGap.code, f"messages {a} to {b} were not served") for a, b in self.gaps]
        for v in vs:
            if v.status == WITHHELD and v.msg_id not in gone and v.msg_id not in edited:
                out.append(Problem(v.msg_id, Withheld.code, "withheld by the server"))
            elif v.status == WITHHELD and v.msg_id in items:
                items[v.msg_id].status = SUPERSEDED
        return sorted(out, key=lambda p: p.msg_id)


def _item(v: Verdict) -> Item:
    h, b = v.header, v.body
    text = b.get("text") if b is not None and h.type in ("text", "system", "headline") else None
    return Item(v.msg_id, h.uid, h.kid, h.type, h.compose_time, text, b, v.status,
                reply_to=h.reply_to, thread_root=h.thread_root, lifetime=h.lifetime)
