"""Writing validated user chain batches in the open epoch: the rows of every batch of a
group, one statement per table.

Why one statement per table: a signup is some ten rows in six tables (user, links, keys,
statements, PUK boxes, and the map entry the epoch writes). Written batch by batch, a
group of 9 signups was about 80 statements; on PostgreSQL each is a round trip to the
database process, 35-51 ms a group (21-30 ms of it this process's CPU) against 6 ms on
SQLite, and the epoch holds the write lock all along. Rows of a new account need no
delete first (it has none). Anything one batch of a group claims that another also claims
(a key, a username) fails the statement; the epoch is then rolled back and the group
stored one batch at a time (group_commit.append_group), where each gets its own error.
"""

from __future__ import annotations

from sqlalchemy import delete, insert
from sqlalchemy.engine import Connection

from kbapp.core import errors
from kbapp.core.transparency import map_key

from . import db


def store_batches(conn: Connection, batches: list, now: int, key_owners) -> list[tuple[bytes, bytes]]:
    """Write `batches` (service.Batch, distinct accounts); their map updates (key, new tail).
    `key_owners(conn, kids)`: rows (kid, uid) of those keys already stored."""
    users = [{"uid": b.uid, "username": b.username, "created": now} for b in batches if b.new_user]
    if users:
        conn.execute(insert(db.users), users)
    links = []
    for b in batches:
        first = b.tail.seqno - len(b.new_links) + 1
        links += [{"uid": b.uid, "seqno": first + i, "link_id": lid, "wire": wire, "received": now}
                  for i, (wire, lid) in enumerate(zip(b.wires, b.link_ids))]
    if links:
        conn.execute(insert(db.links), links)
    _store_keys(conn, batches, key_owners)
    _store_statements(conn, batches)
    _store_boxes(conn, batches)
    return [(map_key("user", b.uid), b.tail.encode()) for b in batches]


def _store_keys(conn: Connection, batches: list, key_owners) -> None:
    claimed: dict[str, str] = {}
    for b in batches:
        for kid in b.kids:
            if claimed.setdefault(kid, b.uid) != b.uid:
                raise errors.Conflict("a key in these links belongs to another user")
    if not claimed:
        return
    known = set()
    for row in key_owners(conn, list(claimed)):
        if row.uid != claimed[row.kid]:
            raise errors.Conflict("a key in these links belongs to another user")
        known.add(row.kid)
    new = [{"kid": k, "uid": uid} for k, uid in claimed.items() if k not in known]
    if new:
        conn.execute(insert(db.keys), new)


def _store_statements(conn: Connection, batches: list) -> None:
    """The chains' live proofs and follows. When the rows stored with the base state are
    known, only what changed is written: rewriting them all (hundreds on a long chain)
    was most of a post's time under the write lock."""
    rows: list[dict] = []
    st = db.statements
    for b in batches:
        if b.statement_change is None:
            if not b.new_user:
                conn.execute(delete(st).where(st.c.uid == b.uid))
            rows += b.statements or []
            continue
        gone, added = b.statement_change
        if gone:
            conn.execute(delete(st).where((st.c.uid == b.uid) & st.c.seqno.in_(gone)))
        rows += added
    if rows:
        conn.execute(insert(st), rows)


def _store_boxes(conn: Connection, batches: list) -> None:
    """PUK boxes and prev-seed boxes; a box named twice in one batch: the last one."""
    boxes: dict[tuple, dict] = {}
    prev: dict[tuple, dict] = {}
    pb, pp = db.puk_boxes, db.puk_prev
    for b in batches:
        for gen, kid, box in b.boxes:
            if not b.new_user and (b.uid, gen, kid) not in boxes:
                conn.execute(delete(pb).where((pb.c.uid == b.uid) & (pb.c.generation == gen)
                                              & (pb.c.device_kid == kid)))
            boxes[(b.uid, gen, kid)] = {"uid": b.uid, "generation": gen, "device_kid": kid, "box": box}
        for gen, box in b.prev_boxes:
            if not b.new_user and (b.uid, gen) not in prev:
                conn.execute(delete(pp).where((pp.c.uid == b.uid) & (pp.c.generation == gen)))
            prev[(b.uid, gen)] = {"uid": b.uid, "generation": gen, "box": box}
    if boxes:
        conn.execute(insert(pb), list(boxes.values()))
    if prev:
        conn.execute(insert(pp), list(prev.values()))
