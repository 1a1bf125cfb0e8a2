"""The Photos page's pieces: the search bar (drop an image on it), the grid's tiles sized to the
space, the tag chips, the status bar's indexing line (with "N skipped"), the detail pane.

Split from kbapp/gui/pages/photos.py, which assembles them. Tiles are drawn from
thumbnails made elsewhere (photo_models.ThumbnailCache); nothing here reads a photo.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QFrame, QHBoxLayout, QLineEdit, QListView, QProgressBar, QPushButton,
                               QSizePolicy, QStyle, QStyledItemDelegate, QToolButton, QVBoxLayout, QWidget)

from kbapp.ml.files import IMAGE_EXTS

from . import theme
from .assets import icon, svg_pixmap
from .photo_models import BlurredRole, StateRole, TagChipModel
from .photo_service import PhotoService
from .widgets import label

TILE = 168            # the square a thumbnail is drawn in
CELL = QSize(TILE + 16, TILE + 40)
NSFW_FILTERS = (("include", "Sensitive: blurred"), ("exclude", "Sensitive: hidden"), ("only", "Sensitive only"))
MIN_TILE, MAX_TILE = 100, 220   # thumbnails grow or shrink between these with the space


def local_image(mime) -> Path | None:
    """The first local image file among dropped URLs, or None."""
    if mime is None or not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile():
            p = Path(url.toLocalFile())
            if p.suffix.lower() in IMAGE_EXTS and p.is_file():
                return p
    return None


class SearchBar(QLineEdit):
    """The query field; an image file dropped on it searches by that example."""

    exampleDropped = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setClearButtonEnabled(True)
        self.setPlaceholderText("Search: a tag (dog), words (puppy in the snow), text in photos… "
                                "or drop an image here")

    def dragEnterEvent(self, ev) -> None:
        if local_image(ev.mimeData()) is not None:
            ev.acceptProposedAction()
        else:
            super().dragEnterEvent(ev)

    def dragMoveEvent(self, ev) -> None:
        if local_image(ev.mimeData()) is not None:
            ev.acceptProposedAction()
        else:
            super().dragMoveEvent(ev)

    def dropEvent(self, ev) -> None:
        p = local_image(ev.mimeData())
        if p is None:
            super().dropEvent(ev)
            return
        ev.acceptProposedAction()
        self.exampleDropped.emit(str(p))


def _cover(pm: QPixmap, size: int) -> QPixmap:
    """Scale and centre-crop a pixmap to a square (the grid's tiles)."""
    if pm.isNull():
        return pm
    s = pm.scaled(size, size, Qt.KeepAspectRatioByExpanding, Qt.SmoothTransformation)
    x, y = (s.width() - size) // 2, (s.height() - size) // 2
    return s.copy(x, y, size, size)


class PhotoDelegate(QStyledItemDelegate):
    """A rounded square thumbnail, the file name under it, and a veil on sensitive photos.
    `tile` follows the grid's width (PhotosPage._fit_tiles)."""

    tile = TILE

    def sizeHint(self, option, index) -> QSize:
        return QSize(self.tile + 16, self.tile + 40)

    def paint(self, p: QPainter, option, index) -> None:
        p.save()
        p.setRenderHint(QPainter.Antialiasing)
        p.setRenderHint(QPainter.SmoothPixmapTransform)
        r = option.rect
        T = self.tile
        tile = QRectF(r.x() + (r.width() - T) / 2, r.y() + 6, T, T)
        selected = bool(option.state & QStyle.State_Selected)
        path = QPainterPath()
        path.addRoundedRect(tile, 10, 10)
        p.fillPath(path, QColor(theme.colour("surface-alt")))
        pm = index.data(Qt.DecorationRole)
        state = index.data(StateRole)
        if isinstance(pm, QPixmap) and not pm.isNull() and state == "ready":
            p.setClipPath(path)
            p.drawPixmap(tile.toRect(), _cover(pm, T))
            p.setClipping(False)
        else:
            name = "broken" if state == "failed" else "photos"
            ic = svg_pixmap(name, 32, theme.colour("text-faint"))
            p.drawPixmap(int(tile.center().x() - 16), int(tile.center().y() - 16), ic)
        if index.data(BlurredRole):
            veil = QRectF(tile.left() + 10, tile.bottom() - 36, tile.width() - 20, 26)
            p.setPen(Qt.NoPen)
            p.setBrush(QColor(0, 0, 0, 150))
            p.drawRoundedRect(veil, 13, 13)
            f = QFont(option.font)
            f.setPixelSize(11)
            f.setBold(True)
            p.setFont(f)
            p.setPen(QColor("#ffffff"))
            p.drawText(veil, Qt.AlignCenter, "Sensitive · click to show")
        if selected:
            p.setPen(QPen(QColor(theme.colour("accent")), 3))
            p.setBrush(Qt.NoBrush)
            p.drawRoundedRect(tile.adjusted(1.5, 1.5, -1.5, -1.5), 10, 10)
        f = QFont(option.font)
        f.setPixelSize(12)
        p.setFont(f)
        p.setPen(QColor(theme.colour("text" if selected else "text-muted")))
        text_r = QRect(int(tile.left()), int(tile.bottom()) + 4, T, 20)
        name = p.fontMetrics().elidedText(str(index.data(Qt.DisplayRole) or ""), Qt.ElideMiddle, T)
        p.drawText(text_r, Qt.AlignHCenter | Qt.AlignVCenter, name)
        p.restore()


class ChipDelegate(QStyledItemDelegate):
    """A tag as a pill; concept tags (the user's own) in the accent colour."""

    def _text(self, index) -> str:
        return str(index.data(Qt.DisplayRole) or "")

    def sizeHint(self, option, index) -> QSize:
        f = QFont(option.font)
        f.setPixelSize(12)
        from PySide6.QtGui import QFontMetrics
        return QSize(QFontMetrics(f).horizontalAdvance(self._text(index)) + 26, 30)

    def paint(self, p: QPainter, option, index) -> None:
        p.save()
        p.setRenderHint(QPainter.Antialiasing)
        r = QRectF(option.rect).adjusted(2, 3, -2, -3)
        hover = bool(option.state & QStyle.State_MouseOver)
        p.setPen(QPen(QColor(theme.colour("accent" if hover else "border"))))
        p.setBrush(QColor(theme.colour("accent-soft")))
        p.drawRoundedRect(r, r.height() / 2, r.height() / 2)
        f = QFont(option.font)
        f.setPixelSize(12)
        f.setWeight(QFont.DemiBold)
        p.setFont(f)
        p.setPen(QColor(theme.colour("link")))
        p.drawText(r, Qt.AlignCenter, self._text(index))
        p.restore()


class IndexStatus(QWidget):
    """The status bar's indexing line: what is happening, a progress bar, and Cancel."""

    def __init__(self, service: PhotoService, parent=None):
        super().__init__(parent)
        self.setObjectName("statusPhotos")
        self.service = service
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 2, 6, 2)
        lay.setSpacing(8)
        self.text = label("")
        self.text.setObjectName("statusPhotosText")
        lay.addWidget(self.text)
        self.bar = QProgressBar()
        self.bar.setObjectName("photoIndexProgress")
        self.bar.setTextVisible(False)
        self.bar.setFixedWidth(120)
        lay.addWidget(self.bar)
        self.cancel_button = QToolButton()
        self.cancel_button.setObjectName("photoIndexCancel")
        self.cancel_button.setIcon(icon("close", theme.colour("text-muted")))
        self.cancel_button.setToolTip("Stop this indexing pass (the folders are still watched: a new "
                                      "change starts a new pass)")
        self.cancel_button.clicked.connect(service.cancel)
        lay.addWidget(self.cancel_button)
        self.skipped_button = QPushButton("")
        self.skipped_button.setObjectName("photoSkippedLink")
        self.skipped_button.setProperty("role", "link")
        self.skipped_button.setToolTip("The files this pass left out, with the reason for each")
        self.skipped_button.clicked.connect(self.show_skipped)
        self.skipped_button.hide()
        lay.addWidget(self.skipped_button)
        self.skipped_dialog = None
        self.seen: list[tuple[str, int, int]] = []   # every progress shown (tests read it)
        service.indexStarted.connect(self._started)
        service.progress.connect(self._progress)
        service.indexFinished.connect(self._finished)
        service.indexStopped.connect(self._stopped)
        self.hide()

    def _started(self) -> None:
        self.text.setText("Photos: looking for changes…")
        self.bar.setRange(0, 0)
        self.bar.show()
        self.cancel_button.show()
        self.show()

    def _progress(self, phase: str, done: int, total: int) -> None:
        self.seen.append((phase, done, total))
        if phase == "analyze" and total:
            self.show()
            self.bar.show()
            self.cancel_button.show()
            self.bar.setRange(0, total)
            self.bar.setValue(done)
            self.text.setText(f"Indexing photos {done}/{total}")
        elif phase == "scan":
            self.text.setText("Photos: looking for changes…")

    def show_skipped(self) -> None:
        from .skipped_dialog import SkippedDialog

        summary = self.service.last_summary
        if summary is None or not summary.skipped or self.skipped_dialog is not None:
            return
        dlg = SkippedDialog(summary, self.window())
        dlg.finished.connect(lambda _r: (setattr(self, "skipped_dialog", None), dlg.deleteLater()))
        self.skipped_dialog = dlg
        dlg.open()

    def _finished(self, summary) -> None:
        skipped = sum(summary.skipped.values())
        self.skipped_button.setText(f"{skipped} skipped")
        self.skipped_button.setVisible(skipped > 0)
        self.bar.hide()
        self.cancel_button.hide()   # no pass is running now; watching needs no Cancel
        n = summary.indexed
        watching = " · watching" if self.service.watch_interval > 0 and self.service.indexing else ""
        if summary.cancelled:
            self.text.setText("Photo indexing stopped" + (f" · {n} new" if n else "") + watching)
        else:
            self.text.setText("Photos up to date" + (f" · {n} new" if n else "") + watching)
        self.show()

    def _stopped(self) -> None:
        self.bar.hide()
        self.cancel_button.hide()
        if self.service.last_summary is not None and self.service.last_summary.cancelled:
            self.text.setText("Photo indexing stopped")


