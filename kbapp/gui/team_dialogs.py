"""The Teams page's small dialogs, each opened with `.open()` and awaited through
`finished` (dialogs.wait_finished), never `exec()`:

- `MemberDialog`: a username and a role (Add a member; Change role with the name fixed),
  from ui/team_member.ui;
- `NameDialog`: one line of text (a new team's name, a subteam's, a team to join or an
  invite token).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLineEdit, QVBoxLayout

from .forms import load_form
from .people_completer import PeopleCompleter
from .team_models import ROLE_ORDER
from .widgets import BusyBar, explain, label

ROLE_HINTS = {
    "owner": "Everything an admin can do, and adds or removes owners.",
    "admin": "Adds and removes members, changes roles and settings, makes subteams.",
    "writer": "Reads and writes the team's chats and files.",
    "reader": "Reads the team's chats and files.",
}


class _HoldingDialog(QDialog):
    """OK either accepts or, while `hold` is set (dialog_runner.run_dialog), emits `submitted` and
    stays open: a failure is shown here, next to what was typed, which stays."""

    submitted = Signal()
    hold = False
    inputs: tuple = ()

    def _ok(self) -> None:
        if self.hold:
            self.submitted.emit()
        else:
            self.accept()

    def set_busy(self, on: bool) -> None:
        for w in self.inputs:
            w.setEnabled(not on)
        self.busy.start() if on else self.busy.stop()
        if on:
            self.error_label.setText("")

    def show_error(self, exc: BaseException) -> None:
        _kind, title, message = explain(exc)
        self.error_label.setText(f"{title}: {message}" if message else title)
        if self.inputs:
            self.inputs[0].setFocus()


class MemberDialog(_HoldingDialog):
    """Username + role. `roles` are the ones this user may hand out (owners only by owners)."""

    def __init__(self, parent=None, *, title: str = "Add a member", username: str = "", role: str = "writer",
                 roles: tuple[str, ...] = ROLE_ORDER, note: str | None = None, ok_text: str = "Add"):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(True)
        self.form = load_form("team_member", self)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(28, 24, 28, 20)
        lay.addWidget(self.form.widget)
        f = self.form
        f.title.setText(title)
        if note is not None:
            f.note.setText(note)
        f.username.setText(username)
        f.username.setReadOnly(bool(username))
        app = getattr(getattr(parent, "session", None), "app", None)   # the window's profile, if any
        self.completer_ = PeopleCompleter(f.username, app) if app is not None and not username else None
        for r in roles:
            f.role.addItem(r.capitalize(), r)
        i = f.role.findData(role)
        f.role.setCurrentIndex(i if i >= 0 else min(f.role.count() - 1, roles.index("writer") if "writer" in roles
                                                   else 0))
        f.role.currentIndexChanged.connect(self._role_changed)
        self._role_changed()
        ok = f.buttons.button(QDialogButtonBox.Ok)
        ok.setText(ok_text)
        ok.setProperty("role", "primary")
        ok.setObjectName("memberOkButton")
        f.buttons.accepted.connect(self._check)
        f.buttons.rejected.connect(self.reject)
        self.busy = BusyBar()
        lay.addWidget(self.busy)
        self.error_label = f.error
        self.inputs = (f.username, f.role, f.buttons)
        self.setMinimumWidth(460)

    @property
    def username(self) -> str:
        return self.form.username.text().strip().lower()

    @property
    def role(self) -> str:
        return self.form.role.currentData()

    def _role_changed(self, *_):
        self.form.roleHint.setText(ROLE_HINTS.get(self.role, ""))

    def _check(self) -> None:
        if not self.username:
            self.form.error.setText("Type a username.")
            return
        self._ok()


class NameDialog(_HoldingDialog):
    """One line of input with a title and an explanation (plain text)."""

    def __init__(self, parent=None, *, title: str, note: str, placeholder: str = "", ok_text: str = "OK",
                 prefix: str = ""):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(28, 24, 28, 20)
        lay.setSpacing(8)
        lay.addWidget(label(title, "title"))
        lay.addWidget(label(note, "subtitle", wrap=True))
        if prefix:
            lay.addWidget(label(prefix, "faint"))
        self.edit = QLineEdit(placeholderText=placeholder)
        self.edit.setObjectName("nameEdit")
        self.edit.setMaxLength(200)
        lay.addWidget(self.edit)
        self.error = label("", "error", wrap=True)
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        ok = buttons.button(QDialogButtonBox.Ok)
        ok.setText(ok_text)
        ok.setProperty("role", "primary")
        ok.setObjectName("nameOkButton")
        buttons.accepted.connect(self._check)
        buttons.rejected.connect(self.reject)
        self.busy = BusyBar()
        lay.addWidget(self.busy)
        lay.addWidget(buttons)
        self.error_label = self.error
        self.inputs = (self.edit, buttons)
        self.setMinimumWidth(460)

    @property
    def text(self) -> str:
        return self.edit.text().strip()

    def _check(self) -> None:
        if not self.text:
            self.error.setText("This can't be empty.")
            return
        self._ok()
