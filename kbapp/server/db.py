"""Server storage: SQLAlchemy Core tables, engines, Alembic upgrades.

Every table is keyed first by the id it would be sharded on (uid, or the log
index for the single global log) so that a Citus-style distribution can split
it later; see docs/server.md.
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import (BigInteger, Boolean, Column, Index, Integer, LargeBinary, MetaData, String, Table, Text,
                        create_engine, event, exc)
from sqlalchemy.engine import Engine

metadata = MetaData()

users = Table(
    "users", metadata,
    Column("uid", String(32), primary_key=True),
    Column("username", String(32), nullable=False, unique=True),
    Column("created", BigInteger, nullable=False),
)

links = Table(
    "links", metadata,
    Column("uid", String(32), primary_key=True),
    Column("seqno", Integer, primary_key=True, autoincrement=False),
    Column("link_id", String(64), nullable=False),
    Column("wire", Text, nullable=False),  # the link exactly as posted (JSON)
    Column("received", BigInteger, nullable=False),
)

keys = Table(
    "keys", metadata,
    Column("kid", String(70), primary_key=True),
    Column("uid", String(32), nullable=False, index=True),
)

puk_boxes = Table(
    "puk_boxes", metadata,
    Column("uid", String(32), primary_key=True),
    Column("generation", Integer, primary_key=True, autoincrement=False),
    Column("device_kid", String(70), primary_key=True),
    Column("box", LargeBinary, nullable=False),
)

puk_prev = Table(
    "puk_prev", metadata,
    Column("uid", String(32), primary_key=True),
    Column("generation", Integer, primary_key=True, autoincrement=False),
    Column("box", LargeBinary, nullable=False),
)

map_entries = Table(
    "map_entries", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
    Column("epoch", BigInteger, nullable=False, index=True),
)

log_leaves = Table(
    "log_leaves", metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
    Column("note", Text, nullable=False),  # the signed checkpoint of size idx + 1
)

kex_messages = Table(
    "kex_messages", metadata,
    Column("channel", String(64), primary_key=True),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("msg", LargeBinary, nullable=False),
    Column("created", BigInteger, nullable=False, index=True),
)

# Hints for resolving assertions and listing followers: the live proofs and
# follows of each chain, rebuilt from the verified chain at every post. Clients
# check every answer by identifying the users named.
statements = Table(
    "statements", metadata,
    Column("uid", String(32), primary_key=True),
    Column("seqno", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),      # proof | follow
    Column("service", String(64), nullable=False),   # proof: service name; follow: ""
    Column("name", String(255), nullable=False, index=True),  # proof: account; follow: followee uid
)


# --- teams (migration 0005) ---------------------------------------------------
# Team chains are stored like user chains; the server checks only what is cheap
# (signatures, seqno/prev continuity, sizes). Names, members and join requests
# are hints: every client verifies the team chain against the Merkle map.

teams = Table(
    "teams", metadata,
    Column("team_id", String(32), primary_key=True),
    Column("name", String(1024), nullable=False),   # implicit names list members
    Column("parent_id", String(32), nullable=True, index=True),
    Column("implicit", Boolean, nullable=False, default=False),
    Column("created", BigInteger, nullable=False),
)

team_links = Table(
    "team_links", metadata,
    Column("team_id", String(32), primary_key=True),
    Column("seqno", Integer, primary_key=True, autoincrement=False),
    Column("link_id", String(64), nullable=False),
    Column("wire", Text, nullable=False),
    Column("received", BigInteger, nullable=False),
)

team_names = Table(
    "team_names", metadata,
    Column("name", String(1024), primary_key=True),
    Column("team_id", String(32), nullable=False, index=True),
    Column("implicit", Boolean, nullable=False, default=False),
)

ptk_boxes = Table(
    "ptk_boxes", metadata,
    Column("team_id", String(32), primary_key=True),
    Column("generation", Integer, primary_key=True, autoincrement=False),
    Column("recipient_uid", String(32), primary_key=True),
    Column("puk_generation", Integer, nullable=False),
    Column("box", LargeBinary, nullable=False),
)

ptk_prev = Table(
    "ptk_prev", metadata,
    Column("team_id", String(32), primary_key=True),
    Column("generation", Integer, primary_key=True, autoincrement=False),
    Column("box", LargeBinary, nullable=False),
)

team_members = Table(
    "team_members", metadata,
    Column("team_id", String(32), primary_key=True),
    Column("uid", String(32), primary_key=True),
    Column("role", String(16), nullable=False),
    Index("ix_team_members_uid", "uid"),
)

team_join_requests = Table(
    "team_join_requests", metadata,
    Column("team_id", String(32), primary_key=True),
    Column("uid", String(32), primary_key=True),
    Column("username", String(32), nullable=False),
    Column("request", Text, nullable=False),    # signed by the requester's device (JSON)
    Column("created", BigInteger, nullable=False),
)

team_invite_acceptances = Table(
    "team_invite_acceptances", metadata,
    Column("team_id", String(32), primary_key=True),
    Column("invite_id", String(64), primary_key=True),
    Column("uid", String(32), primary_key=True),
    Column("acceptance", Text, nullable=False),  # signed with the invite's token key (JSON)
    Column("created", BigInteger, nullable=False),
)


# --- push hints (migration 0006) -----------------------------------------------
# A row per accepted write, for the push channel (push.py): which topic changed,
# not what. Kept for a while so a reconnecting client can catch up from its cursor.

push_events = Table(
    "push_events", metadata,
    Column("cursor", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("topic", String(80), nullable=False),       # user:<uid> | team:<id> | kex:<channel>
    Column("kind", String(16), nullable=False),        # chain | request | acceptance | kex
    Column("subject", String(70), nullable=False),
    Column("created", BigInteger, nullable=False, index=True),
    Index("ix_push_events_topic_cursor", "topic", "cursor"),
    sqlite_autoincrement=True,                          # cursors never reused after a prune
)

# --- chat (migration 0007): on this MetaData, declared in their own module ------------
from . import chat_tables  # noqa: E402,F401  (registers its tables on `metadata`)


def normalise_url(db: str | None, data_dir: Path) -> str:
    """`None` -> SQLite in data_dir; a bare path -> SQLite there; URLs pass through."""
    if not db:
        return f"sqlite:///{data_dir / 'server.sqlite3'}"
    if "://" not in db:
        return f"sqlite:///{Path(db).resolve()}"
    if db.startswith("postgresql://") or db.startswith("postgres://"):
        return "postgresql+psycopg://" + db.split("://", 1)[1]
    return db


SQLITE_POOL = 20          # connections kept open per server process, and as many more for a burst
PG_POOL, PG_OVERFLOW = 10, 30   # PostgreSQL: kept open, and opened for a burst (max_connections is shared)
PG_PING_IDLE = 10.0             # seconds idle after which a pooled connection is pinged before use


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # Enough pooled connections for the worker threads that use them at once: with
        # SQLAlchemy's default 5 (+10), every connection over 5 was opened (with its pragmas)
        # and closed again for each request under load, a tenth of the server's CPU.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_size=SQLITE_POOL, max_overflow=SQLITE_POOL)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    engine = create_engine(url, pool_size=PG_POOL, max_overflow=PG_OVERFLOW)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only when it sat idle PG_PING_IDLE seconds or more.

    Why not `pool_pre_ping`: it pings at every checkout, one more round trip to the
    database for every request (0.25 of a lookup's 0.5-0.8 ms on loopback, under the write
    lock for every epoch). A connection that was in use moments ago is alive; one that sat
    idle may have been closed by a database restart or a proxy, and a failed ping makes the
    pool open a fresh one (SQLAlchemy's pessimistic disconnect handling)."""

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_conn, record):  # pragma: no cover - trivial
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn, record, proxy):
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PG_PING_IDLE:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception as e:  # noqa: BLE001 - any failure: a dead connection
            raise exc.DisconnectionError(f"pooled connection failed its ping: {e}") from e
        if not alive:
            raise exc.DisconnectionError("pooled connection failed its ping")


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    here = Path(__file__).parent
    cfg = Config()
    cfg.set_main_option("script_location", str(here / "migrations"))
    cfg.attributes["connection_engine"] = engine
    command.upgrade(cfg, "head")
