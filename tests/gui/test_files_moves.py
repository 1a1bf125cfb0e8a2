"""Moving on the Files page (issue 17): cut and paste, "Move to…", rows dragged onto a
directory, a breadcrumb or a folder in the sidebar; within a folder (the engine's rename) and
across folders (copy then remove, through the transfer queue). Two real profiles on one real
embedded server: bob's profile sees each result. Also: a paste of desktop files streams,
a failure mid-way never loses the source, and folder paths offered by another program are
refused.
"""

from __future__ import annotations

import os
import tracemalloc

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QGuiApplication

from gui_support import TIMEOUT_MS
from test_files_page import SHARED, files_windows, names, open_shared, select_names

from kbapp.core import errors
from kbapp.gui.pages.files.folder_copy import ROWS_MIME

MINE = "/private/alice"


def ls(run, app, path: str) -> set[str]:
    return {r["name"] for r in run(app.files.ls(path))}


def drag_rows(qtbot, page, *wanted: str) -> QMimeData:
    """What dragging the selected rows carries (QDrag.exec would wait for a real mouse)."""
    select_names(page, *wanted)
    staged = []
    page.drag_out = staged.append
    page.start_drag_out()
    qtbot.waitUntil(lambda: bool(staged), timeout=TIMEOUT_MS)
    return page.drag_mime(staged[0])


def drop_event(pos, mime) -> QDropEvent:
    return QDropEvent(QPointF(pos), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)


def drop_on_row(page, mime, name: str) -> None:
    idx = page.model.index(page.model.row_named(name), 0)
    page.list.dropEvent(drop_event(page.list.visualRect(idx).center(), mime))


def drop_on_sidebar(page, mime, folder: str) -> None:
    """As the sidebar's viewport gets it (QApplication delivers drops only during a real drag)."""
    idx = page.folder_model.index(page.folder_model.row_of(folder))
    assert idx.isValid()
    view = page.folder_list.viewport()
    assert page.sidebar_drops.eventFilter(view, drop_event(page.folder_list.visualRect(idx).center(), mime))


def said(page) -> list:
    """The errors the page's banner is asked to show, from now on."""
    shown, show = [], page.banner.show_error

    def record(e, subject=None):
        shown.append(e)
        show(e, subject)
    page.banner.show_error = record
    return shown


def uploaded(run, page) -> None:
    run(page.app.files.sync(timeout=60), timeout=90_000)


