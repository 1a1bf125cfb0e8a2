"""The preview panel: a selected file's picture or text, its size, writer and History.

The bytes are read by the engine (verified, decrypted) and decoded off the Qt thread
(`QImage` is safe to build in a worker); only the finished pixmap is made on the Qt
thread. Text is shown in a read-only plain-text box, never as rich text. Big files are
not previewed: a preview must not pull a gigabyte through memory.
"""

from __future__ import annotations

import asyncio

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QFrame, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout

from ... import ops
from ...widgets import label
from .models import human_size, when

MAX_PREVIEW = 20 << 20          # bytes read for a preview at most
MAX_TEXT = 64 << 10
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp")
TEXT_EXT = (".txt", ".md", ".csv", ".json", ".py", ".log", ".ini", ".toml", ".yaml", ".yml", ".xml", ".html")


def _decode_image(data: bytes, width: int) -> QImage | None:
    img = QImage.fromData(data)
    if img.isNull():
        return None
    return img.scaledToWidth(min(width, img.width()), Qt.SmoothTransformation)


class PreviewPanel(QFrame):
    def __init__(self, app, parent=None):
        super().__init__(parent)
        self.app = app
        self.setObjectName("filesPreview")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 0, 16, 8)
        self.name = label("", "heading", wrap=True)
        self.meta = label("", "muted", wrap=True)
        self.picture = QLabel()
        self.picture.setObjectName("previewPicture")
        self.picture.setTextFormat(Qt.PlainText)    # it shows a pixmap, but every QLabel here is plain
        self.picture.setAlignment(Qt.AlignCenter)
        self.text = QPlainTextEdit()
        self.text.setObjectName("previewText")
        self.text.setReadOnly(True)
        self.note = label("", "muted", wrap=True)
        self.history_button = QPushButton("History…")
        self.history_button.setObjectName("previewHistory")
        self.history_button.clicked.connect(self._history)
        for w in (self.name, self.meta, self.picture, self.text, self.note, self.history_button):
            lay.addWidget(w)
        lay.addStretch(1)
        self.path: str | None = None
        self.names: dict[str, str] = {}        # writer uid -> username (the page's, verified)
        self.clear()

    def clear(self) -> None:
        self.path = None
        self.picture.clear()
        self.picture.hide()
        self.text.clear()
        self.text.hide()
        self.note.setText("")
        self.hide()

    def show_file(self, path: str, row: dict, *, rev: int | None = None) -> None:
        if path == self.path:
            self.show()
            return
        self.clear()
        self.path = path
        self.name.setText(str(row.get("name", "")))
        uid = str(row.get("writer") or "")
        by = row.get("username") or self.names.get(uid) or (uid[:8] + "…" if uid else "")
        self.meta.setText(f"{human_size(row.get('size'))} · {when(row.get('mtime'))}" + (f" · by {by}" if by else ""))
        self.show()
        size = int(row.get("size") or 0)
        lower = str(row.get("name", "")).lower()
        kind = "image" if lower.endswith(IMAGE_EXT) else "text" if lower.endswith(TEXT_EXT) else None
        if kind is None:
            self.note.setText("No preview for this kind of file. Save a copy to open it.")
            return
        if size > MAX_PREVIEW:
            self.note.setText("Too big to preview here. Save a copy to open it.")
            return
        width = max(160, self.width() - 24)

        async def load():
            data = await self.app.files.read(path, rev=rev)
            if kind == "image":
                return kind, await asyncio.to_thread(_decode_image, data, width)
            return kind, data[:MAX_TEXT].decode("utf-8", errors="replace")

        ops.run(self, load, key="preview", cursor=False, on_done=lambda got, p=path: self._shown(p, got),
                on_error=lambda e: self.note.setText(f"Could not preview: {e}"))

    def _shown(self, path: str, got) -> None:
        if path != self.path:
            return
        kind, value = got
        if kind == "image":
            if value is None:
                self.note.setText("This file is not a picture we can show.")
                return
            self.picture.setPixmap(QPixmap.fromImage(value))
            self.picture.show()
        else:
            self.text.setPlainText(value)
            self.text.show()

    def _history(self) -> None:
        if self.path:
            from .dialogs import HistoryDialog
            HistoryDialog(self.app, self.path, self).open()
