"""The journal panel of the Files page: every change on its way to the server, with its state,
size, expected time, last error, and an action for each (Retry, Cancel; Pause/Resume all).

Nothing is "stuck" without a reason: a pending change that failed says why and when it is
tried again, a paused queue says who paused it (you, or a lie the uploader refused to send
over), a change refused for good says the server's reason. Live by push: the engine's
`FilesQueueChanged` makes the page read `status()` (queue_view.py), which it hands here; the
rows are read (off the Qt thread, through `ops.run`) only while the panel is open. Paths and
errors are other people's or the server's text: shown as plain text.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableView,
                               QVBoxLayout, QWidget)

import qasync

from kbapp.client.fs import queue_control

from ... import ops
from ...dialogs import confirm
from ...list_models import RowsTableModel
from ...plain import plain_tip
from .models import human_size

OPS = {"write": "Upload", "mkdir": "New directory", "rm": "Delete", "rename": "Move", "setattr": "Change"}


def state_text(e: dict, st: dict) -> str:
    """What a row is doing, in words; never a bare "pending"."""
    s = e.get("state")
    if s == "pending":
        if st.get("paused"):
            return "Paused"
        return "Waiting to retry" if e.get("error") else "Uploading" if st.get("running") else "Waiting"
    return {"failed": "Failed", "parked": "Kept as a read-only view", "uploaded": "Uploaded"}.get(s, str(s))


def _inside(path) -> str:
    """The path below its folder ("/private/alice,bob/docs/a.txt" -> "docs/a.txt"); the
    whole path is in the tooltip."""
    parts = str(path or "").split("/", 3)
    return parts[3] if len(parts) == 4 and parts[3] else str(path or "")


class JournalModel(RowsTableModel):
    COLUMNS = ("Change", "State", "Size", "Time left", "Reason")

    def __init__(self, parent=None):
        super().__init__((), parent)
        self.st: dict = {}
        self._eta: list[float | None] = []

    def set_rows(self, rows: list[dict], st: dict) -> None:
        """Newest first; each pending upload's time left is the queue's bytes before it at the
        measured speed (uploads go oldest first)."""
        self.beginResetModel()
        self.st = dict(st or {})
        self.rows = list(reversed(rows))
        speed, ahead, eta = float(self.st.get("speed_bps") or 0), 0, {}
        moving = speed and not self.st.get("paused") and not self.st.get("last_error")   # failing: no guess
        for e in rows:
            if e.get("state") == "pending" and e.get("op") == "write":
                ahead += int(e.get("size") or 0)
                eta[e["id"]] = ahead / speed if moving else None
        self._eta = [eta.get(e["id"]) for e in self.rows]
        self.endResetModel()

    def reason(self, e: dict) -> str:
        if e.get("state") == "pending" and self.st.get("paused"):
            return str(self.st.get("reason") or "paused")
        if e.get("state") == "parked":
            return f"{e.get('error') or 'not merged'}: in {e.get('view')}"
        return str(e.get("error") or "")

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        e, c = self.rows[index.row()], index.column()
        if role == Qt.DisplayRole:
            if c == 0:
                what = OPS.get(str(e.get("op")), str(e.get("op")))
                to = f" → {_inside(e['to'])}" if e.get("to") else ""
                return f"{what}: {_inside(e.get('path'))}{to}"
            if c == 1:
                return state_text(e, self.st)
            if c == 2:
                return human_size(e.get("size")) if e.get("op") == "write" else ""
            if c == 3:
                eta = self._eta[index.row()]
                return "" if eta is None else f"about {max(int(eta), 1)} s"
            if c == 4:
                return self.reason(e)
        if role == Qt.ToolTipRole:
            to = f" → {e['to']}" if e.get("to") else ""
            tries = f"\ntried {e['tries']} time(s)" if e.get("tries") else ""
            return plain_tip(f"{e.get('path')}{to}\n{self.reason(e)}{tries}".strip())
        return None

    def entry(self, row: int) -> dict | None:
        return self.rows[row] if 0 <= row < len(self.rows) else None


class JournalPanel(QWidget):
    """The table and its actions; `pushed(status)` keeps it live."""

    def __init__(self, page):
        super().__init__()
        self.page, self.files = page, page.app.files
        self.setObjectName("journalPanel")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 4, 0, 0)
        self.summary = QLabel("")
        self.summary.setObjectName("journalSummary")
        self.summary.setTextFormat(Qt.PlainText)
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        self.model = JournalModel(self)
        self.table = QTableView()
        self.table.setObjectName("journalTable")
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        h = self.table.horizontalHeader()
        for c in (0, 1, 2, 3):
            h.setSectionResizeMode(c, QHeaderView.ResizeToContents)     # at most ~60 rows
        h.setSectionResizeMode(4, QHeaderView.Stretch)
        self.table.setMaximumHeight(200)
        lay.addWidget(self.table)
        row = QHBoxLayout()
        row.addStretch(1)
        self.retry_button = QPushButton("Retry")
        self.retry_button.setObjectName("journalRetry")
        self.retry_button.setToolTip("Try the selected changes again now (none selected: every failed one)")
        self.retry_button.clicked.connect(self.retry_clicked)
        self.cancel_button = QPushButton("Cancel upload")
        self.cancel_button.setObjectName("journalCancel")
        self.cancel_button.setToolTip("Remove the selected changes from this device before they reach the server")
        self.cancel_button.clicked.connect(self.cancel_asked)
        self.pause_button = QPushButton("Pause all")
        self.pause_button.setObjectName("journalPause")
        self.pause_button.clicked.connect(self.pause_clicked)
        for b in (self.retry_button, self.cancel_button, self.pause_button):
            row.addWidget(b)
        lay.addLayout(row)
        self.st: dict = {}

    def toggle(self) -> None:
        self.setVisible(not self.isVisible())
        if self.isVisible():
            self.reload()

    def pushed(self, st: dict) -> None:
        """The engine's queue moved (the page read `status()`): say so, re-read the rows if open."""
        self.st = st or {}
        bits = [f"{st.get('pending', 0)} change(s) waiting, {human_size(st.get('pending_bytes', 0))}"]
        if st.get("speed_bps") and not st.get("last_error"):
            bits.append(f"at {human_size(int(st['speed_bps']))}/s")
        if st.get("eta_s") and not st.get("last_error"):
            bits.append(f"about {int(st['eta_s'])} s left")
        if st.get("paused"):
            bits.append(f"paused: {st.get('reason') or 'by you'}")
        elif st.get("last_error"):
            bits.append(f"last error: {st['last_error']} (tried again by itself; Retry tries now)")
        bits.append(f"journal {human_size(st.get('journal_bytes', 0))} of {human_size(st.get('journal_max_bytes', 0))}")
        self.summary.setText(" · ".join(bits))
        self.pause_button.setText("Resume all" if st.get("paused") else "Pause all")
        if self.isVisible():
            self.reload()

    def reload(self):
        return ops.run(self, lambda: queue_control.entries(self.files), key="rows", clear=False, cursor=False,
                       on_done=lambda rows: self.model.set_rows(rows, self.st), on_error=lambda _e: None)

    def selected(self) -> list[dict]:
        return [e for e in (self.model.entry(i.row()) for i in self.table.selectionModel().selectedRows()) if e]

    def _each(self, act, ids: list, key: str):
        async def work():
            for i in ids:
                await act(self.files, i)
        return ops.run(self, work, key=key, banner=self.page.banner, on_done=lambda _v: self.reload())

    def retry_clicked(self):
        ids = [e["id"] for e in self.selected() if e.get("state") in ("pending", "failed")]
        return self._each(queue_control.retry, ids or [None], "retry")

    def cancel_clicked(self):
        ids = [e["id"] for e in self.selected() if e.get("state") in ("pending", "failed")]
        if ids:
            return self._each(queue_control.discard, sorted(ids, reverse=True), "cancel")   # newest first
        return None

    @qasync.asyncSlot()
    async def cancel_asked(self) -> None:
        """Cancel removes changes that exist nowhere else: ask first (Cancel, the default, keeps them)."""
        n = sum(1 for e in self.selected() if e.get("state") in ("pending", "failed"))
        if not n:
            return
        if await confirm(self.window(), "Remove these changes?",
                         f"Remove {n} change(s) from this computer before they are uploaded?",
                         "They have not reached the server, so nobody else has them: the files go back to "
                         "what the folder holds. This cannot be undone.", "Remove changes"):
            await self.cancel_clicked()

    def pause_clicked(self) -> None:
        (self.files.resume if self.st.get("paused") else self.files.pause)()
