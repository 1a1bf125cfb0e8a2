"""An exploding message never puts its text in a desktop notification (the notification
daemon keeps a history the app cannot scrub): the notice says only that one arrived."""

from __future__ import annotations

from chat_gui_support import line_with, open_dm, two_windows
from gui_support import TIMEOUT_MS


def test_an_exploding_message_is_announced_without_its_text(qtbot, alice_window, make_window, tmp_path, run):
    wa, wb = two_windows(alice_window, make_window, tmp_path, qtbot)
    a, b = wa.shell.chat, wb.shell.chat
    open_dm(qtbot, run, a, "alice,bob")
    open_dm(qtbot, run, b, "alice,bob")
    run(a.app.chat.conversations(sync=True))         # alice's client has today's device EK
    wa.shell.go("people")                            # the conversation is not in front of alice
    run(b.app.chat.send("alice,bob", "the vault code is 4711", exploding="1h"))
    qtbot.waitUntil(lambda: wa.tray.last_message is not None, timeout=TIMEOUT_MS)
    assert wa.tray.last_message == ("bob", "(an exploding message)")
    qtbot.waitUntil(lambda: line_with(a, "the vault code is 4711") is not None, timeout=TIMEOUT_MS)
