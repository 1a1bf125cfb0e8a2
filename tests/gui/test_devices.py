"""Devices: add a paper key (shown once), revoke it with a confirmation, live list."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel

from kbapp.gui.models import short_date
from kbapp.gui.revoke_dialog import RevokeDeviceDialog

from gui_support import TIMEOUT_MS


def revoke_box():
    return next((b for b in QApplication.topLevelWidgets()
                 if isinstance(b, RevokeDeviceDialog) and b.isVisible()), None)


def test_add_paper_key_then_revoke_it(qtbot, alice_window, run):
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
    qtbot.waitUntil(lambda: revoke_box() is not None, timeout=TIMEOUT_MS)
    box = revoke_box()
    texts = [lab.text() for lab in box.findChildren(QLabel)]
    assert all(lab.textFormat() == Qt.PlainText for lab in box.findChildren(QLabel))
    assert any(paper.name in t for t in texts)
    assert any("no longer be able to sign or decrypt anything new" in t and "new per-user key" in t for t in texts)
    # enough to tell look-alikes apart: type, date added, the signing key's fingerprint
    assert box.type_label.text() == "Paper key"
    assert box.added_label.text().startswith(short_date(paper.ctime))
    fp = next(k.fingerprint for k in run(w.app.identify("alice")).keys if k.kid == paper.sibkey)
    assert box.fingerprint_label.text() == fp
    # the red button is the one that revokes; Enter (the default) is Cancel
    assert box.revoke_button.property("role") == "destructive" and box.revoke_button.text() == "Revoke device"
    assert box.cancel_button.isDefault() and not box.revoke_button.isDefault()
    qtbot.mouseClick(box.revoke_button, Qt.LeftButton)

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
    qtbot.waitUntil(lambda: revoke_box() is not None, timeout=TIMEOUT_MS)
    box = revoke_box()
    qtbot.keyClick(box, Qt.Key_Return)              # Enter is Cancel
    qtbot.waitUntil(lambda: revoke_box() is None, timeout=TIMEOUT_MS)
    devices = run(app.devices())
    assert not any(d.revoked for d in devices)


def test_a_live_devices_name_is_refused_with_a_free_one_suggested(qtbot, tmp_path, make_window, run):
    """Two devices called "vm" could not be told apart: the second is refused, the form keeps
    what was typed and names a free name; another name then works."""
    from kbapp.client.app import App
    from kbapp.server.main import EmbeddedServer, ServerConfig

    server = EmbeddedServer(ServerConfig(data_dir=tmp_path / "server", port=0))
    url = server.start()

    async def vera() -> str:
        app = App(tmp_path / "vera-old")
        await app.open()
        await app.signup("vera", device_name="vm", server_url=url)
        phrase = await app.create_paperkey()
        await app.close()
        return phrase

    try:
        phrase = run(vera())
        w = make_window(tmp_path / "vera-new")
        wf = w.welcome
        qtbot.mouseClick(wf.start.paperKeyButton, Qt.LeftButton)
        wf.server.serverUrl.setText(url)
        qtbot.mouseClick(wf.server.connectButton, Qt.LeftButton)
        qtbot.waitUntil(lambda: wf.server.loginButton.isVisible(), timeout=TIMEOUT_MS)
        qtbot.mouseClick(wf.server.loginButton, Qt.LeftButton)
        g = wf.login
        qtbot.keyClicks(g.username, "vera")
        g.phrase.setPlainText(phrase)
        g.deviceName.setText("vm")
        qtbot.mouseClick(g.loginButton, Qt.LeftButton)
        qtbot.waitUntil(lambda: g.banner.isVisible() and g.loginButton.isEnabled(), timeout=TIMEOUT_MS)
        assert g.banner.title.text() == "Another device already has that name"
        assert "'vm-2'" in g.banner.message.text()
        assert g.deviceName.text() == "vm" and g.phrase.toPlainText() == phrase   # nothing to retype
        assert w.shell is None
        g.deviceName.setText("vm-2")
        qtbot.mouseClick(g.loginButton, Qt.LeftButton)
        qtbot.waitUntil(lambda: w.shell is not None and w.stack.currentWidget() is w.shell, timeout=TIMEOUT_MS)
        model = w.shell.devices.model
        qtbot.waitUntil(lambda: model.rowCount() == 3, timeout=TIMEOUT_MS)
        assert sorted(d.name for d in model.devices if d.type != "paper") == ["vm", "vm-2"]
        run(w.shutdown())
    finally:
        server.stop()
