"""The composer: what you type, the file you are about to send, and its upload's progress.

Keys: Enter sends, Shift+Enter is a new line, Up in an empty box edits your last message,
Escape leaves editing or replying. `@` completes the conversation's members and `#` its
team's channels (names as the verified team and signed channel metadata give them).
A pasted or dropped file is shown first (name and size) and only sent on Send; its
upload shows a progress bar with Cancel. Nothing here touches the network or a database:
the page does, through `app.chat`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (QCompleter, QFrame, QHBoxLayout, QMenu, QPlainTextEdit, QProgressBar, QPushButton,
                               QToolButton, QVBoxLayout, QWidget)

from ...widgets import label
from .delegate import human_size

LIFETIMES = (("Off", None), ("30 seconds", 30), ("5 minutes", 300), ("1 hour", 3600), ("1 day", 86400),
             ("7 days", 7 * 86400))


class ComposerEdit(QPlainTextEdit):
    """The text box; completion of @members and #channels."""

    submitted = Signal()
    upPressed = Signal()
    escapePressed = Signal()
    filesPasted = Signal(list)       # [Path]

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("chatComposer")
        self.setPlaceholderText("Write a message (Enter sends, Shift+Enter for a new line)")
        self.setTabChangesFocus(True)
        self.setFixedHeight(64)
        self.members: list[str] = []
        self.channels: list[str] = []
        self._words = QStringListModel(self)
        self.completer = QCompleter(self._words, self)
        self.completer.setWidget(self)
        self.completer.setCaseSensitivity(Qt.CaseInsensitive)
        self.completer.setCompletionMode(QCompleter.PopupCompletion)
        self.completer.activated.connect(self._complete)

    def _prefix(self) -> str:
        """The word being typed when it starts with @ or # (else "")."""
        cur = self.textCursor()
        text = self.toPlainText()[:cur.position()]
        start = max(text.rfind(" "), text.rfind("\n")) + 1
        word = text[start:]
        return word if word[:1] in ("@", "#") else ""

    def _complete(self, chosen: str) -> None:
        word = self._prefix()
        if not word:
            return
        cur = self.textCursor()
        cur.movePosition(QTextCursor.Left, QTextCursor.KeepAnchor, len(word))
        cur.insertText(chosen + " ")
        self.setTextCursor(cur)

    def _update_completion(self) -> None:
        word = self._prefix()
        if not word:
            self.completer.popup().hide()
            return
        pool = [f"@{m}" for m in self.members] if word[0] == "@" else [f"#{c}" for c in self.channels]
        self._words.setStringList(pool)
        self.completer.setCompletionPrefix(word)
        if self.completer.completionCount() == 0:
            self.completer.popup().hide()
            return
        r = self.cursorRect()
        r.setWidth(220)
        self.completer.complete(r)

    def keyPressEvent(self, e) -> None:
        popup = self.completer.popup()
        if popup.isVisible() and e.key() in (Qt.Key_Return, Qt.Key_Enter, Qt.Key_Tab):
            idx = popup.currentIndex()
            if not idx.isValid():
                idx = self.completer.completionModel().index(0, 0)
            popup.hide()
            self._complete(idx.data())
            return
        if e.key() in (Qt.Key_Return, Qt.Key_Enter):
            if e.modifiers() & Qt.ShiftModifier:
                self.insertPlainText("\n")
            else:
                self.submitted.emit()
            return
        if e.key() == Qt.Key_Up and not self.toPlainText():
            self.upPressed.emit()
            return
        if e.key() == Qt.Key_Escape:
            self.escapePressed.emit()
            return
        super().keyPressEvent(e)
        if e.text():
            self._update_completion()

    # plain text only, and files become attachments
    def canInsertFromMimeData(self, source) -> bool:
        return source.hasUrls() or source.hasImage() or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source) -> None:
        files = files_of(source)
        if files:
            self.filesPasted.emit(files)
            return
        if source.hasText():
            self.insertPlainText(source.text())     # never rich text


def files_of(mime) -> list[Path]:
    """Local files a paste or drop carries; a pasted image is written to a private temp file."""
    if mime.hasUrls():
        out = [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]
        return [p for p in out if p.is_file()]
    if mime.hasImage():
        img = mime.imageData()
        fd, name = tempfile.mkstemp(prefix="pasted-", suffix=".png")
        os.close(fd)
        if img is not None and img.save(name, "PNG"):
            return [Path(name)]
    return []


