"""The files an indexing pass left out, each with its reason (the status bar's "N skipped").

Paths and reasons come from the files on disk (names are whatever the folder holds):
they are shown in a table, as plain text.
"""

from __future__ import annotations

from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QHeaderView, QTableWidget,
                               QTableWidgetItem, QVBoxLayout)

from .widgets import label


class SkippedDialog(QDialog):
    def __init__(self, summary, parent=None):
        super().__init__(parent)
        self.setObjectName("skippedDialog")
        self.setWindowTitle("Photos left out")
        files = list(summary.skipped_files)
        total = sum(summary.skipped.values())
        lay = QVBoxLayout(self)
        lay.setContentsMargins(24, 20, 24, 16)
        more = f" (the first {len(files)} are listed)" if total > len(files) else ""
        self.note = label(f"The last indexing pass left out {total} file{'s' if total != 1 else ''}{more}. "
                          "They stay where they are; kbapp tries them again when they change.", "muted", wrap=True)
        lay.addWidget(self.note)
        self.table = QTableWidget(len(files), 2)
        self.table.setObjectName("skippedTable")
        self.table.setHorizontalHeaderLabels(["File", "Why"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        for row, (path, why) in enumerate(files):
            for col, text in enumerate((path, why)):
                item = QTableWidgetItem(text)
                item.setToolTip("")        # no tooltips: a name could read as markup there
                self.table.setItem(row, col, item)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.resizeColumnToContents(0)
        self.table.setColumnWidth(0, min(self.table.columnWidth(0), 460))
        lay.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.resize(820, 420)
