"""List models that grow in place: rows inserted where they belong, pages fetched on demand.

`ItemListModel` holds Python objects and inserts them with beginInsertRows /
endInsertRows, so a view keeps its scroll position and selection (a chat timeline gets
new messages appended and older history prepended). `PagedListModel` adds Qt's
canFetchMore / fetchMore: when the view scrolls near the end it asks for the next page,
and an async loader (a facade call: its I/O and SQLite run off the Qt thread) brings it
without blocking the GUI. Display strings are server data: views render them as plain text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import shiboken6
from PySide6.QtCore import QAbstractListModel, QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal

from .models import ObjectRole

log = logging.getLogger(__name__)

_Index = QModelIndex | QPersistentModelIndex

# loader(cursor, limit) -> (items, next cursor or None when there is nothing more)
PageLoader = Callable[[Any, int], Awaitable[tuple[Sequence[Any], Any]]]


class ItemListModel(QAbstractListModel):
    """Rows of Python objects; `display(item)` is the text shown (override it)."""

    def __init__(self, items: Iterable[Any] = (), parent=None):
        super().__init__(parent)
        self.items: list[Any] = list(items)

    def display(self, item: Any) -> str:
        return str(item)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.items)

    def data(self, index: _Index, role: int = Qt.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.items):
            return None
        item = self.items[index.row()]
        if role == Qt.DisplayRole:
            return self.display(item)
        if role == ObjectRole:
            return item
        return None

    def insert_rows(self, at: int, items: Iterable[Any]) -> int:
        """Insert `items` before row `at` (0..rowCount); returns how many."""
        new = list(items)
        if not 0 <= at <= len(self.items):
            raise IndexError(f"row {at} is outside 0..{len(self.items)}")
        if not new:
            return 0
        self.beginInsertRows(QModelIndex(), at, at + len(new) - 1)
        self.items[at:at] = new
        self.endInsertRows()
        return len(new)

    def append(self, items: Iterable[Any]) -> int:
        return self.insert_rows(len(self.items), items)

    def prepend(self, items: Iterable[Any]) -> int:
        """Older history goes on top; the rows already shown keep their identity."""
        return self.insert_rows(0, items)

    def replace(self, items: Iterable[Any]) -> None:
        self.beginResetModel()
        self.items = list(items)
        self.endResetModel()


class PagedListModel(ItemListModel):
    """An `ItemListModel` filled page by page from `loader` as the view scrolls.

    One page is in flight at a time; a page that arrives after `restart()` belongs to an
    old query and is dropped. A failing page stops fetching and is reported on `failed`
    (the page shows it in words); `restart()` tries again.
    """

    pageLoaded = Signal(int)           # rows added
    failed = Signal(object)            # the loader's exception
    exhaustedChanged = Signal(bool)

    def __init__(self, loader: PageLoader, page_size: int = 100, parent=None):
        super().__init__((), parent)
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.loader = loader
        self.page_size = page_size
        self._cursor: Any = None
        self._exhausted = False
        self._error: BaseException | None = None
        self._task: asyncio.Task | None = None
        self._generation = 0

    @property
    def loading(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    def canFetchMore(self, parent: _Index = QModelIndex()) -> bool:
        return not parent.isValid() and not self._exhausted and self._error is None

    def fetchMore(self, parent: _Index = QModelIndex()) -> None:
        """Qt asks (the view neared the end): start the next page unless one is on its way."""
        if parent.isValid() or not self.canFetchMore() or self.loading:
            return
        self._task = asyncio.ensure_future(self._load(self._generation, self._cursor))

    def restart(self, loader: PageLoader | None = None) -> None:
        """Start over (a new query): rows cleared, pages in flight forgotten."""
        self._generation += 1
        if loader is not None:
            self.loader = loader
        self._task = None
        self._cursor, self._exhausted, self._error = None, False, None
        self.replace(())

    async def _load(self, generation: int, cursor: Any) -> None:
        try:
            items, nxt = await self.loader(cursor, self.page_size)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - reported in words by whoever listens
            if generation == self._generation and shiboken6.isValid(self):
                self._error = e
                self.failed.emit(e)
            return
        if generation != self._generation or not shiboken6.isValid(self):
            return  # a restart() happened while this page was on its way, or the view closed
        self._cursor = nxt
        added = self.append(items)
        if nxt is None:
            self._exhausted = True
            self.exhaustedChanged.emit(True)
        self.pageLoaded.emit(added)


class RowsTableModel(QAbstractTableModel):
    """A flat table of `rows` under the class's `COLUMNS` headers (a dialog's or a panel's list):
    subclasses give `data`."""

    COLUMNS: tuple[str, ...] = ()

    def __init__(self, rows: Iterable[Any] = (), parent=None):
        super().__init__(parent)
        self.rows: list[Any] = list(rows)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, s, o, role=Qt.DisplayRole):
        if o == Qt.Horizontal and role == Qt.DisplayRole and 0 <= s < len(self.COLUMNS):
            return self.COLUMNS[s]
        return None
