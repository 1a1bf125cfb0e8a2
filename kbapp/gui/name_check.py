"""A username field that says, while the user types, whether the name can be had.

Why debounced: a round trip per keystroke would flood the server and flicker; one
check ~400 ms after the typing pauses is what people expect. The check runs through
ops.run (the window never waits) and an answer for a name no longer in the field is
dropped (ops' stale rule, plus a comparison with the field). The answer is advice only:
the server is untrusted, and signup itself is what decides.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLineEdit

from kbapp.client.prechecks import username_free
from kbapp.core import errors
from kbapp.core.uid import check_username

from . import ops
from .widgets import label, restyle

DEBOUNCE_MS = 400
KEY = "username-available"


class NameAvailability(QObject):
    """Owns the hint line under `edit`; `server_url()` says where to ask (None: only the rules)."""

    def __init__(self, edit: QLineEdit, server_url: Callable[[], str | None], parent=None):
        super().__init__(parent or edit)
        self.edit, self.server_url = edit, server_url
        self.state: str | None = None      # None | checking | free | taken | invalid | valid | unknown
        self.checks = 0                    # round trips made (a test counts them)
        self.hint = label("", "faint", wrap=True)
        self.hint.setObjectName("usernameAvailability")
        self.hint.hide()
        lay = edit.parentWidget().layout()
        lay.insertWidget(lay.indexOf(edit) + 1, self.hint)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(DEBOUNCE_MS)
        self.timer.timeout.connect(self.check_now)
        edit.textChanged.connect(self._typed)

    def _typed(self, _text: str) -> None:
        ops.supersede(self.edit, KEY)     # an answer for the old text is no longer wanted
        self._say(None, "")
        self.timer.start()

    def check_now(self) -> None:
        self.timer.stop()
        text = self.edit.text().strip()
        if not text:
            return self._say(None, "")
        try:
            name = check_username(text)
        except errors.BadUsername as e:
            return self._say("invalid", f"✗ {e}", "error")
        url = self.server_url()
        if not url:
            return self._say("valid", f"✓ {name} follows the rules (your new server has no users yet)", "faint")
        self.checks += 1
        self._say("checking", f"Checking whether {name} is free…")
        ops.run(self.edit, lambda: username_free(url, name), key=KEY, cursor=False,
                on_done=lambda free: self._answer(name, free),
                on_error=lambda e: self._answer(name, None))

    def _answer(self, name: str, free: bool | None) -> None:
        try:
            current = check_username(self.edit.text().strip())
        except errors.BadUsername:
            return
        if current != name:
            return    # typed on meanwhile: this answer is about another name
        if free is None:
            self._say("unknown", "Couldn't check this name now; signing up will say if it is taken.")
        elif free:
            self._say("free", f"✓ {name} is available", "faint")
        else:
            self._say("taken", f"✗ {name} is taken on this server: choose another", "error")

    def _say(self, state: str | None, text: str, role: str = "faint") -> None:
        self.state = state
        self.hint.setText(text)
        self.hint.setProperty("role", role)
        restyle(self.hint)
        self.hint.setVisible(bool(text))
