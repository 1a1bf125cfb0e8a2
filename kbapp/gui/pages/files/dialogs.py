"""The Files page's dialogs: "New folder with…" (people, verified before anything is written)
and a file's History (revisions with who and when; restore, or save that version).

Every name is checked the way the chat's new-conversation dialog checks it (`app.resolve`:
the assertion's proofs live against a verified identity). An assertion nobody has proved
yet (`bob@github`) is allowed: the folder is shared with it before signup, and the person
reads once they prove the account and a member's client adds them.
"""

from __future__ import annotations

import qasync
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QDialog, QFileDialog, QHBoxLayout, QHeaderView, QLineEdit, QPushButton, QTableView,
                               QVBoxLayout)

from kbapp.core import errors
from kbapp.core.fs.names import parse_folder_name

from ... import ops
from ...list_models import RowsTableModel
from ...people_completer import PeopleCompleter
from ...plain import plain_tip
from ...widgets import Banner, BusyBar, label
from .models import human_size, when


def _parts(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


class NewFolderDialog(QDialog):
    """Type writers (and optionally readers); see who each is; then open the folder."""

    def __init__(self, app, me: str, parent=None):
        super().__init__(parent)
        self.app, self.me = app, me
        self.folder_path = ""
        self.setObjectName("newFolderDialog")
        self.setWindowTitle("New folder with…")
        self.setMinimumWidth(480)
        lay = QVBoxLayout(self)
        lay.addWidget(label("Who shares this folder?", "name"))
        lay.addWidget(label("Names (bob) or accounts (bob@github), separated by commas. People who have not "
                            "joined yet can read once they prove the account.", "muted", wrap=True))
        self.writers = QLineEdit()
        self.writers.setObjectName("newFolderWriters")
        self.writers.setPlaceholderText("bob, carol@github")
        self.readers = QLineEdit()
        self.readers.setObjectName("newFolderReaders")
        self.readers.setPlaceholderText("Read-only: optional")
        for e in (self.writers, self.readers):
            e.textChanged.connect(self._edited)
            e.returnPressed.connect(self.lookup_clicked)
            lay.addWidget(e)
        self.completer_ = PeopleCompleter(self.writers, app, several=True)
        self.busy = BusyBar()
        lay.addWidget(self.busy)
        self.banner = Banner()
        lay.addWidget(self.banner)
        self.who = label("", wrap=True)
        self.who.setObjectName("newFolderWho")
        lay.addWidget(self.who)
        row = QHBoxLayout()
        row.addStretch(1)
        self.lookup = QPushButton("Look up")
        self.lookup.setObjectName("newFolderLookup")
        self.lookup.clicked.connect(self.lookup_clicked)
        self.create = QPushButton("Open folder")
        self.create.setObjectName("newFolderCreate")
        self.create.setProperty("role", "primary")
        self.create.setEnabled(False)
        self.create.clicked.connect(self._create)
        row.addWidget(self.lookup)
        row.addWidget(self.create)
        lay.addLayout(row)

    def _edited(self) -> None:
        self.folder_path = ""
        self.create.setEnabled(False)
        self.who.setText("")
        ops.supersede(self, "resolve")

    async def _check(self, part: str) -> tuple[str, str]:
        """(name in the folder, what to say about it)."""
        try:
            r = await self.app.resolve(part)
        except errors.NotFound:
            if "@" in part:
                return part.lower(), f"… {part} has not joined yet: they read once they prove it"
            raise
        return r.username, f"✓ {part} is {r.username}, verified ({r.identity.chain_length} links)"

    @qasync.asyncSlot()
    async def lookup_clicked(self) -> None:
        writers, readers = _parts(self.writers.text()), _parts(self.readers.text())

        async def work():
            w = [await self._check(p) for p in writers]
            r = [await self._check(p) for p in readers]
            names = ",".join(sorted({self.me, *(n for n, _ in w)}))
            if r:
                names += "#" + ",".join(sorted({n for n, _ in r}))
            return str(parse_folder_name(f"/private/{names}")), [s for _, s in w + r]

        def done(got) -> None:
            self.folder_path, lines = got
            self.who.setText("\n".join(lines + [f"Folder: {self.folder_path}"]))
            self.create.setEnabled(True)
            self.create.setFocus()

        await ops.run(self, work, key="resolve", busy=self.busy, banner=self.banner, on_done=done)

    def _create(self) -> None:
        if self.folder_path:
            self.accept()


class HistoryModel(RowsTableModel):
    COLUMNS = ("Revision", "When", "Who", "Change", "Size")

    def __init__(self, rows=(), parent=None):
        super().__init__(rows, parent)
        self.names: dict[str, str] = {}          # writer uid -> username (the folder's verified team)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        r = self.rows[index.row()]
        if role == Qt.DisplayRole:
            c = index.column()
            if c == 0:
                return str(r.get("revision", ""))
            if c == 1:
                return when(int(r.get("time") or 0) * 1_000_000_000)
            if c == 2:
                uid = str(r.get("writer") or "")
                return str(r.get("username") or self.names.get(uid) or uid[:8])
            if c == 3:
                if r.get("op") == "rollback":
                    to = r.get("rolled_back_to")
                    return f"rolled back to revision {to}" if to else "rolled back to an empty folder"
                return str(r.get("op", ""))
            if c == 4:
                return human_size(r.get("size")) if r.get("size") is not None else ""
        if role == Qt.ToolTipRole:
            return plain_tip(f"device {r.get('device', '')}")
        return None


class HistoryDialog(QDialog):
    """A file's revisions; Restore writes the chosen one as a new change."""

    def __init__(self, app, path: str, parent=None):
        super().__init__(parent)
        self.app, self.path = app, path
        self.setObjectName("historyDialog")
        self.setWindowTitle("History")
        self.resize(620, 380)
        lay = QVBoxLayout(self)
        lay.addWidget(label(path.rsplit("/", 1)[-1], "name"))
        self.busy = BusyBar()
        lay.addWidget(self.busy)
        self.banner = Banner()
        lay.addWidget(self.banner)
        self.model = HistoryModel(parent=self)
        self.table = QTableView()
        self.table.setObjectName("historyTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QTableView.SelectRows)
        self.table.setSelectionMode(QTableView.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.Stretch)
        lay.addWidget(self.table, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        self.save = QPushButton("Save this version…")
        self.save.setObjectName("historySave")
        self.save.clicked.connect(self._save)
        self.restore = QPushButton("Restore this version")
        self.restore.setObjectName("historyRestore")
        self.restore.setProperty("role", "primary")
        self.restore.clicked.connect(self._restore)
        row.addWidget(self.save)
        row.addWidget(self.restore)
        lay.addLayout(row)
        self.load()

    def load(self, *, clear: bool = True):
        def shown(rows) -> None:
            self.model.beginResetModel()
            self.model.rows = list(rows)
            self.model.endResetModel()
            if rows:
                self.table.selectRow(len(rows) - 1)
        async def work():
            from kbapp.client.fs.known import writer_names
            rows = await self.app.files.history(self.path)
            try:
                self.model.names = await writer_names(self.app.files, self.path)
            except Exception:                      # noqa: BLE001 - names are a nicety: uids stay
                pass
            return rows
        return ops.run(self, work, key="history", busy=self.busy, banner=self.banner, clear=clear, on_done=shown)

    def chosen(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return int(self.model.rows[rows[0].row()]["revision"]) if rows else None

    def _restore(self):
        rev = self.chosen()
        if rev is None:
            return None
        return ops.run(self, lambda: self.app.files.restore(self.path, rev, upload=False), key="restore", busy=self.busy,
                       banner=self.banner, on_done=lambda _v: (self.banner.show_message(
                           "info", f"Restored revision {rev}", "It is now the newest version."), self.load(clear=False)))

    def _save(self):
        rev = self.chosen()
        if rev is None:
            return None
        dest, _ = QFileDialog.getSaveFileName(self, "Save this version as", self.path.rsplit("/", 1)[-1])
        if not dest:
            return None

        async def work():
            data = await self.app.files.read(self.path, rev=rev)
            import asyncio
            from pathlib import Path
            await asyncio.to_thread(Path(dest).write_bytes, data)
        return ops.run(self, work, key="save", busy=self.busy, banner=self.banner)
