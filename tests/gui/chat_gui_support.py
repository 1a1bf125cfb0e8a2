"""Helpers for the Chat page tests (not a test module): two windows, finding rows, typing."""

from __future__ import annotations

from PySide6.QtCore import Qt

from gui_support import TIMEOUT_MS


def two_windows(alice_window, make_window, tmp_path, qtbot):
    """alice's window (her embedded server) and bob's (his own profile on that server), both on Chat."""
    wa, _url = alice_window
    wb = make_window(tmp_path / "bob")
    for w in (wa, wb):
        qtbot.waitUntil(lambda w=w: w.shell is not None and w.shell.chat.loaded, timeout=TIMEOUT_MS)
        w.shell.go("chat")
    return wa, wb


def lines(page, thread: bool = False) -> list:
    model = page.thread.model if thread else page.model
    return list(model.items)


def texts(page, thread: bool = False) -> list[str]:
    return [ln.msg.text for ln in lines(page, thread) if ln.msg is not None]


def line_with(page, text: str, thread: bool = False):
    for ln in lines(page, thread):
        if ln.msg is not None and ln.msg.text == text:
            return ln
    return None


def idle(page) -> bool:
    t = page._reloading.get(page.current)
    return (t is None or t.done()) and not page._dirty


def type_and_enter(qtbot, edit, text: str) -> None:
    edit.setFocus()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key_Return)


def open_dm(qtbot, run, page, name: str) -> None:
    run(page.open_named(name))
    qtbot.waitUntil(lambda: page.current is not None and idle(page), timeout=TIMEOUT_MS)


def click_part(qtbot, page, view, row: int, part: str, chip: int = 0):
    """Click a painted part of a timeline row (retry, delete, chips, thread, quote, file)."""
    from kbapp.gui.pages.chat.delegate import layout

    idx = view.model().index(row)
    rect = view.visualRect(idx)
    parts = layout(rect, idx.data(Qt.UserRole + 1), view.font())
    r = parts.chips[chip][0] if part == "chip" else getattr(parts, part)
    assert r is not None, f"row {row} has no {part}"
    qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=r.center())
