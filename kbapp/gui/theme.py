"""Light and dark themes that follow the system palette (or the user's choice).

`resources/styles/common.qss` holds layout and type with `@token` colours;
`light.qss` / `dark.qss` define the tokens (in their header) plus a few rules of
their own. The same tokens tint the SVG icons and whatever the code paints, so
one file per theme decides every colour on screen.
"""

from __future__ import annotations

import re
from functools import lru_cache

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from .assets import resources_dir

CHOICES = ("system", "light", "dark")
_TOKEN_DEF = re.compile(r"@([a-z0-9-]+):\s*(#[0-9a-fA-F]{6})\s*;")
_TOKEN_USE = re.compile(r"@([a-z][a-z0-9-]*)")
_COMMENT = re.compile(r"/\*.*?\*/", re.S)


@lru_cache(maxsize=None)
def _read(name: str) -> str:
    return (resources_dir() / "styles" / name).read_text()


def tokens(scheme: str) -> dict[str, str]:
    return dict(_TOKEN_DEF.findall(_read(f"{scheme}.qss")))


def stylesheet(scheme: str) -> str:
    """common.qss with the scheme's tokens filled in, then the scheme's own rules."""
    colours = tokens(scheme)

    def fill(m: re.Match) -> str:
        name = m.group(1)
        if name not in colours:
            raise KeyError(f"{scheme}.qss does not define @{name}")
        return colours[name]

    common = _COMMENT.sub("", _read("common.qss"))
    own = _COMMENT.sub("", _read(f"{scheme}.qss"))
    return _TOKEN_USE.sub(fill, common) + "\n" + own


def system_scheme() -> str:
    hints = QGuiApplication.styleHints()
    return "dark" if hints.colorScheme() == Qt.ColorScheme.Dark else "light"


class Theme(QObject):
    """The active theme; `changed` fires after a switch so painted widgets can re-tint."""

    changed = Signal()
    _instance: "Theme | None" = None

    def __init__(self, app: QApplication, choice: str = "system"):
        super().__init__(app)
        self.app = app
        self.choice = choice if choice in CHOICES else "system"
        self.scheme = "light"
        self.colours: dict[str, str] = {}
        Theme._instance = self
        app.setStyle("Fusion")  # the same metrics everywhere; the .qss does the rest
        font = QFont("DejaVu Sans")
        font.setPixelSize(13)
        app.setFont(font)
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._system_changed)
        self.apply()

    def set_choice(self, choice: str) -> None:
        self.choice = choice if choice in CHOICES else "system"
        self.apply()

    def _system_changed(self, *_):
        if self.choice == "system":
            self.apply()

    def apply(self) -> None:
        self.scheme = system_scheme() if self.choice == "system" else self.choice
        self.colours = tokens(self.scheme)
        self.app.setPalette(self._palette())
        self.app.setStyleSheet(stylesheet(self.scheme))
        self.changed.emit()

    def _palette(self) -> QPalette:
        c = lambda k: QColor(self.colours[k])  # noqa: E731
        p = QPalette()
        p.setColor(QPalette.Window, c("window"))
        p.setColor(QPalette.WindowText, c("text"))
        p.setColor(QPalette.Base, c("surface"))
        p.setColor(QPalette.AlternateBase, c("surface-alt"))
        p.setColor(QPalette.Text, c("text"))
        p.setColor(QPalette.Button, c("surface"))
        p.setColor(QPalette.ButtonText, c("text"))
        p.setColor(QPalette.Highlight, c("accent"))
        p.setColor(QPalette.HighlightedText, c("accent-text"))
        p.setColor(QPalette.ToolTipBase, c("surface"))
        p.setColor(QPalette.ToolTipText, c("text"))
        p.setColor(QPalette.PlaceholderText, c("text-faint"))
        p.setColor(QPalette.Link, c("link"))
        p.setColor(QPalette.Mid, c("border"))
        for role in (QPalette.Text, QPalette.WindowText, QPalette.ButtonText):
            p.setColor(QPalette.Disabled, role, c("text-faint"))
        return p


def current() -> Theme:
    if Theme._instance is None:
        raise RuntimeError("no Theme yet: create one after the QApplication")
    return Theme._instance


def colour(token: str) -> str:
    """A theme colour by token name; the light one before any Theme exists (tests of bare widgets)."""
    inst = Theme._instance
    return inst.colours[token] if inst is not None else tokens("light")[token]
