"""Models of the Files page: the folders in the sidebar and the entries of the open directory.

Both hold what the folder engine (`app.files`) answered, read off the Qt thread; nothing
here touches a disk, a database or the network. Names, writers and folder names are
other people's text: views show them as plain text (Qt item views do not render rich
text unless a delegate asks for it, and ours do not).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PySide6.QtCore import QAbstractListModel, QAbstractTableModel, QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont

from ...models import ObjectRole
from ...plain import plain_tip

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

    dropped = Signal(list, str)          # local paths, the folder they were dropped on

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
        if role == Qt.FontRole and f.header:
            font = QFont()
            font.setPointSizeF(max(7.0, font.pointSizeF() * 0.8))
            font.setBold(True)
            return font
        if role == Qt.ForegroundRole and f.header:
            from ... import theme
            return QColor(theme.colour("text-muted"))
        if role == Qt.SizeHintRole:
            return QSize(0, 30 if f.header else 26)
        if role == Qt.ToolTipRole and not f.header:
            return plain_tip(f.path)
        if role == ObjectRole:
            return f
        return None

    def supportedDropActions(self):
        return Qt.CopyAction

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]

    def canDropMimeData(self, data, action, row, column, parent) -> bool:
        f = parent.data(ObjectRole) if parent.isValid() else None
        return bool(f is not None and not f.header and data.hasUrls())

    def dropMimeData(self, data, action, row, column, parent) -> bool:
        """Local files dropped on a folder (or a person's shared folder) in the sidebar: the
        page queues them into that folder (`dropped`), whichever folder is open."""
        if not self.canDropMimeData(data, action, row, column, parent):
            return False
        paths = [u.toLocalFile() for u in data.urls() if u.isLocalFile()]
        if paths:
            self.dropped.emit(paths, parent.data(ObjectRole).path)
        return bool(paths)


COLUMNS = ("Name", "Size", "Modified", "By", "Tags")
TAGS = 4
# computed once: the view asks for every row's flags, and each enum `|` is a Python call
_FILE_FLAGS = Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsDragEnabled
_DIR_FLAGS = _FILE_FLAGS | Qt.ItemIsDropEnabled
_DISPLAY, _TOOLTIP, _OBJECT = int(Qt.DisplayRole), int(Qt.ToolTipRole), int(ObjectRole)
_ACCESSIBLE = int(Qt.AccessibleDescriptionRole)
_DECORATION = int(Qt.DecorationRole)


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
    writer and, where the engine knows them, username / pending / conflict / parked.

    Display texts and sort keys are computed once per row when rows arrive (a 10,000-entry
    directory is painted, sized and sorted from plain lists, not from per-cell Python work),
    and the model sorts itself (no proxy: a proxy's lessThan is one Python call per
    comparison). Directories stay first in either order. `images` (thumbs.FileImages), when
    set, gives each row its icon or thumbnail and an image's tags from the photo library."""

    def __init__(self, parent=None, images=None):
        super().__init__(parent)
        self.images = images
        self.rows: list[dict] = []
        self.names: dict[str, str] = {}        # writer uid -> username, as resolved
        self._text: list[tuple | None] = []    # per row: (name, size, modified, by, tags), made when first shown
        self._tip: list[str | None] = []
        self._sort = (0, Qt.AscendingOrder)

    # -- rows -----------------------------------------------------------------------------

    def _texts(self, r: dict) -> tuple:
        is_dir = r.get("type") == "dir"
        name = str(r.get("name", ""))
        return (name + ("/" if is_dir else ""), "" if is_dir else human_size(r.get("size")),
                when(r.get("mtime")), self.writer_badge(r), self.tags_text(r))

    def tags_text(self, r: dict) -> str:
        return ", ".join(self.images.tags_of(str(r.get("name", "")))) if self.images is not None else ""

    def _key(self, r: dict, col: int):
        if col == 1:
            v = int(r.get("size") or 0)
        elif col == 2:
            v = int(r.get("mtime") or 0)
        elif col == 3:
            v = self.writer_text(r).casefold()
        elif col == TAGS:
            v = self.tags_text(r).casefold()
        else:
            v = str(r.get("name", "")).casefold()
        return v

    def _order(self, rows: list[dict]) -> list[dict]:
        col, order = self._sort
        desc = order == Qt.DescendingOrder
        # By name (the usual order) one cheap call a row: 10,000 rows sort in a few ms.
        key = (lambda r: str(r.get("name", "")).casefold()) if col == 0 else (lambda r: self._key(r, col))
        dirs = [r for r in rows if r.get("type") == "dir"]
        files = [r for r in rows if r.get("type") != "dir"] if dirs else rows
        return sorted(dirs, key=key, reverse=desc) + sorted(files, key=key, reverse=desc)

    def _refresh(self) -> None:
        """Texts are made when a row is first shown (a view paints a screenful, not 10,000)."""
        self._text = [None] * len(self.rows)
        self._tip = [None] * len(self.rows)

    def set_rows(self, rows: list[dict]) -> None:
        """Replace the rows, keeping the view's place when the names are the same (a push-fed
        reload of an unchanged directory keeps the selection)."""
        new = self._order(list(rows))
        if [r.get("name") for r in new] == [r.get("name") for r in self.rows]:
            self.rows = new
            self._refresh()
            if new:
                self.dataChanged.emit(self.index(0, 0), self.index(len(new) - 1, len(COLUMNS) - 1))
            return
        self.beginResetModel()
        self.rows = new
        self._refresh()
        self.endResetModel()

    def sort(self, column: int, order=Qt.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS):
            return
        self._sort = (column, order)
        self.layoutAboutToBeChanged.emit()
        old = {id(r): i for i, r in enumerate(self.rows)}
        persistent = self.persistentIndexList()
        self.rows = self._order(self.rows)
        self._refresh()
        where = {old[id(r)]: i for i, r in enumerate(self.rows)}
        self.changePersistentIndexList(persistent, [self.index(where.get(i.row(), i.row()), i.column())
                                                    for i in persistent])
        self.layoutChanged.emit()

    def set_names(self, names: dict[str, str]) -> None:
        self.names.update(names)
        if self.rows:
            self._refresh()
            self.dataChanged.emit(self.index(0, 3), self.index(len(self.rows) - 1, 3))

    def tags_changed(self) -> None:
        """The photo library answered (or tagged more): the Tags texts and thumbnails (a
        sensitive one is blurred) are made again."""
        if self.rows:
            self._refresh()
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, TAGS))

    def icon_ready(self, name: str) -> None:
        r = self.row_named(name)
        if r >= 0:
            self.dataChanged.emit(self.index(r, 0), self.index(r, 0), [Qt.DecorationRole])

    def row_named(self, name: str) -> int:
        return next((i for i, r in enumerate(self.rows) if r.get("name") == name), -1)

    # -- Qt ---------------------------------------------------------------------------------

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
        return _DIR_FLAGS if self.rows[index.row()].get("type") == "dir" else _FILE_FLAGS

    def writer_text(self, r: dict) -> str:
        uid = str(r.get("writer") or "")
        name = r.get("username") or self.names.get(uid)
        return name or (uid[:8] + "…" if uid else "")

    def writer_verified(self, r: dict) -> bool:
        """The change is in a verified revision (not our pending one) and its writer's name comes
        from the folder's verified team, whose chains were checked against the log."""
        uid = str(r.get("writer") or "")
        return bool(uid) and not r.get("pending") and bool(r.get("username") or self.names.get(uid))

    def writer_badge(self, r: dict) -> str:
        """The By column: "✓ alice" for a verified writer, "alice · not uploaded" for our pending
        change, a bare uid prefix while (or if) the name is not known."""
        text = self.writer_text(r)
        if r.get("pending"):
            return f"{text} · not uploaded" if text else "not uploaded"
        return f"\u2713 {text}" if self.writer_verified(r) else text

    def _tooltip(self, row: int) -> str | None:
        r = self.rows[row]
        bits = [str(r.get("name", ""))]
        if r.get("parked"):
            bits.append("changes that could not be merged, kept read-only: open it to see what to do")
        elif r.get("pending"):
            bits.append("not uploaded yet: kept safely on this device")
        if r.get("conflict") or ".conflicted (" in bits[0]:
            bits.append("a conflict copy: two devices changed this file while apart; both versions are kept")
        if r.get("writer") and self.writer_verified(r):
            bits.append(f"written by {self.writer_text(r)}: signed by one of their devices, checked against "
                        "their verified chain and the folder's verified history")
        elif r.get("writer"):
            bits.append(f"written by {self.writer_text(r)}: the name is not verified yet")
        return plain_tip("\n".join(bits))

    def data(self, index, role=Qt.DisplayRole):
        row = index.row()
        if not 0 <= row < len(self.rows) or not index.isValid():
            return None
        role = int(role)                       # ints: comparing Qt enums is a Python call each
        if role == _DISPLAY:
            texts = self._text[row]
            if texts is None:
                texts = self._text[row] = self._texts(self.rows[row])
            return texts[index.column()]
        if role == _TOOLTIP:
            tip = self._tip[row]
            if tip is None:
                tip = self._tip[row] = self._tooltip(row)
            return tip
        if role == _DECORATION:
            return self.images.icon(self.rows[row]) if self.images is not None and index.column() == 0 else None
        if role == _OBJECT:
            return self.rows[row]
        if role == _ACCESSIBLE:
            return "folder" if self.rows[row].get("type") == "dir" else "file"
        return None
