"""Adding a device with a 9-word phrase (kex), both GUI sides, against one real embedded server.

- Devices → Add a device shows the phrase in a dialog and waits; an in-process `App`
  (the new computer) logs in with it.
- The welcome flow's "Log in with a phrase from another device", while an in-process
  `App` (the existing device) shows the phrase and vouches.
"""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from kbapp.client.app import App
from kbapp.core.paperkey import new_provision_phrase

from gui_support import TIMEOUT_MS


def _visible_dialog(page):
    d = page.add_dialog
    return d if d is not None and d.isVisible() else None


async def _login_with_phrase(home, username: str, phrase: str, url: str, device: str):
    app = App(home)
    await app.open()
    try:
        return await app.login_phrase(username, phrase, device_name=device, server_url=url, timeout=30, poll=0.05)
    finally:
        await app.close()


# -- Devices → Add a device (the existing device is the GUI) ------------------------------------


def test_devices_dialog_shows_a_phrase_and_vouches_for_the_new_device(qtbot, qtmodeltester, alice_window,
                                                                      run, tmp_path):
    w, url = alice_window
    w.shell.go("devices")
    page = w.shell.devices
    model = page.model
    qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=TIMEOUT_MS)
    assert page.add_device_button.text() == "Add a device"

    qtbot.mouseClick(page.add_device_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: _visible_dialog(page) is not None and bool(page.add_dialog.phrase), timeout=TIMEOUT_MS)
    dlg = page.add_dialog
    assert dlg.windowModality() == Qt.WindowModal  # .open(): the window stays live, no nested exec() loop
    phrase = dlg.phrase
    words = phrase.split()
    assert len(words) == 9
    f = dlg.form
    assert f.phraseText.text().split("\n") == [" ".join(words[i:i + 3]) for i in (0, 3, 6)]
    assert f.phraseText.textInteractionFlags() & Qt.TextSelectableByMouse
    assert "Log in with a phrase" in f.instructions.text() and "type these words" in f.instructions.text()
    assert "alice" in f.accountNote.text() and url in f.accountNote.text()
    assert f.busy.isVisible() and f.status.text().startswith("Waiting for the new device")
    assert "5:00" in f.status.text() or "4:5" in f.status.text()
    qtbot.mouseClick(f.copyButton, Qt.LeftButton)
    assert QGuiApplication.clipboard().text() == phrase

    # the new computer types the words
    acct = run(_login_with_phrase(tmp_path / "alice-tablet", "alice", phrase, url, "alice-tablet"))
    assert acct.username == "alice" and acct.device_name == "alice-tablet"

    # the dialog closes by itself; DevicesChanged -> bridge -> the list reloads
    qtbot.waitUntil(lambda: page.add_dialog is None, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: model.rowCount() == 2, timeout=TIMEOUT_MS)
    assert {(d.name, d.current) for d in model.devices} == {("alice-desktop", True), ("alice-tablet", False)}
    assert "alice-tablet" in page.banner.title.text()
    qtmodeltester.check(model)


def test_devices_dialog_timeout_then_new_phrase_then_cancel(qtbot, alice_window, run, monkeypatch):
    from kbapp.gui import dialogs

    monkeypatch.setattr(dialogs, "PHRASE_TIMEOUT", 1.0)
    w, _ = alice_window
    w.shell.go("devices")
    page = w.shell.devices
    qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=TIMEOUT_MS)
    qtbot.mouseClick(page.add_device_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: _visible_dialog(page) is not None and bool(page.add_dialog.phrase), timeout=TIMEOUT_MS)
    dlg = page.add_dialog
    first = dlg.phrase

    # nobody types the words: a readable error in the dialog, the words are taken off the screen
    qtbot.waitUntil(lambda: dlg.form.banner.isVisible(), timeout=TIMEOUT_MS)
    assert dlg.form.banner.title.text() == "The device was not added"
    assert "no answer from the other device" in dlg.form.banner.message.text()
    assert dlg.phrase == "" and not dlg.form.copyButton.isEnabled()
    assert not dlg.form.busy.isVisible()
    assert dlg.form.retryButton.isVisible() and dlg.form.cancelButton.text() == "Close"
    assert dlg.isVisible()

    # New phrase: other words, waiting again; Cancel stops the task and closes
    monkeypatch.setattr(dlg, "timeout", 60.0)
    qtbot.mouseClick(dlg.form.retryButton, Qt.LeftButton)
    qtbot.waitUntil(lambda: dlg.phrase != "", timeout=TIMEOUT_MS)
    assert dlg.phrase != first and not dlg.form.banner.isVisible() and dlg.form.busy.isVisible()
    task = dlg.task
    qtbot.mouseClick(dlg.form.cancelButton, Qt.LeftButton)
    qtbot.waitUntil(lambda: task.done() and page.add_dialog is None, timeout=TIMEOUT_MS)
    assert task.cancelled()

    # the facade is free again (the cancelled task released its lock), and nothing was added
    assert len(run(w.session.app.create_paperkey()).split()) == 13
    qtbot.waitUntil(lambda: page.model.rowCount() == 2, timeout=TIMEOUT_MS)
    assert {d.type for d in page.model.devices} == {"desktop", "paper"}


# -- welcome → Log in with a phrase (the new device is the GUI) ---------------------------------


