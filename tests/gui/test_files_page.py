"""The Files page (issue 17) with two real profiles on one real embedded server.

alice's window runs the server; bob's is another profile on it. Files go through each
one's folder engine (journal, upload, verified sync); the other window sees them when the
engine says the folder changed.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from gui_support import TIMEOUT_MS

from kbapp.client.fs import mount as fs_mount

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


def wait_idle(qtbot, page) -> None:
    qtbot.waitUntil(lambda: not page.queue.busy, timeout=120_000)


def open_shared(qtbot, page) -> None:
    page.select_folder(SHARED)
    qtbot.waitUntil(lambda: page.folder == SHARED and not page.busy.isVisible(), timeout=TIMEOUT_MS)


def test_drop_a_directory_other_profile_sees_it_by_push_then_drag_out(
        qtbot, qtmodeltester, alice_window, make_window, tmp_path, run):
    a, b = files_windows(alice_window, make_window, tmp_path, qtbot)
    qtmodeltester.check(a.folder_model)
    src = tmp_path / "photos-trip"
    src.mkdir()
    for i in range(100):
        (src / f"note-{i:03}.txt").write_bytes(f"note {i}\n".encode() * (i + 1))
    open_shared(qtbot, a)
    open_shared(qtbot, b)                     # bob looks at the folder before anything is in it
    assert names(b) == set()
    drop(a, [src])
    qtbot.waitUntil(lambda: a.queue.model.rowCount() == 101, timeout=TIMEOUT_MS)
    qtmodeltester.check(a.queue.model)
    assert a.transfers.isVisible() and a.cancel_button.isVisible()
    wait_idle(qtbot, a)
    left = [(t.dest, t.state, t.error) for t in a.queue.model.rows]
    assert left == []                   # saved rows leave the panel; a failed one stays with its reason
    qtbot.waitUntil(lambda: "photos-trip" in names(a), timeout=TIMEOUT_MS)
    qtmodeltester.check(a.model)
    # the uploads run in the background; alice's status line says when everything is up
    qtbot.waitUntil(lambda: a.status_line.text() == "Everything is uploaded", timeout=120_000)

    # bob's open page re-lists when the push hint arrives: nothing here asks it to
    qtbot.waitUntil(lambda: "photos-trip" in names(b), timeout=60_000)
    row = next(r for r in b.model.rows if r["name"] == "photos-trip")
    assert row["type"] == "dir"
    b.open_dir(SHARED, ("photos-trip",))
    qtbot.waitUntil(lambda: len(names(b)) == 100, timeout=TIMEOUT_MS)
    assert run(b.app.files.read(SHARED + "/photos-trip/note-042.txt")) == b"note 42\n" * 43
    # the By column: alice's name from the folder's verified team, with its badge
    r42 = b.model.row_named("note-042.txt")
    qtbot.waitUntil(lambda: b.model.data(b.model.index(r42, 3)) == "\u2713 alice", timeout=TIMEOUT_MS)
    assert "checked against" in b.model.data(b.model.index(r42, 0), Qt.ToolTipRole)
    run(b.app.files.write(SHARED + "/photos-trip/zz-mine.txt", b"pending", upload=False))
    qtbot.waitUntil(lambda: b.model.row_named("zz-mine.txt") >= 0, timeout=TIMEOUT_MS)
    assert b.model.data(b.model.index(b.model.row_named("zz-mine.txt"), 3)) == "bob · not uploaded"

    # drag out: the selected rows become decrypted copies in a private staging directory
    staged = []
    b.drag_out = staged.append                # QDrag.exec would wait for a real mouse
    sel = b.list.selectionModel()
    for n in ("note-007.txt", "note-099.txt"):
        idx = b.model.index(b.model.row_named(n), 0)
        sel.select(idx, sel.SelectionFlag.Select | sel.SelectionFlag.Rows)
    b.start_drag_out()
    qtbot.waitUntil(lambda: bool(staged), timeout=TIMEOUT_MS)
    stage = staged[0]
    assert sorted(p.name for p in stage.iterdir()) == ["note-007.txt", "note-099.txt"]
    assert (stage / "note-099.txt").read_bytes() == (src / "note-099.txt").read_bytes()
    assert oct(stage.stat().st_mode & 0o777) == "0o700"
    urls = b.drag_mime(stage).urls()
    assert sorted(Path(u.toLocalFile()).name for u in urls) == ["note-007.txt", "note-099.txt"]
    assert stage.parent == b.app.home / "drag-staging"          # in the profile, not /tmp
    from kbapp.gui.pages.files.actions import sweep_drag_stages
    import time
    assert sweep_drag_stages(stage.parent) == 0                 # a fresh drag's copies stay
    assert sweep_drag_stages(stage.parent, now=time.time() + 7200) == 1 and not stage.exists()


def select_names(page, *wanted: str) -> None:
    sel = page.list.selectionModel()
    sel.clearSelection()
    for n in wanted:
        idx = page.model.index(page.model.row_named(n), 0)
        sel.select(idx, sel.SelectionFlag.Select | sel.SelectionFlag.Rows)


def test_rename_trash_restore_history_and_hostile_names(qtbot, alice_window, make_window, tmp_path, run,
                                                         monkeypatch):
    from PySide6.QtWidgets import QInputDialog, QFileDialog
    from fs_hostile_support import HostileTree

    a, b = files_windows(alice_window, make_window, tmp_path, qtbot)
    run(a.app.files.write(SHARED + "/report.txt", b"version one"))
    run(a.app.files.write(SHARED + "/report.txt", b"version two"))
    open_shared(qtbot, a)
    qtbot.waitUntil(lambda: names(a) == {"report.txt"}, timeout=TIMEOUT_MS)

    # F2 renames (the name asked for in a dialog)
    select_names(a, "report.txt")
    monkeypatch.setattr(QInputDialog, "getText", lambda *a_, **k: ("summary.txt", True))
    a.list.setFocus()
    qtbot.keyClick(a.list, Qt.Key_F2)
    qtbot.waitUntil(lambda: names(a) == {"summary.txt"}, timeout=TIMEOUT_MS)

    # Delete moves it to the folder's trash; the trash view restores it
    select_names(a, "summary.txt")
    qtbot.keyClick(a.list, Qt.Key_Delete)
    qtbot.waitUntil(lambda: names(a) == set(), timeout=TIMEOUT_MS)
    assert ".trash" in {r["name"] for r in run(a.app.files.ls(SHARED))}     # hidden from the list only
    a.trash_button.click()
    qtbot.waitUntil(lambda: a.comps == (".trash",) and names(a) == {"summary.txt"}, timeout=TIMEOUT_MS)
    select_names(a, "summary.txt")
    a.restore_from_trash()
    qtbot.waitUntil(lambda: names(a) == set(), timeout=TIMEOUT_MS)
    a.open_dir(SHARED, ())
    qtbot.waitUntil(lambda: names(a) == {"summary.txt"}, timeout=TIMEOUT_MS)
    assert run(a.app.files.read(SHARED + "/summary.txt")) == b"version two"

    # History lists the revisions; restoring the first write brings "version one" back
    run(a.app.files.sync(timeout=60), timeout=90_000)
    from kbapp.gui.pages.files.dialogs import HistoryDialog
    dlg = HistoryDialog(a.app, SHARED + "/report.txt", a)
    qtbot.waitUntil(lambda: dlg.model.rowCount() >= 2, timeout=TIMEOUT_MS)
    first = dlg.model.rows[0]
    assert first["op"] == "write" and first["username"] == "alice"
    dlg.table.selectRow(0)
    run(a.app.files.restore(SHARED + "/report.txt", first["revision"]))
    assert run(a.app.files.read(SHARED + "/report.txt")) == b"version one"
    dlg.close()

    # bob writes names only a hostile client would: shown as plain text, refused on export
    async def hostile():
        evil = await HostileTree(b.app, SHARED).start()
        return await evil.post([evil.dir("bad", [evil.file("..", b"escaped"), evil.file("<b>x</b>", b"ok")]),
                                evil.file("fine.txt", b"fine")])
    run(hostile())
    a.open_dir(SHARED, ())
    qtbot.waitUntil(lambda: "bad" in names(a), timeout=TIMEOUT_MS)
    target = tmp_path / "export"
    target.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a_, **k: str(target))
    select_names(a, "bad")
    a.save_copy_clicked()
    qtbot.waitUntil(lambda: a.banner.isVisible() and not a.busy.isVisible(), timeout=TIMEOUT_MS)
    said = (a.banner.title.text() + " " + a.banner.message.text()).lower()
    assert "refused" in said, said
    assert a.banner.message.textFormat() == Qt.PlainText
    # inside, the names are listed as they are (plain text): nothing rendered, nothing run
    a.open_dir(SHARED, ("bad",))
    qtbot.waitUntil(lambda: bool(names(a)) or a.banner.isVisible(), timeout=TIMEOUT_MS)
    if names(a):
        r = a.model.row_named("<b>x</b>")
        assert r >= 0 and a.model.data(a.model.index(r, 0)) == "<b>x</b>"
    assert not (tmp_path / "escaped").exists() and not (target.parent / "..").is_file()
    for p in target.rglob("*"):
        assert p.resolve().is_relative_to(target.resolve())


def test_new_folder_dialog_verifies_people_and_allows_not_yet_joined(qtbot, alice_window, make_window, tmp_path,
                                                                     run):
    from kbapp.gui.pages.files.dialogs import NewFolderDialog

    a, _b = files_windows(alice_window, make_window, tmp_path, qtbot)
    a.new_shared_button.click()
    dlg = a.new_folder_dialog
    assert isinstance(dlg, NewFolderDialog) and dlg.isVisible()
    dlg.writers.setText("bob, zed@github")
    run(dlg.lookup_clicked())
    qtbot.waitUntil(lambda: dlg.create.isEnabled(), timeout=TIMEOUT_MS)
    text = dlg.who.text()
    assert "✓ bob is bob, verified" in text and "zed@github has not joined yet" in text
    assert dlg.folder_path == "/private/alice,bob,zed@github"
    dlg.writers.setText("bob, nosuchuser")
    assert not dlg.create.isEnabled()
    run(dlg.lookup_clicked())
    qtbot.waitUntil(lambda: not dlg.banner.isHidden(), timeout=TIMEOUT_MS)
    assert not dlg.create.isEnabled() and dlg.folder_path == ""
    dlg.writers.setText("bob")
    dlg.readers.setText("carol@github")
    run(dlg.lookup_clicked())
    qtbot.waitUntil(lambda: dlg.create.isEnabled(), timeout=TIMEOUT_MS)
    assert dlg.folder_path == "/private/alice,bob#carol@github"
    dlg.create.click()
    qtbot.waitUntil(lambda: a.folder == "/private/alice,bob#carol@github", timeout=TIMEOUT_MS)
    # the page opened it: a folder nobody wrote yet is empty, not an error
    qtbot.waitUntil(lambda: not a.busy.isVisible(), timeout=TIMEOUT_MS)
    assert names(a) == set() and a.empty.isVisible()


def test_conflict_view_banner_and_past_revision_are_read_only(qtbot, alice_window, make_window, tmp_path, run):
    a, _b = files_windows(alice_window, make_window, tmp_path, qtbot)
    # a change kept out of the folder (cancelled here; an impossible merge parks the same way)
    a.app.files.pause()
    out = run(a.app.files.write("/private/alice/draft.txt", b"kept, not lost", upload=False))
    view = run(a.app.files.cancel(out["entry"]))["view"]
    a.app.files.resume()
    a.open_dir("/private/alice", ())
    qtbot.waitUntil(lambda: view in names(a), timeout=TIMEOUT_MS)
    a.open_dir("/private/alice", (view,))
    assert a.view_banner.isVisible()
    assert "could not be merged" in a.view_banner.title.text() and "Nothing was lost" in a.view_banner.message.text()
    qtbot.waitUntil(lambda: names(a) == {"draft.txt"}, timeout=TIMEOUT_MS)     # its content, to copy back
    assert not a.upload_button.isEnabled() and not a.mkdir_button.isEnabled()
    run(a.app.files.write("/private/alice/a.txt", b"1"))
    a.open_dir("/private/alice", (), rev=1)
    assert a.view_banner.isVisible() and "revision 1" in a.view_banner.title.text()
    assert not a.upload_button.isEnabled() and not a.mkdir_button.isEnabled()
    a.open_dir("/private/alice", ())
    assert not a.view_banner.isVisible()


def test_changes_journalled_before_a_restart_upload_after_login_without_opening_files(
        qtbot, tmp_path, make_window, run):
    """A write acknowledged (journalled) but not uploaded when kbapp stopped goes up once the
    window logs in again, whether or not the Files page is ever opened."""
    from gui_support import new_profile_with_embedded_server

    from kbapp.client.app import App
    from kbapp.gui.session import Session

    url = run(new_profile_with_embedded_server(tmp_path / "alice", "alice", "alice-desktop",
                                               others=[(tmp_path / "bob", "bob", "bob-laptop", False)]))

    async def journal_only():
        s = Session(tmp_path / "alice")
        await s.open()
        try:
            await s.start_embedded()
            out = await s.app.files.write(SHARED + "/left.txt", b"written before the restart", upload=False)
            assert out["state"] == "pending"
        finally:
            await s.close()
    run(journal_only())
    w = make_window(tmp_path / "alice")
    qtbot.waitUntil(lambda: w.shell is not None, timeout=TIMEOUT_MS)
    assert not w.shell.files.loaded              # the Files page is never opened in this test

    async def bob_reads():
        bob = App(tmp_path / "bob")
        await bob.open()
        try:
            await bob.connect(url)
            for _ in range(120):
                try:
                    return await bob.files.read(SHARED + "/left.txt")
                except Exception:                   # noqa: BLE001 - not uploaded yet
                    await asyncio.sleep(0.5)
            return None
        finally:
            await bob.close()
    assert run(bob_reads(), timeout=120_000) == b"written before the restart"
    assert not w.shell.files.loaded




@pytest.mark.skipif(fs_mount.available() is not None, reason=f"FUSE unusable here: {fs_mount.available()}")
def test_settings_switch_mounts_the_folders_and_quitting_unmounts(qtbot, alice_window, tmp_path, run):
    w, _url = alice_window
    qtbot.waitUntil(lambda: w.shell is not None, timeout=TIMEOUT_MS)
    run(w.app.files.write("/private/alice/hello.txt", b"hi"))
    card = w.shell.settings.mount_card
    assert card is not None and card.check.isEnabled() and not card.check.isChecked()
    mnt = tmp_path / "drive"
    card.dir_edit.setText(str(mnt))
    card.check.setChecked(True)
    qtbot.waitUntil(lambda: card.state.text().startswith("Mounted at"), timeout=TIMEOUT_MS)
    assert os.path.ismount(mnt) and w.app.preference("fs.mount") == "1"
    assert run(asyncio.to_thread(os.listdir, mnt)) == ["private", "public", "team"]
    assert run(asyncio.to_thread((mnt / "private" / "alice" / "hello.txt").read_bytes)) == b"hi"
    card.check.setChecked(False)
    qtbot.waitUntil(lambda: card.state.text() == "Not mounted.", timeout=TIMEOUT_MS)
    assert not os.path.ismount(mnt) and w.app.preference("fs.mount") == "0"
    card.check.setChecked(True)                       # left on: quitting unmounts
    qtbot.waitUntil(lambda: os.path.ismount(mnt), timeout=TIMEOUT_MS)
    run(w.shutdown())
    assert not os.path.ismount(mnt)


def test_files_dropped_on_a_folder_in_the_sidebar_go_into_that_folder(qtbot, qtmodeltester, alice_window,
                                                                        make_window, tmp_path, run):
    a, b = files_windows(alice_window, make_window, tmp_path, qtbot)
    a.select_folder("/private/alice")                       # another folder is open
    qtbot.waitUntil(lambda: a.folder == "/private/alice", timeout=TIMEOUT_MS)
    a.select_folder(SHARED)
    a.select_folder("/private/alice")
    row = a.folder_model.row_of(SHARED)
    assert row >= 0
    src = tmp_path / "for-bob.txt"
    src.write_bytes(b"dropped on bob's folder in the sidebar")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(src))])
    target = a.folder_model.index(row)
    header = a.folder_model.index(0)                          # a group title takes no drop
    assert not a.folder_model.canDropMimeData(mime, Qt.CopyAction, -1, -1, header)
    assert a.folder_model.dropMimeData(mime, Qt.CopyAction, -1, -1, target)
    qtmodeltester.check(a.folder_model)
    qtbot.waitUntil(lambda: a.queue.model.rowCount() > 0, timeout=TIMEOUT_MS)      # planned, queued
    qtbot.waitUntil(lambda: not a.queue.busy, timeout=TIMEOUT_MS)                  # journalled
    assert [r["name"] for r in run(a.app.files.ls(SHARED))] == ["for-bob.txt"]
    run(a.app.files.sync(timeout=60), timeout=90_000)
    assert run(b.app.files.read(SHARED + "/for-bob.txt")) == b"dropped on bob's folder in the sidebar"
    assert a.folder == "/private/alice"                     # the open folder did not change
