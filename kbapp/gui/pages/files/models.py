"""Models of the Files page: the folders in the sidebar and the entries of the open directory.

Both hold what the folder engine (`app.files`) answered, read off the Qt thread; nothing
here touches a disk, a database or the network. Names, writers and folder names are
other people's text: views show them as plain text (Qt item views do not render rich
text unless a delegate asks for it, and ours do not).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PySide6.QtCore import QAbstractListModel, QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt

from ...models import ObjectRole
from ...plain import plain_tip

SortRole = Qt.UserRole + 2
GROUPS = (("private", "Private"), ("shared", "Shared with people"), ("public", "Public"), ("team", "Teams"))


@dataclass(frozen=True)
class FolderItem:
    """One top-level folder: `path` is what the engine takes ("/private/alice,bob")."""

    path: str
    group: str               # private | shared | public | team
    label: str
    header: bool = False      # a group's title row, not a folder


def folder_group(path: str, me: str) -> str:
    kind, _, name = path.strip("/").partition("/")
    if kind == "team":
        return "team"
    if kind == "public":
        return "public"
    return "private" if name == me else "shared"


def folder_label(path: str, me: str) -> str:
    """What the sidebar says: the other people of a shared folder ("bob, carol"), a team's
    name, "alice (public)"; readers after `#` are said as "(carol reads)"."""
    kind, _, name = path.strip("/").partition("/")
    if kind == "team":
        return name
    writers, _, readers = name.partition("#")
    people = [p for p in writers.split(",") if p and p != me] or [me]
    text = ", ".join(people)
    if readers:
        text += f" ({', '.join(readers.split(','))} read)"
    if kind == "public":
        text += " (public)"
    return text


def folder_items(paths, me: str) -> list[FolderItem]:
    """Folders grouped under their headers, each group sorted by label; empty groups left out."""
    by: dict[str, list[FolderItem]] = {g: [] for g, _ in GROUPS}
    for p in dict.fromkeys(paths):
        g = folder_group(p, me)
        by[g].append(FolderItem(p, g, folder_label(p, me)))
    out: list[FolderItem] = []
    for g, title in GROUPS:
        if by[g]:
            out.append(FolderItem("", g, title, header=True))
            out.extend(sorted(by[g], key=lambda f: f.label.casefold()))
    return out


class FolderListModel(QAbstractListModel):
    """The sidebar: group headers (not selectable) and folders."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.items: list[FolderItem] = []

    def set_items(self, items: list[FolderItem]) -> None:
        if items == self.items:
            return
        self.beginResetModel()
        self.items = list(items)
        self.endResetModel()

    def row_of(self, path: str) -> int:
        return next((i for i, f in enumerate(self.items) if not f.header and f.path == path), -1)

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.items)

    def flags(self, index):
        if not index.isValid():
            return Qt.NoItemFlags
        if self.items[index.row()].header:
            return Qt.ItemIsEnabled
        return Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsDropEnabled

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.items):
            return None
        f = self.items[index.row()]
        if role == Qt.DisplayRole:
            return f.label.upper() if f.header else f.label
        if role == Qt.ToolTipRole and not f.header:
            return plain_tip(f.path)
        if role == ObjectRole:
            return f
        return None

    def supportedDropActions(self):
        return Qt.CopyAction


COLUMNS = ("Name", "Size", "Modified", "By")


def human_size(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return ""


def when(mtime_ns: int | None, now: float | None = None) -> str:
    if not mtime_ns:
        return ""
    t = mtime_ns / 1e9
    now = time.time() if now is None else now
    fmt = "%H:%M" if time.localtime(t)[:3] == time.localtime(now)[:3] else "%Y-%m-%d %H:%M"
    return time.strftime(fmt, time.localtime(t))


class EntriesModel(QAbstractTableModel):
    """The rows `app.files.ls` gave for one directory: dicts with name, type, size, mtime,
    writer and, where the engine knows them, username / verified / pending / conflict."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[dict] = []
        self.names: dict[str, str] = {}        # writer uid -> username, as resolved

    def set_rows(self, rows: list[dict]) -> None:
        """Replace the rows, keeping unchanged ones (a push-fed reload keeps the selection)."""
        new = sorted(rows, key=lambda r: str(r.get("name", "")))
        if [r.get("name") for r in new] == [r.get("name") for r in self.rows]:
            self.rows = new
            if new:
                self.dataChanged.emit(self.index(0, 0), self.index(len(new) - 1, len(COLUMNS) - 1))
            return
        self.beginResetModel()
        self.rows = new
        self.endResetModel()

    def set_names(self, names: dict[str, str]) -> None:
        self.names.update(names)
        if self.rows:
            self.dataChanged.emit(self.index(0, 3), self.index(len(self.rows) - 1, 3))

    def row_named(self, name: str) -> int:
        return next((i for i, r in enumerate(self.rows) if r.get("name") == name), -1)

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole and 0 <= section < len(COLUMNS):
            return COLUMNS[section]
        return None

    def flags(self, index):
        if not index.isValid():
            return Qt.ItemIsDropEnabled
        f = Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsDragEnabled
        if self.rows[index.row()].get("type") == "dir":
            f |= Qt.ItemIsDropEnabled
        return f

    def writer_text(self, r: dict) -> str:
        uid = str(r.get("writer") or "")
        name = r.get("username") or self.names.get(uid)
        return name or (uid[:8] + "…" if uid else "")

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        r, col = self.rows[index.row()], index.column()
        is_dir = r.get("type") == "dir"
        if role == Qt.DisplayRole:
            if col == 0:
                name = str(r.get("name", ""))
                return name + ("/" if is_dir else "")
            if col == 1:
                return "" if is_dir else human_size(r.get("size"))
            if col == 2:
                return when(r.get("mtime"))
            if col == 3:
                return self.writer_text(r)
        if role == SortRole:      # directories first, then by the column's value
            key = {0: str(r.get("name", "")).casefold(), 1: int(r.get("size") or 0),
                   2: int(r.get("mtime") or 0), 3: self.writer_text(r).casefold()}[col]
            return (0 if is_dir else 1, key)
        if role == Qt.ToolTipRole:
            bits = [str(r.get("name", ""))]
            if r.get("pending"):
                bits.append("not uploaded yet: kept safely on this device")
            if r.get("conflict"):
                bits.append("a conflict copy: two devices changed this file while apart; both versions are kept")
            if col == 3 and r.get("writer"):
                bits.append(f"written by {self.writer_text(r)}")
            return plain_tip("\n".join(bits))
        if role == Qt.AccessibleDescriptionRole:
            return "folder" if is_dir else "file"
        if role == ObjectRole:
            return r
        return None


class EntriesSortModel(QSortFilterProxyModel):
    """Sorting that keeps directories first (by SortRole's (dir?, value) pairs)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSortRole(SortRole)
        self.setSortCaseSensitivity(Qt.CaseInsensitive)

    def lessThan(self, left, right) -> bool:
        a, b = left.data(SortRole), right.data(SortRole)
        if a is None or b is None:
            return False
        if a[0] != b[0]:
            # directories first whatever the order: flip for descending so they stay on top
            first = a[0] < b[0]
            return first if self.sortOrder() == Qt.AscendingOrder else not first
        return a[1] < b[1]
