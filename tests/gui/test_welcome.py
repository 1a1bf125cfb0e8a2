"""The first-run flow against a real embedded server that the app starts itself."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from kbapp.gui.session import PREF_EMBEDDED, PREF_EMBEDDED_PORT

from gui_support import TIMEOUT_MS


def test_welcome_creates_account_on_embedded_server(qtbot, tmp_path, make_window, run):
    w = make_window(tmp_path / "alice")
    wf = w.welcome
    assert wf is not None and w.stack.currentWidget() is wf
    assert wf.current_page() == "start"
    assert not w.statusBar().isVisible()

    qtbot.mouseClick(wf.start.createHereButton, Qt.LeftButton)
    assert wf.current_page() == "create"
    qtbot.keyClicks(wf.create.username, "Alice")
    wf.create.deviceName.setText("laptop")
    qtbot.mouseClick(wf.create.createButton, Qt.LeftButton)
    qtbot.waitUntil(lambda: wf.current_page() == "offer", timeout=TIMEOUT_MS)
    assert not wf.create.banner.isVisible()
    assert "alice" in wf.offer.welcomeLine.text() and "laptop" in wf.offer.welcomeLine.text()

    # the profile remembers its embedded server and port, for the next launch
    app = w.session.app
    assert app.preference(PREF_EMBEDDED) == "1"
    port = int(app.preference(PREF_EMBEDDED_PORT))
    assert w.session.server.url == f"http://127.0.0.1:{port}"

    # offered a paper key after signup: shown once, Continue only after "I wrote it down"
    qtbot.mouseClick(wf.offer.createPaperKeyButton, Qt.LeftButton)
    qtbot.waitUntil(lambda: wf.current_page() == "paper", timeout=TIMEOUT_MS)
    phrase = wf.paper.phrase
    assert len(phrase.split()) == 13
    qtbot.waitUntil(lambda: not app.interrupted_paperkey, timeout=TIMEOUT_MS)   # on screen: not pending
    shown = [wf.paper.findChild(type(wf.paper.form.title), f"word{i}").text() for i in range(1, 14)]
    assert shown == phrase.split()
    form = wf.paper.form
    assert not form.continueButton.isEnabled()
    qtbot.mouseClick(form.copyButton, Qt.LeftButton)
    assert QGuiApplication.clipboard().text() == phrase
    form.wroteItDown.setChecked(True)
    assert form.continueButton.isEnabled()
    qtbot.mouseClick(form.continueButton, Qt.LeftButton)

    # the shell, with the status bar: server, verified checkpoint, ML provider
    qtbot.waitUntil(lambda: w.shell is not None and w.stack.currentWidget() is w.shell, timeout=TIMEOUT_MS)
    assert w.statusBar().isVisible()
    assert w.server_status.text.text() == f"127.0.0.1:{port} · on this computer"
    assert w.ml_status.text.text() == "ML: not loaded"
    qtbot.waitUntil(lambda: w.checkpoint_status.text.text().startswith("Checkpoint "), timeout=TIMEOUT_MS)
    assert "verified" in w.checkpoint_status.text.text()
    assert w.shell.me_name.text() == "alice"
    devices = w.shell.devices.model
    qtbot.waitUntil(lambda: devices.rowCount() == 2, timeout=TIMEOUT_MS)
    assert {(d.name, d.type, d.current) for d in devices.devices} == {
        ("laptop", "desktop", True), (" ".join(phrase.split()[:2]), "paper", False)}

    # next launch: the same server starts again on the same port, straight to the shell
    run(w.shutdown())
    w2 = make_window(tmp_path / "alice")
    assert w2.shell is not None and w2.stack.currentWidget() is w2.shell
    assert w2.session.server.url == f"http://127.0.0.1:{port}"
    qtbot.waitUntil(lambda: w2.shell.devices.model.rowCount() == 2, timeout=TIMEOUT_MS)


def test_bad_username_is_explained_not_sent(qtbot, tmp_path, make_window):
    w = make_window(tmp_path / "p")
    wf = w.welcome
    qtbot.mouseClick(wf.start.createHereButton, Qt.LeftButton)
    qtbot.keyClicks(wf.create.username, "_bad name")
    assert wf.create.username.property("invalid") is True
    qtbot.mouseClick(wf.create.createButton, Qt.LeftButton)
    qtbot.waitUntil(lambda: wf.create.banner.isVisible(), timeout=TIMEOUT_MS)
    assert "username" in wf.create.banner.title.text().lower()
    assert wf.current_page() == "create"
    assert w.session.server is None  # nothing was started for a name that cannot work


def test_join_server_pins_and_shows_fingerprint(qtbot, tmp_path, make_window, run):
    from kbapp.server.main import EmbeddedServer, ServerConfig

    server = EmbeddedServer(ServerConfig(data_dir=tmp_path / "server", port=0))
    url = server.start()
    try:
        w = make_window(tmp_path / "carol")
        wf = w.welcome
        qtbot.mouseClick(wf.start.joinServerButton, Qt.LeftButton)
        assert wf.current_page() == "server"
        wf.server.serverUrl.setText(url)
        qtbot.mouseClick(wf.server.connectButton, Qt.LeftButton)
        qtbot.waitUntil(lambda: wf.server.fingerprintCard.isVisible(), timeout=TIMEOUT_MS)
        expected = server.service.info()["fingerprint"]
        assert wf.server.fingerprint.text() == expected
        assert "Pinned now" in wf.server.fingerprintNote.text()
        assert wf.server.signupButton.isVisible() and wf.server.loginButton.isVisible()
        qtbot.mouseClick(wf.server.signupButton, Qt.LeftButton)
        assert wf.current_page() == "create"
        qtbot.keyClicks(wf.create.username, "carol")
        qtbot.mouseClick(wf.create.createButton, Qt.LeftButton)
        qtbot.waitUntil(lambda: wf.current_page() == "offer", timeout=TIMEOUT_MS)
        qtbot.mouseClick(wf.offer.skipButton, Qt.LeftButton)
        qtbot.waitUntil(lambda: w.shell is not None and w.stack.currentWidget() is w.shell, timeout=TIMEOUT_MS)
        assert w.server_status.text.text().endswith("· remote")
        assert w.session.server is None  # a remote server: nothing embedded
        run(w.shutdown())
    finally:
        server.stop()


def test_paper_key_login_from_welcome(qtbot, tmp_path, make_window, run):
    from kbapp.client.app import App
    from kbapp.server.main import EmbeddedServer, ServerConfig

    server = EmbeddedServer(ServerConfig(data_dir=tmp_path / "server", port=0))
    url = server.start()

    async def dave_with_paper_key() -> str:
        app = App(tmp_path / "dave-old")
        await app.open()
        await app.signup("dave", device_name="old-laptop", server_url=url)
        phrase = await app.create_paperkey()
        await app.close()
        return phrase

    try:
        phrase = run(dave_with_paper_key())
        w = make_window(tmp_path / "dave-new")
        wf = w.welcome
        qtbot.mouseClick(wf.start.paperKeyButton, Qt.LeftButton)
        wf.server.serverUrl.setText(url)
        qtbot.mouseClick(wf.server.connectButton, Qt.LeftButton)
        qtbot.waitUntil(lambda: wf.server.loginButton.isVisible(), timeout=TIMEOUT_MS)
        assert wf.server.loginButton.property("role") == "primary"
        qtbot.mouseClick(wf.server.loginButton, Qt.LeftButton)
        assert wf.current_page() == "login"
        qtbot.keyClicks(wf.login.username, "dave")
        wf.login.phrase.setPlainText(phrase)
        wf.login.deviceName.setText("new-desktop")
        qtbot.mouseClick(wf.login.loginButton, Qt.LeftButton)
        qtbot.waitUntil(lambda: w.shell is not None and w.stack.currentWidget() is w.shell, timeout=TIMEOUT_MS)
        assert wf.login.phrase.toPlainText() == ""  # the words do not linger in the form
        model = w.shell.devices.model
        qtbot.waitUntil(lambda: model.rowCount() == 3, timeout=TIMEOUT_MS)
        assert [d.name for d in model.devices if d.current] == ["new-desktop"]
        run(w.shutdown())
    finally:
        server.stop()


def test_unreachable_server_is_a_readable_message(qtbot, tmp_path, make_window):
    from kbapp.server.main import free_port

    w = make_window(tmp_path / "p")
    wf = w.welcome
    qtbot.mouseClick(wf.start.joinServerButton, Qt.LeftButton)
    wf.server.serverUrl.setText(f"http://127.0.0.1:{free_port()}")
    qtbot.mouseClick(wf.server.connectButton, Qt.LeftButton)
    qtbot.waitUntil(lambda: wf.server.banner.isVisible(), timeout=TIMEOUT_MS)
    assert wf.server.banner.title.text() == "Can't reach the server"
    assert "Traceback" not in wf.server.banner.message.text()
    assert not wf.server.fingerprintCard.isVisible()
    assert wf.server.connectButton.isEnabled()  # re-enabled after the failure

    qtbot.mouseClick(wf.server.backButton, Qt.LeftButton)
    assert wf.current_page() == "start"


def test_passphrase_asked_without_a_keyring(qtbot, tmp_path, make_window, monkeypatch):
    """No OS keyring: the key file's passphrase is asked in a dialog opened with .open()."""
    from PySide6.QtWidgets import QApplication, QDialogButtonBox, QLabel

    from kbapp.gui.dialogs import PassphraseDialog

    monkeypatch.setenv("KBAPP_KEYSTORE", "file")
    monkeypatch.delenv("KBAPP_PASSPHRASE", raising=False)
    home = tmp_path / "filekeys"
    w = make_window(home)
    wf = w.welcome
    qtbot.mouseClick(wf.start.createHereButton, Qt.LeftButton)
    qtbot.keyClicks(wf.create.username, "frank")
    qtbot.mouseClick(wf.create.createButton, Qt.LeftButton)

    def dialog():
        found = [d for d in QApplication.topLevelWidgets() if isinstance(d, PassphraseDialog) and d.isVisible()]
        return found[0] if found else None
    qtbot.waitUntil(lambda: dialog() is not None or wf.create.banner.isVisible(), timeout=TIMEOUT_MS)
    assert not wf.create.banner.isVisible(), wf.create.banner.message.text()
    dlg = dialog()
    assert dlg.second.isVisible()  # a new key file: type it twice
    assert any("at least 10 characters" in lab.text() for lab in dlg.findChildren(QLabel))  # said up front
    for weak, why in (("hunter2", "at least 10 characters"), ("password1234", "too easy to guess")):
        dlg.first.setText(weak)
        dlg.second.setText(weak)
        dlg.findChild(QDialogButtonBox).button(QDialogButtonBox.Ok).click()
        assert dlg.isVisible() and why in dlg.error.text()   # the rule, said before the account exists
    assert not (home / "keystore.kbks").exists()
    dlg.first.setText("correct horse")
    dlg.second.setText("correct horse battery")
    dlg.findChild(QDialogButtonBox).button(QDialogButtonBox.Ok).click()
    assert dlg.isVisible() and "differ" in dlg.error.text()
    dlg.second.setText("correct horse")
    dlg.findChild(QDialogButtonBox).button(QDialogButtonBox.Ok).click()
    qtbot.waitUntil(lambda: wf.current_page() == "offer", timeout=TIMEOUT_MS)
    assert (home / "keystore.kbks").exists()
