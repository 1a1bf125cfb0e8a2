"""A small migration runner for the client's SQLite files (profile store, photo index).

It lives in ml, the lowest layer allowed SQLAlchemy, so that the photo index (ml) and
the profile store (client, through kbapp/client/db) share it.

A file's schema version is SQLite's `PRAGMA user_version` (0 in a new file and in
every file made before migrations existed). Opening runs, in one transaction, each
step newer than the file: a crash or a failing step leaves the file as it was, at
its old version, and the next open tries again. Steps must accept a file made by
the release before them: the first step of each file adopts the tables the old
`create_all` made (`CREATE TABLE IF NOT EXISTS`), so an old profile and a new one
take the same path. A file newer than this kbapp is refused, never "downgraded".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from sqlalchemy.engine import Connection, Engine

from kbapp.core import errors


@dataclass(frozen=True)
class Step:
    version: int                          # the schema version this step leaves behind
    why: str                              # one line, for docs and logs
    apply: Callable[[Connection], None]   # run inside the migration's transaction


def schema_version(conn: Connection) -> int:
    return int(conn.exec_driver_sql("PRAGMA user_version").scalar() or 0)


def check_steps(steps: Sequence[Step]) -> None:
    if [s.version for s in steps] != list(range(1, len(steps) + 1)):
        raise ValueError("migration steps must be numbered 1, 2, 3, ... in order")


def migrate(engine: Engine, steps: Sequence[Step], *, what: str = "database") -> int:
    """Bring the file up to the last step's version; returns the version it had."""
    check_steps(steps)
    latest = len(steps)
    with engine.connect() as conn:
        # pysqlite would run DDL outside any transaction: take the write lock ourselves
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            old = schema_version(conn)
            if old > latest:
                raise errors.SchemaTooNew(f"{what}: schema version {old} is newer than this kbapp's ({latest}); "
                                          "upgrade kbapp")
            for step in steps[old:]:
                step.apply(conn)
            if old != latest:
                conn.exec_driver_sql(f"PRAGMA user_version = {int(latest)}")
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    return old