@pytest.fixture
def server(tmp_path):
    from kbapp.server.main import EmbeddedServer, ServerConfig

    s = EmbeddedServer(ServerConfig(data_dir=tmp_path / "server", port=0))
    s.start()
    yield s
    s.stop()


def _to_phrase_page(qtbot, wf, url: str) -> None:
    qtbot.mouseClick(wf.start.phraseButton, Qt.LeftButton)
    assert wf.current_page() == "server"
    wf.server.serverUrl.setText(url)
    qtbot.mouseClick(wf.server.connectButton, Qt.LeftButton)
    qtbot.waitUntil(lambda: wf.server.phraseButton.isVisible(), timeout=TIMEOUT_MS)
    assert wf.server.phraseButton.property("role") == "primary"
    assert wf.server.loginButton.isVisible() and wf.server.signupButton.isVisible()
    qtbot.mouseClick(wf.server.phraseButton, Qt.LeftButton)
    assert wf.current_page() == "phrase"
    assert wf.phrase.serverNote.text() == f"Server: {url}"


def test_phrase_login_from_welcome(qtbot, qtmodeltester, tmp_path, make_window, run, server):
    url = server.url
    old = App(tmp_path / "erin-old")
    run(old.open())
    try:
        run(old.signup("erin", device_name="old-laptop", server_url=url))
        shown: asyncio.Future = asyncio.get_running_loop().create_future()
        adder = asyncio.ensure_future(old.add_device_by_phrase(shown.set_result, timeout=60, poll=0.05))
        qtbot.waitUntil(shown.done, timeout=TIMEOUT_MS)
        phrase = shown.result()

        w = make_window(tmp_path / "erin-new")
        wf = w.welcome
        _to_phrase_page(qtbot, wf, url)
        p = wf.phrase
        assert not p.cancelButton.isVisible() and not p.waitNote.isVisible()
        qtbot.keyClicks(p.username, "erin")
        p.words.setPlainText("  " + phrase.upper().replace(" ", "\n") + " ")  # as typed: any case, any spaces
        p.deviceName.setText("new-desktop")
        qtbot.mouseClick(p.loginButton, Qt.LeftButton)
        qtbot.waitUntil(lambda: w.shell is not None and w.stack.currentWidget() is w.shell, timeout=TIMEOUT_MS)
        assert p.words.toPlainText() == ""  # the words do not linger in the form

        dev = run(adder)
        assert dev.name == "new-desktop"
        model = w.shell.devices.model
        qtbot.waitUntil(lambda: model.rowCount() == 2, timeout=TIMEOUT_MS)
        assert [d.name for d in model.devices if d.current] == ["new-desktop"]
        assert w.shell.me_name.text() == "erin"
        qtmodeltester.check(model)
        run(w.shutdown())
    finally:
        run(old.close())


def test_phrase_login_errors_are_readable(qtbot, tmp_path, make_window, run, server):
    async def frank_exists() -> None:            # an unknown name is refused before anything else
        app = App(tmp_path / "frank-old")
        await app.open()
        await app.signup("frank", device_name="laptop", server_url=server.url)
        await app.close()
    run(frank_exists())
    w = make_window(tmp_path / "frank-new")
    wf = w.welcome
    _to_phrase_page(qtbot, wf, server.url)
    p = wf.phrase
    qtbot.keyClicks(p.username, "frank")

    # words that cannot be a phrase: said at once, nothing is sent
    p.words.setPlainText("abandon ability able")
    qtbot.mouseClick(p.loginButton, Qt.LeftButton)
    qtbot.waitUntil(lambda: p.banner.isVisible(), timeout=TIMEOUT_MS)
    assert p.banner.title.text() == "Those words don't work"
    assert "9 words" in p.banner.message.text() and wf.phrase_task is None

    # a well-formed phrase no device shows: waiting, then a timeout, readable
    wf.phrase_timeout = 1.0
    p.words.setPlainText(new_provision_phrase(bytes(16)))
    qtbot.mouseClick(p.loginButton, Qt.LeftButton)
    qtbot.waitUntil(lambda: p.cancelButton.isVisible(), timeout=TIMEOUT_MS)
    assert p.waitNote.isVisible() and not p.loginButton.isEnabled() and not p.backButton.isEnabled()
    qtbot.waitUntil(lambda: p.banner.isVisible(), timeout=TIMEOUT_MS)
    assert p.banner.title.text() == "The device was not added"
    assert "no answer from the other device" in p.banner.message.text()
    assert not p.cancelButton.isVisible() and p.loginButton.isEnabled()

    # Cancel while waiting stops the task; the form is usable again
    wf.phrase_timeout = 60.0
    qtbot.mouseClick(p.loginButton, Qt.LeftButton)
    qtbot.waitUntil(lambda: wf.phrase_task is not None and p.cancelButton.isVisible(), timeout=TIMEOUT_MS)
    task = wf.phrase_task
    qtbot.mouseClick(p.cancelButton, Qt.LeftButton)
    qtbot.waitUntil(lambda: task.done() and wf.phrase_task is None, timeout=TIMEOUT_MS)
    assert task.cancelled()
    assert p.banner.title.text() == "Cancelled"
    assert p.loginButton.isEnabled() and p.words.isEnabled() and not p.cancelButton.isVisible()
    assert wf.current_page() == "phrase"
    assert not run(w.session.app.status()).logged_in
