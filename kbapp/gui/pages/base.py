"""The frame every page shares: title, subtitle, actions on the right, busy bar, banner."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QScrollArea, QVBoxLayout, QWidget

from ..widgets import Banner, BusyBar, label

MARGINS = (36, 28, 36, 16)


class Page(QWidget):
    def __init__(self, title: str, subtitle: str = "", *, scroll: bool = False, parent=None):
        super().__init__(parent)
        self.setObjectName("page")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)

        head = QWidget()
        hl = QVBoxLayout(head)
        hl.setContentsMargins(MARGINS[0], MARGINS[1], MARGINS[2], 0)
        hl.setSpacing(4)
        row = QHBoxLayout()
        row.setSpacing(8)
        self.title = label(title, "title")
        row.addWidget(self.title)
        row.addStretch(1)
        self.actions = row
        hl.addLayout(row)
        self.subtitle = label(subtitle, "subtitle", wrap=True)
        self.subtitle.setVisible(bool(subtitle))
        hl.addWidget(self.subtitle)
        hl.addSpacing(10)
        self.busy = BusyBar()
        hl.addWidget(self.busy)
        self.banner = Banner()
        hl.addWidget(self.banner)
        outer.addWidget(head)

        content = QWidget()
        content.setObjectName("pageContent")
        self.body = QVBoxLayout(content)
        self.body.setContentsMargins(MARGINS[0], 8, MARGINS[2], MARGINS[3])
        self.body.setSpacing(12)
        if scroll:
            area = QScrollArea()
            area.setWidgetResizable(True)
            area.setFrameShape(QFrame.NoFrame)
            area.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
            area.setWidget(content)
            outer.addWidget(area, 1)
        else:
            outer.addWidget(content, 1)

    def shown(self) -> None:
        """Called when the sidebar selects this page (refresh what may be stale)."""
