"""Devices: add a paper key (shown once), revoke it with a confirmation, live list."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from gui_support import TIMEOUT_MS


def confirm_box():
    boxes = [b for b in QApplication.topLevelWidgets()
             if isinstance(b, QMessageBox) and b.objectName() == "confirmBox" and b.isVisible()]
    return boxes[0] if boxes else None


def test_add_paper_key_then_revoke_it(qtbot, alice_window):
    w, _ = alice_window
    w.shell.go("devices")
    page = w.shell.devices
    model = page.model
    qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=TIMEOUT_MS)
    assert model.devices[0].current and model.status(model.devices[0]) == "This device"

    # this device cannot be revoked from here
    page.view.selectRow(0)
    assert not page.revoke_button.isEnabled()

    qtbot.mouseClick(page.add_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: page.dialog is not None and page.dialog.isVisible(), timeout=TIMEOUT_MS)
    panel = page.dialog.panel
    words = panel.phrase.split()
    assert len(words) == 13
    assert not panel.form.continueButton.isEnabled()
    panel.form.wroteItDown.setChecked(True)
    qtbot.mouseClick(panel.form.continueButton, Qt.LeftButton)
    assert not page.dialog.isVisible()

    # DevicesChanged -> bridge -> the list reloads by itself
    qtbot.waitUntil(lambda: model.rowCount() == 2, timeout=TIMEOUT_MS)
    paper_row = next(i for i, d in enumerate(model.devices) if d.type == "paper")
    paper = model.devices[paper_row]
    assert paper.name == " ".join(words[:2]) and not paper.revoked
    assert not w.session.app.interrupted_paperkey   # shown: the phrase held against a crash is gone

    page.view.selectRow(paper_row)
    assert page.revoke_button.isEnabled()
    qtbot.mouseClick(page.revoke_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: confirm_box() is not None, timeout=TIMEOUT_MS)
    box = confirm_box()
    assert box.textFormat() == Qt.PlainText
    assert paper.name in box.text()
    assert "no longer be able to sign or decrypt anything new" in box.informativeText()
    assert "new per-user key" in box.informativeText()
    revoke = next(b for b in box.buttons() if b.text() == "Revoke device")
    qtbot.mouseClick(revoke, Qt.LeftButton)

    qtbot.waitUntil(lambda: any(d.id == paper.id and d.revoked for d in model.devices), timeout=TIMEOUT_MS)
    row = model.row_of(paper.id)
    assert model.data(model.index(row, 3)) == "Revoked"
    qtbot.waitUntil(lambda: page.banner.isVisible(), timeout=TIMEOUT_MS)
    assert "is revoked" in page.banner.title.text()
    assert not page.revoke_button.isEnabled()  # a revoked device cannot be revoked again


def test_cancel_revocation_changes_nothing(qtbot, alice_window, run):
    w, _ = alice_window
    app = w.session.app
    run(app.create_paperkey())
    w.shell.go("devices")
    page = w.shell.devices
    qtbot.waitUntil(lambda: page.model.rowCount() == 2, timeout=TIMEOUT_MS)
    paper_row = next(i for i, d in enumerate(page.model.devices) if d.type == "paper")
    page.view.selectRow(paper_row)
    qtbot.mouseClick(page.revoke_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: confirm_box() is not None, timeout=TIMEOUT_MS)
    box = confirm_box()
    qtbot.mouseClick(box.button(QMessageBox.Cancel), Qt.LeftButton)
    qtbot.waitUntil(lambda: confirm_box() is None, timeout=TIMEOUT_MS)
    devices = run(app.devices())
    assert not any(d.revoked for d in devices)
