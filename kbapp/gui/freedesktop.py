"""Desktop notifications through the freedesktop notification service (org.freedesktop.Notifications
on the session bus), where there is one; the caller falls back to the tray's message otherwise.

Plain text only. The spec lets a server render the body as markup (capability
`body-markup`: <b>, <i>, <a href>, <img src>), so for such a server the body is escaped
(`&lt;b&gt;` shows as `<b>`); for one without it the text goes as typed, which it shows
verbatim. The summary is plain text by the spec; it is sent with the tray's look-alikes
for markup characters all the same (some servers render it anyway).

The call is made with jeepney (already installed with keyring on Linux), in a worker
thread: PySide6's QtDBus marshals Python ints and lists as `i` and `av`, so it cannot
send Notify's `susssasa{sv}i` (servers built on GDBus refuse the call). A failure of any
kind returns False: a notice is best effort.
"""

from __future__ import annotations

import asyncio
import html
import logging
import os

from .plain import plain_notice

log = logging.getLogger(__name__)

SERVICE = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
TIMEOUT_S = 2.0


def _call(address: str, method: str, signature: str | None = None, body: tuple = ()):
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    with open_dbus_connection(bus=address) as conn:
        msg = new_method_call(DBusAddress(PATH, bus_name=SERVICE, interface=SERVICE), method, signature, body)
        reply = conn.send_and_get_reply(msg, timeout=TIMEOUT_S)
    if reply.header.message_type.name != "method_return":
        raise RuntimeError(f"{method}: {reply.body[0] if reply.body else 'error'}")
    return reply.body


def notice_body(text: str, capabilities) -> str:
    """The body as the server will show it literally: escaped where it reads markup."""
    text = text or ""
    return html.escape(text, quote=False) if "body-markup" in capabilities else text


class DesktopNotices:
    """The session bus's notification service; `notify` returns False when there is none."""

    def __init__(self, address: str | None = None, app_name: str = "kbapp"):
        self.address = address
        self.app_name = app_name
        self.capabilities: list[str] | None = None
        self.sent: list[tuple[str, str]] = []      # (summary, body) as sent (tests)
        self.broken = False                        # a call failed: the tray from now on

    def _bus(self) -> str | None:
        return self.address or os.environ.get("DBUS_SESSION_BUS_ADDRESS") or None

    async def notify(self, title: str, text: str) -> bool:
        bus = self._bus()
        if bus is None or self.broken:
            return False
        loop = asyncio.get_running_loop()
        try:
            if self.capabilities is None:
                (caps,) = await loop.run_in_executor(None, _call, bus, "GetCapabilities")
                self.capabilities = [str(c) for c in caps]
            summary, body = plain_notice(title), notice_body(text, self.capabilities)
            await loop.run_in_executor(None, _call, bus, "Notify", "susssasa{sv}i",
                                       (self.app_name, 0, "", summary, body, [], {}, -1))
        except Exception as e:  # noqa: BLE001 - no bus, no service, a refusal: the tray instead
            log.info("desktop notifications: %s: %s", type(e).__name__, e)
            self.broken = True
            return False
        self.sent.append((summary, body))
        return True
