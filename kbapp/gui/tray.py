"""The system tray icon, with an alert state.

`set_alert(True, title, message)` swaps to the icon with a red dot and, when
notifications are on, shows a desktop notification; `set_alert(False)` (or a
click on the icon) clears it. For now the only caller is a verification failure
(the server caught lying); chat mentions and shared files will call it in later
issues. Where the platform has no tray (offscreen, a bare X server), the state is
still kept so the rest of the app and the tests can rely on it.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from .assets import svg_pixmap
from .plain import plain_notice


class Tray(QObject):
    activated = Signal()      # the user wants the window
    quitRequested = Signal()

    def __init__(self, parent=None, notifications: bool = True):
        super().__init__(parent)
        self.alert = False
        self.alert_text = ""
        self.notifications = notifications
        self.last_notice: tuple[str, str] | None = None
        self.last_message: tuple[str, str] | None = None   # the latest chat notification, as shown
        self.unread = 0
        self._normal = QIcon(svg_pixmap("tray", 32, dpr=1.0))
        self._alert = QIcon(svg_pixmap("tray-alert", 32, dpr=1.0))
        self.icon: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.icon = QSystemTrayIcon(self._normal, self)
            self.icon.setToolTip("kbapp")
            menu = QMenu()
            show = QAction("Show kbapp", menu)
            show.triggered.connect(self._open)
            quit_ = QAction("Quit", menu)
            quit_.triggered.connect(self.quitRequested.emit)
            menu.addAction(show)
            menu.addSeparator()
            menu.addAction(quit_)
            self._menu = menu
            self.icon.setContextMenu(menu)
            self.icon.activated.connect(lambda reason: self._open()
                                        if reason == QSystemTrayIcon.Trigger else None)
            self.icon.show()

    @property
    def available(self) -> bool:
        return self.icon is not None

    def set_alert(self, on: bool, title: str = "", message: str = "") -> None:
        """The alert hook: see the module docstring."""
        self.alert = on
        self.alert_text = f"{title}: {message}" if on and message else title if on else ""
        if self.icon is None:
            return
        self.icon.setIcon(self._alert if on else self._normal)
        # desktops render tray tooltips and notification bodies as markup, or not: no markup characters
        self.icon.setToolTip(plain_notice(f"kbapp — {title}") if on else "kbapp")
        if on and self.notifications and QSystemTrayIcon.supportsMessages():
            self.icon.showMessage(plain_notice(title), plain_notice(message), QSystemTrayIcon.Warning, 10_000)

    def notify(self, title: str, message: str) -> None:
        """A plain note (not an alert), e.g. that closing the window left kbapp running."""
        self.last_notice = (title, message)
        if self.icon is not None and QSystemTrayIcon.supportsMessages():
            self.icon.showMessage(plain_notice(title), plain_notice(message), QSystemTrayIcon.Information, 8_000)

    def message(self, title: str, text: str) -> None:
        """A chat notification (a DM, a mention): plain text, the sender's verified name in `title`."""
        self.last_message = (plain_notice(title), plain_notice(text))
        if self.notifications and self.icon is not None and QSystemTrayIcon.supportsMessages():
            self.icon.showMessage(*self.last_message, QSystemTrayIcon.Information, 8_000)

    def set_unread(self, n: int) -> None:
        """Unread chat messages, on the icon's tooltip (a number the desktop may badge)."""
        self.unread = max(0, int(n))
        if self.icon is not None and not self.alert:
            self.icon.setToolTip(f"kbapp — {self.unread} unread" if self.unread else "kbapp")

    def _open(self) -> None:
        self.set_alert(False)
        self.activated.emit()

    def hide(self) -> None:
        if self.icon is not None:
            self.icon.hide()