def test_move_within_a_folder_cut_paste_drag_onto_dir_crumb_and_move_to(qtbot, alice_window, make_window,
                                                                        tmp_path, run, monkeypatch):
    from PySide6.QtWidgets import QInputDialog

    a, b = files_windows(alice_window, make_window, tmp_path, qtbot)
    for n in ("a.txt", "b.txt", "c.txt"):
        run(a.app.files.write(f"{SHARED}/{n}", n.encode() * 100, upload=False))
    run(a.app.files.mkdir(f"{SHARED}/docs", upload=False))
    open_shared(qtbot, a)
    qtbot.waitUntil(lambda: names(a) == {"a.txt", "b.txt", "c.txt", "docs"}, timeout=TIMEOUT_MS)

    # Ctrl+X, open docs, Ctrl+V: moved (a rename in the folder), pasted once
    select_names(a, "a.txt")
    a.list.setFocus()
    qtbot.keyClick(a.list, Qt.Key_X, Qt.ControlModifier)
    a.open_dir(SHARED, ("docs",))
    qtbot.waitUntil(lambda: a.comps == ("docs",) and not a.busy.isVisible(), timeout=TIMEOUT_MS)
    qtbot.keyClick(a.list, Qt.Key_V, Qt.ControlModifier)
    qtbot.waitUntil(lambda: names(a) == {"a.txt"}, timeout=TIMEOUT_MS)
    assert ls(run, a.app, SHARED) == {"b.txt", "c.txt", "docs"}

    # a row dragged onto the root's breadcrumb goes back up
    mime = drag_rows(qtbot, a, "a.txt")
    crumb = a.crumbs.itemAt(0).widget()
    crumb.dropEvent(drop_event(crumb.rect().center(), mime))
    qtbot.waitUntil(lambda: names(a) == set(), timeout=TIMEOUT_MS)
    a.open_dir(SHARED, ())
    qtbot.waitUntil(lambda: names(a) == {"a.txt", "b.txt", "c.txt", "docs"}, timeout=TIMEOUT_MS)

    # rows dragged onto a directory row move into it (not copied back from the staged copies)
    drop_on_row(a, drag_rows(qtbot, a, "a.txt", "b.txt"), "docs")
    qtbot.waitUntil(lambda: names(a) == {"c.txt", "docs"}, timeout=TIMEOUT_MS)

    # "Move to…" asks where (a path); a directory into itself is refused, typed
    shown = said(a)
    select_names(a, "docs")
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a_, **k: (f"{SHARED}/docs/inner", True))
    a.move_to_clicked()
    assert [e.code for e in shown] == ["FS_MOVE_REFUSED"] and a.banner.isVisible()
    select_names(a, "c.txt")
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a_, **k: (f"{SHARED}/docs", True))
    a.move_to_clicked()
    qtbot.waitUntil(lambda: names(a) == {"docs"}, timeout=TIMEOUT_MS)
    assert ls(run, a.app, f"{SHARED}/docs") == {"a.txt", "b.txt", "c.txt"}

    # F2 and Delete still work after all that
    a.open_dir(SHARED, ("docs",))
    qtbot.waitUntil(lambda: a.comps == ("docs",) and names(a) == {"a.txt", "b.txt", "c.txt"}, timeout=TIMEOUT_MS)
    select_names(a, "c.txt")
    monkeypatch.setattr(QInputDialog, "getText", lambda *a_, **k: ("see.txt", True))
    a.list.setFocus()
    qtbot.keyClick(a.list, Qt.Key_F2)
    qtbot.waitUntil(lambda: "see.txt" in names(a), timeout=TIMEOUT_MS)

    uploaded(run, a)
    assert ls(run, b.app, SHARED) == {"docs"}
    assert ls(run, b.app, f"{SHARED}/docs") == {"a.txt", "b.txt", "see.txt"}
    assert run(b.app.files.read(f"{SHARED}/docs/b.txt")) == b"b.txt" * 100

    # a past revision's view is read-only: rows dropped on its breadcrumb move nothing, and a
    # drag out of it is refused (it would export today's files under yesterday's names)
    mime = drag_rows(qtbot, a, "a.txt")
    head = run(a.app.files.stat(SHARED))["revision"]
    a.open_dir(SHARED, ("docs",), rev=head)
    qtbot.waitUntil(lambda: a.rev == head and names(a) == {"a.txt", "b.txt", "see.txt"}, timeout=TIMEOUT_MS)
    select_names(a, "b.txt")
    a.start_drag_out()
    assert "current version" in a.banner.title.text()
    crumb = a.crumbs.itemAt(0).widget()
    crumb.dropEvent(drop_event(crumb.rect().center(), mime))
    assert "read-only" in a.banner.title.text()
    qtbot.wait(300)
    assert ls(run, a.app, f"{SHARED}/docs") == {"a.txt", "b.txt", "see.txt"}


