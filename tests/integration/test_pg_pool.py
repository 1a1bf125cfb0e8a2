"""The server's PostgreSQL pool (kbapp/server/db.py, `_ping_when_idle`): a connection used
moments ago goes straight to work (no ping, which cost a round trip on every request), one
that sat idle is pinged, and one whose server side died meanwhile is replaced, so the
request that takes it still succeeds."""

from __future__ import annotations

import psycopg
from sqlalchemy import text

from kbapp.server import db
from kbapp.server.db import make_engine, normalise_url


def _engine(url):
    return make_engine(normalise_url(url, None))


def test_a_busy_connection_is_not_pinged(pg_database, monkeypatch):
    engine = _engine(pg_database)
    pings = []
    real = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(1) or real(c))
    try:
        for _ in range(50):
            with engine.connect() as conn:
                assert conn.execute(text("SELECT 1")).scalar() == 1
        assert pings == []
    finally:
        engine.dispose()


def test_an_idle_connection_killed_meanwhile_is_replaced(pg_database, monkeypatch):
    engine = _engine(pg_database)
    try:
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        with psycopg.connect(pg_database, autocommit=True) as admin:    # a restart, a proxy's timeout
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        monkeypatch.setattr(db, "PG_PING_IDLE", 0.0)    # it has been idle long enough
        with engine.connect() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != pid
    finally:
        engine.dispose()
