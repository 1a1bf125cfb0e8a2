"""A failed action in a dialog keeps the dialog open, what was typed, and says why in place."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from gui_support import TIMEOUT_MS


def test_failed_add_member_keeps_the_dialog_and_the_name(qtbot, alice_window, run):
    w, _ = alice_window
    run(w.app.create_team("acme"))
    w.shell.go("teams")
    page = w.shell.teams
    qtbot.waitUntil(lambda: page.view is not None and page.view.name == "acme" and not page.busy.busy,
                    timeout=TIMEOUT_MS)
    qtbot.mouseClick(page.add_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: page.dialog is not None and page.dialog.isVisible(), timeout=TIMEOUT_MS)
    dlg = page.dialog
    dlg.form.username.setText("bbo")                       # a typo: nobody by that name
    dlg.form.role.setCurrentIndex(dlg.form.role.findData("reader"))
    ok = dlg.findChild(QPushButton, "memberOkButton")
    qtbot.mouseClick(ok, Qt.LeftButton)
    qtbot.waitUntil(lambda: dlg.form.error.text() != "" and not page._ops, timeout=TIMEOUT_MS)
    assert page.dialog is dlg and dlg.isVisible()
    assert dlg.form.username.text() == "bbo" and dlg.role == "reader"   # nothing to retype
    assert dlg.form.error.text().startswith("Not found") and "bbo" in dlg.form.error.text()
    assert not page.banner.isVisible()                     # said in the dialog, not behind it
    assert dlg.form.username.isEnabled() and ok.isEnabled()

    dlg.form.username.setText("bob")                       # fixed: this time it works and closes
    qtbot.mouseClick(ok, Qt.LeftButton)
    qtbot.waitUntil(lambda: page.dialog is None and not page._ops and not page._refreshing, timeout=TIMEOUT_MS)
    assert {m.username: m.role for m in page.members.members} == {"alice": "owner", "bob": "reader"}
    assert page.banner.title.text() == "bob is a reader in acme now"
