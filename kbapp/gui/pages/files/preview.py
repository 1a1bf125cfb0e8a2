"""The preview panel: a selected file's picture, text or PDF page, its size, writer, tags and History.

The bytes are read by the engine (verified, decrypted) and decoded off the Qt thread by
chat's `decode` (the header is checked first: a decompression bomb is refused, never
decoded); only the finished pixmap is made on the Qt thread. A picture the photo library
flags as sensitive is decoded blurred until "Show" is clicked. A PDF's first page is
rendered in a separate, limited process (pdf.py); without pypdfium2 the panel says so and
offers the system viewer. Text is shown in a read-only plain-text box, never as rich text.
Big files are not previewed: a preview must not pull a gigabyte through memory.
"""

from __future__ import annotations

import asyncio

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QPixmap
from PySide6.QtWidgets import QFrame, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout

from kbapp.core import errors

from ... import ops
from ...widgets import label
from . import pdf
from .models import human_size, when

MAX_PREVIEW = 20 << 20          # bytes read for a preview at most
MAX_TEXT = 64 << 10
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp")
PDF_EXT = (".pdf",)
PREVIEW_SIDE = 12_000           # px: a picture with a longer side is refused from its header
TEXT_EXT = (".txt", ".md", ".csv", ".json", ".py", ".log", ".ini", ".toml", ".yaml", ".yml", ".xml", ".html")