class Composer(QFrame):
    """The text box with its Send and Attach buttons, the edit/reply bar and the file preview."""

    sendText = Signal(str)
    sendFile = Signal(object)          # Path
    cancelUpload = Signal()
    editLast = Signal()
    attachClicked = Signal()
    modeCancelled = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("composerFrame")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 6, 16, 10)
        lay.setSpacing(6)
        self.mode_bar = QWidget()
        ml = QHBoxLayout(self.mode_bar)
        ml.setContentsMargins(0, 0, 0, 0)
        self.mode_text = label("", "muted")
        self.mode_text.setObjectName("composerMode")
        ml.addWidget(self.mode_text, 1)
        self.mode_cancel = QPushButton("Cancel")
        self.mode_cancel.setObjectName("composerModeCancel")
        self.mode_cancel.clicked.connect(self.modeCancelled.emit)
        ml.addWidget(self.mode_cancel)
        self.mode_bar.hide()
        lay.addWidget(self.mode_bar)

        self.file_bar = QWidget()
        fl = QHBoxLayout(self.file_bar)
        fl.setContentsMargins(0, 0, 0, 0)
        self.file_text = label("")
        self.file_text.setObjectName("attachPreview")
        fl.addWidget(self.file_text, 1)
        self.progress = QProgressBar()
        self.progress.setObjectName("uploadProgress")
        self.progress.setRange(0, 1000)
        self.progress.setFixedWidth(220)
        self.progress.hide()
        fl.addWidget(self.progress)
        self.file_send = QPushButton("Send file")
        self.file_send.setObjectName("attachSend")
        self.file_send.clicked.connect(self._send_file)
        fl.addWidget(self.file_send)
        self.file_cancel = QPushButton("Cancel")
        self.file_cancel.setObjectName("attachCancel")
        self.file_cancel.clicked.connect(self._cancel_file)
        fl.addWidget(self.file_cancel)
        self.file_bar.hide()
        lay.addWidget(self.file_bar)

        row = QHBoxLayout()
        row.setSpacing(8)
        self.attach = QPushButton("Attach…")
        self.attach.setObjectName("attachButton")
        self.attach.setToolTip("Send a file or photo (or paste or drop it here)")
        self.attach.clicked.connect(self.attachClicked.emit)
        row.addWidget(self.attach, 0, Qt.AlignBottom)
        self.explode = QToolButton()
        self.explode.setObjectName("explodeButton")
        self.explode.setPopupMode(QToolButton.InstantPopup)
        menu = QMenu(self.explode)
        for text, secs in LIFETIMES:
            menu.addAction(text, lambda secs=secs: self.set_exploding(secs))
        self.explode.setMenu(menu)
        row.addWidget(self.explode, 0, Qt.AlignBottom)
        self.edit = ComposerEdit()
        row.addWidget(self.edit, 1)
        self.send = QPushButton("Send")
        self.send.setObjectName("sendButton")
        self.send.setProperty("role", "primary")
        self.send.clicked.connect(self.submit)
        row.addWidget(self.send, 0, Qt.AlignBottom)
        lay.addLayout(row)
        self.edit.submitted.connect(self.submit)
        self.edit.upPressed.connect(self.editLast.emit)
        self.edit.escapePressed.connect(self.modeCancelled.emit)
        self.edit.filesPasted.connect(lambda files: self.offer_file(files[0]))
        self.pending_file: Path | None = None
        self.uploading = False
        self.exploding: int | None = None
        self.set_exploding(None)

    def set_exploding(self, secs: int | None) -> None:
        """Messages sent from now on explode after `secs` (None: they stay)."""
        self.exploding = secs
        short = {30: "30s", 300: "5m", 3600: "1h", 86400: "1d", 7 * 86400: "7d"}.get(secs or 0, "")
        self.explode.setText(f"💣 {short}" if secs else "💣")
        self.explode.setToolTip(f"New messages explode {short} after they are sent" if secs
                                else "Exploding messages: off (click to choose a lifetime)")

    def submit(self) -> None:
        text = self.edit.toPlainText()
        if text.strip():
            self.sendText.emit(text)

    def set_mode(self, text: str) -> None:
        """"Editing your message" / "Replying to bob: …" (plain text), or "" for none."""
        self.mode_text.setText(text)
        self.mode_bar.setVisible(bool(text))

    # -- files --------------------------------------------------------------------------------

    def offer_file(self, path: Path) -> None:
        """Show what would be sent; nothing leaves until Send file."""
        if self.uploading:
            return
        self.pending_file = Path(path)
        try:
            size = human_size(self.pending_file.stat().st_size)
        except OSError:
            size = "?"
        self.file_text.setText(f"📎 {self.pending_file.name} · {size}")
        self.progress.hide()
        self.file_send.show()
        self.file_bar.show()

    def _send_file(self) -> None:
        if self.pending_file is not None and not self.uploading:
            self.sendFile.emit(self.pending_file)

    def upload_started(self) -> None:
        self.uploading = True
        self.file_send.hide()
        self.progress.setValue(0)
        self.progress.show()

    def upload_progress(self, done: int, total: int) -> None:
        self.progress.setValue(int(1000 * done / total) if total else 0)

    def upload_finished(self) -> None:
        self.uploading = False
        self.pending_file = None
        self.file_bar.hide()

    def _cancel_file(self) -> None:
        if self.uploading:
            self.cancelUpload.emit()
            return
        self.pending_file = None
        self.file_bar.hide()
