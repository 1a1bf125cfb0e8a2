"""Keyboard shortcuts, the menu bar that lists them, and the Ctrl+K quick switcher.

Everything a mouse can reach has a key: pages (Ctrl+1…7), the page's search
(Ctrl+F), refresh (F5), the switcher (Ctrl+K), closing and quitting. The menu bar
makes them discoverable and Help → Keyboard shortcuts lists them all. Escape in a
search field clears it; dialogs close on Escape (QDialog's own behaviour).
Names in the switcher come from the server (team names, followed users): they are
shown in item views and line edits, which render plain text.
"""

from __future__ import annotations

import qasync
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QLineEdit, QListWidget,
                               QListWidgetItem, QTableWidget, QTableWidgetItem, QVBoxLayout)

from kbapp.core import errors
from kbapp.core.uid import check_username

from .widgets import label

# (keys, what they do): the Help window shows this list, in this order
SHORTCUTS = (
    ("Ctrl+K", "Quick switcher: jump to a page, a team, a conversation or a person"),
    ("Ctrl+F", "Search on this page (People, Photos, Chat)"),
    ("Ctrl+1 … Ctrl+7", "Go to Chat, Files, Photos, People, Teams, Devices, Settings"),
    ("F5", "Refresh this page"),
    ("Escape", "Close a dialog; clear the search field you are typing in"),
    ("Tab, Shift+Tab", "Move between buttons and fields; Space or Enter presses a button"),
    ("Ctrl+W", "Close the window (kbapp keeps running in the tray, where there is one)"),
    ("Ctrl+Q", "Quit kbapp (and stop the server it runs on this computer)"),
    ("F1", "This list"),
)


class ShortcutsDialog(QDialog):
    """Help → Keyboard shortcuts."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts")
        lay = QVBoxLayout(self)
        self.table = QTableWidget(len(SHORTCUTS), 2)
        self.table.setObjectName("shortcutsTable")
        self.table.setHorizontalHeaderLabels(["Keys", "Does"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        for row, (keys, does) in enumerate(SHORTCUTS):
            self.table.setItem(row, 0, QTableWidgetItem(keys))
            self.table.setItem(row, 1, QTableWidgetItem(does))
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.table.setMinimumSize(self.table.horizontalHeader().length() + 24, 330)
        lay.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)


class QuickSwitcher(QDialog):
    """Ctrl+K: type, arrow to an entry, Enter. Entries are (kind, value, text): kind is "page",
    "team", "person", "chat" (a conversation by id) or "dm" (message a person you follow);
    a typed valid username adds "Look up …" at the end."""

    chosen = Signal(str, str)   # kind, value

    def __init__(self, entries: list[tuple[str, str, str]], parent=None):
        super().__init__(parent)
        self.setObjectName("quickSwitcher")
        self.setWindowTitle("Go to…")
        self.entries = entries
        lay = QVBoxLayout(self)
        lay.addWidget(label("Type a page, a team, a conversation or a username; Enter opens it.", "faint"))
        self.edit = QLineEdit()
        self.edit.setObjectName("quickSwitcherEdit")
        self.edit.setPlaceholderText("Go to…")
        self.edit.textChanged.connect(self._filter)
        self.edit.returnPressed.connect(self.accept_current)
        for key, step in ((Qt.Key_Up, -1), (Qt.Key_Down, 1)):   # the hands stay on the keys
            QShortcut(QKeySequence(key), self.edit, context=Qt.WidgetShortcut).activated.connect(
                lambda step=step: self._move(step))
        lay.addWidget(self.edit)
        self.list = QListWidget()
        self.list.setObjectName("quickSwitcherList")
        self.list.itemActivated.connect(lambda _item: self.accept_current())
        lay.addWidget(self.list)
        self.resize(460, 360)
        self._filter("")

    def _filter(self, text: str) -> None:
        needle = text.strip().lower()
        self.list.clear()
        for kind, value, shown in self.entries:
            if needle in shown.lower():
                item = QListWidgetItem(shown)
                item.setData(Qt.UserRole, (kind, value))
                self.list.addItem(item)
        try:
            name = check_username(text.strip()) if needle else None
        except errors.BadUsername:
            name = None
        if name:
            item = QListWidgetItem(f"Look up {name}")
            item.setData(Qt.UserRole, ("person", name))
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)

    def _move(self, step: int) -> None:
        """Up and Down in the text field move in the list (widget shortcuts, not an event
        filter: see clear_on_escape)."""
        self.list.setCurrentRow(max(0, min(self.list.count() - 1, self.list.currentRow() + step)))

    def add_entries(self, entries: list[tuple[str, str, str]]) -> None:
        self.entries = self.entries + [e for e in entries if e not in self.entries]
        self._filter(self.edit.text())

    def accept_current(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        kind, value = item.data(Qt.UserRole)
        self.chosen.emit(kind, value)
        self.accept()


def clear_on_escape(search: QLineEdit) -> QShortcut:
    """Escape in a search field clears it; with nothing to clear the shortcut is off, so a
    second Escape passes on. A widget-scoped QShortcut rather than a Python event filter: Qt
    calls event filters on widgets while they are being destroyed, and a Python override
    reached that way crashed the process (a segfault seen in the GUI suite)."""
    sc = QShortcut(QKeySequence(Qt.Key_Escape), search, context=Qt.WidgetShortcut)
    sc.activated.connect(search.clear)
    sc.setEnabled(bool(search.text()))
    search.textChanged.connect(lambda text, sc=sc: sc.setEnabled(bool(text)))
    return sc


class Keyboard(QObject):
    """The window's shortcuts and what they do; built once per main window."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.switcher: QuickSwitcher | None = None
        self.help: ShortcutsDialog | None = None
        self.actions = install(window, self)

    def shell_ready(self, shell) -> None:
        """The shell exists: search fields clear on Escape, and the sidebar takes the keyboard."""
        for page in shell.by_key.values():
            search = getattr(page, "search", None)
            if isinstance(search, QLineEdit):
                clear_on_escape(search)
        shell.nav.setFocusPolicy(Qt.StrongFocus)   # arrows move between pages

    def _shell(self):
        shell = self.window.shell
        return shell if shell is not None and self.window.stack.currentWidget() is shell else None

    def go_page(self, key: str) -> None:
        if (shell := self._shell()) is not None:
            shell.go(key)

    def focus_search(self) -> None:
        if (shell := self._shell()) is None:
            return
        search = getattr(shell.pages.currentWidget(), "search", None)
        if isinstance(search, QLineEdit) and search.isVisible():
            search.setFocus(Qt.ShortcutFocusReason)
            search.selectAll()

    def refresh_page(self) -> None:
        if (shell := self._shell()) is None:
            return
        page = shell.pages.currentWidget()
        for name in ("refresh_clicked", "search_clicked"):
            if callable(fn := getattr(page, name, None)):
                fn()
                break

    def show_shortcuts(self) -> None:
        if self.help is None:
            self.help = ShortcutsDialog(self.window)
        self.help.open()

    def open_switcher(self) -> None:
        if (shell := self._shell()) is None or self.switcher is not None:
            return
        from .models import SECTIONS
        entries = [("page", s.key, f"{s.label} (page)") for s in SECTIONS]
        entries += [("team", n, f"{n} (team)") for n in shell.teams.tree_model.names()]
        entries += [("chat", c.conv_id, f"{c.name} (chat)") for c in shell.chat.convs]
        dlg = QuickSwitcher(entries, self.window)
        dlg.chosen.connect(self._chosen)
        dlg.finished.connect(lambda _r: self._switcher_closed(dlg))
        self.switcher = dlg
        dlg.open()
        self._add_people(dlg)

    @qasync.asyncSlot()
    async def _add_people(self, dlg: QuickSwitcher) -> None:
        """People you follow join the list when your chain says who they are (a network call)."""
        try:
            follows = await self.window.app.following()
        except Exception:   # noqa: BLE001 - the switcher still works with typed names
            return
        if self.switcher is dlg:
            dlg.add_entries([("person", f.username, f"{f.username} (person you follow)") for f in follows]
                            + [("dm", f.username, f"Message {f.username} (chat)") for f in follows])

    def _switcher_closed(self, dlg: QuickSwitcher) -> None:
        self.switcher = None
        dlg.deleteLater()

    @qasync.asyncSlot(str, str)
    async def _chosen(self, kind: str, value: str) -> None:
        shell = self._shell()
        if shell is None:
            return
        if kind == "page":
            shell.go(value)
        elif kind == "team":
            shell.go("teams")
            await shell.teams.refresh(select=value)
        elif kind == "chat":
            shell.go("chat")
            shell.chat.open_conv(value)
        elif kind == "dm":
            shell.go("chat")
            await shell.chat.message_person(value)
        elif kind == "person":
            shell.go("people")
            shell.people.search.setText(value)
            await shell.people.lookup(value)


