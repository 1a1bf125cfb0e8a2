"""Dialogs, all opened with `.open()` and awaited through their `finished` signal:
a nested `exec()` loop inside an async slot would re-enter asyncio.

- `PaperKeyPanel` / `PaperKeyDialog`: the new paper key, shown once (ui/paperkey.ui).
- `AddDeviceDialog`: the 9-word phrase for a new device, while this one waits for it
  (ui/add_device.ui).
- `ask_passphrase`: the keystore file's passphrase when there is no OS keyring.
- `confirm`: a yes/no question in plain text.
"""

from __future__ import annotations

import asyncio

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QLineEdit, QMessageBox, QVBoxLayout, QWidget)

from kbapp.client.passphrase import MIN_LENGTH, passphrase_problem
from kbapp.core.errors import KeystoreError, WrongPassphrase

from . import theme
from .assets import icon
from .forms import load_form
from .widgets import WRONG_PASSPHRASE_ADVICE, flash_text, guarded, label

PHRASE_TIMEOUT = 300.0  # seconds a phrase works (the facade's default; the mailbox keeps messages 10 min)


async def wait_finished(dialog: QDialog) -> int:
    """Open a dialog window-modally and wait for its result without a nested event loop."""
    fut = asyncio.get_running_loop().create_future()

    def done(result: int) -> None:
        if not fut.done():
            fut.set_result(result)
    dialog.finished.connect(done)
    dialog.open()
    return await fut


class PaperKeyPanel(QWidget):
    """The 13 words in a numbered grid, Copy, and "I wrote it down" which enables Continue."""

    done = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.form = load_form("paperkey", self)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.form.widget)
        self.phrase = ""
        self.form.copyButton.setIcon(icon("copy", theme.colour("text-muted")))
        self.form.copyButton.clicked.connect(self.copy)
        self.form.wroteItDown.toggled.connect(self.form.continueButton.setEnabled)
        self.form.continueButton.clicked.connect(self.done.emit)

    def set_phrase(self, phrase: str) -> None:
        self.phrase = phrase
        grid = self.form.phraseGrid
        while grid.count():
            item = grid.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        words = phrase.split()
        rows = (len(words) + 2) // 3  # three columns, read down each column
        for i, word in enumerate(words):
            r, c = i % rows, i // rows
            num = label(f"{i + 1:>2}", "faint")
            num.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
            grid.addWidget(num, r, c * 2)
            w = label(word, selectable=True)
            w.setObjectName(f"word{i + 1}")
            grid.addWidget(w, r, c * 2 + 1)
        for c in range(3):
            grid.setColumnStretch(c * 2 + 1, 1)
        self.form.wroteItDown.setChecked(False)
        self.form.continueButton.setEnabled(False)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.phrase)
        flash_text(self.form.copyButton, "Copied")


class PaperKeyDialog(QDialog):
    """The paper key panel in a window (Devices → Add a paper key)."""

    def __init__(self, phrase: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle("New paper key")
        self.setModal(True)
        self.panel = PaperKeyPanel(self)
        self.panel.set_phrase(phrase)
        self.panel.done.connect(self.accept)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(28, 24, 28, 24)
        lay.addWidget(self.panel)
        self.setMinimumWidth(560)

    def reject(self) -> None:
        """Escape or the close button only work once the user says the words are written down."""
        if self.panel.form.wroteItDown.isChecked():
            super().reject()


class AddDeviceDialog(QDialog):
    """Devices → Add a device: a 9-word phrase for the new computer, shown while this
    device waits for it, then vouches for it (`App.add_device_by_phrase`).

    The dialog owns that task: Cancel (or Escape, or closing it) cancels it, and the
    words stop working. On success it accepts, with `device` the new device; a failure
    (a timeout, a bad reply) stays in its banner, with "New phrase" to start again.
    Opened with `.open()` and `start()`; nothing here nests an event loop.
    """

    def __init__(self, app, parent=None, *, username: str = "", server_url: str = "",
                 timeout: float | None = None):
        super().__init__(parent)
        self.setWindowTitle("Add a device")
        self.app = app
        self.timeout = timeout or PHRASE_TIMEOUT
        self.form = load_form("add_device", self)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(28, 24, 28, 24)
        lay.addWidget(self.form.widget)
        self.setMinimumWidth(580)
        self.phrase = ""
        self.device = None   # DeviceView, once added
        self.task: asyncio.Task | None = None
        self._deadline = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._tick)
        f = self.form
        f.accountNote.setText(f"Your username: {username}    Server: {server_url}")
        f.copyButton.setIcon(icon("copy", theme.colour("text-muted")))
        f.copyButton.clicked.connect(self.copy)
        f.cancelButton.clicked.connect(self.reject)
        f.retryButton.clicked.connect(self.start)
        f.retryButton.hide()

    @property
    def waiting(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self) -> None:
        """Make a phrase and wait for the new device, in a task this dialog owns."""
        if not self.waiting:
            self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        f = self.form
        self._set_phrase("")
        f.retryButton.hide()
        f.cancelButton.setText("Cancel")
        f.status.setText("Making a phrase…")
        ok, result = await guarded(self.app.add_device_by_phrase(self._show_phrase, timeout=self.timeout),
                                   banner=f.banner, busy=f.busy)
        self._timer.stop()
        if ok:
            self.device = result
            self.accept()
            return
        self._set_phrase("")  # these words no longer work: don't leave them on screen
        f.status.setText("Make a new phrase to try again.")
        f.retryButton.show()
        f.retryButton.setDefault(True)
        f.cancelButton.setText("Close")

    def _show_phrase(self, phrase: str) -> None:
        """The facade's `on_phrase`: the offer is posted, the words work from now on."""
        self._set_phrase(phrase)
        self._deadline = asyncio.get_running_loop().time() + self.timeout
        self._tick()
        self._timer.start()

    def _set_phrase(self, phrase: str) -> None:
        self.phrase = phrase
        words = phrase.split()
        # three lines of three: easy to read aloud or type, and still one selection
        self.form.phraseText.setText("\n".join(" ".join(words[i:i + 3]) for i in range(0, len(words), 3)) or "…")
        self.form.phraseText.setEnabled(bool(phrase))
        self.form.copyButton.setEnabled(bool(phrase))

    def _tick(self) -> None:
        left = max(0, int(self._deadline - asyncio.get_running_loop().time()))
        self.form.status.setText(f"Waiting for the new device…  These words work for "
                                 f"{left // 60}:{left % 60:02d} more.")

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.phrase)
        flash_text(self.form.copyButton, "Copied")

    def cancel(self) -> None:
        """Stop waiting: the facade's task is cancelled, and the words stop working."""
        self._timer.stop()
        if self.waiting:
            self.task.cancel()

    def reject(self) -> None:
        self.cancel()
        super().reject()


