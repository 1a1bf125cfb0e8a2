"""The full-size photo viewer (double-click a photo): zoom, previous/next, its tags,
"Open with…" and "Show in folder".

The photo is decoded off the Qt thread with the indexer's own checked loader
(`kbapp.ml.imaging.load_image`: regular files only, a size and pixel cap, typed
errors for hostile files) and handed over as a QImage. A photo the grid shows
blurred (possibly sensitive) stays hidden here until "Show" is pressed. File
names and tags are plain text.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QImage, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (QDialog, QFrame, QHBoxLayout, QLabel, QPushButton, QScrollArea, QSizePolicy,
                               QVBoxLayout)

from .plain import plain_title
from .widgets import explain, label

MAX_SIDE = 4096          # bigger photos are shown scaled to this (memory), zoom works on that
ZOOMS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)


def decode_for_view(path: str) -> QImage:
    """In a worker thread: the checked decode, scaled to MAX_SIDE, as an RGB QImage."""
    from PIL import Image

    from kbapp.ml.imaging import load_image

    img = load_image(Path(path)).image
    if max(img.size) > MAX_SIDE:
        img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    data = img.tobytes()
    q = QImage(data, img.width, img.height, img.width * 3, QImage.Format_RGB888)
    return q.copy()   # owns its pixels once `data` is gone


class PhotoViewer(QDialog):
    """One photo of the grid's model at a time; `row` follows previous/next."""

    rowChanged = Signal(int)

    def __init__(self, model, row: int, service=None, parent=None, *, opener=None):
        super().__init__(parent)
        self.setObjectName("photoViewer")
        self.setWindowTitle("Photo")
        self.model, self.service = model, service
        self.open_url = opener or QDesktopServices.openUrl   # tests pass a recorder
        self.row = -1
        self.zoom: float | None = None      # None: fit the window
        self.image: QImage | None = None
        self._load: asyncio.Future | None = None
        self.resize(1000, 720)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 10, 12, 10)
        top = QHBoxLayout()
        self.prev_button = self._button("‹ Previous", "viewerPrev", self.previous)
        self.next_button = self._button("Next ›", "viewerNext", self.next)
        self.name = label("", "name")
        self.name.setObjectName("viewerName")
        self.name.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        top.addWidget(self.prev_button)
        top.addWidget(self.name, 1)
        self.zoom_label = label("Fit", "faint")
        self.zoom_label.setObjectName("viewerZoom")
        top.addWidget(self.zoom_label)
        top.addWidget(self._button("−", "viewerZoomOut", self.zoom_out, "Zoom out (-)"))
        top.addWidget(self._button("Fit", "viewerFit", self.fit, "Fit the window (0)"))
        top.addWidget(self._button("100%", "viewerActual", self.actual, "Actual size (1)"))
        top.addWidget(self._button("+", "viewerZoomIn", self.zoom_in, "Zoom in (+)"))
        top.addWidget(self.next_button)
        lay.addLayout(top)

        self.area = QScrollArea()
        self.area.setObjectName("viewerArea")
        self.area.setFrameShape(QFrame.NoFrame)
        self.area.setAlignment(Qt.AlignCenter)
        self.picture = QLabel()
        self.picture.setObjectName("viewerPicture")
        self.picture.setTextFormat(Qt.PlainText)
        self.picture.setAlignment(Qt.AlignCenter)
        self.area.setWidget(self.picture)
        self.area.setWidgetResizable(False)
        lay.addWidget(self.area, 1)

        self.tags = label("", "muted", wrap=True, selectable=True)
        self.tags.setObjectName("viewerTags")
        lay.addWidget(self.tags)
        bottom = QHBoxLayout()
        self.reveal_button = self._button("Show", "viewerReveal", self.reveal,
                                          "This photo may be sensitive: show it")
        bottom.addWidget(self.reveal_button)
        bottom.addStretch(1)
        bottom.addWidget(self._button("Open with…", "viewerOpenWith", self.open_with,
                                      "Open the photo in your usual image application"))
        bottom.addWidget(self._button("Show in folder", "viewerShowInFolder", self.show_in_folder,
                                      "Open the folder that holds this photo"))
        bottom.addWidget(self._button("Close", "viewerClose", self.reject))
        lay.addLayout(bottom)
        for keys, slot in ((Qt.Key_Right, self.next), (Qt.Key_Left, self.previous), (Qt.Key_Plus, self.zoom_in),
                           (Qt.Key_Equal, self.zoom_in), (Qt.Key_Minus, self.zoom_out), (Qt.Key_0, self.fit),
                           (Qt.Key_1, self.actual)):
            QShortcut(QKeySequence(keys), self, activated=slot)
        self.show_row(row)

    def _button(self, text: str, name: str, slot, tip: str = "") -> QPushButton:
        b = QPushButton(text)
        b.setObjectName(name)
        b.setAutoDefault(False)
        if tip:
            b.setToolTip(tip)
        b.clicked.connect(slot)
        return b

    # -- which photo ----------------------------------------------------------------------------

    @property
    def path(self) -> str | None:
        it = self.model.item(self.row)
        return it.path if it is not None else None

    def show_row(self, row: int) -> None:
        it = self.model.item(row)
        if it is None:
            return
        self.row = row
        self.rowChanged.emit(row)
        self.prev_button.setEnabled(row > 0)
        self.next_button.setEnabled(row + 1 < self.model.rowCount())
        self.name.setText(f"{Path(it.path).name}  ({row + 1} of {self.model.rowCount()})")
        self.setWindowTitle(plain_title(Path(it.path).name))
        self.tags.setText("Tags: " + (", ".join(it.hit.tags) if it.hit.tags else "none yet"))
        self.image = None
        self.picture.setPixmap(QPixmap())
        self.reveal_button.setVisible(it.blurred)
        if it.blurred:
            self.picture.setText("Hidden: this photo may be sensitive. Press Show to see it.")
            self.picture.adjustSize()
            return
        self.picture.setText("Loading…")
        self.picture.adjustSize()
        if self._load is not None:
            self._load.cancel()
        self._load = asyncio.ensure_future(self._decode(row, it.path))

    async def _decode(self, row: int, path: str) -> None:
        try:
            img = await asyncio.get_running_loop().run_in_executor(None, decode_for_view, path)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - a hostile or vanished file: said, never a crash
            if row == self.row:
                _kind, title, message = explain(e)
                self.picture.setText(f"{title}: {message}")
                self.picture.adjustSize()
            return
        if row != self.row:
            return
        self.image = img
        self.picture.setText("")
        self._render()

    def next(self) -> None:
        if self.row + 1 < self.model.rowCount():
            self.show_row(self.row + 1)

    def previous(self) -> None:
        if self.row > 0:
            self.show_row(self.row - 1)

    def reveal(self) -> None:
        self.model.reveal(self.row, True)
        self.show_row(self.row)

    # -- zoom -----------------------------------------------------------------------------------

    def _fit_scale(self) -> float:
        if self.image is None or self.image.isNull():
            return 1.0
        vp = self.area.viewport().size()
        return min(1.0, vp.width() / self.image.width(), vp.height() / self.image.height())

    def scale(self) -> float:
        return self._fit_scale() if self.zoom is None else self.zoom

    def _render(self) -> None:
        if self.image is None:
            return
        s = self.scale()
        w, h = max(1, round(self.image.width() * s)), max(1, round(self.image.height() * s))
        self.picture.setPixmap(QPixmap.fromImage(self.image).scaled(w, h, Qt.KeepAspectRatio,
                                                                   Qt.SmoothTransformation))
        self.picture.resize(w, h)
        self.zoom_label.setText("Fit" if self.zoom is None else f"{round(s * 100)}%")

    def zoom_in(self) -> None:
        s = self.scale()
        self.zoom = next((z for z in ZOOMS if z > s + 1e-6), ZOOMS[-1])
        self._render()

    def zoom_out(self) -> None:
        s = self.scale()
        self.zoom = next((z for z in reversed(ZOOMS) if z < s - 1e-6), ZOOMS[0])
        self._render()

    def fit(self) -> None:
        self.zoom = None
        self._render()

    def actual(self) -> None:
        self.zoom = 1.0
        self._render()

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        if self.zoom is None:
            self._render()

    # -- elsewhere ------------------------------------------------------------------------------

    def open_with(self) -> None:
        if self.path:
            self.open_url(QUrl.fromLocalFile(self.path))

    def show_in_folder(self) -> None:
        if self.path:
            self.open_url(QUrl.fromLocalFile(str(Path(self.path).parent)))

    def done(self, result: int) -> None:
        if self._load is not None:
            self._load.cancel()
        super().done(result)