def _decode_image(data: bytes, width: int, blurred: bool = False):
    """The picture fitted to the panel (at most twice as tall as wide), or None when it does
    not read as one; ImageTooLarge (a bomb) is raised for the panel to say so."""
    from .picture import decode
    try:
        return decode(data, blurred, (width, 2 * width), PREVIEW_SIDE)
    except errors.ImageTooLarge:
        raise
    except Exception:  # noqa: BLE001 - Pillow's errors for a corrupt file are many
        return None


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
        self.tags = label("", "muted", wrap=True)
        self.tags.setObjectName("previewTags")
        self.note = label("", "muted", wrap=True)
        self.reveal_button = QPushButton("Show")
        self.reveal_button.setObjectName("previewReveal")
        self.reveal_button.setToolTip("Show this picture unblurred")
        self.reveal_button.clicked.connect(self._reveal)
        self.open_button = QPushButton("Open with the system viewer")
        self.open_button.setObjectName("previewOpen")
        self.open_button.setToolTip("Save a decrypted copy in a private temporary folder and open it")
        self.open_button.clicked.connect(self._open_external)
        self.history_button = QPushButton("History…")
        self.history_button.setObjectName("previewHistory")
        self.history_button.clicked.connect(self._history)
        for w in (self.name, self.meta, self.tags, self.picture, self.text, self.note, self.reveal_button,
                  self.open_button, self.history_button):
            lay.addWidget(w)
        lay.addStretch(1)
        self.path: str | None = None
        self.row: dict = {}
        self.kind: str | None = None           # what was last asked to be drawn, and whether blurred
        self.decoded_blurred = False
        self.names: dict[str, str] = {}        # writer uid -> username (the page's, verified)
        self.images = None                     # thumbs.FileImages: tags and sensitivity of image rows
        self.rev: int | None = None
        self.revealed: set[str] = set()        # paths the user chose to see unblurred
        self.clear()

    def clear(self) -> None:
        self.path, self.kind = None, None
        self.picture.clear()
        self.picture.hide()
        self.text.clear()
        self.text.hide()
        self.note.setText("")
        self.tags.setText("")
        self.tags.hide()
        self.reveal_button.hide()
        self.open_button.hide()
        self.hide()

    def show_file(self, path: str, row: dict, *, rev: int | None = None) -> None:
        if path == self.path:
            self.show()
            return
        self.clear()
        self.path, self.row, self.rev = path, row, rev
        self.name.setText(str(row.get("name", "")))
        uid = str(row.get("writer") or "")
        by = row.get("username") or self.names.get(uid) or (uid[:8] + "…" if uid else "")
        self.meta.setText(f"{human_size(row.get('size'))} · {when(row.get('mtime'))}" + (f" · by {by}" if by else ""))
        self.show_tags()
        self.show()
        size = int(row.get("size") or 0)
        lower = str(row.get("name", "")).lower()
        kind = ("image" if lower.endswith(IMAGE_EXT) else "text" if lower.endswith(TEXT_EXT)
                else "pdf" if lower.endswith(PDF_EXT) else None)
        if kind is None:
            self.note.setText("No preview for this kind of file. Save a copy to open it.")
            return
        if size > MAX_PREVIEW:
            self.note.setText("Too big to preview here. Save a copy to open it.")
            self.open_button.setVisible(kind == "pdf")
            return
        if kind == "pdf" and not pdf.available():
            self.note.setText(pdf.MISSING)
            self.open_button.show()
            return
        self._load(kind)

    def _load(self, kind: str) -> None:
        path, rev = self.path, self.rev
        width = max(160, self.width() - 24)
        blurred = self._blurred()
        self.kind, self.decoded_blurred = kind, blurred

        async def load():
            data = await self.app.files.read(path, rev=rev)
            if kind == "image":
                return kind, await asyncio.to_thread(_decode_image, data, width, blurred)
            if kind == "pdf":
                png, pages = await pdf.render(data, width)
                return kind, (await asyncio.to_thread(_decode_image, png, width), pages)
            return kind, data[:MAX_TEXT].decode("utf-8", errors="replace")

        ops.run(self, load, key="preview", cursor=False, on_done=lambda got, p=path: self._shown(p, got),
                on_error=lambda e, p=path: self._failed(p, kind, e))

    def _failed(self, path: str, kind: str, e: BaseException) -> None:
        if path == self.path:
            self.note.setText(f"Could not preview: {e}")
            self.open_button.setVisible(kind == "pdf")

    def _blurred(self) -> bool:
        name = str(self.row.get("name", "")) if self.path else ""
        return bool(self.images is not None and self.images.is_sensitive(name) and self.path not in self.revealed)

    def show_tags(self) -> None:
        """The photo library's tags for this picture (again when the library tagged more)."""
        if not self.path or self.images is None:
            return
        name = str(self.row.get("name", ""))
        tags = self.images.tags_of(name)
        self.tags.setText("Tags: " + ", ".join(tags) if tags else "")
        self.tags.setVisible(bool(tags))
        self.reveal_button.setVisible(self._blurred())
        if self.kind == "image" and self.decoded_blurred != self._blurred():
            self._load("image")          # checked since, or flagged since: drawn again as it now should be

    def _reveal(self) -> None:
        if self.path:
            self.revealed.add(self.path)
            self.reveal_button.hide()
            self._load("image")

    def _shown(self, path: str, got) -> None:
        if path != self.path:
            return
        kind, value = got
        if kind == "pdf":
            value, pages = value
            self.note.setText(f"Page 1 of {pages}" if pages > 1 else "")
            self.open_button.show()
        if kind in ("image", "pdf"):
            if value is None:
                self.note.setText("This file is not a picture we can show.")
                return
            self.picture.setPixmap(QPixmap.fromImage(value))
            self.picture.show()
            if kind == "image" and self._blurred():
                self.note.setText("Blurred: the photo library marks this picture as possibly sensitive, "
                                  "or has not checked it yet.")
        else:
            self.text.setPlainText(value)
            self.text.show()

    def _open_external(self) -> None:
        """A decrypted copy in a private temporary folder, opened by the desktop's viewer."""
        path, rev, name = self.path, self.rev, str(self.row.get("name", "")) if self.path else ""
        if not path:
            return

        async def work():
            data = await self.app.files.read(path, rev=rev)
            return await asyncio.to_thread(pdf.export_copy, data, name)

        ops.run(self, work, key="open-external", on_done=self.open_url,
                on_error=lambda e: self.note.setText(f"Could not open it: {e}"))

    def open_url(self, local) -> None:
        """Hand the copy to the desktop (a test replaces this to see the file)."""
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(local)))

    def _history(self) -> None:
        if self.path:
            from .dialogs import HistoryDialog
            HistoryDialog(self.app, self.path, self).open()