def install(window, keys: Keyboard) -> dict[str, QAction]:
    """The menu bar and its shortcuts on the main window; returns the actions by name (tests use them)."""
    bar = window.menuBar()
    bar.setObjectName("menuBar")
    acts: dict[str, QAction] = {}

    def act(menu, name: str, text: str, keys, slot) -> QAction:
        a = QAction(text, window)
        a.setObjectName(name)
        if keys:
            a.setShortcuts([QKeySequence(k) for k in (keys if isinstance(keys, tuple) else (keys,))])
        a.setShortcutContext(Qt.WindowShortcut)
        a.triggered.connect(slot)
        menu.addAction(a)
        window.addAction(a)   # works while the menu bar is hidden too
        acts[name] = a
        return a

    file_ = bar.addMenu("&File")
    act(file_, "closeWindowAction", "Close window", "Ctrl+W", window.close)
    act(file_, "quitAction", "Quit kbapp", "Ctrl+Q", window.quit)
    go = bar.addMenu("&Go")
    act(go, "quickSwitchAction", "Quick switcher…", "Ctrl+K", keys.open_switcher)
    act(go, "findAction", "Search this page", "Ctrl+F", keys.focus_search)
    act(go, "refreshAction", "Refresh", "F5", keys.refresh_page)
    go.addSeparator()
    from .models import SECTIONS
    for i, section in enumerate(SECTIONS[:9], start=1):
        act(go, f"go_{section.key}", section.label, f"Ctrl+{i}",
            lambda _checked=False, k=section.key: keys.go_page(k))
    help_ = bar.addMenu("&Help")
    act(help_, "shortcutsAction", "Keyboard shortcuts", "F1", keys.show_shortcuts)
    return acts