class PassphraseDialog(QDialog):
    def __init__(self, new_file: bool, parent=None, error: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Unlock your keys" if not new_file else "Protect your keys")
        self.setModal(True)
        self.new_file = new_file
        lay = QVBoxLayout(self)
        lay.setContentsMargins(24, 20, 24, 20)
        lay.setSpacing(10)
        lay.addWidget(label("Protect your keys" if new_file else "Unlock your keys", "title"))
        lay.addWidget(label(
            "There is no system keyring here, so kbapp keeps this device's secret keys in a file "
            f"sealed with a passphrase. Choose one of at least {MIN_LENGTH} characters that is hard to "
            "guess (a few unrelated words work well); it cannot be recovered." if new_file else
            "Enter the passphrase that seals this profile's key file.", "subtitle", wrap=True))
        self.first = QLineEdit(echoMode=QLineEdit.Password, placeholderText="Passphrase")
        lay.addWidget(self.first)
        self.second = QLineEdit(echoMode=QLineEdit.Password, placeholderText="Again")
        self.second.setVisible(new_file)
        lay.addWidget(self.second)
        self.error = label(error, "error", wrap=True)
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setProperty("role", "primary")
        buttons.accepted.connect(self._check)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.setMinimumWidth(440)

    def _check(self) -> None:
        problem = passphrase_problem(self.first.text()) if self.new_file else None
        if not self.first.text():
            self.error.setText("The passphrase is empty.")
        elif problem:
            self.error.setText(problem)   # plain text: the label is never rich text (label())
        elif self.new_file and self.first.text() != self.second.text():
            self.error.setText("The two passphrases differ.")
        else:
            self.accept()


async def ask_passphrase(parent: QWidget, new_file: bool, error: str = "") -> str | None:
    dlg = PassphraseDialog(new_file, parent, error)
    try:
        if await wait_finished(dlg) == QDialog.Accepted:
            return dlg.first.text()
        return None
    finally:
        dlg.deleteLater()


async def confirm(parent: QWidget, title: str, text: str, informative: str, yes: str) -> bool:
    """A warning box with plain text only (QMessageBox would otherwise guess rich text)."""
    box = QMessageBox(QMessageBox.Warning, title, text, QMessageBox.Cancel, parent)
    box.setTextFormat(Qt.PlainText)
    box.setInformativeText(informative)
    ok = box.addButton(yes, QMessageBox.AcceptRole)
    ok.setProperty("role", "danger")
    box.setDefaultButton(QMessageBox.Cancel)
    box.setObjectName("confirmBox")
    try:
        await wait_finished(box)
        return box.clickedButton() is ok
    finally:
        box.deleteLater()


async def unlock_keys(session, parent: QWidget) -> bool:
    """Make sure the keystore is open before an operation that signs; False if the user gave up."""
    error = ""
    while await session.keystore_needs_passphrase():
        phrase = await ask_passphrase(parent, new_file=not session.keystore_file_exists(), error=error)
        if phrase is None:
            return False
        try:
            await session.unlock(phrase)
            return True
        except WrongPassphrase:   # said in the window's words: no file path, no environment variable
            session.clear_passphrase()
            error = f"Wrong passphrase for this profile. {WRONG_PASSPHRASE_ADVICE}"
        except KeystoreError as e:
            session.clear_passphrase()
            error = str(e)
    await session.unlock()
    return True
