"""The per-conversation "Sensitive images" choice of the Chat page: blurred until clicked (the
default) or shown, in the conversation's header.

A mixin of ChatPage through ChatInline (inline.py). The choice is this profile's own (the
chat store's meta table, client/chat/prefs.py: read and written off the Qt thread), applied
at once to the open timeline (the image rows change in place) and read back when the
conversation opens again, after a restart too. Choosing "blur" again blurs every image of
the conversation, those clicked open this session included.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QPushButton

from kbapp.client.chat import prefs

from ... import ops

LABELS = {prefs.BLUR: "Sensitive images: blurred", prefs.SHOW: "Sensitive images: shown"}


class ChatSensitive:
    def _setup_sensitive(self) -> None:
        self.sensitive_shown: dict[str, bool] = {}     # conv id -> shown (what the store said, or chose)
        self.sensitive_button = b = QPushButton(LABELS[prefs.BLUR])
        b.setObjectName("sensitiveButton")
        b.setToolTip("How images flagged as sensitive show in this conversation (kept on this device)")
        menu = QMenu(b)
        group = QActionGroup(menu)
        self.sensitive_actions: dict[str, QAction] = {}
        for choice, text in ((prefs.BLUR, "Blur them until clicked (default)"), (prefs.SHOW, "Show them")):
            act = QAction(text, menu, checkable=True)
            act.setObjectName(f"sensitive_{choice}")
            act.triggered.connect(lambda _on=False, c=choice: self.set_sensitive(c == prefs.SHOW))
            group.addAction(act)
            menu.addAction(act)
            self.sensitive_actions[choice] = act
        b.setMenu(menu)
        b.setEnabled(False)
        head = self.middle.layout().itemAt(0).layout()        # the header row (page.py _build_middle)
        head.insertWidget(head.indexOf(self.mute_button), b)
        self._show_sensitive()

    def _show_sensitive(self) -> None:
        """The button says the open conversation's choice (blurred until it is known)."""
        known = self.current in self.sensitive_shown
        choice = prefs.SHOW if self.sensitive_shown.get(self.current) else prefs.BLUR
        self.sensitive_button.setText(LABELS[choice])
        self.sensitive_button.setEnabled(known)
        self.sensitive_actions[choice].setChecked(True)

    async def _load_sensitive(self, conv_id: str) -> None:
        """The stored choice of `conv_id`, once per session (in the reload, before its images)."""
        if conv_id in self.sensitive_shown:
            return
        shown = await prefs.sensitive_images(self.app.chat, conv_id) == prefs.SHOW
        self.sensitive_shown.setdefault(conv_id, shown)         # a click meanwhile wins
        if conv_id == self.current:
            self._show_sensitive()

    def image_shown(self, conv_id: str, msg_id: int) -> bool:
        """Drawn clear (if sensitive): the conversation shows them, or this one was clicked."""
        return self.sensitive_shown.get(conv_id, False) or (conv_id, msg_id) in self.revealed

    def set_sensitive(self, show: bool) -> None:
        """The user's choice for the open conversation: kept, and applied to its rows now."""
        conv = self.current
        if conv is None:
            return
        self.sensitive_shown[conv] = show
        if not show:
            self.revealed = {k for k in self.revealed if k[0] != conv}
        self.image_infos = {i: replace(info, revealed=self.image_shown(conv, i))
                            for i, info in self.image_infos.items()}
        self._show_sensitive()
        choice = prefs.SHOW if show else prefs.BLUR
        ops.run(self, lambda: prefs.set_sensitive_images(self.app.chat, conv, choice), key=("sensitive", conv),
                banner=self.banner, cursor=False, clear=False)
        self.reload(conv)
