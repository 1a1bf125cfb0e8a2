"""Finding what lives outside the code: `resources/` (icons, styles) and `ui/` (forms); icons.

Both folders sit at the top of the repository (DESIGN.md), next to `kbapp/`, which is
where `pip install -e .` leaves them. `KBAPP_RESOURCES` / `KBAPP_UI` override the
paths, and `<prefix>/share/kbapp/` is the fallback for a packaged install.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QRectF, QSize, Qt
from PySide6.QtGui import QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

_REPO = Path(__file__).resolve().parents[2]


def _find(env: str, name: str) -> Path:
    candidates = [os.environ.get(env), _REPO / name, Path(sys.prefix) / "share" / "kbapp" / name]
    for c in candidates:
        if c and Path(c).is_dir():
            return Path(c)
    raise FileNotFoundError(f"kbapp cannot find its {name}/ folder (set {env})")


def resources_dir() -> Path:
    return _find("KBAPP_RESOURCES", "resources")


def ui_dir() -> Path:
    return _find("KBAPP_UI", "ui")


# -- icons ---------------------------------------------------------------------


@lru_cache(maxsize=None)
def _svg_text(name: str) -> str:
    return (resources_dir() / "icons" / f"{name}.svg").read_text()


@lru_cache(maxsize=512)
def svg_pixmap(name: str, size: int, color: str | None = None, dpr: float = 2.0) -> QPixmap:
    """Render an icon; line icons draw in `currentColor`, replaced here by the theme's colour.
    Cached: views ask for icons on every paint (QPixmap is implicitly shared, callers never draw on it)."""
    text = _svg_text(name)
    if color:
        text = text.replace("currentColor", color)
    renderer = QSvgRenderer(QByteArray(text.encode()))
    pm = QPixmap(QSize(int(size * dpr), int(size * dpr)))
    pm.fill(Qt.transparent)
    painter = QPainter(pm)
    painter.setRenderHint(QPainter.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size * dpr, size * dpr))
    painter.end()
    pm.setDevicePixelRatio(dpr)
    return pm


@lru_cache(maxsize=512)
def icon(name: str, color: str | None = None, *, selected: str | None = None,
         disabled: str | None = None, size: int = 24) -> QIcon:
    """A QIcon with one pixmap per mode, so views can tint the selected row."""
    ic = QIcon()
    ic.addPixmap(svg_pixmap(name, size, color), QIcon.Normal)
    if selected:
        ic.addPixmap(svg_pixmap(name, size, selected), QIcon.Selected)
        ic.addPixmap(svg_pixmap(name, size, selected), QIcon.Active)
    if disabled:
        ic.addPixmap(svg_pixmap(name, size, disabled), QIcon.Disabled)
    return ic


def app_icon() -> QIcon:
    ic = QIcon()
    for s in (16, 24, 32, 48, 64, 128, 256):
        ic.addPixmap(svg_pixmap("io.kbapp.Kbapp", s, dpr=1.0))
    return ic
