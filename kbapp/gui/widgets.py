"""Small widgets every page uses: plain-text labels, the error banner, the
verification badge, avatars, the busy bar, the welcome page's choice buttons,
and `guarded()`, which runs an awaitable with progress shown and turns any error
into a readable banner.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Awaitable, Iterable, TypeVar

import shiboken6
from PySide6.QtCore import QObject, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy,
                               QToolButton, QVBoxLayout, QWidget)

from kbapp.core import errors

from . import theme
from .assets import icon, svg_pixmap

log = logging.getLogger(__name__)
T = TypeVar("T")


def label(text: str = "", role: str | None = None, *, wrap: bool = False, selectable: bool = False,
          parent: QWidget | None = None) -> QLabel:
    """A QLabel that never interprets its text: server data is shown as typed, never as HTML."""
    lab = QLabel(parent)
    lab.setTextFormat(Qt.PlainText)
    lab.setText(text)
    if role:
        lab.setProperty("role", role)
    lab.setWordWrap(wrap)
    if selectable:
        lab.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lab.setCursor(Qt.IBeamCursor)
    return lab


def fit_table(view) -> None:
    """Tables in a scrolling page show all their rows instead of scrolling inside."""
    rows = view.model().rowCount()
    h = view.horizontalHeader().height() + sum(view.rowHeight(r) for r in range(rows)) + 2
    view.setFixedHeight(max(h, view.horizontalHeader().height() + 30))


def rule() -> QFrame:
    line = QFrame()
    line.setProperty("role", "rule")
    line.setFrameShape(QFrame.NoFrame)
    return line


def card() -> QFrame:
    frame = QFrame()
    frame.setProperty("role", "card")
    return frame


def restyle(w: QWidget) -> None:
    """Re-apply the stylesheet after a dynamic property (`state`, `kind`) changed."""
    w.style().unpolish(w)
    w.style().polish(w)
    for child in w.findChildren(QWidget):
        child.style().unpolish(child)
        child.style().polish(child)


class IconLabel(QLabel):
    """An SVG icon in a label, re-tinted when the theme changes."""

    def __init__(self, name: str, token: str = "text-muted", size: int = 18, parent=None):
        super().__init__(parent)
        self._name, self._token, self._size = name, token, size
        self.setTextFormat(Qt.PlainText)  # it shows no text, but every QLabel here is plain
        self.setFixedSize(size, size)
        theme_changed = getattr(theme.Theme._instance, "changed", None)
        if theme_changed is not None:
            theme_changed.connect(self.refresh)
        self.refresh()

    def set_icon(self, name: str, token: str | None = None) -> None:
        self._name = name
        self._token = token or self._token
        self.refresh()

    def refresh(self) -> None:
        try:
            self.setPixmap(svg_pixmap(self._name, self._size, theme.colour(self._token)))
        except RuntimeError:  # deleted with its window
            pass


# -- errors --------------------------------------------------------------------------


WRONG_PASSPHRASE_ADVICE = (
    "That passphrase does not open this profile's keys. Type the one you chose when you set up kbapp "
    "on this computer (check Caps Lock). If it is lost, sign in again from another device or with a "
    "paper key, in a new profile.")


def explain(exc: BaseException) -> tuple[str, str, str]:
    """(kind, title, message) for any error: what a person reads instead of a traceback."""
    code = getattr(exc, "code", "")
    msg = str(exc) or exc.__class__.__name__
    if isinstance(exc, errors.VerificationError):
        return "error", f"The server's answer did not check out ({code})", \
            f"{msg}. Nothing from that answer was trusted or saved."
    if isinstance(exc, errors.BadServerUrl):
        return "warning", "That is not a server address", msg
    if isinstance(exc, errors.DuplicateDeviceName):
        return "warning", "Another device already has that name", msg
    if isinstance(exc, errors.NetworkError):
        return "warning", "Can't reach the server", msg
    if isinstance(exc, errors.RateLimited):
        return "warning", "The server asks us to slow down", msg
    if isinstance(exc, errors.NotFound):
        return "info", "Not found", msg
    if isinstance(exc, errors.BadUsername):
        return "warning", "That username can't be used", msg
    if isinstance(exc, errors.BadPaperKey):
        return "warning", "That paper key doesn't work", msg
    if isinstance(exc, errors.ProvisioningError):
        return "warning", "The device was not added", msg
    if isinstance(exc, errors.DeviceRevoked):
        return "error", "This device was revoked", msg
    if isinstance(exc, errors.NotLoggedIn):
        return "warning", "Not logged in", msg
    if isinstance(exc, errors.UsernameTaken):
        return "warning", "That username is taken", msg
    if isinstance(exc, errors.WrongPassphrase):   # the keystore's words name a file and a variable: not here
        return "warning", "Wrong passphrase for this profile", WRONG_PASSPHRASE_ADVICE
    if isinstance(exc, errors.KeystoreError):
        return "warning", "Your keys are locked", msg
    if isinstance(exc, errors.ServerError):
        return "warning", "The server refused", msg
    if isinstance(exc, errors.KbappError):
        return "warning", "That didn't work", f"{msg} ({code})" if code else msg
    return "error", "Something went wrong", f"{exc.__class__.__name__}: {msg}"


class Banner(QFrame):
    """An inline, dismissable message at the top of a page (errors, warnings, notes).

    A message may name its `subject` (a username, a field): it belongs to that thing and
    goes when the page moves to another (`clear_unless`) or the field changes (`clear_about`).
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.setProperty("kind", "info")
        self.subject: str | None = None
        lay = QHBoxLayout(self)
        lay.setContentsMargins(14, 10, 8, 10)
        lay.setSpacing(12)
        self._icon = IconLabel("info", "link", 20)
        lay.addWidget(self._icon, 0, Qt.AlignTop)
        col = QVBoxLayout()
        col.setSpacing(2)
        self.title = label("", wrap=True)
        self.title.setObjectName("bannerTitle")
        self.message = label("", wrap=True, selectable=True)
        self.message.setObjectName("bannerMessage")
        col.addWidget(self.title)
        col.addWidget(self.message)
        lay.addLayout(col, 1)
        self.action = QPushButton()              # the way out, when a message has one
        self.action.setObjectName("bannerAction")
        self.action.hide()
        self.action.clicked.connect(self._act)
        self._on_action = None
        lay.addWidget(self.action, 0, Qt.AlignTop)
        close = QToolButton()
        close.setIcon(icon("close", theme.colour("text-muted")))
        close.setToolTip("Dismiss")
        close.clicked.connect(self.clear)
        lay.addWidget(close, 0, Qt.AlignTop)
        self.hide()

    def show_message(self, kind: str, title: str, message: str = "", subject: str | None = None,
                     action: tuple[str, object] | None = None) -> None:
        """`action`: (button text, callable) offered beside the message until it is cleared."""
        self.subject = subject
        self._on_action = action[1] if action else None
        self.action.setText(action[0] if action else "")
        self.action.setVisible(action is not None)
        self.setProperty("kind", kind)
        self._icon.set_icon({"error": "alert", "warning": "alert"}.get(kind, "info"),
                            {"error": "bad", "warning": "warn"}.get(kind, "link"))
        self.title.setText(title)
        self.message.setText(message)
        self.message.setVisible(bool(message))
        restyle(self)
        self.show()

    def show_error(self, exc: BaseException, subject: str | None = None) -> None:
        kind, title, message = explain(exc)
        self.show_message(kind, title, message, subject)

    def clear_unless(self, subject: str) -> None:
        """The page now shows `subject`: a message about anything else is stale."""
        if self.subject != subject:
            self.clear()

    def clear_about(self, subject: str) -> None:
        """`subject` changed (a field was edited): what was said about it no longer holds."""
        if self.subject == subject:
            self.clear()

    def _act(self) -> None:
        fn = self._on_action
        if fn is not None:
            fn()

    def clear(self) -> None:
        self.subject = None
        self._on_action = None
        self.action.hide()
        self.hide()
        self.title.setText("")
        self.message.setText("")


