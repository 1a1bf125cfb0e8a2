"""No SQLite call on the GUI thread (issue 12): a scripted run of the real window.

Every SQLite connection opened in this process during the run is a guarded one
(`sqlite3.connect` hands out a subclass whose statements note the thread they run
on); the run signs up through the welcome flow on an embedded server, looks a user
up on People, makes a team on Teams, sends a message in its #general on Chat
(and searches for it), and opens Photos. Any statement run on the main
(Qt) thread fails the test, and so does the GUI thread waiting on the database
executor (a blocking call would freeze the window just the same).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import traceback

import pytest
from PySide6.QtCore import Qt

from gui_support import TIMEOUT_MS


class _Guard:
    def __init__(self):
        self.hits: list[str] = []
        self.elsewhere = 0   # statements seen on other threads: the guard is really in place

    def check(self, what: str) -> None:
        if threading.current_thread() is not threading.main_thread():
            self.elsewhere += 1
            return
        ours = [f for f in traceback.format_stack()[:-2] if "/kbapp/" in f and "/tests/" not in f]
        self.hits.append(what + " from\n" + "".join(ours[-8:]))


def _guarded_classes(guard: _Guard):
    class Cursor(sqlite3.Cursor):
        def execute(self, *a, **k):
            guard.check("cursor.execute")
            return super().execute(*a, **k)

        def executemany(self, *a, **k):
            guard.check("cursor.executemany")
            return super().executemany(*a, **k)

        def executescript(self, *a, **k):
            guard.check("cursor.executescript")
            return super().executescript(*a, **k)

    class Connection(sqlite3.Connection):
        def cursor(self, factory=Cursor):
            guard.check("connection.cursor")
            return super().cursor(factory)

        def execute(self, *a, **k):
            guard.check("connection.execute")
            return super().execute(*a, **k)

        def executemany(self, *a, **k):
            guard.check("connection.executemany")
            return super().executemany(*a, **k)

        def commit(self):
            guard.check("connection.commit")
            return super().commit()

    return Connection


@pytest.fixture
def sqlite_guard(monkeypatch):
    guard = _Guard()
    conn_class = _guarded_classes(guard)
    real_connect = sqlite3.connect

    def connect(*a, **k):
        k.setdefault("factory", conn_class)
        return real_connect(*a, **k)

    monkeypatch.setattr(sqlite3, "connect", connect)
    monkeypatch.setattr(sqlite3.dbapi2, "connect", connect)   # what SQLAlchemy's pysqlite dialect calls
    try:   # the GUI thread must not wait on the database executor either
        from kbapp.client.db import executor as dbx
        real_call = dbx.Database.call

        def call(self, fn, *a, **k):
            guard.check("Database.call (a blocking wait)")
            return real_call(self, fn, *a, **k)
        monkeypatch.setattr(dbx.Database, "call", call)
    except ImportError:   # before the database layer existed
        pass
    return guard


def test_the_guard_sees_a_call_on_the_main_thread(sqlite_guard, tmp_path):
    """Control: the guard does see a statement made on this (main) thread."""
    db = sqlite3.dbapi2.connect(tmp_path / "x.db")
    db.execute("select 1")
    db.close()
    assert sqlite_guard.hits


def test_scripted_run_makes_no_sqlite_call_on_the_gui_thread(qtbot, tmp_path, make_window, sqlite_guard):
    w = make_window(tmp_path / "alice")
    wf = w.welcome
    qtbot.mouseClick(wf.start.createHereButton, Qt.LeftButton)
    qtbot.keyClicks(wf.create.username, "alice")
    wf.create.deviceName.setText("laptop")
    qtbot.mouseClick(wf.create.createButton, Qt.LeftButton)
    qtbot.waitUntil(lambda: wf.current_page() == "offer", timeout=TIMEOUT_MS)
    qtbot.mouseClick(wf.offer.skipButton, Qt.LeftButton)
    qtbot.waitUntil(lambda: w.shell is not None and w.stack.currentWidget() is w.shell, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: w.checkpoint_status.text.text().startswith("Checkpoint "), timeout=TIMEOUT_MS)
    shell = w.shell

    shell.go("people")
    people = shell.people
    people.search.clear()
    qtbot.keyClicks(people.search, "alice")
    qtbot.mouseClick(people.lookup_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: people.card.badge.state == "verified", timeout=TIMEOUT_MS)

    shell.go("teams")
    teams = shell.teams
    qtbot.waitUntil(lambda: teams.loaded and not teams.busy.busy, timeout=TIMEOUT_MS)
    qtbot.mouseClick(teams.create_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: teams.dialog is not None and teams.dialog.isVisible(), timeout=TIMEOUT_MS)
    teams.dialog.edit.setText("guardians")
    qtbot.mouseClick(teams.dialog.findChild(type(teams.create_button), "nameOkButton"), Qt.LeftButton)
    qtbot.waitUntil(lambda: teams.tree_model.index_of("guardians").isValid() and not teams.busy.busy,
                    timeout=TIMEOUT_MS)

    shell.go("chat")   # the Chat page: open the team's #general and send a message
    chat = shell.chat
    qtbot.waitUntil(lambda: chat.loaded and not chat.busy.busy, timeout=TIMEOUT_MS)
    chat.new_chat_clicked()                      # (closed again: only the page's own reads count)
    chat.new_dialog.reject()
    task = asyncio.ensure_future(chat.open_named("guardians#general"))
    qtbot.waitUntil(task.done, timeout=TIMEOUT_MS)
    qtbot.keyClicks(chat.composer.edit, "hello guardians")
    qtbot.keyClick(chat.composer.edit, Qt.Key_Return)
    qtbot.waitUntil(lambda: any(ln.msg is not None and ln.msg.text == "hello guardians" and ln.msg.status == "ok"
                                for ln in chat.model.items), timeout=TIMEOUT_MS)
    chat.search.setText("guardians")
    chat.search_clicked()
    qtbot.waitUntil(lambda: chat.results_model.rowCount() == 1, timeout=TIMEOUT_MS)

    shell.go("photos")
    photos = shell.photos
    if hasattr(photos, "loaded"):   # the ML extra is installed: the real page
        qtbot.waitUntil(lambda: photos.loaded and not photos.busy.busy, timeout=TIMEOUT_MS)
    shell.go("settings")
    qtbot.wait(200)

    assert sqlite_guard.elsewhere > 50   # the profile's statements went through the guard, on its thread
    assert not sqlite_guard.hits, (f"{len(sqlite_guard.hits)} SQLite calls on the GUI thread; the first:\n"
                                   + sqlite_guard.hits[0])
