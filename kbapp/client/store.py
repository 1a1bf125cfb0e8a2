"""The client's local, trusted state (SQLite through SQLAlchemy Core).

Only verified facts are written here, and each verification is written in one
transaction (`commit_verified`), so a failed check can never leave half a new
state behind: tests compare `snapshot()` before and after an attack.

Every statement runs on the profile database's own thread (kbapp/client/db): the
methods below block a synchronous caller (CLI set-up, tests) and `store.aio.<method>`
is the same method as a coroutine, for the event loop (the GUI's Qt thread never
runs or waits on SQLite). The settings and the checkpoint are small and read on
every operation, so they are also held in memory, written through after each
commit: `get()`, `checkpoint()` and `preference()` never touch the file. A profile
is one process's: another process writing the same file is not seen until reopened.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (BigInteger, Column, Integer, MetaData, String, Table, Text, delete, insert, select,
                        update)

from kbapp.core import errors

from .db import Database, Step

SCHEMA_VERSION = 2   # = len(MIGRATIONS); the previous release's profiles are version 0

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


# The user's choices (theme, folders, ...): apart from the trusted settings, never in
# `snapshot()`, kept when the server is forgotten. Before migration 2, "pref.*" settings.
preferences = Table(
    "preferences", metadata,
    Column("key", String(128), primary_key=True),
    Column("value", Text, nullable=False),
)

V1_TABLES = (settings, checkpoint, identities, proof_checks, teams)   # the previous release's schema
LEGACY_PREF_PREFIX = "pref."


def _adopt_v1(conn) -> None:
    """Version 1: the tables the previous release's `create_all` made (kept as they are)."""
    metadata.create_all(conn, tables=list(V1_TABLES))
    conn.execute(delete(settings).where(settings.c.key == "schema_version"))   # now PRAGMA user_version


def _preferences_table(conn) -> None:
    """Version 2: preferences move out of the trusted settings into their own table."""
    preferences.create(conn)
    rows = conn.execute(select(settings).where(settings.c.key.like(LEGACY_PREF_PREFIX + "%"))).all()
    if rows:
        conn.execute(insert(preferences), [{"key": r.key[len(LEGACY_PREF_PREFIX):], "value": r.value}
                                           for r in rows])
        conn.execute(delete(settings).where(settings.c.key.in_([r.key for r in rows])))


MIGRATIONS = (
    Step(1, "adopt the previous release's tables; schema version in PRAGMA user_version", _adopt_v1),
    Step(2, "preferences in their own table, out of the trusted settings", _preferences_table),
)