class BusyBar(QProgressBar):
    """A thin indeterminate bar: long work is visible, and the loop keeps running."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setRange(0, 0)
        self.setTextVisible(False)
        self.setFixedHeight(3)
        self._depth = 0
        sp = self.sizePolicy()
        sp.setRetainSizeWhenHidden(True)  # no layout jump when it appears
        self.setSizePolicy(sp)
        self.hide()

    def start(self) -> None:
        self._depth += 1
        self.show()

    def stop(self) -> None:
        self._depth = max(0, self._depth - 1)
        if not self._depth:
            self.hide()

    @property
    def busy(self) -> bool:
        return self._depth > 0


async def guarded(work: Awaitable[T], *, banner: Banner | None = None, busy: BusyBar | None = None,
                  disable: Iterable[QWidget] = (), clear: bool = True,
                  owner: QObject | None = None) -> tuple[bool, T | BaseException]:
    """Await `work` with the busy bar on and `disable` greyed out; errors go to the banner
    (cleared first, unless `clear` is False: background refreshes keep what it says).

    Returns (ok, result or error). Nothing escapes as a traceback: unexpected errors
    are logged and shown like the typed ones. When the page that asked (`owner`, or the
    banner or busy bar it passed) died while we waited, the result is dropped:
    (False, Cancelled), so the caller touches no deleted widget or model.
    """
    widgets = [(w, w.isEnabled()) for w in disable]
    for w, _ in widgets:
        w.setEnabled(False)
    if banner is not None and clear:
        banner.clear()
    if busy is not None:
        busy.start()
    try:
        result = await work
        if not all(shiboken6.isValid(o) for o in (owner, banner, busy) if o is not None):
            return False, errors.Cancelled("the page closed before the answer came")
        return True, result
    except Exception as e:  # noqa: BLE001 - shown to the user, never a traceback
        if not isinstance(e, errors.KbappError):
            log.exception("unexpected error")
        try:
            if banner is not None:
                banner.show_error(e)
        except RuntimeError:
            pass
        return False, e
    finally:
        try:
            if busy is not None:
                busy.stop()
            for w, was in widgets:
                w.setEnabled(was)
        except RuntimeError:  # the page went away while we waited
            pass


# -- identity pieces ----------------------------------------------------------------------


class Badge(QFrame):
    """The verification verdict, impossible to miss: green Verified, red Broken, grey Checking."""

    TEXT = {"verified": ("verified", "ok", "Verified"),
            "broken": ("broken", "bad", "Broken"),
            "checking": ("pending", "text-muted", "Checking…")}

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("badge")
        self.state = ""
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 4, 14, 4)
        lay.setSpacing(6)
        self._icon = IconLabel("verified", "ok", 18)
        self.text = label("")
        self.text.setObjectName("badgeText")
        lay.addWidget(self._icon)
        lay.addWidget(self.text)
        self.setSizePolicy(QSizePolicy.Fixed, QSizePolicy.Fixed)
        self.set_state("checking")

    def set_state(self, state: str, text: str | None = None) -> None:
        name, token, default = self.TEXT[state]
        self.state = state
        self.setProperty("state", state)
        self._icon.set_icon(name, token)
        self.text.setText(text or default)
        self.setToolTip({"verified": "Every link of the chain was checked against the transparency log.",
                         "broken": "The server's answer failed a check: it is lying or broken.",
                         "checking": "Checking the chain and the log…"}[state])
        restyle(self)


class Avatar(QWidget):
    """A coloured disc with the first letter of a name (colour from a hash of the name)."""

    def __init__(self, size: int = 56, parent=None):
        super().__init__(parent)
        self._name = ""
        self.setFixedSize(size, size)

    def set_name(self, name: str) -> None:
        self._name = name
        self.update()

    def sizeHint(self) -> QSize:
        return self.size()

    def paintEvent(self, _):
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        n = int.from_bytes(hashlib.sha256(self._name.encode()).digest()[:2], "big") % 5 + 1
        p.setBrush(QColor(theme.colour(f"avatar-{n}")))
        p.setPen(Qt.NoPen)
        r = QRectF(self.rect())
        p.drawEllipse(r)
        p.setPen(QColor("#ffffff"))
        f = QFont(self.font())
        f.setPixelSize(int(self.height() * 0.42))
        f.setBold(True)
        p.setFont(f)
        p.drawText(r, Qt.AlignCenter, (self._name[:1] or "?").upper())
        p.end()


def flash_text(button, text: str, ms: int = 1500) -> None:
    """Briefly change a button's text ("Copied"), then restore it."""
    old = button.property("restText") or button.text()
    button.setProperty("restText", old)
    button.setText(text)

    def back():
        try:
            button.setText(old)
        except RuntimeError:
            pass
    QTimer.singleShot(ms, back)


