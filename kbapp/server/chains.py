"""Verified user chain states, kept so that a post plays back only its new links.

Without them every post re-verified the whole stored chain (about 1 s at 7,683
links), and did so while holding the write lock. A state is used only while the
database's tail is still the state's tail (seqno and link id, read from the
links table, so a tail another server process wrote is noticed); when the table
has grown past it, only the links after it are played back. Memory is bounded
by the number of chains and the number of links they hold (least recently used
first out). A state here is a cache of what this server already checked, never
something a client relies on.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import lru_cache

from sqlalchemy import bindparam, func, select, union_all
from sqlalchemy.engine import Connection

from kbapp.core import errors
from kbapp.core.encoding import loads_json
from kbapp.core.sigchain import ChainState, parse_link, verify_chain
from kbapp.core.sigchain.links import SEQ_TYPE_PUBLIC, LinkType

from . import db
from .gc_policy import POLICY

CHAIN_PAGE_LINKS = 1000             # GET /v1/chain/{uid} and /v1/team/{id}: links per answer at most,
CHAIN_PAGE_BYTES = 2 << 20          # and about this many bytes (clients cap answers at 8 MiB)
MAX_CACHED_CHAINS = 4096
MAX_CACHED_LINKS = 50_000           # a parsed link holds about 6 KB: some 300 MB at most

_Q_TAIL = (select(db.links.c.seqno, db.links.c.link_id).where(db.links.c.uid == bindparam("uid"))
           .order_by(db.links.c.seqno.desc()).limit(1))
_Q_LINK_ID = select(db.links.c.link_id).where((db.links.c.uid == bindparam("uid"))
                                              & (db.links.c.seqno == bindparam("seqno")))


def chain_wires(conn: Connection, uid: str, since: int = 0, limit: int | None = None) -> list[dict]:
    """The stored links after seqno `since`, in order (at most `limit`)."""
    q = select(db.links.c.wire).where((db.links.c.uid == uid) & (db.links.c.seqno > since)).order_by(db.links.c.seqno)
    if limit is not None:
        q = q.limit(limit)
    return [loads_json(r.wire) for r in conn.execute(q)]


_PAGE_QUERIES: dict = {}


def _page_queries(table, key_column):
    """chain_page's two queries for this table, built once (see service_reads.py)."""
    hit = _PAGE_QUERIES.get((table.name, key_column.name))
    if hit is None:
        cond = (key_column == bindparam("key")) & (table.c.seqno > bindparam("since"))
        hit = _PAGE_QUERIES[(table.name, key_column.name)] = (
            select(table.c.seqno, func.length(table.c.wire)).where(cond).order_by(table.c.seqno)
            .limit(bindparam("n")),
            select(table.c.wire).where(cond & (table.c.seqno <= bindparam("upto"))).order_by(table.c.seqno))
    return hit


def chain_page(conn: Connection, table, key_column, key: str, since: int, limit: int) -> dict:
    """One page of a stored chain (user or team): the links after seqno `since`, at most
    `limit` (and CHAIN_PAGE_LINKS) of them and about CHAIN_PAGE_BYTES (a bigger single
    link still goes, alone). `more`: links follow, from seqno `next` + 1. The sizes are
    read first, so a page never loads more than it sends."""
    limit = max(1, min(limit, CHAIN_PAGE_LINKS))
    q_sizes, q_wires = _page_queries(table, key_column)
    args = {"key": key, "since": since}
    sizes = conn.execute(q_sizes, {**args, "n": limit + 1}).all()
    total, n = 0, 0
    for _, size in sizes[:limit]:
        if n and total + size > CHAIN_PAGE_BYTES:
            break
        total, n = total + size, n + 1
    links = []
    if n:
        rows = conn.execute(q_wires, {**args, "upto": sizes[n - 1][0]})
        links = [loads_json(r.wire) for r in rows]
    more = len(sizes) > n
    return {"links": links, "more": more, "next": sizes[n - 1][0] if more else None}


def stored_tail(conn: Connection, uid: str) -> tuple[int, str | None]:
    """(seqno, link id) of the newest stored link of uid; (0, None) for no chain."""
    row = conn.execute(_Q_TAIL, {"uid": uid}).first()
    return (0, None) if row is None else (row.seqno, row.link_id)


def stored_tails(conn: Connection, uids: list[str]) -> dict[str, tuple[int, str]]:
    """stored_tail of several uids (a group commit's); on PostgreSQL in one statement, one
    round trip rather than one per write, each part still an index seek from the newest
    link. Uids with no chain are absent."""
    if conn.dialect.name == "sqlite":     # in process: no round trip to save, point queries are cheaper
        return {uid: tail for uid in uids if (tail := stored_tail(conn, uid))[0]}
    if not uids:
        return {}
    rows = conn.execute(_tails_query(len(uids)), {f"u{i}": uid for i, uid in enumerate(uids)})
    return {r.uid: (r.seqno, r.link_id) for r in rows}


