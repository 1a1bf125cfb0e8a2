"""Untrusted text shown as typed, never as HTML.

Qt renders a label, a message box, a tooltip or a model's ToolTipRole as rich
text whenever `Qt.mightBeRichText` guesses so, and a proof's account name, a
device name, a file name or a server message can be any string: a broken proof
named `<b style="color:green">VERIFIED</b>` would draw a green VERIFIED, and
`<img src="file:///...">` would load a local file. So:

* labels: `Qt.PlainText` (widgets.label and every form label already are);
* tooltips: `plain_tip(text)`: the text itself where Qt would show it as plain
  text anyway, else escaped inside a fixed paragraph that keeps line breaks;
* desktop notifications and the tray's tooltip, which some desktops render as
  markup and others show verbatim: `plain_notice(text)`, with the markup
  characters swapped for look-alikes, readable both ways.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as QtGui_Qt

_WRAP = ("<p style='white-space:pre-wrap'>", "</p>")
_LOOKALIKE = str.maketrans({"<": "\u2039", ">": "\u203a", "&": "\uff06"})


def might_be_rich(text: str) -> bool:
    """Qt's own guess (what QToolTip and an AutoText QLabel use)."""
    return bool(text) and QtGui_Qt.mightBeRichText(text)


def plain_tip(text: str | None) -> str | None:
    """A tooltip Qt shows exactly as `text` reads."""
    if not text:
        return text   # None (no tooltip) or ""
    if not might_be_rich(text):
        return text
    return _WRAP[0] + html.escape(text, quote=False) + _WRAP[1]


def plain_notice(text: str | None) -> str:
    """Text for a desktop notification or tray tooltip: no markup characters left."""
    return (text or "").translate(_LOOKALIKE)


def set_plain_tip(widget, text: str | None) -> None:
    widget.setToolTip(plain_tip(text))


def plain_labels(root) -> None:
    """Every QLabel under `root` to plain text (message boxes, dialogs made in code)."""
    from PySide6.QtWidgets import QLabel

    for lab in root.findChildren(QLabel):
        lab.setTextFormat(Qt.PlainText)


def plain_title(text: str) -> str:
    """A window title from untrusted text: Qt takes `[*]` for its "modified" placeholder and
    drops it (`holiday[*].jpg` showed as `holiday.jpg`); `[*][*]` shows it as written."""
    return text.replace("[*]", "[*][*]")
