"""The Chat page's inline extras: images in the timeline, an edit's earlier versions, and
jumping to a message from elsewhere (a photo from chat on the Photos page).

A mixin of ChatPage (page.py), like actions.py, so page.py stays about layout and live
updates. Everything read here (previews, tags, the supersedes chain) is read off the Qt
thread; every string shown is someone's text and is shown as plain text.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QScrollArea, QVBoxLayout, QWidget

from kbapp.client.chat.history import edit_history

from ... import ops
from .images import PreviewCache, image_infos, image_messages
from .sensitive import ChatSensitive

RECHECKS = 15          # an image not yet in the photo index is looked at again this many times


class ChatInline(ChatSensitive):
    def _setup_inline(self) -> None:
        self.image_infos: dict[int, object] = {}     # msg id -> ImageInfo (the open conversation's)
        self.revealed: set[tuple[str, int]] = set()  # (conv id, msg id) shown unblurred, this session
        self._rechecks = 0
        self.previews = PreviewCache(self)
        for d, v in ((self.delegate, self.timeline), (self.thread.delegate, self.thread.view)):
            d.images = self.previews
            d.showClicked.connect(self.reveal_image)
            d.editedClicked.connect(self.show_history)
            self.previews.ready.connect(lambda _p, _b, v=v: v.viewport().update() if ops.alive(v) else None)
        self.history_dialog = None
        self._setup_sensitive()

    async def _read_images(self, conv_id: str, tl) -> None:
        """ImageInfo for the image messages of `tl` that have none yet (or are unchecked)."""
        tries = self.__dict__.setdefault("_image_tries", {})
        await self._load_sensitive(conv_id)       # blurred or shown here: before any image is drawn
        if conv_id == self.current:
            self._show_sensitive()
        msgs = [m for m in image_messages(tl)
                if (i := self.image_infos.get(m.msg_id)) is None
                or ((i.unchecked or not i.width or not i.tags) and tries.get(m.msg_id, 0) < RECHECKS)]
        if not msgs:
            return
        for m in msgs:                      # indexed a moment ago: its tags may still be on the way
            tries[m.msg_id] = tries.get(m.msg_id, 0) + 1
        got = await image_infos(self.app, conv_id, msgs, self.revealed)
        if conv_id == self.current:
            self.image_infos.update({i: replace(info, revealed=self.image_shown(conv_id, i))   # as chosen now
                                     for i, info in got.items()})
            unchecked = any(i.unchecked or not i.tags for i in got.values()) or len(got) < len(msgs)
            if unchecked and self._rechecks < RECHECKS:     # indexed in a moment (our own upload)
                self._rechecks += 1
                QTimer.singleShot(2000, lambda: self.reload(conv_id) if ops.alive(self) else None)

    def reveal_image(self, msg_id: int) -> None:
        """"Show" on a blurred image: the clear preview, for this session (nothing is deleted)."""
        info = self.image_infos.get(msg_id)
        if info is None or self.current is None:
            return
        self.revealed.add((self.current, msg_id))
        self.image_infos[msg_id] = replace(info, revealed=True)
        self.reload(self.current)

    # -- edit history ---------------------------------------------------------------------------

    def show_history(self, msg_id: int) -> None:
        conv = self.current
        if conv is None:
            return
        ops.run(self, lambda: edit_history(self.app.chat, conv, msg_id), key=("history", msg_id),
                banner=self.banner, cursor=False, on_done=self._history_shown)

    def _history_shown(self, h) -> None:
        dlg = QDialog(self)
        dlg.setObjectName("editHistory")
        dlg.setWindowTitle(f"Edits of message #{h.target}")
        lay = QVBoxLayout(dlg)
        inner = QWidget()
        il = QVBoxLayout(inner)
        self.history_labels = []
        for n, v in enumerate(h.versions):
            head = "Now" if v.current else ("Original" if n == 0 else f"Edit {n}")
            cap = QLabel(f"{head} · #{v.msg_id}")
            cap.setTextFormat(Qt.PlainText)
            cap.setProperty("role", "muted")
            body = QLabel(v.text if v.text is not None else "(the original text is not kept on this device)")
            body.setTextFormat(Qt.PlainText)       # someone's text: never markup
            body.setWordWrap(True)
            body.setTextInteractionFlags(Qt.TextSelectableByMouse)
            body.setObjectName("historyVersion")
            il.addWidget(cap)
            il.addWidget(body)
            self.history_labels.append(body)
        if h.not_shown:
            note = QLabel(f"{h.not_shown} edit(s) not shown: they did not verify as {h.sender}'s")
            note.setTextFormat(Qt.PlainText)
            il.addWidget(note)
        il.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        lay.addWidget(scroll, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(dlg.reject)
        lay.addWidget(buttons)
        dlg.resize(420, 320)
        self.history_dialog, self.history = dlg, h
        dlg.open()

    # -- from elsewhere -------------------------------------------------------------------------

    def show_message(self, conv_id: str, msg_id: int) -> None:
        """Open a conversation at one message (the Photos page's "Show in chat")."""
        self.open_conv(conv_id)

        async def then():
            t = self._reloading.get(conv_id)
            if t is not None:
                await asyncio.shield(t)
            if self.current == conv_id:
                self.jump_to(msg_id)
        asyncio.ensure_future(then())