class ChoiceButton(QPushButton):
    """A large two-line choice (title and description) with an icon: the welcome page's options.

    Used from ui/welcome_start.ui as a custom widget; the form sets `text` and a
    `description` dynamic property, the code sets the icon.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setCursor(Qt.PointingHandCursor)
        self.setMinimumHeight(84)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.setAttribute(Qt.WA_Hover)
        self.icon_name = ""

    def sizeHint(self) -> QSize:
        return QSize(480, 84)

    def paintEvent(self, _):
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        r = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        hover = self.underMouse() or self.isDown()
        focus = self.hasFocus()
        p.setPen(QPen(QColor(theme.colour("accent" if hover or focus else "border")), 1.5 if focus else 1))
        p.setBrush(QColor(theme.colour("accent-soft" if hover else "surface")))
        p.drawRoundedRect(r, 12, 12)
        # icon in a soft disc
        disc = QRectF(18, (self.height() - 40) / 2, 40, 40)
        p.setPen(Qt.NoPen)
        p.setBrush(QColor(theme.colour("surface" if hover else "accent-soft")))
        p.drawEllipse(disc)
        if self.icon_name:
            pm = svg_pixmap(self.icon_name, 22, theme.colour("accent"))
            p.drawPixmap(int(disc.center().x() - 11), int(disc.center().y() - 11), pm)
        left, right = 74, self.width() - 44
        title_font = QFont(self.font())
        title_font.setPixelSize(15)
        title_font.setBold(True)
        desc_font = QFont(self.font())
        desc_font.setPixelSize(12)
        p.setFont(title_font)
        p.setPen(QColor(theme.colour("text")))
        p.drawText(QRectF(left, 14, right - left, 22), Qt.AlignLeft | Qt.AlignVCenter, self.text())
        p.setFont(desc_font)
        p.setPen(QColor(theme.colour("text-muted")))
        p.drawText(QRectF(left, 38, right - left, self.height() - 44), Qt.AlignLeft | Qt.AlignTop | Qt.TextWordWrap,
                   str(self.property("description") or ""))
        chevron = svg_pixmap("chevron", 18, theme.colour("accent" if hover else "text-faint"))
        p.drawPixmap(self.width() - 34, int(self.height() / 2 - 9), chevron)
        p.end()
