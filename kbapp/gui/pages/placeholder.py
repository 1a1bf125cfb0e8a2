"""Chat, Files, Photos and Teams: marked "coming", with what each will do."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QVBoxLayout

from ..widgets import IconLabel, label
from .base import Page

WHAT = {
    "chat": ("Chat", "End-to-end encrypted conversations with people and teams. Each message is "
             "sealed on your device and carries the log checkpoint its sender saw, so a server "
             "showing two people two different worlds is caught."),
    "files": ("Files", "Encrypted folders shared with people and teams (/private/alice,bob, "
              "/public/alice, /team/acme), readable only by the devices you choose."),
}


class ComingPage(Page):
    def __init__(self, key: str, icon_name: str, parent=None, *, pill_text: str = "COMING",
                 headline: str | None = None, text: str | None = None):
        name, what = WHAT.get(key, (key.title(), ""))
        text = what if text is None else text
        super().__init__(name, parent=parent)
        self.setObjectName("page")
        box = QFrame()
        box.setProperty("role", "placeholder")
        box.setObjectName(f"coming_{key}")
        lay = QVBoxLayout(box)
        lay.setContentsMargins(96, 48, 96, 52)
        lay.setSpacing(12)
        lay.addWidget(IconLabel(icon_name, "text-faint", 56), 0, Qt.AlignHCenter)
        pill = label(pill_text, "pill")
        lay.addWidget(pill, 0, Qt.AlignHCenter)
        head = label(headline or f"{name} is coming in a later version", "name")
        head.setAlignment(Qt.AlignHCenter)
        lay.addWidget(head)
        body = label(text, "muted", wrap=True)
        body.setAlignment(Qt.AlignHCenter)
        lay.addWidget(body)
        self.body.addWidget(box)
        self.body.addStretch(1)
