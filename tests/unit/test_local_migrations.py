"""The client's local databases (issue 12): profiles and photo indexes made by the
previous release are carried forward on open, data kept; migrations are all or
nothing; a newer file is refused; every statement runs on the database's thread.

The fixtures are SQL dumps of files the previous release (7fdb448) wrote, with data
(tests/data/profiles/, made with dump_sqlite.py there).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import threading
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import inspect

from kbapp.client.app import App
from kbapp.client.db import Database, Step
from kbapp.client.store import SCHEMA_VERSION, Store
from kbapp.core import errors
from kbapp.ml.photodb import PhotoDB

DATA = Path(__file__).resolve().parents[1] / "data" / "profiles"
OLD_PREFS = {"theme": "dark", "notifications": "0", "embedded": "1", "embedded.port": "49152"}


def load(sql_name: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.executescript((DATA / sql_name).read_text())
    db.close()


def rows(path: Path, table: str) -> list[tuple]:
    db = sqlite3.connect(path)
    try:
        return sorted(db.execute(f'SELECT * FROM "{table}"').fetchall())
    finally:
        db.close()


def user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


def test_previous_release_profile_is_upgraded_with_its_data(tmp_path):
    home = tmp_path / "profile"
    db_file = home / "client.sqlite3"
    load("client-7fdb448.sql", db_file)
    before = {t: rows(db_file, t) for t in ("checkpoint", "identities", "teams", "proof_checks", "settings")}
    assert user_version(db_file) == 0 and ("pref.theme", "dark") in before["settings"]

    async def use_it():
        app = App(home)
        await app.open()
        try:
            assert app.store.get("username") == "alice" and app.store.get("uid") == "f1e2d3c4b5a6978812345678abcdef19"
            assert {k: app.preference(k) for k in OLD_PREFS} == OLD_PREFS
            assert app.store.checkpoint().size == 42
            assert (await app.store.aio.identity("f1e2d3c4b5a6978812345678abcdef19")).tail_seqno == 5
            assert [t.name for t in await app.store.aio.known_teams()] == ["acme"]
            assert await app.store.aio.proof_check("aa" * 33) == ("ok", "found", 1700000003)
            app.set_preference("theme", "light")   # the new table takes writes
        finally:
            await app.close()

    asyncio.run(use_it())
    assert user_version(db_file) == SCHEMA_VERSION
    for table in ("checkpoint", "identities", "teams", "proof_checks"):
        assert rows(db_file, table) == before[table], table   # trusted rows byte for byte
    kept = [r for r in before["settings"] if not r[0].startswith("pref.") and r[0] != "schema_version"]
    assert rows(db_file, "settings") == kept                      # preferences left the trusted settings
    assert dict(rows(db_file, "preferences")) == {**OLD_PREFS, "theme": "light"}
    assert stat.S_IMODE(os.stat(db_file).st_mode) == 0o600

    again = Store(db_file)   # opening again changes nothing
    try:
        assert again.preference("theme") == "light" and again.get("device_name") == "laptop"
    finally:
        again.close()
    assert rows(db_file, "settings") == kept


def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path):
    path = tmp_path / "x.sqlite3"

    def make(conn):
        conn.exec_driver_sql("CREATE TABLE made (x INTEGER)")
        conn.exec_driver_sql("INSERT INTO made VALUES (1)")

    def broken(conn):
        raise RuntimeError("disk full, say")

    db = Database(path, (Step(1, "make", make), Step(2, "broken", broken)), name="test")
    with pytest.raises(RuntimeError):
        db.open_sync()
    db.close()
    assert user_version(path) == 0
    assert "made" not in inspect(__import__("sqlalchemy").create_engine(f"sqlite:///{path}")).get_table_names()

    db = Database(path, (Step(1, "make", make),), name="test").open_sync()   # the next open retries
    db.close()
    assert user_version(path) == 1 and rows(path, "made") == [(1,)]


def test_a_profile_from_a_newer_kbapp_is_refused(tmp_path):
    path = tmp_path / "client.sqlite3"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(errors.SchemaTooNew) as e:
        Store(path)
    assert e.value.code == "SCHEMA_TOO_NEW"
    assert user_version(path) == SCHEMA_VERSION + 1   # not "downgraded"


def test_steps_must_be_numbered_in_order(tmp_path):
    db = Database(tmp_path / "x.sqlite3", (Step(2, "skips one", lambda c: None),), name="test")
    with pytest.raises(ValueError):
        db.open_sync()
    db.close()


def test_previous_release_photo_index_is_upgraded_with_its_data(tmp_path):
    path = tmp_path / "photos" / "index.db"
    load("photo-index-7fdb448.sql", path)
    photos_before = rows(path, "photos")
    pdb = PhotoDB(path)
    try:
        assert user_version(path) == 3                      # step 3: chat images' origins (ml/origins.py)
        assert pdb.count() == 2 and rows(path, "photos") == photos_before and rows(path, "origins") == []
        assert [pid for pid, _ in pdb.search_text("EUR")] == [2]
        ids, mat, problems = pdb.load_vectors("image")
        assert list(ids) == [1, 2] and mat.shape == (2, 8) and not problems
        assert np.allclose(np.linalg.norm(mat, axis=1), 1.0, atol=1e-5)
        X, y, _ = pdb.examples("my-dog")
        assert X.shape == (1, 8) and list(y) == [1]
        assert {t for t, _, _ in pdb.tags_of(1)} == {"dog", "grass"}
        assert "embeddings_by_kind" in {i["name"] for i in inspect(pdb.engine).get_indexes("embeddings")}
    finally:
        pdb.close()


def test_every_statement_runs_on_the_database_thread(tmp_path):
    seen = []
    db = Database(tmp_path / "x.sqlite3", (Step(1, "t", lambda c: c.exec_driver_sql("CREATE TABLE t (x)")),),
                  name="test").open_sync()

    def write(i):
        seen.append(threading.current_thread())
        with db.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (?)", (i,))

    async def many():
        await asyncio.gather(*(db.run(write, i) for i in range(20)))
    asyncio.run(many())
    for i in range(20, 40):
        db.submit(write, i)   # nobody waits: close() drains them, in order
    db.close()
    assert {t.name for t in seen} == {seen[0].name} and seen[0] is not threading.main_thread()
    assert [r[0] for r in sqlite3.connect(tmp_path / "x.sqlite3").execute("SELECT x FROM t ORDER BY rowid")] \
        == list(range(40))
    with pytest.raises(errors.DatabaseClosed):
        db.call(write, 99)


def test_memory_copies_follow_only_committed_writes(tmp_path):
    """`get()` and `checkpoint()` read memory: it must say what the file says, and a
    refused write (an older checkpoint) changes neither."""
    from kbapp.client.store import TrustedCheckpoint, TrustedIdentity

    path = tmp_path / "client.sqlite3"
    store = Store(path)
    try:
        new = TrustedCheckpoint(10, b"\x01" * 32, "ten\n", 1)
        store.commit_verified(cp=new)
        store.set_many({"uid": "u", "username": "alice"}, drop=("nothing",))
        ident = TrustedIdentity("u", "alice", 1, "bb" * 32, "k", [], {}, 5)
        with pytest.raises(errors.CheckpointMoved):
            store.commit_verified(cp=TrustedCheckpoint(9, b"\x02" * 32, "nine\n", 2), identity=ident)
        assert store.checkpoint() == new and store.identity("u") is None
        store.delete_setting("uid")
        assert store.get("uid") is None and store.get("username") == "alice"
    finally:
        store.close()
    again = Store(path)
    try:
        assert again.checkpoint() == new and again.get("uid") is None and again.get("username") == "alice"
    finally:
        again.close()
