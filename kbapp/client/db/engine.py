"""One SQLAlchemy engine for one SQLite file of a profile.

WAL, so a reader never waits on the writer; `synchronous=FULL`, because what the
profile holds is trusted state (a checkpoint that goes back after a power cut would
re-open a rollback window); foreign keys on. The file is made 0600 before SQLite
opens it (its -wal/-shm copy that mode: issue 11).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from ..paths import private_file


def _pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
    finally:
        cur.close()


def open_engine(path: Path) -> Engine:
    """The engine for `path` (created 0600 if missing). Connect lazily: call on the db thread."""
    private_file(path)
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 30})
    event.listen(engine, "connect", _pragmas)
    return engine
