"""The Chat page's models and delegate on their own: qtmodeltester, in-place updates, the
problem lines (withheld, refused, gap), grouping, and markup in names and topics."""

from __future__ import annotations

import time

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QListView, QStyleOptionViewItem

from kbapp.client.chat.models import ConvTimeline, ConvView, MessageView, Problem
from kbapp.gui.models import ObjectRole
from kbapp.gui.pages.chat.delegate import TimelineDelegate, layout
from kbapp.gui.pages.chat.models import ConvListModel, TimelineModel, build_lines, conv_items
from kbapp.gui.plain import might_be_rich

EVIL = '<img src=x> <a href="http://evil.example/">x</a> <b>bold</b>'


def conv(name, kind="implicit", channel="general", topic="", unread=0, muted=False, last=1, cid=None):
    return ConvView(name=name, conv_id=cid or (name.encode().hex() + "0" * 32)[:32], team_id="t" * 32, kind=kind,
                    channel=channel, topic=topic, unread=unread, muted=muted, last_msg_id=last, read_upto=0)


def msg(i, sender="bob", text="hi", status="ok", t=None, **kw):
    return MessageView(msg_id=i, sender=sender, type="text", text=text if status == "ok" else None,
                       ctime=t if t is not None else int(time.time()) - 100 + i, status=status, **kw)


def timeline(messages, problems=()):
    return ConvTimeline(conv("alice,bob"), list(messages), list(problems))


def test_conversation_list_groups_and_filters(qtmodeltester, qloop):
    m = ConvListModel()
    convs = [conv("alice,bob", unread=2), conv("acme#general", "team", cid="a" * 32),
             conv("acme#random", "team", "random", topic=EVIL, cid="b" * 32, muted=True)]
    m.set_items(conv_items(convs, me="alice"))
    qtmodeltester.check(m)
    assert [m.index(r).data() for r in range(m.rowCount())] == [
        "Direct messages", "bob (2)", "acme", "#general", "#random"]
    assert not m.flags(m.index(0)) & Qt.ItemIsSelectable
    # a topic with markup: the tooltip shows the characters
    tip = m.index(4).data(Qt.ToolTipRole)
    assert EVIL in tip.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    assert not might_be_rich(tip) or tip.startswith("<p style='white-space:pre-wrap'>&lt;") or "&lt;img" in tip
    # collapse a team, then filter: rows removed and inserted in place (no reset)
    resets = []
    m.modelReset.connect(lambda: resets.append(1))
    m.set_items(conv_items(convs, collapsed={"acme"}))
    assert m.rowCount() == 3
    m.set_items(conv_items(convs, needle="rand"))
    assert [m.index(r).data() for r in range(m.rowCount())] == ["acme", "#random"]
    assert not resets
    qtmodeltester.check(m)


def test_timeline_lines_group_and_show_problems(qtmodeltester, qloop):
    now = time.time()
    day0 = int(now) - 2 * 86400
    msgs = [msg(1, "bob", "old", t=day0), msg(2, "bob", "same group", t=day0 + 10),
            msg(3, "alice", "other sender", t=day0 + 20), msg(5, status="withheld", t=int(now) - 50),
            msg(6, status="bad", error_code="CHAT_BAD_SIG", t=int(now) - 40),
            msg(7, "bob", "a reply", t=int(now) - 30, reply_to=3)]
    lines = build_lines(timeline(msgs, [Problem(4, "CHAT_GAP", "messages 4 to 4 are missing")]), me="alice",
                        badges={"bob": "verified", "alice": "broken"}, now=now)
    keys = [ln.key for ln in lines]
    assert keys == ["m:1", "m:2", "m:3", "g:4", "m:5", "m:6", "m:7"]
    assert lines[0].day and not lines[1].day and lines[1].head is False and lines[2].head is True
    assert lines[4].day == "Today"
    assert lines[6].quote == "alice: other sender"
    assert lines[2].mine and lines[2].badge == "broken" and lines[0].badge == "verified"
    model = TimelineModel()
    model.set_items(lines)
    qtmodeltester.check(model)
    words = [model.index(r).data() for r in range(model.rowCount())]
    assert words[3].startswith("gap: messages 4 to 4")
    assert words[4] == "message #5 withheld by the server"
    assert words[5] == "message #6 refused (CHAT_BAD_SIG)"
    # a new message: one row inserted at the end, the others keep their identity
    inserted = []
    model.rowsInserted.connect(lambda _p, a, b: inserted.append((a, b)))
    model.set_items(build_lines(timeline(msgs + [msg(8, "bob", "new")],
                                         [Problem(4, "CHAT_GAP", "messages 4 to 4 are missing")]),
                                me="alice", now=now))
    assert inserted == [(7, 7)]
    qtmodeltester.check(model)


