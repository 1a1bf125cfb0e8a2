"""The client's local, trusted state (SQLite through SQLAlchemy Core).

Only verified facts are written here, and each verification is written in one
transaction (`commit_verified`), so a failed check can never leave half a new
state behind: tests compare `snapshot()` before and after an attack.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (BigInteger, Column, Integer, MetaData, String, Table, Text, create_engine,
                        delete, insert, select, update)

from .paths import private_file

SCHEMA_VERSION = 1

metadata = MetaData()

settings = Table(
    "settings", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

checkpoint = Table(
    "checkpoint", metadata,
    Column("id", Integer, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("root", String(64), nullable=False),
    Column("note", Text, nullable=False),
    Column("seen_at", BigInteger, nullable=False),
)

identities = Table(
    "identities", metadata,
    Column("uid", String(32), primary_key=True),
    Column("username", String(32), nullable=False),
    Column("tail_seqno", Integer, nullable=False),
    Column("tail_link_id", String(64), nullable=False),
    Column("eldest_kid", String(70), nullable=False),
    Column("chain", Text, nullable=False),   # the verified wire links, JSON
    Column("summary", Text, nullable=False),  # what `kbapp id` shows, JSON
    Column("verified_at", BigInteger, nullable=False),
)

# Results of live proof checks, by sig id, with the time they were made: a cache
# (identify re-checks once the TTL has passed), never a trust decision.
proof_checks = Table(
    "proof_checks", metadata,
    Column("sig_id", String(66), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("checked_at", BigInteger, nullable=False),
)

# Verified team chains: the links played back and the tail the Merkle map named
# (a team chain may only grow from here; teams.py replays it on the next load).
teams = Table(
    "teams", metadata,
    Column("team_id", String(32), primary_key=True),
    Column("name", String(1024), nullable=False),
    Column("tail_seqno", Integer, nullable=False),
    Column("tail_link_id", String(64), nullable=False),
    Column("chain", Text, nullable=False),     # the verified wire links, JSON
    Column("summary", Text, nullable=False),   # members, roles, generation (JSON), for listings
    Column("verified_at", BigInteger, nullable=False),
)


@dataclass(frozen=True)
class TrustedTeam:
    team_id: str
    name: str
    tail_seqno: int
    tail_link_id: str
    chain: list
    summary: dict
    verified_at: int


@dataclass(frozen=True)
class TrustedCheckpoint:
    size: int
    root: bytes
    note: str
    seen_at: int


@dataclass(frozen=True)
class TrustedIdentity:
    uid: str
    username: str
    tail_seqno: int
    tail_link_id: str
    eldest_kid: str
    chain: list
    summary: dict
    verified_at: int


class Store:
    def __init__(self, path: Path):
        private_file(path)   # 0600 before SQLite opens it: its -wal/-journal copy that mode
        self.path = path
        self.engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
        metadata.create_all(self.engine)
        if self.get("schema_version") is None:
            self.set("schema_version", str(SCHEMA_VERSION))

    def close(self) -> None:
        self.engine.dispose()

    # settings ------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(settings.c.value).where(settings.c.key == key)).scalar()

    def set(self, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            self._set(conn, key, value)

    @staticmethod
    def _set(conn, key: str, value: str) -> None:
        conn.execute(delete(settings).where(settings.c.key == key))
        conn.execute(insert(settings).values(key=key, value=value))

    def set_many(self, values: dict[str, str], *, drop: tuple[str, ...] = ()) -> None:
        """Set `values` and delete the `drop` keys in one transaction (a pending
        record goes in the same commit as the state that finishes it)."""
        with self.engine.begin() as conn:
            for k, v in values.items():
                self._set(conn, k, v)
            if drop:
                conn.execute(delete(settings).where(settings.c.key.in_(drop)))

    def delete_setting(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(settings).where(settings.c.key == key))

    def forget_server(self) -> None:
        """Drop the pinned server and all that was verified against it, in one transaction."""
        with self.engine.begin() as conn:
            conn.execute(delete(settings).where(settings.c.key.in_(("server_url", "server_origin", "server_key"))))
            conn.execute(delete(checkpoint))
            conn.execute(delete(identities))
            conn.execute(delete(teams))

    # trusted state ----------------------------------------------------------------

    def checkpoint(self) -> TrustedCheckpoint | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(checkpoint).where(checkpoint.c.id == 1)).first()
        if row is None:
            return None
        return TrustedCheckpoint(row.size, bytes.fromhex(row.root), row.note, row.seen_at)

    def identity(self, uid: str) -> TrustedIdentity | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(identities).where(identities.c.uid == uid)).first()
        if row is None:
            return None
        return TrustedIdentity(row.uid, row.username, row.tail_seqno, row.tail_link_id, row.eldest_kid,
                               json.loads(row.chain), json.loads(row.summary), row.verified_at)

    def commit_verified(self, *, cp: TrustedCheckpoint | None = None,
                        identity: TrustedIdentity | None = None) -> None:
        """Write everything one verification established, all or nothing."""
        with self.engine.begin() as conn:
            if cp is not None:
                old = conn.execute(select(checkpoint.c.size).where(checkpoint.c.id == 1)).scalar()
                if old is not None and cp.size < old:
                    raise ValueError("refusing to store an older checkpoint")  # callers check first
                values = dict(size=cp.size, root=cp.root.hex(), note=cp.note, seen_at=cp.seen_at)
                if old is None:
                    conn.execute(insert(checkpoint).values(id=1, **values))
                else:
                    conn.execute(update(checkpoint).where(checkpoint.c.id == 1).values(**values))
            if identity is not None:
                conn.execute(delete(identities).where(identities.c.uid == identity.uid))
                conn.execute(insert(identities).values(
                    uid=identity.uid, username=identity.username, tail_seqno=identity.tail_seqno,
                    tail_link_id=identity.tail_link_id, eldest_kid=identity.eldest_kid,
                    chain=json.dumps(identity.chain), summary=json.dumps(identity.summary),
                    verified_at=identity.verified_at or int(time.time())))

    # verified team chains ---------------------------------------------------------

    def team(self, team_id: str) -> TrustedTeam | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(teams).where(teams.c.team_id == team_id)).first()
        if row is None:
            return None
        return TrustedTeam(row.team_id, row.name, row.tail_seqno, row.tail_link_id, json.loads(row.chain),
                           json.loads(row.summary), row.verified_at)

    def commit_team(self, team: TrustedTeam, cp: TrustedCheckpoint | None = None) -> None:
        """One team verification: its chain and tail (and the checkpoint it was checked against)."""
        with self.engine.begin() as conn:
            if cp is not None:
                old = conn.execute(select(checkpoint.c.size).where(checkpoint.c.id == 1)).scalar()
                if old is not None and cp.size < old:
                    raise ValueError("refusing to store an older checkpoint")
                values = dict(size=cp.size, root=cp.root.hex(), note=cp.note, seen_at=cp.seen_at)
                if old is None:
                    conn.execute(insert(checkpoint).values(id=1, **values))
                else:
                    conn.execute(update(checkpoint).where(checkpoint.c.id == 1).values(**values))
            conn.execute(delete(teams).where(teams.c.team_id == team.team_id))
            conn.execute(insert(teams).values(
                team_id=team.team_id, name=team.name, tail_seqno=team.tail_seqno, tail_link_id=team.tail_link_id,
                chain=json.dumps(team.chain), summary=json.dumps(team.summary),
                verified_at=team.verified_at or int(time.time())))

    def known_teams(self) -> list[TrustedTeam]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(teams).order_by(teams.c.name)).all()
        return [TrustedTeam(r.team_id, r.name, r.tail_seqno, r.tail_link_id, json.loads(r.chain),
                            json.loads(r.summary), r.verified_at) for r in rows]

    # proof check cache ------------------------------------------------------------

    def proof_check(self, sig_id: str) -> tuple[str, str, int] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(proof_checks).where(proof_checks.c.sig_id == sig_id)).first()
        return None if row is None else (row.state, row.reason, row.checked_at)

    def put_proof_checks(self, results: dict[str, tuple[str, str, int]]) -> None:
        if not results:
            return
        with self.engine.begin() as conn:
            conn.execute(delete(proof_checks).where(proof_checks.c.sig_id.in_(list(results))))
            conn.execute(insert(proof_checks), [{"sig_id": k, "state": v[0], "reason": v[1][:1000],
                                                 "checked_at": v[2]} for k, v in results.items()])

    def snapshot(self) -> dict:
        """Every trusted row, for tests and `kbapp status --json`."""
        with self.engine.connect() as conn:
            return {
                "checkpoint": [tuple(r) for r in conn.execute(select(checkpoint))],
                "identities": [tuple(r) for r in conn.execute(select(identities).order_by(identities.c.uid))],
                "teams": [tuple(r) for r in conn.execute(select(teams).order_by(teams.c.team_id))],
                "settings": sorted(tuple(r) for r in conn.execute(select(settings))),
            }
