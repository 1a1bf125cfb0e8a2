"""The push channel's state in the status bar: "live", "connecting…", "offline ·
reconnecting in 4 s" (client/sync.py's ConnectionStateChanged, through the bridge). Hints only make the window fresher: offline, everything still
works, and pages still reload on their own actions."""

from __future__ import annotations

import math
import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QWidget

from kbapp.client.sync import ConnectionStateChanged

from .widgets import IconLabel, label

TIPS = {
    "online": "Connected: changes made elsewhere (a new device, a team edit) show up at once.",
    "connecting": "Connecting to the server's push channel…",
    "offline": "The server's push channel is down: changes made elsewhere show up when you reload.",
    "backoff": "The server's push channel is down; kbapp retries by itself.",
}


class PushStatus(QWidget):
    def __init__(self, bridge, parent=None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 2, 10, 2)
        lay.setSpacing(6)
        lay.addWidget(IconLabel("globe", "text-faint", 14))
        self.text = label("")
        self.text.setObjectName("statusPush")
        lay.addWidget(self.text)
        self.state, self._retry_at = "offline", 0.0
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._render)
        bridge.listen(ConnectionStateChanged, self._event, owner=self)
        self._render()

    def _event(self, ev: ConnectionStateChanged) -> None:
        self.state = ev.state
        self._retry_at = time.monotonic() + ev.retry_in
        self._render()

    def _render(self) -> None:
        left = math.ceil(max(0.0, self._retry_at - time.monotonic()))
        if self.state == "online":
            text = "live"
        elif self.state == "connecting":
            text = "connecting…"
        elif self.state == "backoff" and left > 0:
            text = f"offline · reconnecting in {left} s"
        else:
            text = "offline"
        self.text.setText(text)
        self.setToolTip(TIPS.get(self.state, ""))
        if self.state == "backoff" and left > 0:
            self._tick.start()
        else:
            self._tick.stop()
