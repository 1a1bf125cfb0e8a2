""""Prove an account": link a website, domain or social account to your identity.

Three steps in one window: choose the service and the name; post the text
kbapp shows (Copy puts it on the clipboard); "I posted it" checks it live on the
service and, once it is there, posts the signed link (`App.check_proof`, then
`App.finish_proof`). The dialog owns its one running task (Cancel cancels it) and
is opened with `.open()`: nothing here nests an event loop.
"""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QComboBox, QDialog, QFormLayout, QFrame, QHBoxLayout, QLineEdit,
                               QPushButton, QSizePolicy, QStackedWidget, QVBoxLayout, QWidget)

from kbapp.core import errors

from . import ops, theme
from .assets import icon
from .dialogs import unlock_keys
from .models import SERVICE_LABELS
from .proof_words import proof_failure
from .widgets import Banner, BusyBar, IconLabel, flash_text, label

BUILT_IN = ("website", "dns", "github", "mastodon")
PLACEHOLDERS = {"website": "example.com (served over https)", "dns": "example.com (a TXT record)",
                "github": "your GitHub username", "mastodon": "you@mastodon.social"}
CHOICE_LABELS = {"website": "Website (https)", "dns": "Domain (DNS TXT record)"}


class ProveDialog(QDialog):
    """On accept, `proof` is the new ProofView (state ok)."""

    def __init__(self, app, session=None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Prove an account")
        self.app, self.session = app, session
        self.request = None     # ProofRequest once signed (step 2)
        self.result = None      # the last ProofResult of "I posted it"
        self.proof = None       # ProofView once posted (step 3)
        self.task: asyncio.Task | None = None
        self.setMinimumWidth(620)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(28, 24, 28, 24)
        lay.setSpacing(10)
        lay.addWidget(label("Prove an account", "title"))
        self.step = label("", "faint")
        self.step.setObjectName("proveStep")
        lay.addWidget(self.step)
        self.busy = BusyBar()
        lay.addWidget(self.busy)
        self.banner = Banner()
        self.banner.setObjectName("proveBanner")
        self.banner.installEventFilter(self)
        lay.addWidget(self.banner)
        self.pages = QStackedWidget()
        lay.addWidget(self.pages, 1)

        # 1: service and name
        choose = QWidget()
        cl = QVBoxLayout(choose)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(12)
        cl.addWidget(label("Show everyone who looks you up that you also own a website, a domain or an "
                           "account elsewhere. You post a short text there that names your signature; "
                           "anyone can check it, and kbapp does, every time.", "subtitle", wrap=True))
        form = QFormLayout()
        form.setHorizontalSpacing(14)
        form.setVerticalSpacing(10)
        self.service = QComboBox()
        self.service.setObjectName("proveService")
        names = list(app.proof_services())
        for name in [n for n in BUILT_IN if n in names] + sorted(n for n in names if n not in BUILT_IN):
            self.service.addItem(CHOICE_LABELS.get(name, SERVICE_LABELS.get(name, name)), name)
        self.service.currentIndexChanged.connect(self._service_changed)
        form.addRow("Service", self.service)
        self.name = QLineEdit()
        self.name.setObjectName("proveName")
        self.name.setMaxLength(255)
        self.name.textChanged.connect(self._name_changed)
        self.name.returnPressed.connect(self.next_clicked)
        form.addRow("Your account", self.name)
        cl.addLayout(form)
        cl.addStretch(1)
        self.pages.addWidget(choose)

        # 2: the text to post
        post = QWidget()
        pl = QVBoxLayout(post)
        pl.setContentsMargins(0, 0, 0, 0)
        pl.setSpacing(10)
        self.instructions = label("", "subtitle", wrap=True, selectable=True)
        self.instructions.setObjectName("proveInstructions")
        pl.addWidget(self.instructions)
        box = QFrame()
        box.setProperty("role", "phrase")
        bl = QHBoxLayout(box)
        bl.setContentsMargins(16, 14, 10, 14)
        self.text = label("", wrap=True, selectable=True)
        self.text.setObjectName("proofText")
        self.text.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Minimum)
        self.text.installEventFilter(self)   # its wrapped height is its minimum (see eventFilter)
        bl.addWidget(self.text, 1)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setObjectName("copyProofButton")
        self.copy_button.setIcon(icon("copy", theme.colour("text-muted")))
        self.copy_button.clicked.connect(self.copy)
        bl.addWidget(self.copy_button, 0, Qt.AlignTop)
        pl.addWidget(box)
        self.note = label("The text holds no secret: it names your username and the signature your device "
                          "just made. Nothing is published on kbapp until the text is found.", "faint", wrap=True)
        pl.addWidget(self.note)
        pl.addStretch(1)
        self.pages.addWidget(post)

        # 3: done
        done = QWidget()
        dl = QHBoxLayout(done)
        dl.setContentsMargins(0, 8, 0, 8)
        dl.setSpacing(14)
        dl.addWidget(IconLabel("verified", "ok", 36), 0, Qt.AlignTop)
        self.done_text = label("", "name", wrap=True)
        self.done_text.setObjectName("proveDone")
        col = QVBoxLayout()
        col.addWidget(self.done_text)
        col.addWidget(label("Your device signed the link and posted it to your chain. Anyone who looks you up "
                            "sees it, checked live on the service. Deleting the text there breaks the proof; "
                            "revoke it from People when you no longer want it.", "muted", wrap=True))
        col.addStretch(1)
        dl.addLayout(col, 1)
        self.pages.addWidget(done)

        buttons = QHBoxLayout()
        self.back_button = QPushButton("Back")
        self.back_button.setObjectName("proveBackButton")
        self.back_button.clicked.connect(self.back_clicked)
        buttons.addWidget(self.back_button)
        buttons.addStretch(1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("proveCancelButton")
        self.cancel_button.clicked.connect(self.reject)
        buttons.addWidget(self.cancel_button)
        self.next_button = QPushButton("Next")
        self.next_button.setObjectName("proveNextButton")
        self.next_button.setProperty("role", "primary")
        self.next_button.setDefault(True)
        self.next_button.clicked.connect(self.next_clicked)
        buttons.addWidget(self.next_button)
        lay.addLayout(buttons)
        self._service_changed()
        self._show_page(0)

    def eventFilter(self, obj, ev) -> bool:
        """A stacked page does not pass on a wrapped label's height for its width: set it as the
        label's minimum on each resize, so the text to post is never cut, whatever shows above it."""
        if obj is getattr(self, "text", None) and ev.type() == QEvent.Resize:
            h = self.text.heightForWidth(self.text.width())
            if h > 0 and h != self.text.minimumHeight():
                self.text.setMinimumHeight(h)
                QTimer.singleShot(0, self._fit)
        elif obj is self.banner and ev.type() in (QEvent.Show, QEvent.Resize):
            QTimer.singleShot(0, self._fit)
        return super().eventFilter(obj, ev)

    def _fit(self) -> None:
        """Grow to the height the wrapped banner and text need at this width (a layout's minimum
        ignores wrapping, so a long error would otherwise take the text's room)."""
        lay = self.layout()
        if lay is None:
            return
        need = lay.totalHeightForWidth(self.width()) if lay.hasHeightForWidth() else -1
        need = max(need, lay.totalMinimumSize().height())
        if need > self.minimumHeight():
            self.setMinimumHeight(need)
        if need > self.height():
            self.resize(self.width(), need)

    # -- state ----------------------------------------------------------------------------

    @property
    def busy_now(self) -> bool:
        return self.task is not None and not self.task.done()

    def current_page(self) -> str:
        return ("choose", "post", "done")[self.pages.currentIndex()]

    def _show_page(self, i: int) -> None:
        self.pages.setCurrentIndex(i)
        self.step.setText(("Step 1 of 3 · choose the account", "Step 2 of 3 · post this text",
                           "Step 3 of 3 · done")[i])
        self.back_button.setVisible(i == 1)
        self.cancel_button.setVisible(i != 2)
        self.next_button.setText(("Next", "I posted it: check and sign", "Done")[i])
        QTimer.singleShot(0, self._fit)
        self._name_changed()

    def _service_changed(self, *_):
        self.name.setPlaceholderText(PLACEHOLDERS.get(self.service.currentData(), "your username there"))

    def _name_changed(self, *_):
        self.next_button.setEnabled(self.current_page() != "choose" or bool(self.name.text().strip()))

    def _run(self, coro) -> None:
        if not self.busy_now:
            self.task = asyncio.ensure_future(coro)
        else:
            coro.close()

    # -- actions ----------------------------------------------------------------------------

    def next_clicked(self) -> None:
        page = self.current_page()
        if page == "choose" and self.name.text().strip():
            self._run(self.start())
        elif page == "post":
            self._run(self.check_and_sign())
        elif page == "done":
            self.accept()

    def back_clicked(self) -> None:
        """Back to step 1: the signed, unposted link is dropped (nothing was published)."""
        self.cancel()
        self.request = None
        self.banner.clear()
        self._show_page(0)

    async def start(self) -> None:
        """Sign the proof link (not posted yet) and show the text to post."""
        service, name = self.service.currentData(), self.name.text().strip()
        out = await ops.run(self, lambda: self._start(service, name), key="proof", banner=self.banner,
                            busy=self.busy, disable=(self.next_button, self.service, self.name), cursor=False)
        if out.stale:
            return
        if not out.ok:
            if isinstance(out.value, errors.EncodingError):
                self.banner.show_message("warning", "That name can't be used", str(out.value))
            return
        req = out.value
        if req is None:
            return
        self.request = req
        self.instructions.setText(req.instructions + ":")
        self.text.setText(req.text)
        self._show_page(1)

    async def _start(self, service: str, name: str):
        if self.session is not None and not await unlock_keys(self.session, self):
            return None
        return await self.app.start_proof(service, name)

    async def check_and_sign(self) -> None:
        """Is the text there? Then post the signed link."""
        req = self.request
        if req is None:
            return
        self.banner.clear()
        out = await ops.run(self, lambda: self.app.check_proof(req), key="proof", banner=self.banner,
                            busy=self.busy, disable=(self.next_button, self.back_button), cursor=False)
        if not out.ok or out.stale:
            return
        self.result = result = out.value
        if not result.ok:
            title, message = proof_failure(result.state, result.reason)
            self.banner.show_message("warning" if result.state in ("broken", "temporary") else "error",
                                     title, message)
            return
        out = await ops.run(self, lambda: self.app.finish_proof(req), key="proof", banner=self.banner,
                            busy=self.busy, disable=(self.next_button, self.back_button), cursor=False)
        if out.stale:
            return
        proof = out.value
        if not out.ok:
            if isinstance(proof, errors.Conflict):
                self.request = None
                self.banner.show_message("warning", "Start again", f"{proof} (nothing was published)")
                self._show_page(0)
            return
        self.proof = proof
        label_ = SERVICE_LABELS.get(proof.service, proof.service)
        self.done_text.setText(f"{proof.name} on {label_} is proven")
        self._show_page(2)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text.text())
        flash_text(self.copy_button, "Copied")

    def cancel(self) -> None:
        if self.busy_now:
            self.task.cancel()

    def reject(self) -> None:
        self.cancel()
        super().reject()