@lru_cache(maxsize=64)
def _tails_query(n: int):
    newest = [select(db.links.c.uid, db.links.c.seqno, db.links.c.link_id)
              .where(db.links.c.uid == bindparam(f"u{i}")).order_by(db.links.c.seqno.desc()).limit(1).subquery()
              for i in range(n)]
    return union_all(*(select(q) for q in newest))


def refuse_early(wire: object, base: ChainState) -> None:
    """The first checks playback makes on a post's first link, in playback's order and with
    its errors, on the stored state itself. Why: a playback on top of a state starts by
    copying it (its links, keys, devices), some milliseconds at 8,000 links, and a post
    signed by a key that is not the account's (anyone may post under any uid) was refused
    only after that copy. Links this cannot judge (a stub, a reset's eldest link) and
    everything after the first link are left to playback, which checks them all again."""
    if base.eldest_kid is None or base.tail_link_id is None:
        return
    link = parse_link(wire)
    if link.seqno != base.tail_seqno + 1:
        raise errors.WrongSeqno(f"link at position {base.tail_seqno + 1} has seqno {link.seqno}")
    if link.prev != bytes.fromhex(base.tail_link_id):
        raise errors.WrongPrev(f"link {link.seqno}: prev does not point at link {base.tail_seqno}")
    if link.seq_type != SEQ_TYPE_PUBLIC or link.stubbed or link.link_type == LinkType.ELDEST:
        return
    if link.uid != base.uid:
        raise errors.WrongUid(f"link {link.seqno} is for uid {link.uid}, not {base.uid}")
    if link.username.lower() != base.username.lower():
        raise errors.WrongUsername(f"link {link.seqno} is for {link.username!r}, not {base.username!r}")
    if link.signer is None or link.signer.hex() not in base.sibkeys:
        raise errors.InvalidSibkey(f"link {link.seqno}: signing key "
                                   f"{'none' if link.signer is None else link.signer.hex()} "
                                   "is not a live sibkey of this chain")


class ChainStates:
    """A bounded LRU of verified states by uid; safe to use from several threads."""

    def __init__(self, max_chains: int = MAX_CACHED_CHAINS, max_links: int = MAX_CACHED_LINKS):
        self.max_chains, self.max_links = max_chains, max_links
        self._states: OrderedDict[str, ChainState] = OrderedDict()
        self._notes: dict[str, tuple[ChainState, dict]] = {}     # results derived from a state
        self._links = 0
        self._lock = threading.Lock()
        self.links_played = 0        # every link this server played back: tests and benches read it

    def __len__(self) -> int:
        return len(self._states)

    def get(self, uid: str) -> ChainState | None:
        with self._lock:
            state = self._states.get(uid)
            if state is not None:
                self._states.move_to_end(uid)
            return state

    def put(self, state: ChainState, note: dict | None = None) -> None:
        """Remember a state whose links are all committed (never one of a post not yet stored),
        and `note`: what was derived from it (kept only as long as this very state)."""
        with self._lock:
            old = self._states.pop(state.uid, None)
            self._notes.pop(state.uid, None)
            if old is not None:
                self._links -= old.tail_seqno
            if state.tail_seqno > self.max_links:
                return
            self._states[state.uid] = state
            if note:
                self._notes[state.uid] = (state, note)
            self._links += state.tail_seqno
            while len(self._states) > self.max_chains or self._links > self.max_links:
                uid, gone = self._states.popitem(last=False)
                self._notes.pop(uid, None)
                self._links -= gone.tail_seqno
        POLICY.settle()     # a long-lived state: out of the cyclic collector's passes (gc_policy.py)

    def note(self, uid: str, state: ChainState | None) -> dict:
        """What was derived from exactly this state, if remembered ({} otherwise)."""
        with self._lock:
            hit = self._notes.get(uid)
        return hit[1] if hit is not None and state is not None and hit[0] is state else {}

    def play(self, links: list, *, uid: str, username: str, resume: ChainState | None = None) -> ChainState:
        self.links_played += len(links)
        return verify_chain(links, uid=uid, username=username, resume=resume)

    def load(self, conn: Connection, uid: str, username: str,
             tail: tuple[int, str | None] | None = None) -> ChainState:
        """The verified state of uid's stored chain: cached, cached plus what was stored
        since (by another server process), or played back from the start."""
        seqno, link_id = stored_tail(conn, uid) if tail is None else tail
        cached = self.get(uid)
        if cached is not None and cached.tail_seqno > seqno:
            # `tail` was read before a concurrent post committed (and cached) more links: read it
            # again rather than play the whole chain back (seconds at 8,000 links, for a post
            # that is then refused anyway). Chains only grow, so a committed state stays a prefix.
            seqno, link_id = stored_tail(conn, uid)
        if cached is not None and (cached.tail_seqno, cached.tail_link_id) == (seqno, link_id):
            return cached
        if (cached is not None and cached.tail_seqno < seqno
                and conn.execute(_Q_LINK_ID, {"uid": uid, "seqno": cached.tail_seqno}).scalar()
                == cached.tail_link_id):
            state = self.play(chain_wires(conn, uid, cached.tail_seqno), uid=uid, username=username, resume=cached)
        else:
            state = self.play(chain_wires(conn, uid), uid=uid, username=username)
        self.put(state)
        return state
