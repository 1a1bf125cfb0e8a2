"""The shell's pieces: sidebar, placeholders, settings, themes, tray; and the async rules."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from kbapp.gui import theme
from kbapp.gui.session import PREF_NOTIFICATIONS, PREF_THEME

from gui_support import TIMEOUT_MS

GUI = Path(__file__).resolve().parents[2] / "kbapp" / "gui"


def test_sidebar_pages_and_placeholders(qtbot, alice_window):
    w, _ = alice_window
    shell = w.shell
    assert shell.current_key() == "people"
    for key in [s.key for s in shell.model.sections if s.coming]:   # pages not built yet
        shell.go(key)
        page = shell.pages.currentWidget()
        assert page.property("section") == key
        texts = " ".join(lab.text() for lab in page.findChildren(type(page.title)))
        assert "COMING" in texts and "coming in a later version" in texts


def test_settings_show_server_profile_and_persist_choices(qtbot, alice_window):
    w, url = alice_window
    shell = w.shell
    shell.go("settings")
    f = shell.settings.form
    qtbot.waitUntil(lambda: f.serverUrl.text() == url, timeout=TIMEOUT_MS)
    st_fp = f.serverFingerprint.text()
    assert len(st_fp.split()) >= 4
    assert "On this computer" in f.serverKind.text()
    assert f.profileDir.text() == str(w.session.home)
    assert f.username.text() == "alice"

    f.themeCombo.setCurrentIndex(2)  # dark
    assert w.session.app.preference(PREF_THEME) == "dark"
    assert theme.current().scheme == "dark"
    window_colour = QApplication.instance().palette().color(QPalette.Window).name()
    assert window_colour == theme.tokens("dark")["window"]
    f.themeCombo.setCurrentIndex(1)  # light
    assert theme.current().scheme == "light"
    f.themeCombo.setCurrentIndex(0)  # follow the system
    assert theme.current().choice == "system"
    assert theme.current().scheme == theme.system_scheme()

    f.notificationsCheck.setChecked(False)
    assert w.session.app.preference(PREF_NOTIFICATIONS) == "0"
    assert w.tray.notifications is False


def test_both_themes_define_every_token():
    for scheme in ("light", "dark"):
        css = theme.stylesheet(scheme)
        assert "@" not in re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    assert set(theme.tokens("light")) == set(theme.tokens("dark"))


def test_tray_alert_hook(qloop):
    from kbapp.gui.tray import Tray

    tray = Tray()
    tray.set_alert(True, "Title", "message")
    assert tray.alert and tray.alert_text == "Title: message"
    tray.set_alert(False)
    assert not tray.alert and tray.alert_text == ""


def test_no_nested_event_loops_in_gui_code():
    """Dialogs are opened with .open() and awaited; exec() would nest a loop inside asyncio."""
    offenders = [f"{p.name}: {line.strip()}" for p in GUI.rglob("*.py")
                 for line in p.read_text().splitlines()
                 if re.search(r"\.exec_?\(\)", line) and "no asyncio here" not in line]
    assert offenders == []


def test_desktop_file_and_app_id(qloop):
    from PySide6.QtGui import QGuiApplication

    from kbapp.gui.main import APP_ID

    desktop = Path(__file__).resolve().parents[2] / "packaging" / f"{APP_ID}.desktop"
    text = desktop.read_text()
    assert "Exec=kbapp" in text and f"Icon={APP_ID}" in text
    assert QGuiApplication.desktopFileName() == APP_ID
    assert not QApplication.windowIcon().isNull()


def test_many_signal_emits_do_not_free_true(qloop):
    """PySide6 6.12's emit() drops a reference to True each time (see kbapp/gui/qtfix.py)."""
    import subprocess
    import sys

    code = ("import os; os.environ['QT_QPA_PLATFORM']='offscreen'\n"
            "from kbapp.gui.main import setup_application\n"
            "from PySide6.QtCore import QObject, Signal\n"
            "setup_application([])\n"
            "class O(QObject):\n    s = Signal(int)\n"
            "o = O()\n"
            "for i in range(50000): o.s.emit(i)\n"
            "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_kbapp_without_subcommand_launches_the_gui(monkeypatch, tmp_path):
    from kbapp.main import embedded_server, main

    seen = []
    monkeypatch.setattr("kbapp.gui.main.run", lambda home, server_factory: seen.append((home, server_factory)) or 0)
    assert main(["--home", str(tmp_path)]) == 0
    assert seen == [(tmp_path, embedded_server)]
