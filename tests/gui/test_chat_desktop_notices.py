"""Chat notifications through the freedesktop notification service (issue 15), on a real
private session bus (dbus-daemon) with a notification server that reads markup
(`body-markup`, as GNOME's and dunst's do), and the tray when there is no such service.

bob's message is HTML (`<img src=x>`, `<a href=...>`, `<b>`): what the server is handed,
rendered as markup the way such a server does, reads exactly as bob typed it.
"""

from __future__ import annotations

import shutil
import subprocess
import threading

import pytest
from PySide6.QtGui import QTextDocument

from chat_gui_support import open_dm, two_windows, type_and_enter
from gui_support import TIMEOUT_MS

EVIL = '<img src=x> <a href="http://evil.example/">click</a> <b>bold</b> & co'


class FakeNotificationServer:
    """org.freedesktop.Notifications on a private bus, recording each Notify (jeepney, a thread)."""

    def __init__(self, address: str, capabilities=("body", "body-markup")):
        from jeepney.bus_messages import message_bus
        from jeepney.io.blocking import open_dbus_connection

        self.calls: list[tuple[str, tuple]] = []
        self.capabilities = list(capabilities)
        self.conn = open_dbus_connection(bus=address)
        self.conn.send_and_get_reply(message_bus.RequestName("org.freedesktop.Notifications"))
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        from jeepney import HeaderFields, MessageType, new_method_return

        while not self.stop:
            try:
                msg = self.conn.receive(timeout=0.2)
            except TimeoutError:
                continue
            except Exception:   # noqa: BLE001 - the bus went away: the test is over
                return
            if msg.header.message_type != MessageType.method_call:
                continue
            member = msg.header.fields.get(HeaderFields.member)
            self.calls.append((member, msg.header.fields.get(HeaderFields.signature), msg.body))
            if member == "GetCapabilities":
                self.conn.send(new_method_return(msg, "as", (self.capabilities,)))
            elif member == "Notify":
                self.conn.send(new_method_return(msg, "u", (len(self.calls),)))

    def notifies(self) -> list:
        return [c for c in self.calls if c[0] == "Notify"]

    def close(self) -> None:
        self.stop = True
        self.thread.join(2)
        self.conn.close()


@pytest.fixture
def session_bus(monkeypatch):
    exe = shutil.which("dbus-daemon")
    if exe is None:
        pytest.fail("dbus-daemon is missing (apt install dbus-daemon)")
    proc = subprocess.Popen([exe, "--session", "--nofork", "--print-address=1"], stdout=subprocess.PIPE, text=True)
    address = proc.stdout.readline().strip()
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
    yield address
    proc.terminate()
    proc.wait(5)


def test_a_dm_notice_goes_to_the_notification_service_as_literal_text(qtbot, alice_window, make_window,
                                                                      tmp_path, run, session_bus):
    server = FakeNotificationServer(session_bus)
    try:
        wa, wb = two_windows(alice_window, make_window, tmp_path, qtbot)
        a, b = wa.shell.chat, wb.shell.chat
        open_dm(qtbot, run, a, "alice,bob")
        open_dm(qtbot, run, b, "alice,bob")
        wa.shell.go("people")                      # the conversation is not in front of alice
        type_and_enter(qtbot, b.composer.edit, EVIL)
        qtbot.waitUntil(lambda: bool(server.notifies()), timeout=TIMEOUT_MS)
        _member, signature, body = server.notifies()[0]
        assert signature == "susssasa{sv}i"                   # what GDBus-based servers accept
        app_name, _replaces, _icon, summary, text, actions, hints, _timeout = body
        assert (app_name, summary, actions, hints) == ("kbapp", "bob", [], {})
        doc = QTextDocument()
        doc.setHtml(text)                                     # as a body-markup server renders it
        assert doc.toPlainText() == EVIL
        assert wa.tray.last_message is None                   # not twice
    finally:
        server.close()


def test_without_the_service_the_tray_tells_it(qtbot, alice_window, make_window, tmp_path, run, session_bus):
    wa, wb = two_windows(alice_window, make_window, tmp_path, qtbot)
    a, b = wa.shell.chat, wb.shell.chat
    open_dm(qtbot, run, a, "alice,bob")
    open_dm(qtbot, run, b, "alice,bob")
    wa.shell.go("people")
    type_and_enter(qtbot, b.composer.edit, EVIL)
    qtbot.waitUntil(lambda: wa.tray.last_message is not None, timeout=TIMEOUT_MS)
    assert wa.tray.last_message[0] == "bob" and not any(ch in wa.tray.last_message[1] for ch in "<>&")
    assert a.notifier.desktop.sent == []
