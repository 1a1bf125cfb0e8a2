"""The painted timeline row: no widget per message, so 10,000 messages cost 10,000 rows of data.

One `layout()` places every part of a row (day separator, sender line, reply quote, body,
attachment, reactions, thread count, pending/failed state) and both painting and clicks
use it, so what is drawn is what is clicked. Text is drawn with QPainter.drawText, which
never interprets markup: a message reading `<b>hi</b>` shows those characters.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate

from ... import theme
from ...models import ObjectRole

PAD_L, GUTTER, PAD_R = 16, 44, 16
BIG = 1 << 20


def human_size(n) -> str:
    n = int(n or 0)
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


@dataclass
class Parts:
    height: int
    day: QRect | None = None
    head: QRect | None = None
    quote: QRect | None = None
    body: QRect | None = None
    file: QRect | None = None
    chips: list = field(default_factory=list)       # (rect, emoji, count, mine)
    add_chip: QRect | None = None
    thread: QRect | None = None
    state: QRect | None = None
    retry: QRect | None = None
    delete: QRect | None = None
    note: QRect | None = None
    image: QRect | None = None       # an inline image (its preview)
    show: QRect | None = None        # "Show" on a blurred one
    tags: QRect | None = None        # the photo library's tags under it
    edited: QRect | None = None      # "edited": click for the earlier versions


_FONTS: dict[str, tuple[QFont, QFont, QFont]] = {}


def fonts(base: QFont) -> tuple[QFont, QFont, QFont]:
    """(body, bold, small) for a view's font; made once per font (every paint asks)."""
    key = base.key()
    got = _FONTS.get(key)
    if got is None:
        got = _FONTS[key] = _make_fonts(base)
    return got


def _make_fonts(base: QFont) -> tuple[QFont, QFont, QFont]:
    body = QFont(base)
    body.setPixelSize(14)
    bold = QFont(body)
    bold.setWeight(QFont.DemiBold)
    small = QFont(base)
    small.setPixelSize(12)
    return body, bold, small


def edited_word(m) -> str:
    """"edited", or "saving edit…" while our edit is queued (its text shows already)."""
    return "saving edit…" if m.edit_pending else "edited"


def body_text(line) -> str:
    m = line.msg
    if m.status == "withheld":
        return f"⚠ Message #{m.msg_id} was withheld by the server"
    if m.status == "bad":
        return f"⚠ Message #{m.msg_id} was refused: {m.error_code or 'it did not verify'}"
    if m.type == "attachment":
        return ""
    if m.type in ("join", "leave", "metadata", "system", "headline"):
        return f"— {m.text or m.type}"
    return m.text or ""


