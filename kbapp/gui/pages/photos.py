"""Photos: the grid of your indexed photos, search, "more like this", tags, sensitive photos.

Everything slow happens elsewhere: queries and indexing in the `PhotoService`
threads, thumbnails in the `ThumbnailCache` pool; this page only shows results.
A search is a token: an answer that arrives after a newer search started is
dropped, so typing fast never shows stale results. Sensitive photos (NSFW band
"review" or "nsfw") are drawn from a blurred thumbnail until clicked; the
detail pane's preview follows the same rule.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import qasync
from PySide6.QtCore import QEvent, QSize, QStringListModel, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QCompleter, QFileDialog, QFrame, QHBoxLayout,
                               QListView, QMenu, QPushButton, QSplitter, QStyle, QToolButton)

from .. import ops, theme
from ..assets import icon
from ..photo_models import BlurredRole, PhotoGridModel, TagRole, ThumbnailCache, is_sensitive, plain_tip
from ..photo_service import SEARCH_LIMIT, PhotoService, provider_name
from ..widgets import guarded, label
from ..photo_widgets import (CELL, MAX_TILE, MIN_TILE, NSFW_FILTERS, DetailPane, IndexStatus,  # noqa: F401
                             PhotoDelegate, SearchBar, local_image)
from .base import Page

log = logging.getLogger(__name__)

LIVE_REFRESH_MS = 700   # while a pass runs, the browsing grid refreshes at most this often


class PhotosPage(Page):
    """The grid, the search bar (tags, free text, dropped example), filters and the detail pane."""

    searched = Signal()      # results shown (tests and benchmarks wait on it)
    openInChat = Signal(str, int)   # a photo from chat: its conversation id and message id

    def __init__(self, service: PhotoService, parent=None):
        super().__init__("Photos", "Tagged and searched on this computer: nothing is sent anywhere.",
                         parent=parent)
        self.service = service
        self.thumbs = ThumbnailCache(service.home / "thumbs", parent=self)
        self._token = 0
        self.example: str | None = None
        self.last_query: tuple = ()
        self.loaded = False
        self.dialog: QFileDialog | None = None
        self._search_task: asyncio.Future | None = None

        self.add_button = QPushButton("Add a folder…")
        self.add_button.setObjectName("addPhotoFolderButton")
        self.add_button.setToolTip("Index a folder of photos and keep watching it")
        self.add_button.clicked.connect(self.choose_folder)
        self.actions.addWidget(self.add_button)

        bar = QHBoxLayout()
        bar.setSpacing(8)
        self.search = SearchBar()
        self.search.setObjectName("photoSearch")
        self.search.returnPressed.connect(self.search_clicked)
        self.search.exampleDropped.connect(self.example_dropped)
        self.search.textChanged.connect(self._text_changed)
        self.tag_model = QStringListModel(self)
        self.completer = QCompleter(self.tag_model, self)
        self.completer.setCaseSensitivity(Qt.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchContains)
        self.completer.activated.connect(lambda _t: self.search_clicked())
        self.search.setCompleter(self.completer)
        bar.addWidget(self.search, 1)
        self.nsfw_filter = QComboBox()
        self.nsfw_filter.setObjectName("nsfwFilter")
        for key, text in NSFW_FILTERS:
            self.nsfw_filter.addItem(text, key)
        self.nsfw_filter.currentIndexChanged.connect(lambda _i: self.search_clicked())
        bar.addWidget(self.nsfw_filter)
        self.dupes_button = QPushButton("Near-duplicates")
        self.dupes_button.setObjectName("dupesButton")
        self.dupes_button.setCheckable(True)
        self.dupes_button.setToolTip("Groups of photos that are copies, crops or re-saves of each other")
        self.dupes_button.toggled.connect(self.dupes_toggled)
        bar.addWidget(self.dupes_button)
        self.search_button = QPushButton("Search")
        self.search_button.setObjectName("photoSearchButton")
        self.search_button.clicked.connect(self.search_clicked)
        bar.addWidget(self.search_button)
        self.body.addLayout(bar)

        chips = QHBoxLayout()
        chips.setSpacing(8)
        self.example_chip = QFrame()
        self.example_chip.setObjectName("exampleChip")
        self.example_chip.setProperty("role", "card")
        el = QHBoxLayout(self.example_chip)
        el.setContentsMargins(10, 2, 4, 2)
        self.example_label = label("")
        self.example_label.setObjectName("exampleLabel")
        el.addWidget(self.example_label)
        clear = QToolButton()
        clear.setObjectName("clearExampleButton")
        clear.setIcon(icon("close", theme.colour("text-muted")))
        clear.setToolTip("Stop searching by this example")
        clear.clicked.connect(self.clear_example)
        el.addWidget(clear)
        self.example_chip.hide()
        chips.addWidget(self.example_chip)
        self.summary = label("", "faint")
        self.summary.setObjectName("photoSummary")
        chips.addWidget(self.summary, 1)
        self.body.addLayout(chips)

        split = QSplitter(Qt.Horizontal)
        split.setChildrenCollapsible(False)
        placeholder = QPixmap()
        self.model = PhotoGridModel(self.thumbs, placeholder, self)
        self.model.cleared = service.not_sensitive()   # the user's "not sensitive" corrections
        self.grid = QListView()
        self.grid.setObjectName("photoGrid")
        self.grid.setModel(self.model)
        self.tiles = PhotoDelegate(self.grid)
        self.grid.setItemDelegate(self.tiles)
        self.grid.viewport().installEventFilter(self)   # thumbnails sized to the space (_fit_tiles)
        self.grid.setViewMode(QListView.IconMode)
        self.grid.setResizeMode(QListView.Adjust)
        self.grid.setMovement(QListView.Static)
        self.grid.setUniformItemSizes(True)
        self.grid.setGridSize(CELL)
        self.grid.setSpacing(0)
        self.grid.setSelectionMode(QAbstractItemView.SingleSelection)
        self.grid.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.grid.setContextMenuPolicy(Qt.CustomContextMenu)
        self.grid.customContextMenuRequested.connect(self._context_menu)
        self.grid.clicked.connect(self.tile_clicked)
        self.grid.doubleClicked.connect(lambda ix: self.open_viewer(ix.row()))
        for key in (Qt.Key_Return, Qt.Key_Enter):   # Enter on a tile (not `activated`: one click on some desktops)
            QShortcut(QKeySequence(key), self.grid, context=Qt.WidgetShortcut,
                      activated=lambda: self.open_viewer(self.grid.currentIndex().row()))
        self.viewer = None
        self.grid.selectionModel().currentChanged.connect(lambda cur, _prev: self.show_detail(cur.row()))
        self.grid.setDragEnabled(False)
        split.addWidget(self.grid)
        self.detail = DetailPane()
        self.detail.like_button.clicked.connect(self.more_like_selected)
        self.detail.hide_button.clicked.connect(self.hide_selected)
        self.detail.not_sensitive_button.clicked.connect(
            lambda: self.detail.path and self.set_not_sensitive(self.detail.path))
        self.detail.chips.clicked.connect(lambda ix: self.search_tag(ix.data(TagRole)))
        split.addWidget(self.detail)
        split.setStretchFactor(0, 1)
        split.setSizes([640, 300])
        self.body.addWidget(split, 1)

        self.empty = label("", "muted", wrap=True)
        self.empty.setObjectName("photoEmpty")
        self.empty.setAlignment(Qt.AlignCenter)
        self.body.addWidget(self.empty)
        self.empty.hide()

        self.thumbs.ready.connect(self._thumb_ready)
        # during a pass, what is indexed so far shows up (unless the user is searching something)
        self._live = QTimer(self)
        self._live.setSingleShot(True)
        self._live.setInterval(LIVE_REFRESH_MS)
        self._live.timeout.connect(self._live_refresh)
        self.indexing_progress: tuple[int, int] | None = None
        service.progress.connect(self._index_progress)
        service.indexFinished.connect(self._index_finished)
        service.indexFailed.connect(lambda why: self.banner.show_message("warning", "Photo indexing", why))
        service.foldersChanged.connect(lambda _f: self._show_empty_state())
        service.folderForgotten.connect(self._folder_forgotten)

    # -- life ---------------------------------------------------------------------------------

    def shown(self) -> None:
        if not self.loaded:
            self.loaded = True
            self.search_clicked()
            self.refresh_tags_clicked()

    async def shutdown(self) -> None:
        """The window is closing: no new thumbnails, no open folder dialog."""
        self.thumbs.close()
        if self.dialog is not None:
            self.dialog.reject()

    def eventFilter(self, obj, ev) -> bool:
        if ev.type() == QEvent.Resize and obj is self.grid.viewport():
            # the width QListView lays out in: it keeps room for a vertical scroll bar
            g = self.grid
            bar = g.style().pixelMetric(QStyle.PM_ScrollBarExtent)
            self._fit_tiles(g.maximumViewportSize().width() - bar - 1)
        return super().eventFilter(obj, ev)

    def _fit_tiles(self, width: int) -> None:
        """As many columns as fit tiles of at least MIN_TILE, then tiles grown to fill the row
        (up to MAX_TILE): no wide empty margin, and never 1 column when 2 small ones fit."""
        cols = max(1, width // (MIN_TILE + 16))
        tile = max(MIN_TILE, min(MAX_TILE, width // cols - 16))
        if tile != self.tiles.tile:
            self.tiles.tile = tile
            self.grid.setGridSize(QSize(tile + 16, tile + 40))

    def _browsing(self) -> bool:
        """The grid shows the newest photos (no text, example or duplicates view): a pass may refill it."""
        return (self.loaded and not self.example and not self.search.text().strip()
                and not self.dupes_button.isChecked())

    def _index_progress(self, phase: str, done: int, total: int) -> None:
        self.indexing_progress = (done, total) if phase == "analyze" and done < total else None
        if self.indexing_progress and self._browsing() and not self._live.isActive():
            self._live.start()

    def _live_refresh(self) -> None:
        if self._browsing() and self.service.indexing:
            self.search_clicked()

    def _index_finished(self, summary) -> None:
        self.indexing_progress = None
        if summary.indexed or summary.removed or not self.model.rowCount():
            self.refresh_tags_clicked()
            if self.loaded and not self.example:
                self.search_clicked()

    def _folder_forgotten(self, _folder: str, n: int) -> None:
        if n:   # its photos left the index: show what is left
            self.refresh_tags_clicked()
            if self.loaded:
                self.search_clicked()

    # -- folders ---------------------------------------------------------------------------------

    def choose_folder(self) -> None:
        if self.dialog is not None:
            return
        dlg = QFileDialog(self.window(), "Add a folder of photos")
        dlg.setObjectName("photoFolderDialog")
        dlg.setFileMode(QFileDialog.Directory)
        dlg.setOption(QFileDialog.ShowDirsOnly, True)
        dlg.finished.connect(lambda result: self._folder_chosen(dlg, result))
        self.dialog = dlg
        dlg.open()

    def _folder_chosen(self, dlg: QFileDialog, result: int) -> None:
        self.dialog = None
        files = dlg.selectedFiles() if result == QFileDialog.Accepted else []
        dlg.deleteLater()
        if files:
            self.add_folder(files[0])

    def add_folder(self, folder: str) -> None:
        try:
            self.service.add_folder(folder)
        except Exception as e:  # noqa: BLE001 - shown, not raised
            self.banner.show_error(e)
            return
        self.loaded = True

    # -- searching ----------------------------------------------------------------------------------

    def nsfw_mode(self) -> str:
        return self.nsfw_filter.currentData() or "include"

    def _text_changed(self, text: str) -> None:
        if not text and not self.example and self.loaded:
            self.search_clicked()   # the clear button shows every photo again

    def search_clicked(self) -> None:
        self._start()

    def dupes_toggled(self, on: bool) -> None:
        if not on:
            self.search_clicked()
            return
        # the duplicates view ignores the query: the controls say so (empty box, no example chip)
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)
        self.example = None
        self.example_chip.hide()
        self._token += 1
        self._search_task = asyncio.ensure_future(self.show_dupes(self._token))

    async def show_dupes(self, token: int) -> None:
        ok, res = await guarded(self.service.dupes(), banner=self.banner, busy=self.busy)
        if token != self._token:
            return
        if ok:
            hits, groups = res
            self.model.set_hits(hits)
            n = len(hits)
            self.summary.setText(f"{n} photos in {groups} group{'s' if groups != 1 else ''} of near-duplicates"
                                 if groups else "No near-duplicates")
            self.detail.clear()
            self._show_empty_state()
        self.searched.emit()

    def search_tag(self, tag: str | None) -> None:
        if not tag:
            return
        self.example = None
        self.example_chip.hide()
        self.search.blockSignals(True)
        self.search.setText(tag)
        self.search.blockSignals(False)
        self.search_clicked()

    def example_dropped(self, path: str) -> None:
        self.set_example(path)
        self.search_clicked()

    def set_example(self, path: str | None) -> None:
        self.example = path
        if path:
            self.example_label.setText(f"Like {Path(path).name}")
            self.example_chip.setToolTip(plain_tip(path))
        self.example_chip.setVisible(bool(path))

    def clear_example(self) -> None:
        self.set_example(None)
        self.search_clicked()

    def more_like(self, path: str) -> None:
        self.set_example(path)
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)
        self._start(similar=True)

    def more_like_selected(self) -> None:
        if self.detail.path:
            self.more_like(self.detail.path)

    def _start(self, similar: bool = False) -> None:
        if self.dupes_button.isChecked():
            self.dupes_button.blockSignals(True)
            self.dupes_button.setChecked(False)   # a search leaves the duplicates view
            self.dupes_button.blockSignals(False)
        self._token += 1   # now, not when the task first runs: the newest request wins
        self._search_task = asyncio.ensure_future(self.run_search(similar, token=self._token))

    async def run_search(self, similar: bool = False, token: int | None = None) -> None:
        """One search; only the newest one's answer is shown."""
        if token is None:
            self._token += 1
            token = self._token
        text = self.search.text().strip() or None
        like = Path(self.example) if self.example else None
        nsfw = self.nsfw_mode()
        self.last_query = (text, str(like) if like else None, nsfw)
        if similar and like is not None and not text:
            work = self.service.similar(like, nsfw=nsfw)
        else:
            work = self.service.search(text, like=like, nsfw=nsfw)
        ok, hits = await guarded(work, banner=self.banner, busy=self.busy)
        if token != self._token or not ops.alive(self):   # newer search, or the page closed meanwhile
            return
        if not ok:
            self.searched.emit()
            return
        keep = self.detail.path
        self.model.set_hits(hits)
        n = len(hits)
        what = self.describe(text, nsfw, similar=similar and not text, limited=n >= SEARCH_LIMIT)
        progress = ""
        if self.indexing_progress and not text and not self.example:
            done, total = self.indexing_progress
            progress = f" so far · indexing {done} of {total}"
        self.summary.setText(f"{n} photo{'s' if n != 1 else ''}{progress}" + (f" · {what}" if what else ""))
        note = getattr(self.service, "last_note", None) if text else None
        self.summary.setToolTip(plain_tip(note) or "")
        self.summary.setWordWrap(bool(note))
        if note:   # a multi-word query: how its words were combined, and when CLIP would do better
            self.summary.setText(f"{self.summary.text()}\n{note}")
        self._show_empty_state()
        row = self.model.row_of(keep) if keep else -1
        if row < 0 and similar and n:
            row = 0
        if row >= 0:
            self.grid.setCurrentIndex(self.model.index(row))
        else:
            self.detail.clear()
        self.searched.emit()

    def describe(self, text: str | None, nsfw: str, *, similar: bool = False, limited: bool = False) -> str:
        """Everything that decided what the grid shows, for the line above it: the typed text, the
        example, the sensitive filter, and whether the list was cut at the search limit."""
        parts = []
        if text:
            parts.append(f"matching “{text}”")
        if self.example:
            name = Path(self.example).name
            parts.append(f"most similar to {name}" if similar else f"like {name}")
        if not text and not self.example:
            parts.append("newest first")
        if nsfw != "include":
            parts.append({"exclude": "sensitive hidden", "only": "sensitive only"}.get(nsfw, nsfw))
        if limited:
            parts.append(f"the first {SEARCH_LIMIT}")
        return " · ".join(parts)

    def _show_empty_state(self) -> None:
        has = self.model.rowCount() > 0
        self.empty.setVisible(not has)
        if has:
            return
        if not self.service.folders():
            self.empty.setText("No photos yet. Add a folder: kbapp tags its photos on this computer and "
                               "keeps watching it for new ones.")
        elif self.service.indexing and self.service.last_summary is None:   # the first pass
            self.empty.setText("Indexing your photos… the first ones appear here in a moment.")
        else:
            self.empty.setText("No photos match.")

    @qasync.asyncSlot()
    async def refresh_tags_clicked(self) -> None:
        ok, tags = await guarded(self.service.known_tags(), clear=False, owner=self.tag_model)
        if ok:
            self.tag_model.setStringList(tags)

    # -- the grid -------------------------------------------------------------------------------------

    def tile_clicked(self, index) -> None:
        if index.data(BlurredRole):
            self.model.reveal(index.row())
            self.show_detail(index.row())

    def open_viewer(self, row: int) -> None:
        """The full-size viewer (kbapp/gui/photo_viewer.py) on this photo; it follows the grid's order."""
        from ..photo_viewer import PhotoViewer

        if self.model.item(row) is None:
            return
        if self.viewer is not None:
            self.viewer.show_row(row)
            return
        v = PhotoViewer(self.model, row, self.service, self.window())
        v.rowChanged.connect(lambda r: self.grid.setCurrentIndex(self.model.index(r)))
        v.finished.connect(lambda _r: self._viewer_closed(v))
        self.viewer = v
        v.open()

    def _viewer_closed(self, v) -> None:
        self.viewer = None
        v.deleteLater()

    def set_not_sensitive(self, path: str, on: bool = True) -> None:
        """Remembered in the profile: this photo is shown unblurred from now on (or flagged again)."""
        key = self.model.set_cleared(path, on)   # by content: "sha256:…" (a copy elsewhere too)
        self.service.mark_not_sensitive(key, on)
        if not on:
            self.service.mark_not_sensitive(path, False)   # an older correction kept by path
        row = self.model.row_of(path)
        if row >= 0 and path == self.detail.path:
            self.show_detail(row)

    def hide_selected(self) -> None:
        row = self.model.row_of(self.detail.path) if self.detail.path else -1
        if row >= 0:
            self.model.reveal(row, False)
            self.show_detail(row)

    def _context_menu(self, pos) -> None:
        index = self.grid.indexAt(pos)
        if not index.isValid():
            return
        it = self.model.item(index.row())
        menu = QMenu(self)
        menu.setObjectName("photoMenu")
        like = QAction("More like this", menu)
        like.triggered.connect(lambda: self.more_like(it.path))
        menu.addAction(like)
        if it.sensitive:
            toggle = QAction("Hide" if it.revealed else "Show", menu)
            toggle.triggered.connect(lambda: (self.model.reveal(index.row(), not it.revealed),
                                              self.show_detail(index.row())))
            menu.addAction(toggle)
        origin = getattr(it.hit, "origin", None) or {}
        if origin.get("source") == "chat" and origin.get("conv_id") and origin.get("msg_id"):
            where = QAction(f"Show in chat ({origin.get('conv', '')}, #{origin['msg_id']})".replace("&", "&&"), menu)
            where.setObjectName("showInChatAction")
            where.triggered.connect(lambda: self.open_in_chat(str(origin["conv_id"]), int(origin["msg_id"])))
            menu.addAction(where)
        if it.flagged:   # an NSFW false positive can be corrected, and the correction undone
            fix = QAction("Mark as sensitive again" if it.cleared else "Not sensitive", menu)
            fix.setObjectName("notSensitiveAction")
            fix.triggered.connect(lambda: self.set_not_sensitive(it.path, not it.cleared))
            menu.addAction(fix)
        menu.popup(self.grid.viewport().mapToGlobal(pos))
        self.menu = menu

    def open_in_chat(self, conv_id: str, msg_id: int) -> None:
        """The Chat page, at the message this photo came in (the origin the chat side wrote
        after verifying it)."""
        self.openInChat.emit(conv_id, msg_id)
        shell = getattr(self.window(), "shell", None)
        if shell is not None and hasattr(shell, "chat"):
            shell.go("chat")
            shell.chat.show_message(conv_id, msg_id)

    def _thumb_ready(self, path: str, _blurred: bool) -> None:
        if path == self.detail.path:
            row = self.model.row_of(path)
            if row >= 0:
                self.detail.set_preview(self.model.thumbnail(row))

    def show_detail(self, row: int) -> None:
        it = self.model.item(row)
        d = self.detail
        if it is None:
            d.clear()
            return
        changed = d.path != it.path
        d.path = it.path
        d.name.setText(d.name.fontMetrics().elidedText(Path(it.path).name, Qt.ElideMiddle,
                                                      max(120, d.width() - 40)))
        d.name.setToolTip(plain_tip(it.path))
        d.like_button.setEnabled(True)
        d.set_preview(self.model.thumbnail(row))
        if it.sensitive:
            d.sensitive.setText("Hidden: this photo may be sensitive. Click it to show it."
                                if it.blurred else "This photo may be sensitive.")
            d.sensitive.show()
        else:
            d.sensitive.hide()
        d.hide_button.setVisible(it.sensitive and it.revealed)
        d.not_sensitive_button.setVisible(it.sensitive)
        if changed:
            d.meta.setText(it.path)
            d.chips_model.set_tags([(t, 0.0, "model") for t in it.hit.tags])
            self._start_tags(it.path)

    def _start_tags(self, path: str) -> None:
        asyncio.ensure_future(self._load_tags(path))

    async def _load_tags(self, path: str) -> None:
        ok, t = await guarded(self.service.tags(Path(path)), clear=False, owner=self.detail.chips_model)
        if not ok or self.detail.path != path:
            return
        self.detail.chips_model.set_tags(t.tags)
        bits = [f"{t.width}×{t.height}"]
        if t.taken:
            bits.append(f"taken {t.taken.replace('T', ' ')}")
        if t.nsfw is not None and is_sensitive(t.nsfw):
            bits.append(f"sensitive score {t.nsfw:.2f}")
        self.detail.meta.setText(" · ".join(bits) + "\n" + path)


def ml_status_text(provider: str | None) -> tuple[str, str]:
    """(status bar text, tooltip) for the ML engine."""
    if not provider:
        return "ML: not loaded", "The photo models load when you first index or search photos"
    name = provider_name(provider)
    return f"ML: {name}", f"onnxruntime runs the photo models on {provider}"