def test_move_across_folders_by_sidebar_drop_and_cut_paste_source_kept_on_failure(
        qtbot, qtmodeltester, alice_window, make_window, tmp_path, run, monkeypatch):
    a, b = files_windows(alice_window, make_window, tmp_path, qtbot)
    one = os.urandom(300_000)
    run(a.app.files.write(f"{SHARED}/one.bin", one, upload=False))
    run(a.app.files.mkdir(f"{SHARED}/trip", upload=False))
    data = {n: os.urandom(200_000 + i) for i, n in enumerate(("x.bin", "y.bin", "z.bin"))}
    for n, d in data.items():
        run(a.app.files.write(f"{SHARED}/trip/{n}", d, upload=False))
    uploaded(run, a)
    a.select_folder(MINE)                                   # in the sidebar
    open_shared(qtbot, a)
    qtbot.waitUntil(lambda: names(a) == {"one.bin", "trip"}, timeout=TIMEOUT_MS)

    # the copy of y.bin fails mid-way: x.bin is copied, the source stays whole
    files = a.app.files
    real_write = files.write

    async def failing(path, src, **kw):
        if path.endswith("/y.bin"):
            raise errors.NetworkError("the disk said no (test)")
        return await real_write(path, src, **kw)
    monkeypatch.setattr(files, "write", failing)
    drop_on_sidebar(a, drag_rows(qtbot, a, "trip"), MINE)
    qtbot.waitUntil(lambda: a.queue.model.rowCount() == 4, timeout=TIMEOUT_MS)
    qtmodeltester.check(a.queue.model)
    qtbot.waitUntil(lambda: not a.queue.busy and a.retry_button.isVisible(), timeout=TIMEOUT_MS)
    assert [t.state for t in a.queue.model.rows if t.dest.endswith("y.bin")] == ["failed"]
    assert ls(run, a.app, f"{SHARED}/trip") == {"x.bin", "y.bin", "z.bin"}      # nothing lost
    for n, d in data.items():
        assert run(files.read(f"{SHARED}/trip/{n}")) == d

    # fixed, Retry: the rest is copied, and only then the source goes
    monkeypatch.setattr(files, "write", real_write)
    a.retry_button.click()
    qtbot.waitUntil(lambda: "trip" not in ls(run, a.app, SHARED), timeout=TIMEOUT_MS)
    for n, d in data.items():
        assert run(files.read(f"{MINE}/trip/{n}")) == d

    # cut in one folder, paste in another: moved across
    select_names(a, "one.bin")
    a.list.setFocus()
    qtbot.keyClick(a.list, Qt.Key_X, Qt.ControlModifier)
    a.select_folder(MINE)
    qtbot.waitUntil(lambda: a.folder == MINE and "trip" in names(a), timeout=TIMEOUT_MS)
    qtbot.keyClick(a.list, Qt.Key_V, Qt.ControlModifier)
    qtbot.waitUntil(lambda: "one.bin" in names(a) and not a.queue.busy, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: "one.bin" not in ls(run, a.app, SHARED), timeout=TIMEOUT_MS)
    assert run(files.read(f"{MINE}/one.bin")) == one

    uploaded(run, a)
    assert ls(run, b.app, SHARED) == set()                  # bob sees both gone from the shared folder


def test_paste_streams_desktop_files_and_folder_files_with_flat_memory(qtbot, alice_window, make_window,
                                                                      tmp_path, run):
    a, _b = files_windows(alice_window, make_window, tmp_path, qtbot)
    a.app.files.pause("test: memory is the paste's alone")
    size = 64 << 20                  # reading it whole would cost all of it; a stream, a window of blocks
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for _ in range(size >> 20):
            f.write(os.urandom(1 << 20))
    open_shared(qtbot, a)

    # files copied on the desktop (file URLs on the clipboard): Ctrl+V queues them like a drop
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(big))])
    QGuiApplication.clipboard().setMimeData(mime)
    tracemalloc.start()
    try:
        a.list.setFocus()
        qtbot.keyClick(a.list, Qt.Key_V, Qt.ControlModifier)
        qtbot.waitUntil(lambda: a.queue.model.rowCount() == 1, timeout=TIMEOUT_MS)
        assert a.queue.model.rows[0].src == big
        qtbot.waitUntil(lambda: not a.queue.busy, timeout=120_000)
        desktop_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "big.bin" in ls(run, a.app, SHARED)

    # a folder file copied and pasted into another folder streams too
    qtbot.waitUntil(lambda: "big.bin" in names(a), timeout=TIMEOUT_MS)
    select_names(a, "big.bin")
    qtbot.keyClick(a.list, Qt.Key_C, Qt.ControlModifier)
    a.select_folder(MINE)
    qtbot.waitUntil(lambda: a.folder == MINE and not a.busy.isVisible(), timeout=TIMEOUT_MS)
    tracemalloc.start()
    try:
        qtbot.keyClick(a.list, Qt.Key_V, Qt.ControlModifier)
        qtbot.waitUntil(lambda: "big.bin" in names(a) and not a.queue.busy, timeout=120_000)
        folder_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ls(run, a.app, SHARED) == {"big.bin"}                # a copy: the source stays
    got = run(a.app.files.stat(f"{MINE}/big.bin"))
    assert got["size"] == size
    print(f"paste of a {size >> 20} MiB file, traced peak: desktop {desktop_peak / 1e6:.1f} MB, "
          f"folder to folder {folder_peak / 1e6:.1f} MB")
    assert desktop_peak < size // 2 and folder_peak < size // 2, (desktop_peak, folder_peak)