class DetailPane(QFrame):
    """The selected photo: a preview, its tags as chips, and "More like this"."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("photoDetail")
        self.setProperty("role", "card")
        self.setMinimumWidth(280)
        self.setMaximumWidth(340)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 16, 16, 16)
        lay.setSpacing(10)
        self.preview = label("")
        self.preview.setObjectName("photoPreview")
        self.preview.setAlignment(Qt.AlignCenter)
        self.preview.setMinimumHeight(200)
        lay.addWidget(self.preview)
        self.name = label("", "brand")
        self.name.setObjectName("photoName")
        lay.addWidget(self.name)
        self.meta = label("", "faint", wrap=True)
        self.meta.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)   # long paths never widen the pane
        self.meta.setObjectName("photoMeta")
        lay.addWidget(self.meta)
        self.sensitive = label("", "error", wrap=True)
        self.sensitive.setObjectName("photoSensitive")
        self.sensitive.hide()
        lay.addWidget(self.sensitive)
        lay.addWidget(label("TAGS", "section"))
        self.chips_model = TagChipModel(self)
        self.chips = QListView()
        self.chips.setObjectName("tagChips")
        self.chips.setModel(self.chips_model)
        self.chips.setItemDelegate(ChipDelegate(self.chips))
        self.chips.setViewMode(QListView.ListMode)
        self.chips.setFlow(QListView.LeftToRight)
        self.chips.setWrapping(True)
        self.chips.setResizeMode(QListView.Adjust)
        self.chips.setSpacing(2)
        self.chips.setMouseTracking(True)
        self.chips.setCursor(Qt.PointingHandCursor)
        self.chips.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.chips.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.chips.setMinimumHeight(70)
        self.chips.setFrameShape(QFrame.NoFrame)
        self.chips.setStyleSheet("background: transparent;")
        lay.addWidget(self.chips, 1)
        row = QHBoxLayout()
        self.like_button = QPushButton("More like this")
        self.like_button.setObjectName("moreLikeThisButton")
        self.like_button.setProperty("role", "primary")
        row.addWidget(self.like_button)
        self.hide_button = QPushButton("Hide again")
        self.hide_button.setObjectName("hideAgainButton")
        self.hide_button.hide()
        row.addWidget(self.hide_button)
        self.not_sensitive_button = QPushButton("Not sensitive")
        self.not_sensitive_button.setObjectName("notSensitiveButton")
        self.not_sensitive_button.setToolTip("The sensitive-content model got this one wrong: show it unblurred "
                                             "from now on (remembered; undo from the photo's menu)")
        self.not_sensitive_button.hide()
        row.addWidget(self.not_sensitive_button)
        row.addStretch(1)
        lay.addLayout(row)
        self.clear()

    def clear(self) -> None:
        self.path: str | None = None
        self.preview.setPixmap(QPixmap())
        self.preview.setText("")
        self.name.setText("Select a photo")
        self.meta.setText("Its tags, and photos like it.")
        self.sensitive.hide()
        if hasattr(self, "not_sensitive_button"):
            self.not_sensitive_button.hide()
        self.chips_model.set_tags([])
        self.like_button.setEnabled(False)
        self.hide_button.hide()

    def set_preview(self, pm: QPixmap | None) -> None:
        if pm is None or pm.isNull():
            self.preview.setPixmap(svg_pixmap("photos", 48, theme.colour("text-faint")))
            return
        w = max(120, self.preview.width() or 260)
        self.preview.setPixmap(pm.scaled(w, 220, Qt.KeepAspectRatio, Qt.SmoothTransformation))
