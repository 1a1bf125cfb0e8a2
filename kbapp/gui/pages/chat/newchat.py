"""Start a conversation: type names or assertions (`bob`, `bob@github`, `bob, carol`), see who
each one verifiably is, then start. Nothing is sent and no team is made before Start.

Each name goes through `app.resolve` (the assertion's proofs checked live against a
verified identity); the conversation is then named by the verified usernames, so
what the first message reaches is exactly who was shown.
"""

from __future__ import annotations

import qasync
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout

from ... import ops
from ...people_completer import PeopleCompleter
from ...widgets import Banner, BusyBar, label


class NewChatDialog(QDialog):
    started = Signal(str)            # the conversation's name (alice,bob)

    def __init__(self, app, me: str, parent=None):
        super().__init__(parent)
        self.app, self.me = app, me
        self.setObjectName("newChatDialog")
        self.setWindowTitle("New conversation")
        self.setMinimumWidth(460)
        lay = QVBoxLayout(self)
        lay.addWidget(label("Who do you want to talk to?", "name"))
        lay.addWidget(label("A kbapp name (bob), an assertion (bob@github), or several separated by commas.",
                            "muted", wrap=True))
        self.edit = QLineEdit()
        self.edit.setObjectName("newChatName")
        self.edit.setPlaceholderText("bob, bob@github")
        self.edit.returnPressed.connect(self.lookup_clicked)
        self.edit.textChanged.connect(self._edited)
        lay.addWidget(self.edit)
        self.completer_ = PeopleCompleter(self.edit, app, several=True)   # names as you type
        self.busy = BusyBar()
        lay.addWidget(self.busy)
        self.banner = Banner()
        lay.addWidget(self.banner)
        self.who = label("", wrap=True)
        self.who.setObjectName("newChatWho")
        lay.addWidget(self.who)
        row = QHBoxLayout()
        row.addStretch(1)
        self.lookup = QPushButton("Look up")
        self.lookup.setObjectName("newChatLookup")
        self.lookup.clicked.connect(self.lookup_clicked)
        row.addWidget(self.lookup)
        self.start = QPushButton("Start conversation")
        self.start.setObjectName("newChatStart")
        self.start.setProperty("role", "primary")
        self.start.setEnabled(False)
        self.start.clicked.connect(self._start)
        row.addWidget(self.start)
        lay.addLayout(row)
        self.usernames: list[str] = []

    def _edited(self) -> None:
        self.usernames = []
        self.start.setEnabled(False)
        self.who.setText("")
        ops.supersede(self, "resolve")

    @qasync.asyncSlot()
    async def lookup_clicked(self) -> None:
        parts = [p.strip() for p in self.edit.text().split(",") if p.strip()]
        if not parts:
            return

        async def work():
            return [await self.app.resolve(p) for p in parts]

        def done(found) -> None:
            self.usernames = sorted({r.username for r in found})
            lines = []
            for r in found:
                how = ", ".join(f"{pv.service}:{pv.name}" for pv in (r.matched or [])
                                if getattr(pv, "service", "") != "kbapp")
                lines.append(f"✓ {r.assertion} is {r.username}, verified "
                             f"({r.identity.chain_length} links{'; proofs: ' + how if how else ''})")
            self.who.setText("\n".join(lines))
            self.start.setEnabled(bool(self.usernames))
            self.start.setFocus()

        await ops.run(self, work, key="resolve", busy=self.busy, banner=self.banner, on_done=done)

    def conv_name(self) -> str:
        return ",".join(sorted({self.me, *self.usernames}))

    def _start(self) -> None:
        if self.usernames:
            self.started.emit(self.conv_name())
            self.accept()

    def keyPressEvent(self, e) -> None:
        if e.key() in (Qt.Key_Return, Qt.Key_Enter) and self.start.isEnabled() and not self.edit.hasFocus():
            self._start()
            return
        super().keyPressEvent(e)
