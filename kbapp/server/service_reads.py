"""The server's reads: users, chains, proof owners, followers, key owners, per-user key boxes,
and the log's proofs (lookups, consistency, inclusion, leaves, checkpoints).

A mixin of `Service` (service.py holds the state and the one write path): every method here
reads the published view or runs its own short read-only query, never under the write lock.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from kbapp.core import errors
from kbapp.core.encoding import b64encode
from kbapp.core.keys import kid_hex
from kbapp.core.transparency import map_key
from kbapp.core.uid import check_username

from . import db
from .chains import CHAIN_PAGE_LINKS, chain_page, chain_wires

LEAVES_PAGE = 1000
PROOF_OWNERS_PAGE = 100
_Q_NOTE = select(db.log_leaves.c.note).where(db.log_leaves.c.idx == bindparam("size") - 1)
# Lookups' queries built once (one built per call spends ~0.15 ms of CPU on its cache key).
Q_USER_BY_UID = select(db.users).where(db.users.c.uid == bindparam("uid"))
_Q_USER_BY_NAME = select(db.users).where(db.users.c.username == bindparam("name"))


class ServiceReads:
    """Read-only answers of the server (needs `self.engine`, `self.view`, `self.log`)."""

    @staticmethod
    def chain_wires(conn: Connection, uid: str, since: int = 0) -> list[dict]:
        return chain_wires(conn, uid, since)

    def user_by_name(self, username: str) -> dict:
        username = check_username(username)
        with self.engine.connect() as conn:
            row = conn.execute(_Q_USER_BY_NAME, {"name": username}).first()
        if row is None:
            raise errors.NotFound(f"no user named {username!r}")
        return {"uid": row.uid, "username": row.username}

    def chain(self, uid: str, since: int = 0, limit: int = CHAIN_PAGE_LINKS) -> dict:
        """One page of a chain (chains.chain_page): clients ask page after page, from
        their known tail, so a long chain never needs one huge answer."""
        with self.engine.connect() as conn:
            row = conn.execute(Q_USER_BY_UID, {"uid": uid}).first()
            if row is None:
                raise errors.NotFound(f"no user with uid {uid}")
            page = chain_page(conn, db.links, db.links.c.uid, uid, since, limit)
        return {"uid": uid, "username": row.username, **page}

    def proof_owners(self, service: str, name: str, after: str = "") -> dict:
        """Users whose chain states a live proof of `name` on `service` (a hint), in uid
        order, a page at a time (`after`: the last uid of the previous page; `next`: this
        page's, or null at the end). Anyone can state any proof, so there is no cap on how
        many claim one: clients page until a claim checks out live (social.resolve)."""
        if not service or not name or len(service) > 64 or len(name) > 255:
            raise errors.EncodingError("service and name are needed")
        if not isinstance(after, str) or len(after) > 32:
            raise errors.EncodingError("after is a uid")
        with self.engine.connect() as conn:
            rows = conn.execute(select(db.users.c.uid, db.users.c.username)
                                .join(db.statements, db.statements.c.uid == db.users.c.uid)
                                .where((db.statements.c.kind == "proof") & (db.statements.c.service == service)
                                       & (db.statements.c.name == name) & (db.users.c.uid > after))
                                .distinct().order_by(db.users.c.uid).limit(PROOF_OWNERS_PAGE)).all()
        return {"users": [{"uid": r.uid, "username": r.username} for r in rows],
                "next": rows[-1].uid if len(rows) == PROOF_OWNERS_PAGE else None}

    def followers(self, uid: str) -> dict:
        """Users whose chain states a live follow of `uid` (a hint)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(db.users.c.uid, db.users.c.username)
                                .join(db.statements, db.statements.c.uid == db.users.c.uid)
                                .where((db.statements.c.kind == "follow") & (db.statements.c.name == uid.lower()))
                                .distinct().limit(1000)).all()
        return {"followers": [{"uid": r.uid, "username": r.username} for r in rows]}

    def user_by_kid(self, kid: str) -> dict:
        kid = kid_hex(kid)
        with self.engine.connect() as conn:
            row = conn.execute(select(db.users).join(db.keys, db.keys.c.uid == db.users.c.uid)
                               .where(db.keys.c.kid == kid)).first()
        if row is None:
            raise errors.NotFound("no user has this key")
        return {"uid": row.uid, "username": row.username}

    def puk_boxes(self, uid: str, device_kid: str) -> dict:
        device_kid = kid_hex(device_kid)
        with self.engine.connect() as conn:
            boxes = conn.execute(select(db.puk_boxes.c.generation, db.puk_boxes.c.box).where(
                (db.puk_boxes.c.uid == uid) & (db.puk_boxes.c.device_kid == device_kid))
                .order_by(db.puk_boxes.c.generation)).all()
            prev = conn.execute(select(db.puk_prev.c.generation, db.puk_prev.c.box)
                                .where(db.puk_prev.c.uid == uid).order_by(db.puk_prev.c.generation)).all()
        return {"boxes": [{"generation": g, "box": b64encode(b)} for g, b in boxes],
                "prev": [{"generation": g, "box": b64encode(b)} for g, b in prev]}

    def lookup(self, kind: str, ident: str) -> dict:
        """Map value + proofs against the newest leaf of the newest checkpoint (the
        published view: no lock, and one consistent epoch even while a write runs)."""
        key = map_key(kind, ident)
        v = self.view
        value = v.map.get(key)
        return {
            "checkpoint": v.note,
            "leaf_index": v.size - 1,
            "leaf_data": b64encode(v.leaf),
            "inclusion": [b64encode(h) for h in self.log.inclusion_proof(v.size - 1, v.size)],
            "value": None if value is None else b64encode(value),
            "map_proof": v.map.prove(key).to_wire(),
        }

    def consistency(self, first: int, second: int) -> dict:
        size = self.view.size
        if not 0 < first <= second <= size:
            raise errors.NotFound(f"no consistency proof from {first} to {second} (log size {size})")
        return {"first": first, "second": second,
                "proof": [b64encode(h) for h in self.log.consistency_proof(first, second)]}

    def inclusion(self, index: int, size: int) -> dict:
        if not 0 <= index < size <= self.view.size:
            raise errors.NotFound(f"no inclusion proof for {index} in {size}")
        return {"index": index, "size": size,
                "proof": [b64encode(h) for h in self.log.inclusion_proof(index, size)]}

    def leaves(self, start: int, end: int) -> dict:
        end = min(end, self.view.size, start + LEAVES_PAGE)
        if not 0 <= start < end:
            raise errors.NotFound(f"no leaves in [{start}, {end})")
        with self.engine.connect() as conn:
            rows = conn.execute(select(db.log_leaves.c.data).where(
                (db.log_leaves.c.idx >= start) & (db.log_leaves.c.idx < end)).order_by(db.log_leaves.c.idx)).all()
        return {"start": start, "leaves": [b64encode(r.data) for r in rows]}

    def checkpoint(self, size: int | None = None) -> dict:
        v = self.view
        if size is None or size == v.size:
            return {"note": v.note}
        if size > v.size:
            raise errors.NotFound(f"no checkpoint of size {size}")
        with self.engine.connect() as conn:
            note = conn.execute(_Q_NOTE, {"size": size}).scalar()
        if note is None:
            raise errors.NotFound(f"no checkpoint of size {size}")
        return {"note": note}
