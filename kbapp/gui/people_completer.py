"""Suggest people while a name is typed: users this profile knows, and assertion forms.

Why: typing a name from memory is where "bbo" lookups and wrong team members come from.
The known names (users this profile verified: followed, team members, looked up; see
Store.known_usernames) are read once off the Qt thread through ops.run, so the window
never waits; until they arrive only the assertion forms are offered. A suggestion is
only a string put in the field: whatever is picked is still identified in full.
"""

from __future__ import annotations

from PySide6.QtCore import QStringListModel, Qt
from PySide6.QtWidgets import QCompleter, QLineEdit

from . import ops

# the services an assertion may name after "@" (kbapp.core.proofs.SERVICE_ALIASES)
ASSERTION_SERVICES = ("github", "https", "dns")
MAX_SUGGESTIONS = 8


def suggestions(typed: str, known: list[str], *, assertions: bool = True,
                limit: int = MAX_SUGGESTIONS) -> list[str]:
    """Known names starting with what is typed, then those containing it (each in `known`'s
    order: most recent first); then `name@service` forms when `assertions`."""
    text = typed.strip().lower()
    if not text or len(text) > 64:
        return []
    if "@" in text:
        if not assertions:
            return []
        name, _, svc = text.partition("@")
        if not name:
            return []
        return [f"{name}@{s}" for s in ASSERTION_SERVICES if s.startswith(svc) and s != svc][:limit]
    first = [n for n in known if n.startswith(text) and n != text]
    inner = [n for n in known if text in n and not n.startswith(text)]
    out = (first + inner)[:limit]
    if assertions:
        out += [f"{text}@{s}" for s in ASSERTION_SERVICES][:max(0, limit - len(out))]
    return out


def list_suggestions(typed: str, known: list[str], *, assertions: bool = True,
                     limit: int = MAX_SUGGESTIONS) -> list[str]:
    """For a comma-separated list ("bob, ca"): suggestions for the last name, each offered as the
    whole new text ("bob, carol"), names already in the list left out."""
    head, sep, last = typed.rpartition(",")
    taken = {n.strip().lower() for n in head.split(",") if n.strip()} if sep else set()
    prefix = ", ".join(n.strip() for n in head.split(",") if n.strip()) + ", " if sep else ""
    return [prefix + s for s in suggestions(last, [n for n in known if n not in taken],
                                            assertions=assertions, limit=limit)]


class PeopleCompleter(QCompleter):
    """A popup of suggestions under `edit`, fed from `app.store`'s known users."""

    def __init__(self, edit: QLineEdit, app, *, assertions: bool = True, several: bool = False):
        super().__init__(edit)
        self.edit, self.app, self.assertions = edit, app, assertions
        self.suggest = list_suggestions if several else suggestions     # several: "bob, carol"
        self.known: list[str] = []
        self.loaded = False
        self.names = QStringListModel(self)
        self.setModel(self.names)
        self.setCompletionMode(QCompleter.UnfilteredPopupCompletion)   # we filter: prefix, then contains
        self.setCaseSensitivity(Qt.CaseInsensitive)
        self.setMaxVisibleItems(MAX_SUGGESTIONS)
        edit.setCompleter(self)
        edit.textEdited.connect(self.update_for)     # typed, not set by picking a suggestion
        self.reload()

    def reload(self) -> None:
        """Read the known names again (a page shown again may know more people)."""
        store = getattr(self.app, "store", None)
        if store is None:
            return

        async def names() -> list[str]:
            return await store.aio.known_usernames()
        ops.run(self.edit, names, key="people-known", cursor=False, on_done=self._loaded,
                on_error=lambda _e: None)   # no suggestions is not an error worth a banner

    def _loaded(self, names: list[str]) -> None:
        self.known, self.loaded = list(names), True
        if self.edit.text() and (self.edit.hasFocus() or self.edit.isModified()):   # typed, not set
            self._show(self.edit.text())

    def update_for(self, text: str) -> None:
        """The user typed (textEdited): offer what fits."""
        if len(text.strip()) == 1:
            self.reload()    # a new name begins: people verified since the last read count too
        self._show(text)

    def _show(self, text: str) -> None:
        items = self.suggest(text, self.known, assertions=self.assertions)
        self.names.setStringList(items)
        if items and self.edit.isVisible():
            self.complete()
        else:
            self.popup().hide()
