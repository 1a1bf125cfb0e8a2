"""The Files page's journal panel (issue 17, "Sync status"): every change on its way up, live
by push, with the reason it waits and an action: a failing block PUT shows its reason, Retry
after the fix uploads, Cancel removes the entry and its blocks; a change a later one needs
is not discarded. Real embedded server, two profiles.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer
from PySide6.QtWidgets import QMessageBox

from gui_support import TIMEOUT_MS
from test_files_page import SHARED, drop, files_windows, names, open_shared

from kbapp.client.fs import publish, queue_control
from kbapp.core import errors


def row_of(panel, suffix: str, op: str = "write") -> int:
    m = panel.model
    return next((i for i, e in enumerate(m.rows) if e["path"].endswith(suffix) and e["op"] == op), -1)


def answer(qtbot, page, text: str) -> None:
    """Click `text` in the confirmation box the next action opens."""
    def click():
        boxes = page.window().findChildren(QMessageBox, "confirmBox")
        if not boxes:
            QTimer.singleShot(20, click)
            return
        next(b for b in boxes[-1].buttons() if b.text() == text).click()
    QTimer.singleShot(20, click)


def select(panel, row: int) -> None:
    sel = panel.table.selectionModel()
    sel.select(panel.model.index(row, 0), QItemSelectionModel.ClearAndSelect | QItemSelectionModel.Rows)


def test_journal_panel_reason_retry_cancel(qtbot, qtmodeltester, alice_window, make_window, tmp_path, run,
                                           monkeypatch):
    a, b = files_windows(alice_window, make_window, tmp_path, qtbot)
    files = a.app.files
    api = a.app.ctx.api

    async def refused(*_a, **_k):
        raise errors.NetworkError("block PUT refused by the test's server")
    monkeypatch.setattr(api, "fs_put_block", refused)                   # one block at a time
    monkeypatch.setattr(publish, "put_blocks", refused, raising=False)   # or in batches
    open_shared(qtbot, a)
    srcs = []
    for n in ("keep.txt", "drop.txt"):
        p = tmp_path / n
        p.write_bytes(n.encode() * 5000)
        srcs.append(p)
    drop(a, srcs)
    qtbot.waitUntil(lambda: names(a) >= {"keep.txt", "drop.txt"} and not a.queue.busy, timeout=TIMEOUT_MS)
    run(files.mkdir(SHARED + "/docs", upload=False))
    run(files.write(SHARED + "/docs/inner.txt", b"inside", upload=False))

    # opened from the status row; the rows say why they wait (the block PUT's error)
    panel = a.journal_panel
    assert not panel.isVisible()
    a.journal_button.click()
    assert panel.isVisible()
    qtbot.waitUntil(lambda: row_of(panel, "/drop.txt") >= 0 and "refused by the test" in
                    panel.model.reason(panel.model.rows[row_of(panel, "/drop.txt")]), timeout=TIMEOUT_MS)
    qtmodeltester.check(panel.model)
    r = row_of(panel, "/drop.txt")
    assert panel.model.data(panel.model.index(r, 1)).startswith("Waiting to retry")
    assert "block PUT refused" in panel.model.data(panel.model.index(r, 4))
    qtbot.waitUntil(lambda: "last error" in panel.summary.text(), timeout=TIMEOUT_MS)

    # the window's status bar says so wherever the user is; a click opens this panel
    win = a.window()
    status = win.files_status
    qtbot.waitUntil(lambda: status.isVisible() and "waiting to retry" in status.text.text(), timeout=TIMEOUT_MS)
    assert status.text.property("tone") == "warning"
    panel.toggle()
    win.shell.go("people")
    qtbot.mouseClick(status, Qt.LeftButton)
    assert win.shell.files.isVisible() and panel.isVisible()

    # Cancel on a directory a later write goes into: refused, typed, nothing removed
    shown, show = [], a.banner.show_error
    a.banner.show_error = lambda e, subject=None: (shown.append(e), show(e, subject))
    select(panel, row_of(panel, "/docs", "mkdir"))
    run(panel.cancel_clicked())
    assert [e.code for e in shown] == ["FS_ENTRY_NEEDED"]
    assert "docs" in {r["name"] for r in run(files.ls(SHARED))}

    # Cancel drop.txt: its entry and its blocks leave this device
    entry = panel.model.rows[row_of(panel, "/drop.txt")]
    blocks = run(files.journal.get(entry["id"])).blocks
    assert blocks and all(files.journal.has_block(b) for b in blocks)
    select(panel, row_of(panel, "/drop.txt"))
    answer(qtbot, a, "Cancel")                                     # asked first: Cancel keeps it
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: not a.window().findChildren(QMessageBox, "confirmBox"), timeout=TIMEOUT_MS)
    assert run(files.journal.get(entry["id"])) is not None and row_of(panel, "/drop.txt") >= 0
    answer(qtbot, a, "Remove changes")
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: row_of(panel, "/drop.txt") < 0, timeout=TIMEOUT_MS)
    assert run(files.journal.get(entry["id"])) is None
    assert not any(files.journal.has_block(b) for b in blocks)
    qtbot.waitUntil(lambda: "drop.txt" not in names(a), timeout=TIMEOUT_MS)

    # fixed: Retry (nothing selected: everything) uploads now, not after the backoff
    monkeypatch.undo()
    panel.table.clearSelection()
    run(panel.retry_clicked())
    qtbot.waitUntil(lambda: panel.model.rows and all(e["state"] == "uploaded" for e in panel.model.rows
                                                    if e["path"].startswith(SHARED)), timeout=60_000)
    assert panel.model.data(panel.model.index(row_of(panel, "/keep.txt"), 1)).startswith("Uploaded")
    qtbot.waitUntil(lambda: not status.isVisible(), timeout=TIMEOUT_MS)           # all uploaded: nothing to say
    assert run(b.app.files.read(SHARED + "/keep.txt")) == b"keep.txt" * 5000
    assert run(b.app.files.read(SHARED + "/docs/inner.txt")) == b"inside"
    assert "drop.txt" not in {r["name"] for r in run(b.app.files.ls(SHARED))}

    # Pause all / Resume all, pushed back to the panel by the engine's event
    panel.pause_button.click()
    qtbot.waitUntil(lambda: panel.pause_button.text() == "Resume all" and "paused" in panel.summary.text(),
                    timeout=TIMEOUT_MS)
    panel.pause_button.click()
    qtbot.waitUntil(lambda: panel.pause_button.text() == "Pause all", timeout=TIMEOUT_MS)


def test_discard_refuses_what_it_must_not_remove(qtbot, alice_window, make_window, tmp_path, run):
    """The engine side: only a pending or failed change goes; an uploaded one, an unknown id
    and a signed one are refused, typed."""
    a, _b = files_windows(alice_window, make_window, tmp_path, qtbot)
    files = a.app.files
    out = run(files.write(SHARED + "/up.txt", b"up"))               # uploaded
    try:
        run(queue_control.discard(files, out["entry"]))
        raise AssertionError("an uploaded change was discarded")
    except errors.Conflict as e:
        assert e.code == "CONFLICT"
    try:
        run(queue_control.discard(files, 10_000_000))
        raise AssertionError("an unknown entry was discarded")
    except errors.NotFound:
        pass
    files.pause("test")
    w = run(files.write(SHARED + "/later.txt", b"later", upload=False))
    run(files.journal.update([w["entry"]], rev_id="ab" * 32))          # as if signed, its answer lost

    async def away(*_a, **_k):
        raise errors.NetworkError("offline (test)")
    real_sync = files.fs.sync
    files.fs.sync = away                                               # can't check: kept
    try:
        run(queue_control.discard(files, w["entry"]))
        raise AssertionError("a change that may be on the server was discarded unchecked")
    except errors.JournalEntryNeeded as e:
        assert e.code == "FS_ENTRY_NEEDED"
    finally:
        files.fs.sync = real_sync
    assert run(files.journal.get(w["entry"])).state == "pending"
    run(queue_control.discard(files, w["entry"]))                      # checked: it did not land
    assert run(files.journal.get(w["entry"])) is None
