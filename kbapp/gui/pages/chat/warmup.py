"""One made-up row measured and painted into an image when a timeline view is made.

The first real paint paid ~20 ms of one-off costs on the Qt thread (PySide's enums made on
first use, the fonts' metrics loaded, the theme's colours read): in `kbapp bench chat-gui`
that was the first message's reload, the longest CPU gap of the arrivals. Paying it while
the page is built (start-up) keeps it out of the moment a message arrives.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QRect
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QStyleOptionViewItem


def warm(view, delegate) -> None:
    """sizeHint and paint of one row with the painted parts most rows have (a day line, a
    head, a quote, reaction chips, a thread link); nothing is shown, the row is dropped."""
    from kbapp.client.chat.models import ConvTimeline, ConvView, MessageView

    from .models import TimelineModel, build_lines

    now = int(time.time())
    msgs = [MessageView(1, "alice", "text", "warm", now - 60, "ok"),
            MessageView(2, "bob", "text", "warm up https://example.org", now, "ok", edited=True, reply_to=1,
                        replies=1, reactions={"👍": ["alice"]})]
    conv = ConvView("alice,bob", "0" * 32, "0" * 32, "implicit", "general", "", 0, False, 0, 0)
    model = TimelineModel()
    model.set_items(build_lines(ConvTimeline(conv, msgs, []), me="alice"))
    opt = QStyleOptionViewItem()
    view.initViewItemOption(opt)
    img = QImage(640, 400, QImage.Format_ARGB32_Premultiplied)
    p = QPainter(img)
    try:
        y = 0
        for row in range(model.rowCount()):
            idx = model.index(row)
            h = delegate.sizeHint(opt, idx).height()
            opt.rect = QRect(0, y, 640, h)
            delegate.paint(p, opt, idx)
            y += h
    finally:
        p.end()