def test_folder_paths_offered_by_another_program_are_refused(qtbot, alice_window, make_window, tmp_path, run):
    """Another program puts our MIME type on a drag or the clipboard, naming alice's private
    file: dropped on her public folder, it would be published. Refused, typed; nothing moves."""
    a, _b = files_windows(alice_window, make_window, tmp_path, qtbot)
    run(a.app.files.write(f"{MINE}/taxes.pdf", b"private numbers", upload=False))
    run(a.app.files.mkdir(f"{SHARED}/inbox", upload=False))
    open_shared(qtbot, a)
    qtbot.waitUntil(lambda: names(a) == {"inbox"}, timeout=TIMEOUT_MS)
    forged = QMimeData()
    forged.setData(ROWS_MIME, f"{'0' * 32}\n{MINE}/taxes.pdf".encode())
    forged.setUrls([QUrl.fromLocalFile(str(tmp_path / "nothing"))])

    shown = said(a)
    drop_on_row(a, forged, "inbox")                                  # onto a directory row
    public = "/public/alice"
    a.select_folder(public)                                          # listed in the sidebar
    a.select_folder(SHARED)
    qtbot.waitUntil(lambda: a.folder == SHARED and not a.busy.isVisible(), timeout=TIMEOUT_MS)
    drop_on_sidebar(a, forged, public)                               # onto a folder in the sidebar
    crumb = a.crumbs.itemAt(0).widget()
    crumb.dropEvent(drop_event(crumb.rect().center(), forged))       # onto a breadcrumb
    QGuiApplication.clipboard().setMimeData(forged)                  # on the clipboard
    a.list.setFocus()
    qtbot.keyClick(a.list, Qt.Key_V, Qt.ControlModifier)
    assert [e.code for e in shown] == ["FS_FOREIGN_ROWS"] * 4, shown
    assert "another program" in a.banner.message.text()
    qtbot.wait(300)
    assert not a.queue.busy and a.queue.model.rowCount() == 0
    assert ls(run, a.app, f"{SHARED}/inbox") == set() and ls(run, a.app, SHARED) == {"inbox"}
    assert ls(run, a.app, "/public/alice") == set()
    assert run(a.app.files.read(f"{MINE}/taxes.pdf")) == b"private numbers"


def test_cancel_mid_move_keeps_the_source_and_retry_finishes_it(qtbot, alice_window, make_window, tmp_path, run):
    a, _b = files_windows(alice_window, make_window, tmp_path, qtbot)
    big = os.urandom(12 << 20)
    run(a.app.files.write(f"{SHARED}/film.bin", big, upload=False))
    a.select_folder(MINE)
    open_shared(qtbot, a)
    qtbot.waitUntil(lambda: names(a) == {"film.bin"}, timeout=TIMEOUT_MS)
    select_names(a, "film.bin")
    a.list.setFocus()
    qtbot.keyClick(a.list, Qt.Key_X, Qt.ControlModifier)
    a.select_folder(MINE)
    qtbot.waitUntil(lambda: a.folder == MINE and not a.busy.isVisible(), timeout=TIMEOUT_MS)
    qtbot.keyClick(a.list, Qt.Key_V, Qt.ControlModifier)
    qtbot.waitUntil(lambda: a.queue.current is not None and a.queue.current.done > 0, timeout=TIMEOUT_MS)
    a.cancel_button.click()                                   # stopped mid-way
    qtbot.waitUntil(lambda: not a.queue.busy, timeout=TIMEOUT_MS)
    assert [t.state for t in a.queue.model.rows] == ["cancelled"]
    assert "film.bin" not in ls(run, a.app, MINE)               # nothing half written appears
    assert run(a.app.files.read(f"{SHARED}/film.bin")) == big   # the source is whole
    a.retry_button.show()
    a.retry_clicked()                                         # Retry takes the cancelled row again
    qtbot.waitUntil(lambda: "film.bin" not in ls(run, a.app, SHARED), timeout=120_000)
    assert run(a.app.files.read(f"{MINE}/film.bin")) == big
