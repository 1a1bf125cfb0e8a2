"""The Files page (issue 17) with two real profiles on one real embedded server.

alice's window runs the server; bob's is another profile on it. Files go through each
one's folder engine (journal, upload, verified sync); the other window sees them when the
engine says the folder changed.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from gui_support import TIMEOUT_MS

SHARED = "/private/alice,bob"


def files_windows(alice_window, make_window, tmp_path, qtbot):
    wa, _url = alice_window
    wb = make_window(tmp_path / "bob")
    for w in (wa, wb):
        qtbot.waitUntil(lambda w=w: w.shell is not None, timeout=TIMEOUT_MS)
        w.shell.go("files")
        qtbot.waitUntil(lambda w=w: w.shell.files.folder_model.rowCount() > 0, timeout=TIMEOUT_MS)
    return wa.shell.files, wb.shell.files


def names(page) -> set[str]:
    return {r["name"] for r in page.model.rows}


def drop(page, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    view = page.list
    ev = QDropEvent(QPointF(5, 5), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    view.dropEvent(ev)


def test_drop_a_directory_other_profile_sees_it(qtbot, qtmodeltester, alice_window, make_window, tmp_path, run):
    a, b = files_windows(alice_window, make_window, tmp_path, qtbot)
    qtmodeltester.check(a.folder_model)
    src = tmp_path / "photos-trip"
    src.mkdir()
    for i in range(100):
        (src / f"note-{i:03}.txt").write_bytes(f"note {i}\n".encode() * (i + 1))
    a.select_folder(SHARED)
    qtbot.waitUntil(lambda: a.folder == SHARED, timeout=TIMEOUT_MS)
    drop(a, [src])
    qtbot.waitUntil(lambda: a.queue.model.rowCount() == 101, timeout=TIMEOUT_MS)
    qtmodeltester.check(a.queue.model)
    qtbot.waitUntil(lambda: not a.queue.busy, timeout=120_000)
    left = [(t.dest, t.state, t.error) for t in a.queue.model.rows]
    assert left == []                   # saved rows leave the panel; a failed one stays with its reason
    run(a.app.files.sync(timeout=120), timeout=150_000)
    qtbot.waitUntil(lambda: "photos-trip" in names(a), timeout=TIMEOUT_MS)
    qtmodeltester.check(a.model)

    b.select_folder(SHARED)
    qtbot.waitUntil(lambda: "photos-trip" in names(b), timeout=TIMEOUT_MS)
    row = next(r for r in b.model.rows if r["name"] == "photos-trip")
    assert row["type"] == "dir"
    b.open_dir(SHARED, ("photos-trip",))
    qtbot.waitUntil(lambda: len(names(b)) == 100, timeout=TIMEOUT_MS)
    assert run(b.app.files.read(SHARED + "/photos-trip/note-042.txt")) == b"note 42\n" * 43
