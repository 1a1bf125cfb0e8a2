"""The "bob is typing…" line under the timeline, and the composer's typing notices.

ChatTyping events (client/chat/typing.py: a push hint the server could forge or drop, naming
a verified member) are shown for SHOW_FOR seconds in the conversation they name, as plain
text. Typing in the composer tells the others through ops.run (never blocking the Qt
thread), at most once per NOTICE_EVERY seconds per conversation; a failure is silent: a
missed typing notice is not worth a banner.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel

from kbapp.client.chat.models import ChatTyping

from ... import ops

SHOW_FOR = 5.0          # seconds a typing notice stays up
NOTICE_EVERY = 3.0      # seconds between two notices we send for one conversation


class TypingLine(QLabel):
    def __init__(self, page, bridge):
        super().__init__("")
        self.page = page
        self.setObjectName("typingLine")
        self.setTextFormat(Qt.PlainText)                # names are other people's text
        self.setProperty("role", "muted")
        self.setContentsMargins(16, 2, 16, 2)
        self.clock = time.monotonic
        self.until: dict[tuple[str, str], float] = {}   # (conv id, username) -> shown until
        self._sent: dict[str, float] = {}               # conv id -> when we last sent a notice
        self.timer = QTimer(self)
        self.timer.setInterval(250)
        self.timer.timeout.connect(self.render)
        self.hide()
        bridge.listen(ChatTyping, self.heard, owner=self)
        page.composer.edit.textChanged.connect(self.composer_changed)

    def heard(self, ev: ChatTyping) -> None:
        self.until[(ev.conv_id, ev.username)] = self.clock() + SHOW_FOR
        self.timer.start()
        self.render()

    def names(self) -> list[str]:
        now, conv = self.clock(), self.page.current
        self.until = {k: t for k, t in self.until.items() if t > now}
        return sorted(name for (c, name) in self.until if c == conv)

    def render(self) -> None:
        names = self.names()
        if not self.until:
            self.timer.stop()
        if not names:
            self.setText("")
            self.hide()
            return
        if len(names) == 1:
            text = f"{names[0]} is typing…"
        elif len(names) <= 3:
            text = f"{', '.join(names[:-1])} and {names[-1]} are typing…"
        else:
            text = "several people are typing…"
        self.setText(text)
        self.show()

    def composer_changed(self) -> None:
        conv, page = self.page.current, self.page
        if conv is None or page.editing is not None or not page.composer.edit.toPlainText().strip():
            return
        now = self.clock()
        last = self._sent.get(conv)
        if last is not None and now - last < NOTICE_EVERY:
            return
        self._sent[conv] = now
        ops.run(page, lambda: page.app.chat.typing(conv), key=("typing", conv), cursor=False, clear=False,
                on_error=lambda _e: None)
