"""The Alembic migrations build exactly the tables db.py declares (so the server's
queries and the schema cannot drift), and the newest migration goes down and up."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from kbapp.server import db


def _cfg(engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
    cfg.attributes["connection_engine"] = engine
    return cfg


def test_migrations_match_the_declared_tables(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 's.db'}")
    db.upgrade(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), db.metadata) == []


def test_teams_migration_goes_down_and_up(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 's.db'}")
    db.upgrade(engine)
    team_tables = {"teams", "team_links", "team_names", "ptk_boxes", "ptk_prev", "team_members",
                   "team_join_requests", "team_invite_acceptances"}
    assert team_tables <= set(inspect(engine).get_table_names())
    command.downgrade(_cfg(engine), "0004")
    assert not team_tables & set(inspect(engine).get_table_names())
    command.upgrade(_cfg(engine), "head")
    assert team_tables <= set(inspect(engine).get_table_names())