def layout(rect: QRect, line, base: QFont) -> Parts:
    """Every part of one row, in view coordinates (rect is the row's)."""
    body_f, bold_f, small_f = fonts(base)
    fb, fs = QFontMetrics(body_f), QFontMetrics(small_f)
    x0 = rect.left() + PAD_L + GUTTER
    w = max(80, rect.width() - PAD_L - GUTTER - PAD_R)
    y = rect.top() + 2
    p = Parts(0)
    if line.msg is None:                          # a gap line
        p.note = QRect(rect.left() + PAD_L, y + 4, rect.width() - PAD_L - PAD_R, fs.height() + 10)
        p.height = p.note.bottom() - rect.top() + 6
        return p
    m = line.msg
    if line.day:
        p.day = QRect(rect.left() + PAD_L, y + 6, rect.width() - PAD_L - PAD_R, fs.height() + 6)
        y = p.day.bottom() + 8
    if line.head:
        y += 6
        p.head = QRect(x0, y, w, QFontMetrics(bold_f).height())
        y = p.head.bottom() + 2
    if line.quote:
        p.quote = QRect(x0, y + 2, w, fs.height() + 4)
        y = p.quote.bottom() + 4
    text = body_text(line)
    if text:
        h = fb.boundingRect(QRect(0, 0, w, BIG), Qt.TextWordWrap, text).height()
        p.body = QRect(x0, y, w, max(h, fb.height()))
        y = p.body.bottom() + 2
    if m.edited and m.status == "ok" and m.msg_id is not None:
        ew = fs.horizontalAdvance(edited_word(m)) + 8
        anchor = p.head or p.body
        if anchor is not None:
            p.edited = QRect(x0 + w - ew, anchor.top(), ew, fs.height() + 2)
    img = getattr(line, "image", None)
    if img is not None and m.status == "ok":
        iw, ih = img.box(w)
        p.image = QRect(x0, y + 4, iw, ih)
        y = p.image.bottom() + 2
        if img.blurred and not img.refused:
            sw = fs.horizontalAdvance("Show") + 28
            p.show = QRect(p.image.center().x() - sw // 2, p.image.center().y() - 14, sw, 28)
        if img.tags:
            p.tags = QRect(x0, y + 2, max(iw, min(w, 360)), fs.height() + 4)
            y = p.tags.bottom() + 2
    if m.type == "attachment" and m.status in ("ok", "pending", "sending", "failed", "sent"):
        p.file = QRect(x0, y + 4, min(w, 360), 46)
        y = p.file.bottom() + 4
    if m.status == "ok" and m.msg_id is not None:
        cx = x0
        for emoji, who in (m.reactions or {}).items():
            label = f"{emoji} {len(who)}"
            cw = fs.horizontalAdvance(label) + 18
            p.chips.append((QRect(cx, y + 4, cw, 22), emoji, len(who), None))
            cx += cw + 6
        if p.chips:
            p.add_chip = QRect(cx, y + 4, 30, 22)
            y += 30
        if m.replies:
            p.thread = QRect(x0, y + 2, fs.horizontalAdvance(f"{m.replies} replies ›") + 8, fs.height() + 4)
            y = p.thread.bottom() + 2
    if m.status in ("pending", "sending", "failed", "sent"):
        p.state = QRect(x0, y + 2, w, fs.height() + 4)
        if stuck(m):
            rw = 0 if refused(m) else fs.horizontalAdvance("Retry") + 20
            dw = fs.horizontalAdvance("Delete") + 20
            state_w = fs.horizontalAdvance(_state_text(m)) + 12
            left = x0 + min(state_w, w - rw - dw - 12)
            p.retry = QRect(left, y + 1, rw, fs.height() + 8) if rw else None
            p.delete = QRect((p.retry.right() + 8) if p.retry else left, y + 1, dw, fs.height() + 8)
            y = p.delete.bottom() + 2
        else:
            y = p.state.bottom() + 2
    p.height = y - rect.top() + 4
    if p.head:
        p.height = max(p.height, p.head.top() - rect.top() + 36)     # the avatar disc
    return p


_RECTS = ("day", "head", "quote", "body", "file", "add_chip", "thread", "state", "retry", "delete", "note",
          "image", "show", "tags", "edited")


def moved(p: Parts, dx: int, dy: int) -> Parts:
    """A copy of `p` with every rect moved by (dx, dy)."""
    out = Parts(p.height, chips=[(r.translated(dx, dy), e, n, m) for r, e, n, m in p.chips])
    for name in _RECTS:
        r = getattr(p, name)
        if r is not None:
            setattr(out, name, r.translated(dx, dy))
    return out


def countdown(secs: float) -> str:
    s = max(0, int(secs))
    if s >= 86400:
        return f"{s // 86400} d {s % 86400 // 3600} h"
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 60}:{s % 60:02d}"


def disc(p: QPainter, r: QRect, name: str, base: QFont) -> None:
    """The People page's avatar (a coloured disc with the first letter), painted."""
    n = int.from_bytes(hashlib.sha256(name.encode()).digest()[:2], "big") % 5 + 1
    p.setBrush(QColor(theme.colour(f"avatar-{n}")))
    p.setPen(Qt.NoPen)
    p.drawEllipse(QRectF(r))
    p.setPen(QColor("#ffffff"))
    f = QFont(base)
    f.setPixelSize(int(r.height() * 0.42))
    f.setBold(True)
    p.setFont(f)
    p.drawText(r, Qt.AlignCenter, (name[:1] or "?").upper())


def stuck(m) -> bool:
    """Not sent and needing the user: refused (failed), or waiting after a failed try (the
    server unreachable: the outbox retries by itself, Retry does it now)."""
    return m.msg_id is None and (m.status == "failed" or (m.status == "pending" and bool(m.error)))


