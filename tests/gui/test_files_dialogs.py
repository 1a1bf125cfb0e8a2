"""The Files page's dialogs end to end (issue 17): "New folder with…" resolving `bob@github`
for a bob who proved his GitHub account (the loopback GitHub imitation): bob is shown,
verified, before anything is written, and the folder made is shared with him; and a file's
History dialog restoring an old version with its Restore button.
"""

from __future__ import annotations

from PySide6.QtCore import Qt

from gui_support import TIMEOUT_MS
from proof_support import prove
from test_files_page import SHARED, drop, names, open_shared, select_names


def windows(alice_window, make_window, tmp_path, qtbot):
    wa, _url = alice_window
    wb = make_window(tmp_path / "bob")
    for w in (wa, wb):
        qtbot.waitUntil(lambda w=w: w.shell is not None, timeout=TIMEOUT_MS)
        w.shell.go("files")
        qtbot.waitUntil(lambda w=w: w.shell.files.folder_model.rowCount() > 0, timeout=TIMEOUT_MS)
    return wa.shell.files, wb.shell.files


def test_new_folder_with_bob_at_github_shows_him_verified_then_shares_with_him(
        qtbot, alice_window, make_window, fakes, tmp_path, run):
    fakes.reset()
    run(prove(tmp_path / "bob", fakes, "github", "bobhub"))       # bob proves his GitHub account
    wa, _url = alice_window
    wa.app.proof_config = fakes.config()                          # alice checks proofs on the imitation
    a, b = windows(alice_window, make_window, tmp_path, qtbot)
    before = run(a.app.files.status())
    a.new_shared_button.click()
    dlg = a.new_folder_dialog
    dlg.writers.setText("bobhub@github")
    qtbot.mouseClick(dlg.lookup, Qt.LeftButton)
    qtbot.waitUntil(lambda: dlg.create.isEnabled(), timeout=TIMEOUT_MS)
    assert "✓ bobhub@github is bob, verified" in dlg.who.text()
    assert dlg.folder_path == SHARED
    after = run(a.app.files.status())                              # looked up: nothing written yet
    assert (after["pending"], after["uploaded"]) == (before["pending"], before["uploaded"])

    # the proof is gone from GitHub: the lookup says so and nothing can be created
    fakes.post("github", "bobhub", None)
    dlg.writers.setText("bobhub@github ")
    qtbot.mouseClick(dlg.lookup, Qt.LeftButton)
    qtbot.waitUntil(lambda: not dlg.busy.isVisible() and (dlg.create.isEnabled() or dlg.banner.isVisible()
                                                          or "not joined" in dlg.who.text()), timeout=TIMEOUT_MS)
    assert "is bob, verified" not in dlg.who.text()
    assert dlg.folder_path != SHARED
    run(prove(tmp_path / "bob", fakes, "github", "bobhub"))
    dlg.writers.setText("bobhub@github")
    qtbot.mouseClick(dlg.lookup, Qt.LeftButton)
    qtbot.waitUntil(lambda: dlg.create.isEnabled() and dlg.folder_path == SHARED, timeout=TIMEOUT_MS)

    # created: the page opens the folder shared with bob; a file dropped there is bob's to read
    dlg.create.click()
    qtbot.waitUntil(lambda: a.folder == SHARED and not a.busy.isVisible(), timeout=TIMEOUT_MS)
    src = tmp_path / "hello-bob.txt"
    src.write_bytes(b"for bob, who proved bobhub@github")
    drop(a, [src])
    qtbot.waitUntil(lambda: "hello-bob.txt" in names(a) and not a.queue.busy, timeout=TIMEOUT_MS)
    run(a.app.files.sync(timeout=60), timeout=90_000)
    open_shared(qtbot, b)
    qtbot.waitUntil(lambda: "hello-bob.txt" in names(b), timeout=TIMEOUT_MS)
    assert run(b.app.files.read(SHARED + "/hello-bob.txt")) == b"for bob, who proved bobhub@github"


def test_history_restore_with_the_dialogs_button(qtbot, alice_window, make_window, tmp_path, run):
    from kbapp.gui.pages.files.dialogs import HistoryDialog

    a, b = windows(alice_window, make_window, tmp_path, qtbot)
    for text in (b"first draft", b"second draft", b"third draft"):
        run(a.app.files.write(SHARED + "/essay.txt", text))
    open_shared(qtbot, a)
    qtbot.waitUntil(lambda: names(a) == {"essay.txt"}, timeout=TIMEOUT_MS)
    select_names(a, "essay.txt")
    a.history_clicked()                                            # as the menu's "History…" does
    qtbot.waitUntil(lambda: a.findChild(HistoryDialog) is not None, timeout=TIMEOUT_MS)
    dlg = a.findChild(HistoryDialog)
    qtbot.waitUntil(lambda: dlg.model.rowCount() == 3, timeout=TIMEOUT_MS)
    first = dlg.model.rows[0]
    assert first["op"] == "write" and dlg.model.data(dlg.model.index(0, 2)) == "alice"
    dlg.table.selectRow(0)
    qtbot.mouseClick(dlg.restore, Qt.LeftButton)
    qtbot.waitUntil(lambda: dlg.banner.isVisible() and "Restored revision" in dlg.banner.title.text(),
                    timeout=TIMEOUT_MS)
    assert run(a.app.files.read(SHARED + "/essay.txt")) == b"first draft"
    run(a.app.files.sync(timeout=60), timeout=90_000)
    assert run(b.app.files.read(SHARED + "/essay.txt")) == b"first draft"      # bob reads it too
    dlg.load()
    qtbot.waitUntil(lambda: dlg.model.rowCount() == 4, timeout=TIMEOUT_MS)     # the restore is a revision
    dlg.close()
