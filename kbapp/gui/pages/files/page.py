"""The Files page: folders on the left, the open directory in the middle, a preview on the right.

Everything shown comes from `app.files` (the folder engine's verified, locally cached view),
asked off the Qt thread through `ops.run`; the list re-reads when the engine says a folder
changed (`FolderChanged`, pushed for others' revisions and emitted for our own journalled
changes) and the status line when its queue moved (`FilesQueueChanged`). Dropping files or
directories queues them into the journal (transfers.py); dragging rows out exports
decrypted copies with the CLI's hostile-name rules (export.py). Names, writers and file
contents are other people's text: shown as plain text only.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QFrame, QHBoxLayout, QHeaderView, QLabel, QListView,
                               QProgressBar, QPushButton, QSplitter, QTableView, QToolButton,
                               QVBoxLayout, QWidget)

from kbapp.client.fs.events import FilesQueueChanged, FolderChanged
from kbapp.client.fs.hints import FolderHinted
from kbapp.core import errors

from ... import ops
from ...models import ObjectRole
from ...plain import plain_tip
from ...widgets import Banner, label
from ..base import Page
from .actions import FileActions, join
from .journal_panel import JournalPanel
from .models import TAGS, EntriesModel, FolderListModel, folder_items
from .moving import CrumbButton, FileMoves, SidebarDrops
from .preview import PreviewPanel
from .queue_view import FileQueue
from .thumbs import attach as attach_images
from .transfers import TransferQueue

TRASH = ".trash"


class EntryView(QTableView):
    """The directory list: accepts drops of local files, starts drags of its rows. A table,
    not a tree: a tree view lays out every row of a reset (two Python calls per row: 80 ms
    for 10,000 rows), a table with fixed row heights only the rows it paints (7 ms)."""

    def __init__(self, page):
        super().__init__()
        self.page = page
        self.setObjectName("filesList")
        rows = self.verticalHeader()
        rows.hide()
        rows.setSectionResizeMode(QHeaderView.Fixed)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setTabKeyNavigation(False)          # Tab leaves the list, as in a file manager
        self.setCornerButtonEnabled(False)
        self.horizontalHeader().setHighlightSections(False)
        self.setSortingEnabled(True)
        self.setAlternatingRowColors(False)
        self.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        self.setDragDropMode(QAbstractItemView.DragDrop)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setContextMenuPolicy(Qt.CustomContextMenu)

    def dragEnterEvent(self, e) -> None:
        if e.mimeData().hasUrls() and self.page.folder:
            e.acceptProposedAction()
        else:
            super().dragEnterEvent(e)

    def dragMoveEvent(self, e) -> None:
        if e.mimeData().hasUrls() and self.page.folder:
            e.acceptProposedAction()
        else:
            super().dragMoveEvent(e)

    def dropEvent(self, e) -> None:
        if not (e.mimeData().hasUrls() and self.page.folder):
            return super().dropEvent(e)
        idx = self.indexAt(e.position().toPoint())
        row = idx.data(ObjectRole) if idx.isValid() else None
        into = self.page.path_of(row["name"]) if row and row.get("type") == "dir" else self.page.path()
        if self.page.rows_dropped(e.mimeData(), into):       # our own rows: moved (onto a directory)
            e.acceptProposedAction()
            return
        if e.source() is self:               # our own rows dropped on ourselves: nothing to copy
            e.ignore()
            return
        self.page.drop_urls(e.mimeData().urls(), into)
        e.acceptProposedAction()

    def startDrag(self, actions) -> None:
        self.page.start_drag_out()

    def setIconSize(self, size) -> None:
        """Rows are as tall as an icon (a thumbnail) or a line of text, whichever is taller."""
        super().setIconSize(size)
        self.verticalHeader().setDefaultSectionSize(max(size.height() + 8, self.fontMetrics().height() + 12))

    def resizeEvent(self, e) -> None:
        super().resizeEvent(e)
        self.fit_tags()

    def fit_tags(self) -> None:
        """The Tags column gets a third of what the fixed columns leave (80-260 px); Name,
        stretched, the rest: a narrow list still shows names, a wide one whole tag lists."""
        h = self.horizontalHeader()
        if h.count() <= TAGS or self.isColumnHidden(TAGS):
            return
        left = self.viewport().width() - sum(h.sectionSize(c) for c in (1, 2, 3) if not self.isColumnHidden(c))
        want = min(260, max(80, left // 3))
        if h.sectionSize(TAGS) != want:
            h.resizeSection(TAGS, want)

    def keyPressEvent(self, e) -> None:
        """F2 renames, Delete trashes, Backspace/Alt+Up goes up, Ctrl+C/X/V copy, cut and paste,
        Ctrl+S saves a copy; everything else (arrows, type-to-select, Enter) is the view's."""
        key, mods = e.key(), e.modifiers()
        page = self.page
        ctrl = bool(mods & Qt.ControlModifier)
        act = {Qt.Key_F2: page.rename_clicked, Qt.Key_Delete: page.delete_clicked,
               Qt.Key_Backspace: page.go_up}.get(key) if not ctrl else None
        if key == Qt.Key_Up and mods & Qt.AltModifier:
            act = page.go_up
        if ctrl:
            act = {Qt.Key_C: page.copy_clicked, Qt.Key_X: page.cut_clicked, Qt.Key_V: page.paste_clicked,
                   Qt.Key_S: page.save_copy_clicked}.get(key)
        if act is not None:
            act()
            e.accept()
            return
        super().keyPressEvent(e)