def on_db(method):
    """Run the method on the store's database thread (inline when already there)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        return self.db.call(method, self, *args, **kwargs)
    return wrapper


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
    def __init__(self, path: Path, *, _open: bool = True):
        self.path = Path(path)
        self.db = Database(self.path, MIGRATIONS, name="profile store")
        self.aio = AsyncStore(self)
        self._lock = threading.Lock()
        self._settings: dict[str, str] = {}
        self._prefs: dict[str, str] = {}
        self._cp: TrustedCheckpoint | None = None
        if _open:
            self.db.open_sync()
            self.db.call(self._load)

    @classmethod
    async def open(cls, path: Path) -> "Store":
        """Open (and migrate) on the database thread, without blocking the loop."""
        store = cls(path, _open=False)
        await store.db.open()
        await store.db.run(store._load)
        return store

    @property
    def engine(self):
        return self.db.engine

    def _load(self) -> None:
        with self.engine.connect() as conn:
            self._settings = {r.key: r.value for r in conn.execute(select(settings))}
            self._prefs = {r.key: r.value for r in conn.execute(select(preferences))}
            self._cp = self._read_checkpoint(conn)

    def close(self) -> None:
        self.db.close()

    # settings (held in memory, written through) ---------------------------------------

    def get(self, key: str) -> str | None:
        """A setting, from memory: no I/O, safe on the event loop."""
        return self._settings.get(key)

    @on_db
    def set(self, key: str, value: str) -> None:
        self.set_many({key: value})

    @staticmethod
    def _set(conn, key: str, value: str) -> None:
        conn.execute(delete(settings).where(settings.c.key == key))
        conn.execute(insert(settings).values(key=key, value=value))

    @on_db
    def set_many(self, values: dict[str, str], *, drop: tuple[str, ...] = ()) -> None:
        """Set `values` and delete the `drop` keys in one transaction (a pending
        record goes in the same commit as the state that finishes it)."""
        with self.engine.begin() as conn:
            for k, v in values.items():
                self._set(conn, k, v)
            if drop:
                conn.execute(delete(settings).where(settings.c.key.in_(drop)))
        with self._lock:   # only after the commit: memory never holds what the file does not
            fresh = {k: v for k, v in self._settings.items() if k not in drop}
            fresh.update(values)
            self._settings = fresh

    @on_db
    def delete_setting(self, key: str) -> None:
        self.set_many({}, drop=(key,))

    @on_db
    def forget_server(self) -> None:
        """Drop the pinned server and all that was verified against it, in one transaction."""
        gone = ("server_url", "server_origin", "server_key")
        with self.engine.begin() as conn:
            conn.execute(delete(settings).where(settings.c.key.in_(gone)))
            conn.execute(delete(checkpoint))
            conn.execute(delete(identities))
            conn.execute(delete(teams))
        with self._lock:
            self._settings = {k: v for k, v in self._settings.items() if k not in gone}
            self._cp = None

    # preferences (memory first; the write is queued on the db thread) -----------------

    def preference(self, key: str) -> str | None:
        return self._prefs.get(key)

    def set_preference(self, key: str, value: str) -> None:
        """Remember a choice at once; its write is queued (in order) on the db thread."""
        with self._lock:
            self._prefs = {**self._prefs, key: value}
        self.db.submit(self._write_preference, key, value)

    def _write_preference(self, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(preferences).where(preferences.c.key == key))
            conn.execute(insert(preferences).values(key=key, value=value))

    # trusted state ----------------------------------------------------------------

    def checkpoint(self) -> TrustedCheckpoint | None:
        """The trusted checkpoint, from memory (written through by the commits below)."""
        return self._cp

    @staticmethod
    def _read_checkpoint(conn) -> TrustedCheckpoint | None:
        row = conn.execute(select(checkpoint).where(checkpoint.c.id == 1)).first()
        if row is None:
            return None
        return TrustedCheckpoint(row.size, bytes.fromhex(row.root), row.note, row.seen_at)

    @on_db
    def identity(self, uid: str) -> TrustedIdentity | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(identities).where(identities.c.uid == uid)).first()
        if row is None:
            return None
        return TrustedIdentity(row.uid, row.username, row.tail_seqno, row.tail_link_id, row.eldest_kid,
                               json.loads(row.chain), json.loads(row.summary), row.verified_at)

    @on_db
    def known_usernames(self, limit: int = 500) -> list[str]:
        """Users this profile has verified, the most recently verified first: what people
        pickers suggest (followed users, team members, lookups all pass through here)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(identities.c.username)
                                .order_by(identities.c.verified_at.desc()).limit(limit)).all()
        return [r.username for r in rows]

    @staticmethod
    def _put_checkpoint(conn, cp: TrustedCheckpoint) -> None:
        old = conn.execute(select(checkpoint.c.size).where(checkpoint.c.id == 1)).scalar()
        if old is not None and cp.size < old:
            raise errors.CheckpointMoved(f"refusing to store checkpoint {cp.size}: {old} is trusted")
        values = dict(size=cp.size, root=cp.root.hex(), note=cp.note, seen_at=cp.seen_at)
        if old is None:
            conn.execute(insert(checkpoint).values(id=1, **values))
        else:
            conn.execute(update(checkpoint).where(checkpoint.c.id == 1).values(**values))

    @on_db
    def commit_verified(self, *, cp: TrustedCheckpoint | None = None,
                        identity: TrustedIdentity | None = None) -> None:
        """Write everything one verification established, all or nothing."""
        with self.engine.begin() as conn:
            if cp is not None:
                self._put_checkpoint(conn, cp)
            if identity is not None:
                conn.execute(delete(identities).where(identities.c.uid == identity.uid))
                conn.execute(insert(identities).values(
                    uid=identity.uid, username=identity.username, tail_seqno=identity.tail_seqno,
                    tail_link_id=identity.tail_link_id, eldest_kid=identity.eldest_kid,
                    chain=json.dumps(identity.chain), summary=json.dumps(identity.summary),
                    verified_at=identity.verified_at or int(time.time())))
        if cp is not None:
            self._cp = cp

    # verified team chains ---------------------------------------------------------

    @on_db
    def team(self, team_id: str) -> TrustedTeam | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(teams).where(teams.c.team_id == team_id)).first()
        if row is None:
            return None
        return TrustedTeam(row.team_id, row.name, row.tail_seqno, row.tail_link_id, json.loads(row.chain),
                           json.loads(row.summary), row.verified_at)

    @on_db
    def commit_team(self, team: TrustedTeam, cp: TrustedCheckpoint | None = None) -> None:
        """One team verification: its chain and tail (and the checkpoint it was checked against)."""
        with self.engine.begin() as conn:
            if cp is not None:
                self._put_checkpoint(conn, cp)
            conn.execute(delete(teams).where(teams.c.team_id == team.team_id))
            conn.execute(insert(teams).values(
                team_id=team.team_id, name=team.name, tail_seqno=team.tail_seqno, tail_link_id=team.tail_link_id,
                chain=json.dumps(team.chain), summary=json.dumps(team.summary),
                verified_at=team.verified_at or int(time.time())))
        if cp is not None:
            self._cp = cp

    @on_db
    def known_teams(self) -> list[TrustedTeam]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(teams).order_by(teams.c.name)).all()
        return [TrustedTeam(r.team_id, r.name, r.tail_seqno, r.tail_link_id, json.loads(r.chain),
                            json.loads(r.summary), r.verified_at) for r in rows]

    # proof check cache ------------------------------------------------------------

    @on_db
    def proof_check(self, sig_id: str) -> tuple[str, str, int] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(proof_checks).where(proof_checks.c.sig_id == sig_id)).first()
        return None if row is None else (row.state, row.reason, row.checked_at)

    @on_db
    def put_proof_checks(self, results: dict[str, tuple[str, str, int]]) -> None:
        if not results:
            return
        with self.engine.begin() as conn:
            conn.execute(delete(proof_checks).where(proof_checks.c.sig_id.in_(list(results))))
            conn.execute(insert(proof_checks), [{"sig_id": k, "state": v[0], "reason": v[1][:1000],
                                                 "checked_at": v[2]} for k, v in results.items()])

    @on_db
    def snapshot(self) -> dict:
        """Every trusted row, for tests and `kbapp status --json`."""
        with self.engine.connect() as conn:
            return {
                "checkpoint": [tuple(r) for r in conn.execute(select(checkpoint))],
                "identities": [tuple(r) for r in conn.execute(select(identities).order_by(identities.c.uid))],
                "teams": [tuple(r) for r in conn.execute(select(teams).order_by(teams.c.team_id))],
                "settings": sorted(tuple(r) for r in conn.execute(select(settings))),
            }


class AsyncStore:
    """`Store`'s file-reading and writing methods as coroutines run on its db thread.

    `get`, `checkpoint` and `preference` are memory reads: call them on the Store.
    """

    _METHODS = frozenset({"set", "set_many", "delete_setting", "forget_server", "identity", "commit_verified",
                          "team", "commit_team", "known_teams", "known_usernames", "proof_check", "put_proof_checks",
                          "snapshot"})

    def __init__(self, store: Store):
        self._store = store

    def __getattr__(self, name: str):
        if name not in self._METHODS:
            raise AttributeError(name)
        method = getattr(self._store, name)
        db = self._store.db

        async def run(*args, **kwargs):
            return await db.run(method, *args, **kwargs)
        run.__name__ = name
        return run
