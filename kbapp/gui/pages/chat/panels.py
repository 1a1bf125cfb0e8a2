"""The side panels of the Chat page: a thread (its own timeline and composer) and the
conversation's info (members with their identity badges, topic, pins, shared files).

Both only show what the page hands them (read off the Qt thread through `app.chat` and
`app.list_members`); every name and topic is plain text.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QFrame, QHBoxLayout, QListView, QListWidget, QListWidgetItem,
                               QPushButton, QVBoxLayout)

from ... import theme
from ...plain import plain_tip
from ...widgets import label
from .composer import Composer
from .delegate import TimelineDelegate, human_size
from .models import TimelineModel
from .warmup import warm


def timeline_view(model: TimelineModel, me: str, name: str) -> tuple[QListView, TimelineDelegate]:
    """A list view fit for a painted timeline: rows of varying height, pixel scrolling."""
    view = QListView()
    view.setObjectName(name)
    view.setModel(model)
    delegate = TimelineDelegate(view, me)
    view.setItemDelegate(delegate)
    view.setVerticalScrollMode(QAbstractItemView.ScrollPerPixel)
    view.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    view.setResizeMode(QListView.Adjust)
    view.setLayoutMode(QListView.Batched)
    view.setBatchSize(200)
    view.setSelectionMode(QAbstractItemView.SingleSelection)
    view.setMouseTracking(True)
    view.setUniformItemSizes(False)
    view.setWordWrap(True)
    view.setFrameShape(QFrame.NoFrame)
    view.setContextMenuPolicy(Qt.CustomContextMenu)
    warm(view, delegate)                 # the first paint's one-off costs, now rather than at a message
    return view, delegate


class ThreadPanel(QFrame):
    """A thread: its root and replies, and a composer that replies in it."""

    closed = Signal()

    def __init__(self, me: str, parent=None):
        super().__init__(parent)
        self.setObjectName("threadPanel")
        self.setMinimumWidth(300)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 10, 0, 0)
        lay.setSpacing(4)
        head = QHBoxLayout()
        head.setContentsMargins(16, 0, 10, 0)
        self.title = label("Thread", "name")
        head.addWidget(self.title, 1)
        close = QPushButton("Close")
        close.setObjectName("threadClose")
        close.clicked.connect(self.closed.emit)
        head.addWidget(close)
        lay.addLayout(head)
        self.model = TimelineModel(self)
        self.view, self.delegate = timeline_view(self.model, me, "threadView")
        lay.addWidget(self.view, 1)
        self.composer = Composer()
        self.composer.edit.setPlaceholderText("Reply in the thread")
        self.composer.attach.hide()
        lay.addWidget(self.composer)
        self.root: int | None = None


class InfoPanel(QFrame):
    """Who is in the conversation (each with the People page's badge), its topic, pins, files."""

    closed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("infoPanel")
        self.setMinimumWidth(260)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 10, 10, 10)
        lay.setSpacing(6)
        head = QHBoxLayout()
        self.title = label("About", "name")
        head.addWidget(self.title, 1)
        close = QPushButton("Close")
        close.setObjectName("infoClose")
        close.clicked.connect(self.closed.emit)
        head.addWidget(close)
        lay.addLayout(head)
        self.topic = label("", "muted", wrap=True)
        self.topic.setObjectName("infoTopic")
        lay.addWidget(self.topic)
        lay.addWidget(label("Members", "section"))
        self.members = QListWidget()
        self.members.setObjectName("infoMembers")
        self.members.setFrameShape(QFrame.NoFrame)
        lay.addWidget(self.members, 2)
        lay.addWidget(label("Pinned", "section"))
        self.pins = label("Nothing is pinned (right-click a message: Pin).", "faint", wrap=True)
        self.pins.setObjectName("infoPins")
        lay.addWidget(self.pins)
        lay.addWidget(label("Files", "section"))
        self.files = QListWidget()
        self.files.setObjectName("infoFiles")
        self.files.setFrameShape(QFrame.NoFrame)
        lay.addWidget(self.files, 1)

    def show_members(self, members: list) -> None:
        """TeamMemberView rows: name, role, and Verified (green) or Broken (red, with why)."""
        self.members.clear()
        for m in members:
            ok = m.badge == "verified"
            it = QListWidgetItem(f"{'✓' if ok else '✗'} {m.username} · {m.role}")
            it.setForeground(QColor(theme.colour("ok" if ok else "bad")))
            it.setToolTip(plain_tip(("Verified" if ok else f"Broken: {m.reason}") + f" · {m.username}"))
            self.members.addItem(it)

    def show_pins(self, timeline, lines: list) -> None:
        """The pinned messages (oldest pin first), as plain text; the headline above them."""
        pins = list(getattr(timeline, "pins", None) or [])
        by_id = {ln.msg.msg_id: ln.msg for ln in lines if ln.msg is not None and ln.msg.msg_id is not None}
        rows = [f"📌 {by_id[i].sender}: {(by_id[i].text or '').splitlines()[0][:80]}" if i in by_id
                else f"📌 message #{i}" for i in pins]
        self.pins.setText("\n".join(rows) or "Nothing is pinned (right-click a message: Pin).")
        headline = getattr(timeline, "headline", None)
        if headline:
            self.topic.setText(f"Headline: {headline}")

    def show_files(self, lines: list) -> None:
        self.files.clear()
        for ln in lines:
            m = ln.msg
            if m is not None and m.type == "attachment" and m.attachment:
                a = m.attachment
                it = QListWidgetItem(f"{a.get('name')} · {human_size(a.get('size'))} · {m.sender}")
                it.setData(Qt.UserRole, m.msg_id)
                self.files.addItem(it)
        if not self.files.count():
            self.files.addItem(QListWidgetItem("No files shared yet"))