class FilesPage(FileMoves, FileActions, FileQueue, Page):
    syncSummary = Signal(str, bool)          # the window's status bar: what the journal does ("": idle), trouble?

    def __init__(self, session, bridge, parent=None):
        super().__init__("Files", parent=parent)
        self.session = session
        self.app = session.app
        self.me = ""
        self.folder = ""                     # "/private/alice,bob"
        self.comps: tuple[str, ...] = ()     # the open directory below it
        self.rev: int | None = None          # viewing a past revision (read-only)
        self.loaded = False
        self.body.setContentsMargins(0, 0, 0, 0)
        self.queue = TransferQueue(self.app.files, self)
        self.queue.progress.connect(self._progress)
        self.queue.finished.connect(self._transfers_done)
        self.queue.failed.connect(self._transfer_failed)
        self.read_only = ""                  # why this folder is read-only for us ("" when we may write)
        self.offline = False                 # the last listing came from the cached view: the server is away
        self.engine_status: dict = {}
        self.app.files.start()               # built at login: journalled changes go up, Files opened or not
        self._drag_sweeper = QTimer(self)    # drag-out copies over an hour old go, even with no other drag
        self._drag_sweeper.setInterval(10 * 60 * 1000)
        self._drag_sweeper.timeout.connect(self.sweep_drags)
        self._drag_sweeper.start()
        QTimer.singleShot(0, self.sweep_drags)
        self._listing = None                 # the running listing (ops task), if any
        self._fresh_path = ""                # the path whose fresh (server-checked) listing is shown
        self._listing_path = ""
        self._list_again = False

        split = QSplitter(Qt.Horizontal)
        split.setObjectName("filesSplit")
        split.setChildrenCollapsible(False)
        split.addWidget(self._build_left())
        split.addWidget(self._build_middle())
        self.preview = PreviewPanel(self.app)
        self.preview.hide()
        split.addWidget(self.preview)
        split.setSizes([250, 680, 320])
        self.body.addWidget(split, 1)
        self.split = split
        self.images = attach_images(self, bridge)     # thumbnails, tags (thumbs.py)

        bridge.listen(FolderChanged, self._folder_changed, owner=self)
        bridge.listen(FilesQueueChanged, self._queue_changed, owner=self)
        bridge.listen(FolderHinted, self._hinted, owner=self)
        self.hint_timer = QTimer(self)           # hints in a burst make one re-list
        self.hint_timer.setSingleShot(True)
        self.hint_timer.setInterval(150)
        self.hint_timer.timeout.connect(lambda: self.reload(clear=False) if self.rev is None else None)
        self.ticker = QTimer(self)               # repaints progress bars while a copy runs
        self.ticker.setInterval(200)
        self.ticker.timeout.connect(self._progress)

    # -- building -------------------------------------------------------------------------

    def _build_left(self) -> QFrame:
        left = QFrame()
        left.setObjectName("filesLeft")
        ll = QVBoxLayout(left)
        ll.setContentsMargins(16, 0, 8, 8)
        self.new_shared_button = QPushButton("New folder with…")
        self.new_shared_button.setObjectName("newSharedFolder")
        self.new_shared_button.setToolTip("Share a folder with people (bob, bob@github) or open a team's folder")
        self.new_shared_button.clicked.connect(self.new_shared_folder)
        ll.addWidget(self.new_shared_button)
        self.folder_model = FolderListModel(self)
        self.folder_list = QListView()
        self.folder_list.setObjectName("folderList")
        self.folder_list.setModel(self.folder_model)
        self.folder_list.setFrameShape(QFrame.NoFrame)
        self.folder_list.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.folder_list.setTextElideMode(Qt.ElideRight)
        self.folder_list.setAcceptDrops(True)
        self.folder_list.viewport().setAcceptDrops(True)
        self.folder_list.setDragDropMode(QAbstractItemView.DropOnly)
        self.folder_list.selectionModel().currentChanged.connect(self._folder_picked)
        self.folder_model.dropped.connect(self._dropped_on_folder)
        self.sidebar_drops = SidebarDrops(self, self.folder_list)    # our rows dropped on a folder: moved
        ll.addWidget(self.folder_list, 1)
        return left

    def _build_middle(self) -> QWidget:
        mid = QWidget()
        ml = QVBoxLayout(mid)
        ml.setContentsMargins(8, 0, 8, 8)
        ml.setSpacing(6)
        top = QHBoxLayout()
        self.crumbs = QHBoxLayout()
        self.crumbs.setSpacing(2)
        top.addLayout(self.crumbs)
        top.addStretch(1)
        self.upload_button = QPushButton("Add files…")
        self.upload_button.setObjectName("addFilesButton")
        self.upload_button.clicked.connect(self.add_files_clicked)
        self.mkdir_button = QPushButton("New directory")
        self.mkdir_button.setObjectName("mkdirButton")
        self.mkdir_button.clicked.connect(self.mkdir_clicked)
        self.trash_button = QToolButton()
        self.trash_button.setText("Trash")
        self.trash_button.setObjectName("trashButton")
        self.trash_button.setToolTip("Files deleted from this folder, restorable")
        self.trash_button.clicked.connect(lambda: self.open_dir(self.folder, (TRASH,)))
        for w in (self.upload_button, self.mkdir_button, self.trash_button):
            top.addWidget(w)
        ml.addLayout(top)
        self.view_banner = Banner()              # a past revision, a parked conflict view
        ml.addWidget(self.view_banner)
        self.model = EntriesModel(self)
        self.list = EntryView(self)
        self.list.setModel(self.model)
        self.list.setIconSize(self.list.iconSize())   # (its row height follows)
        self.list.sortByColumn(0, Qt.AscendingOrder)
        h = self.list.horizontalHeader()
        h.setResizeContentsPrecision(64)        # sized from the first rows, not all 10,000
        h.setSectionResizeMode(0, QHeaderView.Stretch)
        for c in (1, 2, 3):
            h.setSectionResizeMode(c, QHeaderView.ResizeToContents)
        h.setSectionResizeMode(TAGS, QHeaderView.Interactive)   # sized by EntryView.fit_tags: names come first
        h.setStretchLastSection(False)
        h.sectionResized.connect(lambda i, _o, _n: i in (1, 2, 3) and self.list.fit_tags())
        self.list.activated.connect(self._activated)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        ml.addWidget(self.list, 1)
        self.empty = label("Drop files here to encrypt and share them.", "muted")
        self.empty.setAlignment(Qt.AlignCenter)
        ml.addWidget(self.empty)
        self._build_status(ml)
        return mid

    def _build_status(self, ml) -> None:
        """Under the list: the transfers, the journal panel, the status line and its buttons."""
        # transfers: one row per dropped file, with its bar; hidden while there are none
        self.transfers = QTableView()
        self.transfers.setObjectName("transferList")
        self.transfers.setModel(self.queue.model)
        self.transfers.verticalHeader().hide()
        th = self.transfers.horizontalHeader()
        th.setSectionResizeMode(0, QHeaderView.Stretch)
        th.setResizeContentsPrecision(32)    # sized from the first rows: not every row on each tick
        th.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        th.setSectionResizeMode(2, QHeaderView.ResizeToContents)
        self.transfers.setMaximumHeight(150)
        self.transfers.hide()
        ml.addWidget(self.transfers)
        self.journal_panel = JournalPanel(self)      # every change on its way up (journal_panel.py)
        self.journal_panel.hide()
        ml.addWidget(self.journal_panel)
        row = QHBoxLayout()
        self.status_line = QLabel("")
        self.status_line.setObjectName("filesStatus")
        self.status_line.setTextFormat(Qt.PlainText)
        self.status_line.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setObjectName("filesProgress")
        self.bar.setFormat("%p% encrypted")    # its own full-width line: the status text beside it wraps
        self.bar.hide()
        self.pause_button = QPushButton("Pause uploads")
        self.pause_button.setObjectName("pauseButton")
        self.pause_button.clicked.connect(self.pause_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelTransfers")
        self.cancel_button.clicked.connect(self.queue.cancel)
        self.retry_button = QPushButton("Retry")
        self.retry_button.setObjectName("retryTransfers")
        self.retry_button.clicked.connect(self.retry_clicked)
        self.journal_button = QPushButton("Sync details")
        self.journal_button.setObjectName("journalButton")
        self.journal_button.setToolTip("Every change on its way to the server: state, reason, Retry, Cancel")
        self.journal_button.clicked.connect(self.journal_panel.toggle)
        row.addWidget(self.status_line, 1)
        for w in (self.pause_button, self.cancel_button, self.retry_button, self.journal_button):
            row.addWidget(w)
        self.cancel_button.hide()
        self.retry_button.hide()
        ml.addWidget(self.bar)
        ml.addLayout(row)

    # -- navigation -----------------------------------------------------------------------

    def shown(self) -> None:
        if not self.loaded:
            self.loaded = True
            self.reload_folders()

    def path(self) -> str:
        return join(self.folder, self.comps)

    def path_of(self, name: str) -> str:
        return join(self.folder, (*self.comps, name))

    def reload_folders(self) -> None:
        from kbapp.client.fs.known import known_folders

        async def work():
            me = self.app.ctx.username or ""
            return me, await known_folders(self.app.files, self.app.teams, me)

        ops.run(self, work, key="folders", busy=self.busy, banner=self.banner, clear=False,
                on_done=self._show_folders)

    def _show_folders(self, got) -> None:
        self.me, paths = got
        self.folder_model.set_items(folder_items(paths, self.me))
        if not self.folder and paths:
            self.select_folder(paths[0])

    def select_folder(self, path: str) -> None:
        r = self.folder_model.row_of(path)
        if r < 0:
            self.folder_model.set_items(folder_items([f.path for f in self.folder_model.items if not f.header]
                                                     + [path], self.me))
            r = self.folder_model.row_of(path)
        self.folder_list.selectionModel().setCurrentIndex(self.folder_model.index(r),
                                                          QItemSelectionModel.ClearAndSelect)

    def _folder_picked(self, cur: QModelIndex, _prev=None) -> None:
        f = cur.data(ObjectRole) if cur.isValid() else None
        if f is not None and not f.header and f.path != self.folder:
            self.open_dir(f.path, ())

    def open_dir(self, folder: str, comps: tuple[str, ...], *, rev: int | None = None) -> None:
        if folder != self.folder:
            self.read_only = ""
            self._check_writer(folder)
        self.folder, self.comps, self.rev = folder, tuple(comps), rev
        self._crumbs()
        self.preview.clear()
        self.model.set_rows([])
        self._update_empty()
        self._fresh_path = ""
        if rev is None:
            self._show_held()
        else:
            self.reload()

    def _show_held(self) -> None:
        """What this session last verified of the directory, shown at once (no network: a big
        directory paints before the fresh listing has been asked for and judged); the fresh
        listing replaces it when it comes, and a held one never replaces a fresh one. The
        fresh listing is asked for once the held one has painted (a zero timer runs after the
        paint event): its requests and judging on this thread would otherwise come between
        the held rows and their first paint. Nothing held: asked for at once."""
        path = self.path()

        def fresh() -> None:
            running = self._listing is not None and not self._listing.done() and self._listing_path == path
            if path == self.path() and ops.alive(self) and self._fresh_path != path and not running:
                self.reload()                    # (unless a push asked for it meanwhile)

        def shown(rows) -> None:
            if rows is None or path != self.path():
                return fresh()
            if self._fresh_path != path:
                self._show_rows(path, rows, fresh=False)
            QTimer.singleShot(0, fresh)
        ops.run(self, lambda: self.app.files.ls(path, held=True), key="ls-held", clear=False, cursor=False,
                on_done=shown, on_error=lambda _e: fresh())

    def go_up(self) -> None:
        if self.comps:
            self.open_dir(self.folder, self.comps[:-1], rev=self.rev)

    def _crumbs(self) -> None:
        while self.crumbs.count():
            w = self.crumbs.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        from .models import folder_label
        top = folder_label(self.folder, self.me) if self.folder else ""
        parts = [(top, ())] + [(c, self.comps[:i + 1]) for i, c in enumerate(self.comps)]
        for i, (text, comps) in enumerate(parts):
            b = CrumbButton(self, comps)         # rows dropped on it move there
            b.setObjectName("crumb")
            shown = text if len(text) <= 40 else text[:39] + "…"
            b.setText(shown.replace("&", "&&"))     # plain, but '&' would become a shortcut mark
            b.setToolTip(plain_tip(self.folder if not comps else join(self.folder, comps)))
            b.setAutoRaise(True)
            b.clicked.connect(lambda _=False, c=comps: self.open_dir(self.folder, c, rev=self.rev))
            self.crumbs.addWidget(b)
            if i < len(parts) - 1:
                self.crumbs.addWidget(QLabel("›"))
        self._view_banner()

    def in_parked_view(self) -> bool:
        return any("local conflicted copy" in c for c in self.comps[:1])

    def _view_banner(self) -> None:
        if self.rev is not None:
            self.view_banner.show_message("info", f"Viewing revision {self.rev} (read-only)",
                                          "This is how the folder looked then. Open a file's History to "
                                          "restore it, or pick the folder again to return to now.")
        elif any("local conflicted copy" in c for c in (self.folder, *self.comps)):
            self.view_banner.show_message(
                "warning", "Your changes here could not be merged automatically",
                "Two devices changed this folder while apart and their changes could not be combined. "
                "Nothing was lost: what this device wrote is kept here, read-only, and the folder "
                "itself stays writable. Copy what you need back into the folder, then delete this view.")
        else:
            self.view_banner.clear()

    def reload(self, *, clear: bool = True) -> None:
        """List the open directory. One listing at a time: asked again while one runs (a drop
        journals a file every few ms, each a FolderChanged), it runs once more when that one
        ends, for the directory open then; a newer path supersedes an older answer."""
        if not self.folder:
            return
        if self._listing is not None and not self._listing.done() and self._listing_path == self.path():
            self._list_again = True
            return
        path, rev = self.path(), self.rev
        self._listing_path, self._list_again = path, False
        self._listing = ops.run(self, lambda: self.app.files.ls(path, rev=rev), key="ls", busy=self.busy,
                                banner=self.banner, clear=clear,
                                on_done=lambda rows, p=path: self._show_rows(p, rows), on_error=self._ls_failed)
        self._listing.add_done_callback(lambda _t: self._listed())

    def _soon(self) -> None:
        """Re-list within 150 ms; more asks meanwhile do not push it back (a long drop still
        shows its files as they come)."""
        if not self.hint_timer.isActive():
            self.hint_timer.start()

    def _listed(self) -> None:
        if self._list_again and ops.alive(self):
            self._list_again = False
            self._soon()                         # once more, a moment later (coalesced)

    def _check_writer(self, folder: str) -> None:
        """Readers see the folder read-only at once (buttons off, the empty state says so),
        not after a drop has failed file by file."""
        def done(_v, f=folder) -> None:
            if f == self.folder:
                self.read_only = ""
                self._update_empty()

        def refused(exc: BaseException, f=folder) -> None:
            if f == self.folder and isinstance(exc, (errors.FolderNotWriter, errors.ReadOnlyView)):
                self.read_only = "You can read this folder but not change it: only its writers can add files."
                self._update_empty()
        ops.run(self, lambda: self.app.files.check_writable(folder), key="writable", clear=False, cursor=False,
                on_done=done, on_error=refused)

    def _ls_failed(self, exc: BaseException) -> None:
        if isinstance(exc, errors.FolderHeadUnreadable):
            self.model.set_rows([])
            self._update_empty()
            self.offer_rollback(exc)               # actions.py: who broke it, and the way out
            return
        if isinstance(exc, errors.NotFound) and self.comps:
            self.open_dir(self.folder, ())        # the directory went away (moved, deleted elsewhere)
            return
        if isinstance(exc, errors.NetworkError) and self.model.rows:
            self._say_offline(str(exc))           # keep what is shown: it was verified, maybe old
            return
        self.model.set_rows([])
        self.banner.show_error(exc)
        self._update_empty()

    def _show_rows(self, path: str, rows: list[dict], *, fresh: bool = True) -> None:
        if path != self.path():
            return
        if fresh:
            self._fresh_path = path
            self.banner.clear_about("head")        # the head reads (again): no rollback is offered
            self._say_offline(getattr(self.app.files, "offline", "") if self.rev is None else "")
        if not self.comps:
            rows = [r for r in rows if r.get("name") != TRASH]
        keep = [i.data(ObjectRole).get("name") for i in self.list.selectionModel().selectedRows()]
        self.images.open(self.folder, path, self.rev)
        self.model.set_rows(rows)
        self.images.read_tags(rows)
        for name in keep:
            r = self.model.row_named(name)
            if r >= 0:
                self.list.selectionModel().select(self.model.index(r, 0),
                                                  QItemSelectionModel.Select | QItemSelectionModel.Rows)
        self._update_empty()
        self._resolve_names(rows)

    def _say_offline(self, why: str) -> None:
        """The engine served the saved (verified, maybe old) view because the server is away."""
        if why:
            self.offline = True
            self.banner.show_message("warning", "Offline: showing the last verified view",
                                     f"The server can't be reached ({why}). What you see may be out of date; "
                                     "files you add are kept here and uploaded when it is back.",
                                     subject="offline")
        elif self.offline:
            self.offline = False
            self.banner.clear_about("offline")

    def _update_empty(self) -> None:
        self.empty.setVisible(self.model.rowCount() == 0)
        read_only = self.rev is not None or bool(self.read_only) or self.in_parked_view()
        if self.rev is not None:
            text = "Nothing was in this directory at that revision."
        elif self.comps[:1] == (TRASH,):
            text = ("The trash is empty. Deleted files come here; select one and choose Restore (right click) "
                    "to put it back. Deleting from the trash removes a file for good.")
        elif self.read_only:
            text = f"Nothing here yet. {self.read_only}"
        elif self.comps:
            text = "This directory is empty. Drop files here to encrypt and share them."
        else:
            text = ("Nothing here yet. Drop files here (or use Add files…) to encrypt them for everyone in "
                    "this folder; they are uploaded in the background.")
        self.empty.setText(text)
        for w in (self.upload_button, self.mkdir_button):
            w.setEnabled(bool(self.folder) and not read_only)
            w.setToolTip(self.read_only)

    def _resolve_names(self, rows: list[dict]) -> None:
        """Writers' usernames from the folder's verified team (rows name writers by uid)."""
        uids = {str(r.get("writer")) for r in rows if r.get("writer") and not r.get("username")}
        if not uids or uids <= set(self.model.names):
            return
        from kbapp.client.fs.known import writer_names
        path = self.path()
        ops.run(self, lambda: writer_names(self.app.files, path), key="names", clear=False, cursor=False,
                on_done=self._names_known, on_error=lambda _e: None)

    def _names_known(self, names: dict) -> None:
        self.model.set_names(names)
        self.preview.names = self.model.names

    def _activated(self, idx: QModelIndex) -> None:
        row = idx.data(ObjectRole)
        if row is None:
            return
        if row.get("type") == "dir":
            self.open_dir(self.folder, (*self.comps, row["name"]), rev=self.rev)
        else:
            self.preview.show_file(self.path_of(row["name"]), row, rev=self.rev)

    def _selection_changed(self) -> None:
        rows = self.selected_rows()
        if len(rows) == 1 and rows[0].get("type") != "dir":
            self.preview.show_file(self.path_of(rows[0]["name"]), rows[0], rev=self.rev)

    def selected_rows(self) -> list[dict]:
        return [i.data(ObjectRole) for i in self.list.selectionModel().selectedRows()]
