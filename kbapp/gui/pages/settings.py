"""Settings (ui/settings.ui): server, profile, theme, notifications.

Theme and notifications are preferences kept in the client store (`App.preference`),
so they follow the profile rather than the machine.
"""

from __future__ import annotations

import qasync
from PySide6.QtWidgets import QVBoxLayout, QWidget

from .. import theme
from ..forms import load_form
from ..session import PREF_NOTIFICATIONS, PREF_THEME
from ..widgets import guarded
from .base import MARGINS

THEMES = ("system", "light", "dark")


class SettingsPage(QWidget):
    def __init__(self, session, tray=None, parent=None):
        super().__init__(parent)
        self.setObjectName("page")
        self.session = session
        self.app = session.app
        self.tray = tray
        self.form = load_form("settings", self)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(MARGINS[0], MARGINS[1], MARGINS[2], MARGINS[3])
        lay.addWidget(self.form.widget)
        f = self.form
        choice = self.app.preference(PREF_THEME, "system")
        f.themeCombo.setCurrentIndex(THEMES.index(choice) if choice in THEMES else 0)
        f.notificationsCheck.setChecked(self.app.preference(PREF_NOTIFICATIONS, "1") == "1")
        f.themeCombo.currentIndexChanged.connect(self.theme_changed)
        f.notificationsCheck.toggled.connect(self.notifications_changed)

    def theme_changed(self, index: int) -> None:
        choice = THEMES[index]
        self.app.set_preference(PREF_THEME, choice)
        theme.current().set_choice(choice)

    def notifications_changed(self, on: bool) -> None:
        self.app.set_preference(PREF_NOTIFICATIONS, "1" if on else "0")
        if self.tray is not None:
            self.tray.notifications = on

    def shown(self) -> None:
        self.refresh_clicked()

    @qasync.asyncSlot()
    async def refresh_clicked(self) -> None:
        await guarded(self.refresh())

    async def refresh(self) -> None:
        st = await self.app.status()
        f = self.form
        f.username.setText(st.username or "not logged in")
        f.deviceName.setText(st.device_name or "—")
        f.serverUrl.setText(st.server_url or "none yet")
        f.serverFingerprint.setText(st.server_fingerprint or "—")
        s = self.session
        if s.embedded:
            f.serverKind.setText(f"On this computer: kbapp starts it with the app, on the same port each "
                                 f"time. Its data is in {s.embedded_dir()}.")
        else:
            f.serverKind.setText("Elsewhere: kbapp pinned its key at first contact and checks every "
                                 "answer against it.")
        f.profileDir.setText(st.home)
        f.keystoreKind.setText({"keyring": "In the system keyring",
                                "file": "In a passphrase-sealed file in the profile folder",
                                "memory": "In memory only (tests): lost when kbapp quits"}
                               .get(st.keystore, "Not unlocked yet"))