def refused(m) -> bool:
    """The server refused it for good (not a member, not allowed): Retry would not help."""
    return m.error_code == "CHAT_OUTBOX_REFUSED"


def _state_text(m) -> str:
    if refused(m):
        return "Not sent, refused" + (f": {m.error}" if m.error else "")
    if m.status == "failed":
        return "Not sent" + (f": {m.error}" if m.error else "")
    if stuck(m):
        return f"Not sent yet, will retry: {m.error}"
    return "Sending…" if m.status in ("pending", "sending") else "Sent"


def signature(line) -> tuple:
    """What a row's height depends on (rows hold dicts: not hashable themselves)."""
    m = line.msg
    if m is None:
        return (line.key, line.note)
    return (line.key, line.day, line.head, line.quote, m.text, m.status, m.error, m.type, m.replies,
            tuple((k, len(v)) for k, v in (m.reactions or {}).items()), getattr(line, "image", None))


class TimelineDelegate(QStyledItemDelegate):
    """Paints rows; emits what a click on a painted part asks for."""

    retryClicked = Signal(str)              # outbox id
    discardClicked = Signal(str)            # outbox id
    reactionClicked = Signal(int, str)      # msg id, emoji (toggle mine)
    addReactionClicked = Signal(int, object)    # msg id, global point
    threadClicked = Signal(int)             # root msg id
    quoteClicked = Signal(int)              # the replied-to msg id
    fileClicked = Signal(int)               # msg id of an attachment
    showClicked = Signal(int)               # msg id of a blurred image: reveal it
    editedClicked = Signal(int)             # msg id of an edited message: its earlier versions

    def __init__(self, view, me: str = ""):
        super().__init__(view)
        self.view = view
        self.me = me
        self.spin = 0                        # the pending spinner's phase (the page's timer turns it)
        self.progress: dict[str, float] = {}  # outbox id -> upload fraction
        self._heights: dict[tuple, int] = {}
        self._sized: dict[int, tuple] = {}     # id(row) -> (row, width, height): no signature per ask
        self._laid: dict[int, tuple] = {}      # id(row) -> (row, width, Parts at 0,0) for painting
        self.clock = time.time                 # the exploding countdown's clock (tests move it)
        self.images = None                     # PreviewCache (images.py), set by the page

    def _width(self, option) -> int:
        return self.view.viewport().width() if self.view is not None else option.rect.width()

    def _parts(self, rect: QRect, line, font: QFont) -> Parts:
        """layout() of a row, kept per row object and width (a row unchanged by a reload keeps
        its object: the model replaces only rows that differ) and moved to where it is drawn."""
        w = rect.width()
        got = self._laid.get(id(line))
        if got is None or got[0] is not line or got[1] != w:
            if len(self._laid) > 4000:
                self._laid.clear()
            got = self._laid[id(line)] = (line, w, layout(QRect(0, 0, w, rect.height()), line, font))
        return moved(got[2], rect.left(), rect.top())

    def sizeHint(self, option, index) -> QSize:
        line = index.data(ObjectRole)
        if line is None:
            return QSize(0, 0)
        w = self._width(option)
        seen = self._sized.get(id(line))
        if seen is not None and seen[0] is line and seen[1] == w:
            return QSize(w, seen[2])
        if len(self._sized) > 50_000:
            self._sized.clear()
        k = (w, signature(line))
        h = self._heights.get(k)
        if h is None:
            if len(self._heights) > 50_000:
                self._heights.clear()
            h = self._heights[k] = layout(QRect(0, 0, w, BIG), line, option.font).height
        self._sized[id(line)] = (line, w, h)
        return QSize(w, h)

    # -- painting -----------------------------------------------------------------------------

    def paint(self, painter: QPainter, option, index) -> None:
        line = index.data(ObjectRole)
        if line is None:
            return
        p = painter
        p.save()
        p.setRenderHint(QPainter.Antialiasing)
        body_f, bold_f, small_f = fonts(option.font)
        parts = self._parts(option.rect, line, option.font)
        c = theme.colour
        if line.msg is None:
            p.setPen(QPen(QColor(c("warn-border"))))
            p.setBrush(QColor(c("warn-bg")))
            p.drawRoundedRect(QRectF(parts.note), 6, 6)
            p.setFont(small_f)
            p.setPen(QColor(c("warn")))
            p.drawText(parts.note.adjusted(10, 0, -10, 0), Qt.AlignVCenter | Qt.TextSingleLine,
                       f"⚠ Gap: {line.note} (the server did not hand them over)")
            p.restore()
            return
        m = line.msg
        if option.state & QStyle.State_MouseOver:
            p.fillRect(option.rect, QColor(c("surface-alt")))
        if parts.day:
            p.setFont(small_f)
            p.setPen(QColor(c("border")))
            mid = parts.day.center().y()
            tw = QFontMetrics(small_f).horizontalAdvance(line.day) + 24
            cx = parts.day.center().x()
            p.drawLine(parts.day.left(), mid, cx - tw // 2, mid)
            p.drawLine(cx + tw // 2, mid, parts.day.right(), mid)
            p.setPen(QColor(c("text-muted")))
            p.drawText(parts.day, Qt.AlignCenter | Qt.TextSingleLine, line.day)
        if parts.head:
            self._paint_head(p, parts, line, option, bold_f, small_f)
        if parts.quote:
            p.setPen(Qt.NoPen)
            p.setBrush(QColor(c("accent")))
            p.drawRect(QRect(parts.quote.left(), parts.quote.top(), 3, parts.quote.height()))
            p.setFont(small_f)
            p.setPen(QColor(c("text-muted")))
            fm = QFontMetrics(small_f)
            q = fm.elidedText("↪ " + line.quote.replace("\n", " "), Qt.ElideRight, parts.quote.width() - 10)
            p.drawText(parts.quote.adjusted(8, 0, 0, 0), Qt.AlignVCenter | Qt.TextSingleLine, q)
        if parts.body:
            p.setFont(body_f)
            grey = m.status in ("pending", "sending") or m.status in ("withheld", "bad")
            colour = "warn" if m.status in ("withheld", "bad") else "text-muted" if grey else "text"
            if m.type in ("join", "leave", "metadata", "system", "headline"):
                colour = "text-muted"
            p.setPen(QColor(c(colour)))
            p.drawText(parts.body, Qt.TextWordWrap | Qt.AlignLeft | Qt.AlignTop, body_text(line))
        if parts.edited:
            p.setFont(small_f)
            p.setPen(QColor(c("text-muted" if m.edit_pending else "link")))
            p.drawText(parts.edited, Qt.AlignRight | Qt.AlignVCenter | Qt.TextSingleLine, edited_word(m))
        if parts.image:
            self._paint_image(p, parts, line.image, small_f)
        if parts.file:
            self._paint_file(p, parts.file, m, small_f, body_f)
        fs = QFontMetrics(small_f)
        self._paint_extras(p, parts, m, small_f)
        if parts.state:
            self._paint_state(p, parts, m, small_f, fs)
        p.restore()

    def _paint_head(self, p, parts: Parts, line, option, bold_f, small_f) -> None:
        """Avatar, name (red when the identity broke), badge, time, edited, countdown."""
        c = theme.colour
        m = line.msg
        disc(p, QRect(option.rect.left() + PAD_L, parts.head.top(), 32, 32), m.sender, option.font)
        p.setFont(bold_f)
        p.setPen(QColor(c("bad" if line.badge == "broken" else "text")))
        name = m.sender or "?"
        p.drawText(parts.head, Qt.AlignLeft | Qt.AlignVCenter | Qt.TextSingleLine, name)
        x = parts.head.left() + QFontMetrics(bold_f).horizontalAdvance(name) + 6
        p.setFont(small_f)
        if line.badge:
            ok = line.badge == "verified"
            mark = "✓" if ok else "✗ identity broken"
            p.setPen(QColor(c("ok" if ok else "bad")))
            p.drawText(QRect(x, parts.head.top(), 200, parts.head.height()), Qt.AlignVCenter, mark)
            x += QFontMetrics(small_f).horizontalAdvance(mark) + 8
        p.setPen(QColor(c("text-faint")))
        when = time.strftime("%H:%M", time.localtime(m.ctime))
        boom = getattr(m, "explodes_at", None)
        if boom is not None:
            p.setPen(QColor(c("warn")))
            when += "  · 💣 " + countdown(boom - self.clock())
        p.drawText(QRect(x, parts.head.top(), 400, parts.head.height()), Qt.AlignVCenter, when)

    def _paint_extras(self, p, parts: Parts, m, small_f) -> None:
        """Reaction chips (yours highlighted), the + chip and the thread link."""
        c = theme.colour
        for r, emoji, n, _ in parts.chips:
            mine = self.me in (m.reactions or {}).get(emoji, [])
            p.setPen(QPen(QColor(c("accent" if mine else "border"))))
            p.setBrush(QColor(c("accent-soft" if mine else "surface")))
            p.drawRoundedRect(QRectF(r), 11, 11)
            p.setFont(small_f)
            p.setPen(QColor(c("text")))
            p.drawText(r, Qt.AlignCenter, f"{emoji} {n}")
        if parts.add_chip:
            p.setPen(QPen(QColor(c("border"))))
            p.setBrush(Qt.NoBrush)
            p.drawRoundedRect(QRectF(parts.add_chip), 11, 11)
            p.setPen(QColor(c("text-muted")))
            p.drawText(parts.add_chip, Qt.AlignCenter, "+")
        if parts.thread:
            p.setFont(small_f)
            p.setPen(QColor(c("link")))
            p.drawText(parts.thread, Qt.AlignVCenter | Qt.AlignLeft, f"{m.replies} replies ›")

    def _paint_image(self, p, parts: Parts, img, small_f) -> None:
        """The preview (decoded off the Qt thread; blurred pixels for a sensitive one), "Show"
        on a blurred one, a note when it is refused, and its tags under it."""
        c = theme.colour
        r = parts.image
        pm = None if img.refused or self.images is None else self.images.get(img.path, img.blurred)
        if pm is not None:
            p.drawPixmap(r, pm)
        else:
            p.setPen(QPen(QColor(c("border"))))
            p.setBrush(QColor(c("surface-alt")))
            p.drawRoundedRect(QRectF(r), 6, 6)
            p.setFont(small_f)
            p.setPen(QColor(c("warn" if img.refused else "text-faint")))
            why = (self.images.failed.get(img.path) if self.images is not None else None) or img.refused
            p.drawText(r.adjusted(8, 4, -8, -4), Qt.AlignCenter | Qt.TextWordWrap,
                       f"⚠ {why}" if why else "Loading the image…")
        if parts.show:
            p.setPen(Qt.NoPen)
            p.setBrush(QColor(0, 0, 0, 150))
            p.drawRoundedRect(QRectF(parts.show), 14, 14)
            p.setFont(small_f)
            p.setPen(QColor("#ffffff"))
            p.drawText(parts.show, Qt.AlignCenter, "Show")
            note = "Not checked yet" if img.unchecked else "May be sensitive"
            p.drawText(QRect(r.left(), parts.show.bottom() + 4, r.width(), 18), Qt.AlignHCenter | Qt.AlignTop,
                       note)
        if parts.tags:
            p.setFont(small_f)
            p.setPen(QColor(c("text-muted")))
            fm = QFontMetrics(small_f)
            p.drawText(parts.tags, Qt.AlignLeft | Qt.AlignVCenter | Qt.TextSingleLine,
                       fm.elidedText("🏷 " + " · ".join(img.tags), Qt.ElideRight, parts.tags.width()))

    def _paint_file(self, p, r: QRect, m, small_f, body_f) -> None:
        c = theme.colour
        p.setPen(QPen(QColor(c("border"))))
        p.setBrush(QColor(c("surface")))
        p.drawRoundedRect(QRectF(r), 8, 8)
        a = m.attachment or {}
        name = a.get("name") or m.text or "file"
        p.setFont(body_f)
        p.setPen(QColor(c("text")))
        fm = QFontMetrics(body_f)
        p.drawText(r.adjusted(12, 5, -12, -22), Qt.AlignLeft | Qt.AlignVCenter | Qt.TextSingleLine,
                   fm.elidedText("📎 " + str(name), Qt.ElideMiddle, r.width() - 24))
        p.setFont(small_f)
        frac = self.progress.get(m.outbox_id or "") if m.msg_id is None else None
        if frac is not None:
            bar = QRect(r.left() + 12, r.bottom() - 14, r.width() - 24, 6)
            p.setPen(Qt.NoPen)
            p.setBrush(QColor(c("border")))
            p.drawRoundedRect(QRectF(bar), 3, 3)
            p.setBrush(QColor(c("accent")))
            p.drawRoundedRect(QRectF(bar.adjusted(0, 0, -int(bar.width() * (1 - frac)), 0)), 3, 3)
            return
        p.setPen(QColor(c("text-muted")))
        what = (a.get("mime") or "") + (f" · {human_size(a.get('size'))}" if a.get("size") else "")
        p.drawText(r.adjusted(12, 24, -12, -4), Qt.AlignLeft | Qt.AlignVCenter | Qt.TextSingleLine,
                   what + ("  ·  click to save" if m.msg_id is not None else ""))

    def _paint_state(self, p, parts: Parts, m, small_f, fs) -> None:
        c = theme.colour
        p.setFont(small_f)
        failed = stuck(m)
        p.setPen(QColor(c("bad" if failed else "text-faint")))
        text = _state_text(m)
        x = parts.state.left()
        if not failed and m.status != "sent":           # the spinner: an arc turning with self.spin
            arc = QRectF(x + 1, parts.state.center().y() - 5, 10, 10)
            p.setPen(QPen(QColor(c("text-faint")), 1.6))
            p.drawArc(arc, -self.spin * 16 * 30, 270 * 16)
            x += 16
        first = parts.retry or parts.delete
        end = first.left() - 8 if first else parts.state.right()
        p.setPen(QColor(c("bad" if failed else "text-faint")))
        p.drawText(QRect(x, parts.state.top(), end - x, parts.state.height()), Qt.AlignVCenter | Qt.TextSingleLine,
                   fs.elidedText(text, Qt.ElideRight, end - x))
        for r, word, tok in ((parts.retry, "Retry", "accent"), (parts.delete, "Delete", "bad")):
            if r is None:
                continue
            p.setPen(QPen(QColor(c(tok))))
            p.setBrush(Qt.NoBrush)
            p.drawRoundedRect(QRectF(r), 6, 6)
            p.drawText(r, Qt.AlignCenter, word)

    # -- clicks -------------------------------------------------------------------------------

    def hit(self, rect: QRect, line, pos: QPointF, font: QFont) -> tuple[str, object] | None:
        """What a click at `pos` means: ("retry", outbox id), ("chip", emoji), ... or None."""
        if line is None or line.msg is None:
            return None
        parts = layout(rect, line, font)
        pt = pos.toPoint()
        m = line.msg
        if parts.retry and parts.retry.contains(pt):
            return "retry", m.outbox_id
        if parts.delete and parts.delete.contains(pt):
            return "discard", m.outbox_id
        for r, emoji, _, _ in parts.chips:
            if r.contains(pt):
                return "chip", emoji
        if parts.add_chip and parts.add_chip.contains(pt):
            return "add", None
        if parts.thread and parts.thread.contains(pt):
            return "thread", m.msg_id
        if parts.quote and parts.quote.contains(pt):
            return "quote", m.reply_to
        if parts.image and parts.image.contains(pt) and line.image.blurred and not line.image.refused:
            return "show", m.msg_id                # blurred until clicked
        if parts.edited and parts.edited.contains(pt) and not m.edit_pending:
            return "edited", m.msg_id
        if parts.file and parts.file.contains(pt) and m.msg_id is not None:
            return "file", m.msg_id
        return None

    def editorEvent(self, event, model, option, index) -> bool:
        if event.type() != QEvent.MouseButtonRelease or event.button() != Qt.LeftButton:
            return False
        line = index.data(ObjectRole)
        got = self.hit(option.rect, line, event.position(), option.font)
        if got is None:
            return False
        what, value = got
        m = line.msg
        if what == "retry":
            self.retryClicked.emit(value)
        elif what == "discard":
            self.discardClicked.emit(value)
        elif what == "chip":
            self.reactionClicked.emit(m.msg_id, value)
        elif what == "add":
            self.addReactionClicked.emit(m.msg_id, event.globalPosition().toPoint())
        elif what == "thread":
            self.threadClicked.emit(value)
        elif what == "quote":
            self.quoteClicked.emit(value)
        elif what == "file":
            self.fileClicked.emit(value)
        elif what == "show":
            self.showClicked.emit(value)
        elif what == "edited":
            self.editedClicked.emit(value)
        return True