def test_painted_rows_draw_plain_text_and_problem_lines(qtbot, qloop, monkeypatch):
    view = QListView()
    view.resize(700, 500)
    model = TimelineModel()
    view.setModel(model)
    d = TimelineDelegate(view, "alice")
    view.setItemDelegate(d)
    msgs = [msg(1, "bob", EVIL, reactions={"👍": ["alice", "bob"]}, replies=2), msg(3, status="withheld"),
            MessageView(None, "alice", "text", "pending one", int(time.time()), "pending", error="NETWORK: down",
                        outbox_id="o1")]
    model.set_items(build_lines(timeline(msgs, [Problem(2, "CHAT_GAP", "messages 2 to 2 are missing")]),
                                me="alice", badges={"bob": "verified"}))
    drawn = []
    real = QPainter.drawText
    monkeypatch.setattr(QPainter, "drawText", lambda self, *a: (drawn.append(a[-1]), real(self, *a))[1])
    img = QImage(700, 1200, QImage.Format_ARGB32)
    p = QPainter(img)
    y = 0
    for r in range(model.rowCount()):
        opt = QStyleOptionViewItem()
        opt.font = view.font()
        idx = model.index(r)
        h = d.sizeHint(opt, idx).height()
        opt.rect = QRect(0, y, 700, h)
        d.paint(p, opt, idx)
        y += h
    p.end()
    assert EVIL in drawn                                   # the characters, not a rendering of them
    assert "👍 2" in drawn and "2 replies ›" in drawn
    assert any(s.startswith("⚠ Gap: messages 2 to 2 are missing") for s in drawn)
    assert "⚠ Message #3 was withheld by the server" in drawn
    assert "Retry" in drawn and "Delete" in drawn
    # the same layout answers clicks: Retry of the stuck outbox entry
    ln = model.index(3).data(ObjectRole)
    parts = layout(QRect(0, 0, 700, 200), ln, view.font())
    assert d.hit(QRect(0, 0, 700, 200), ln, parts.retry.center().toPointF(), view.font()) == ("retry", "o1")


def test_links_open_from_the_menu_that_shows_their_real_target(qloop):
    """A link written as markup opens nowhere by itself; the message's menu names the real
    target in full (an '&' is not taken for a keyboard accelerator)."""
    from types import SimpleNamespace

    from kbapp.gui.pages.chat.actions import ChatActions, links
    from kbapp.gui.pages.chat.models import Line

    text = '<a href="http://evil.example/?a=1&b=2">https://bank.example</a>'
    assert links(text) == ["http://evil.example/?a=1&b=2", "https://bank.example"]
    page = SimpleNamespace(model=SimpleNamespace(timeline=None))
    ln = Line("m:1", msg(1, "bob", text))
    menu = [a[0] for a in ChatActions.menu_actions(page, ln) if a]
    assert "Open link: http://evil.example/?a=1&&b=2" in menu and "Open link: https://bank.example" in menu


def test_an_entry_refused_for_good_offers_delete_but_no_retry(qloop):
    view = QListView()
    view.resize(700, 400)
    refused = MessageView(None, "alice", "text", "hello", int(time.time()), "failed", error="not a writer",
                          error_code="CHAT_OUTBOX_REFUSED", outbox_id="o2")
    ln = build_lines(timeline([refused]), me="alice")[0]
    parts = layout(QRect(0, 0, 700, 200), ln, view.font())
    assert parts.retry is None and parts.delete is not None
    d = TimelineDelegate(view, "alice")
    assert d.hit(QRect(0, 0, 700, 200), ln, parts.delete.center().toPointF(), view.font()) == ("discard", "o2")


def test_a_big_timeline_load_is_kept_out_of_full_collections(qtbot, qloop):
    """gcpolicy (bench chat-gui's slowest frame was a full collection walking the loaded rows):
    1,000 rows more than last time are frozen at the next turn of the loop; a small reload
    is not (no freeze per message); frozen rows are still freed when the model drops them."""
    import gc
    import weakref

    m = TimelineModel()
    m.set_items(build_lines(timeline([msg(i, text=f"m{i}") for i in range(1, 200)]), me="alice"))
    qtbot.wait(20)
    small = {id(x) for x in gc.get_objects()}
    assert id(m.items[5]) in small                     # 199 rows: still with the collector
    m.set_items(build_lines(timeline([msg(i, text=f"m{i}") for i in range(1, 1300)]), me="alice"))
    row = m.items[700]
    rid = id(row)
    assert rid in {id(x) for x in gc.get_objects()}
    qtbot.waitUntil(lambda: rid not in {id(x) for x in gc.get_objects()}, timeout=2000)   # frozen
    ref = weakref.ref(row)
    del row
    m.set_items([])
    assert ref() is None                               # reference counting still frees frozen rows


def test_an_entry_sent_and_not_yet_stored_offers_neither_retry_nor_delete(qloop):
    """A posted entry reads as sent until a sync stores it (service.read lists it): it is no
    longer the outbox's to retry or drop (both refused it with NotFound from the menu)."""
    from types import SimpleNamespace

    from kbapp.gui.pages.chat.actions import ChatActions
    from kbapp.gui.pages.chat.models import Line

    page = SimpleNamespace(model=SimpleNamespace(timeline=None))
    for status, offered in (("sent", False), ("pending", True), ("failed", True)):
        m = MessageView(None, "alice", "text", "hello", int(time.time()), status, outbox_id="o3")
        menu = [a[0] for a in ChatActions.menu_actions(page, Line("o:o3", m)) if a]
        assert ("Retry now" in menu, "Delete (never send)" in menu) == (offered, offered), (status, menu)
