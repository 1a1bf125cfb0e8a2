"""Keyboard: shortcuts, the quick switcher, Escape, tab order; closing to the tray and quitting."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QApplication, QComboBox, QHeaderView,
                               QLineEdit,
                               QWidget)

from kbapp.gui.shortcuts import SHORTCUTS

from gui_support import TIMEOUT_MS


def _activate(qtbot, w) -> None:
    w.raise_()
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)


def test_page_keys_search_and_refresh(qtbot, alice_window):
    w, _ = alice_window
    shell = w.shell
    _activate(qtbot, w)
    for n, key in enumerate(s.key for s in shell.model.sections):
        qtbot.keyClick(w, getattr(Qt, f"Key_{n + 1}"), Qt.ControlModifier)
        assert shell.current_key() == key
    qtbot.keyClick(w, Qt.Key_4, Qt.ControlModifier)
    assert shell.current_key() == "people"
    qtbot.keyClick(w, Qt.Key_F, Qt.ControlModifier)
    assert QApplication.focusWidget() is shell.people.search
    qtbot.keyClicks(shell.people.search, "bob")
    qtbot.keyClick(shell.people.search, Qt.Key_Return)
    qtbot.waitUntil(lambda: shell.people.card.ident is not None, timeout=TIMEOUT_MS)
    assert shell.people.card.name.text() == "bob"
    # F5 looks bob up again (the card goes through "checking")
    shell.people.card.ident = None
    qtbot.keyClick(w, Qt.Key_F5)
    qtbot.waitUntil(lambda: shell.people.card.ident is not None, timeout=TIMEOUT_MS)
    # Escape clears the search field; a second Escape leaves it empty
    shell.people.search.setFocus()
    qtbot.keyClick(shell.people.search, Qt.Key_Escape)
    assert shell.people.search.text() == ""


def test_help_lists_every_shortcut_and_escape_closes_it(qtbot, alice_window):
    w, _ = alice_window
    _activate(qtbot, w)
    qtbot.keyClick(w, Qt.Key_F1)
    dlg = w.keys.help
    qtbot.waitUntil(lambda: dlg is not None and dlg.isVisible(), timeout=5000)
    shown = {dlg.table.item(r, 0).text() for r in range(dlg.table.rowCount())}
    assert shown == {k for k, _ in SHORTCUTS}
    for keys in ("Ctrl+Q", "Ctrl+W", "Ctrl+F", "Ctrl+K", "F5", "Escape"):
        assert keys in shown
    # every action in the menus has its key, and the menu names it
    for name in ("quitAction", "closeWindowAction", "quickSwitchAction", "findAction", "refreshAction",
                 "shortcutsAction"):
        assert not w.keys.actions[name].shortcut().isEmpty()
    qtbot.keyClick(dlg, Qt.Key_Escape)
    qtbot.waitUntil(lambda: not dlg.isVisible(), timeout=5000)


def test_quick_switcher_pages_teams_and_people(qtbot, alice_window, run):
    w, _ = alice_window
    shell = w.shell
    run(w.app.create_team("acme"))
    run(shell.teams.refresh())
    _activate(qtbot, w)
    qtbot.keyClick(w, Qt.Key_K, Qt.ControlModifier)
    sw = w.keys.switcher
    assert sw is not None and sw.isVisible()
    qtbot.keyClicks(sw.edit, "sett")
    assert sw.list.currentItem().text() == "Settings (page)"
    qtbot.keyClick(sw.edit, Qt.Key_Return)
    qtbot.waitUntil(lambda: shell.current_key() == "settings", timeout=5000)

    _activate(qtbot, w)
    qtbot.keyClick(w, Qt.Key_K, Qt.ControlModifier)
    sw = w.keys.switcher
    qtbot.keyClicks(sw.edit, "acm")
    assert sw.list.currentItem().text() == "acme (team)"
    qtbot.keyClick(sw.edit, Qt.Key_Return)
    qtbot.waitUntil(lambda: shell.current_key() == "teams" and shell.teams.current_name() == "acme",
                    timeout=TIMEOUT_MS)

    _activate(qtbot, w)
    qtbot.keyClick(w, Qt.Key_K, Qt.ControlModifier)
    sw = w.keys.switcher
    qtbot.keyClicks(sw.edit, "bob")
    qtbot.keyClick(sw.edit, Qt.Key_Down)     # arrows move in the list while typing
    assert sw.list.currentItem().text() == "Look up bob"
    qtbot.keyClick(sw.edit, Qt.Key_Return)
    qtbot.waitUntil(lambda: shell.people.card.ident is not None, timeout=TIMEOUT_MS)
    assert shell.current_key() == "people" and shell.people.card.name.text() == "bob"

    _activate(qtbot, w)
    qtbot.keyClick(w, Qt.Key_K, Qt.ControlModifier)
    sw = w.keys.switcher
    qtbot.keyClick(sw.edit, Qt.Key_Escape)
    qtbot.waitUntil(lambda: w.keys.switcher is None, timeout=5000)


def _focusable(page: QWidget) -> list[QWidget]:
    """What a mouse can use on the page now: visible, enabled buttons, fields, lists."""
    out = []
    for cls in (QAbstractButton, QLineEdit, QComboBox, QAbstractItemView):
        for wid in page.findChildren(cls):
            if wid.isVisibleTo(page) and wid.isEnabled() and wid.isVisible():
                if isinstance(wid.parent(), (QComboBox, QLineEdit)) or isinstance(wid, QHeaderView):
                    continue   # parts of another control
                if (isinstance(wid, QAbstractItemView)
                        and wid.selectionMode() == QAbstractItemView.NoSelection):
                    continue   # a read-only table: nothing to do there
                out.append(wid)
    return out


def test_every_control_is_reached_with_tab(qtbot, alice_window, run):
    w, _ = alice_window
    shell = w.shell
    run(w.app.create_team("acme"))
    _activate(qtbot, w)
    for key in ("people", "teams", "devices", "settings"):
        shell.go(key)
        page = shell.pages.currentWidget()
        if key == "teams":
            run(shell.teams.refresh())
        if key == "people":
            shell.people.search.setText("bob")
            run(shell.people.lookup("bob"))
        qtbot.wait(50)
        want = _focusable(page)
        assert want, key
        shell.nav.setFocus(Qt.TabFocusReason)
        seen: set[int] = set()
        for _ in range(200):
            qtbot.keyClick(QApplication.focusWidget(), Qt.Key_Tab)
            f = QApplication.focusWidget()
            seen.add(id(f))
            if f is shell.nav:
                break
        missed = [f"{type(x).__name__} {x.objectName() or getattr(x, 'text', lambda: '')()}"
                  for x in want if id(x) not in seen]
        assert missed == [], (key, missed)


def test_close_hides_to_tray_once_told_and_quit_quits(qtbot, alice_window, monkeypatch):
    w, _ = alice_window
    monkeypatch.setattr(type(w.tray), "available", property(lambda self: True))
    w.close()
    assert not w.isVisible() and not w._closing      # hidden, still running
    assert w.tray.last_notice is not None and "still running" in w.tray.last_notice[0]
    w.tray.last_notice = None
    w.tray._open()                                   # the tray icon brings it back
    assert w.isVisible()
    _activate(qtbot, w)
    qtbot.keyClick(w, Qt.Key_W, Qt.ControlModifier)  # Ctrl+W: the same, and no second notice
    assert not w.isVisible() and not w._closing and w.tray.last_notice is None
    assert w.session.app.preference("gui.tray_told") == "1"    # remembered: the next run does not tell again
    w.told_about_tray = False                        # (as a new window of this profile would start)
    w.tray._open()
    w.close()
    assert not w.isVisible() and w.tray.last_notice is None
    w.tray.quitRequested.emit()                      # the tray's Quit really quits
    qtbot.waitUntil(lambda: w._closed, timeout=TIMEOUT_MS)
    assert w.session.server is None or not w.session.embedded


def test_without_a_tray_closing_quits(qtbot, alice_window):
    w, _ = alice_window
    assert not w.tray.available                      # offscreen: no tray
    _activate(qtbot, w)
    qtbot.keyClick(w, Qt.Key_Q, Qt.ControlModifier)
    qtbot.waitUntil(lambda: w._closed, timeout=TIMEOUT_MS)
