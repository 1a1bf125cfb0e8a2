"""The Chat page (issue 15) with two real profiles on one real embedded server.

alice's window runs the server; bob's window is another profile on it. Messages go out
through each one's engine and arrive by push (the chat hint wakes a sync): nothing here
polls or switches pages to see a message.
"""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from chat_gui_support import idle, line_with, lines, open_dm, texts, two_windows, type_and_enter, click_part
from gui_support import TIMEOUT_MS


def test_send_receive_edit_react_reply_thread(qtbot, qtmodeltester, alice_window, make_window, tmp_path, run):
    wa, wb = two_windows(alice_window, make_window, tmp_path, qtbot)
    a, b = wa.shell.chat, wb.shell.chat
    open_dm(qtbot, run, a, "alice,bob")
    qtmodeltester.check(a.model)
    qtmodeltester.check(a.conv_model)

    # Enter sends; Shift+Enter is a new line
    edit = a.composer.edit
    edit.setFocus()
    qtbot.keyClicks(edit, "hello bob")
    qtbot.keyClick(edit, Qt.Key_Return, Qt.ShiftModifier)
    qtbot.keyClicks(edit, "second line")
    assert edit.toPlainText() == "hello bob\nsecond line"
    qtbot.keyClick(edit, Qt.Key_Return)
    assert edit.toPlainText() == ""
    qtbot.waitUntil(lambda: (ln := line_with(a, "hello bob\nsecond line")) is not None and ln.msg.status == "ok",
                    timeout=TIMEOUT_MS)

    # bob opens the DM (as New does) and sees the message: fetched on opening
    open_dm(qtbot, run, b, "alice,bob")
    qtbot.waitUntil(lambda: "hello bob\nsecond line" in texts(b) and idle(b), timeout=TIMEOUT_MS)
    qtmodeltester.check(b.model)

    # bob answers; alice sees it live (no reload asked for)
    type_and_enter(qtbot, b.composer.edit, "hi alice")
    qtbot.waitUntil(lambda: "hi alice" in texts(a), timeout=TIMEOUT_MS)

    # Up edits alice's last message: her row reads as edited at once (the post held back here),
    # and never leaves or reads as before while the edit goes out and her sync judges it
    seen = watch_row(a.model, line_with(a, "hello bob\nsecond line").key)
    gate, api = asyncio.Event(), a.app.chat.ctx.api
    real_post = api.chat_post

    async def held_post(*args, **kw):
        await gate.wait()
        return await real_post(*args, **kw)
    api.chat_post = held_post
    edit.setFocus()
    qtbot.keyClick(edit, Qt.Key_Up)
    assert a.editing is not None and edit.toPlainText() == "hello bob\nsecond line"
    edit.selectAll()
    qtbot.keyClicks(edit, "hello bob (fixed)")
    qtbot.keyClick(edit, Qt.Key_Return)
    qtbot.waitUntil(lambda: (ln := line_with(a, "hello bob (fixed)")) is not None and ln.msg.edit_pending,
                    timeout=TIMEOUT_MS)
    assert line_with(b, "hello bob\nsecond line") is not None          # the server has not got it
    gate.set()
    api.chat_post = real_post
    qtbot.waitUntil(lambda: (ln := line_with(b, "hello bob (fixed)")) is not None and ln.msg.edited,
                    timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: (ln := line_with(a, "hello bob (fixed)")) is not None and not ln.msg.edit_pending
                    and ln.msg.edited, timeout=TIMEOUT_MS)
    assert [w for w, _t in seen if w in ("removed", "reset")] == [] and None not in [t for _w, t in seen]
    shown = [t for _w, t in seen]
    assert shown[shown.index("hello bob (fixed)"):] == ["hello bob (fixed)"] * (len(shown) - shown.index(
        "hello bob (fixed)")), shown

    # bob reacts with a click on the chip picker's first emoji; alice's chip shows it; she clicks it too
    first = line_with(b, "hello bob (fixed)").msg.msg_id
    b.react(first, "👍")
    qtbot.waitUntil(lambda: line_with(a, "hello bob (fixed)").msg.reactions.get("👍") == ["bob"], timeout=TIMEOUT_MS)
    row = a.model.index_of_msg(first).row()
    click_part(qtbot, a, a.timeline, row, "chip")
    qtbot.waitUntil(lambda: sorted(line_with(b, "hello bob (fixed)").msg.reactions.get("👍", [])) == ["alice", "bob"],
                    timeout=TIMEOUT_MS)
    # clicking her own chip again takes hers back
    qtbot.waitUntil(lambda: idle(a), timeout=TIMEOUT_MS)
    click_part(qtbot, a, a.timeline, a.model.index_of_msg(first).row(), "chip")
    qtbot.waitUntil(lambda: line_with(b, "hello bob (fixed)").msg.reactions.get("👍") == ["bob"], timeout=TIMEOUT_MS)

    # a reply quotes its target
    hi = line_with(a, "hi alice").msg
    a.start_reply(hi)
    type_and_enter(qtbot, edit, "replying to you")
    qtbot.waitUntil(lambda: (ln := line_with(b, "replying to you")) is not None and ln.msg.status == "ok",
                    timeout=TIMEOUT_MS)
    assert line_with(b, "replying to you").quote == "bob: hi alice"

    # a thread: bob opens one on alice's first message and answers in it; alice sees "1 replies"
    b.open_thread(first)
    qtbot.waitUntil(lambda: b.thread.isVisible() and bool(texts(b, thread=True)), timeout=TIMEOUT_MS)
    qtmodeltester.check(b.thread.model)
    type_and_enter(qtbot, b.thread.composer.edit, "in the thread")
    qtbot.waitUntil(lambda: "in the thread" in texts(b, thread=True), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: line_with(a, "hello bob (fixed)").msg.replies == 1, timeout=TIMEOUT_MS)
    assert "in the thread" not in texts(a)            # replies live in the thread, not the timeline
    click_part(qtbot, a, a.timeline, a.model.index_of_msg(first).row(), "thread")
    qtbot.waitUntil(lambda: "in the thread" in texts(a, thread=True), timeout=TIMEOUT_MS)

    # sender grouping and a day separator: the first row has the day, bob's rows have badges
    assert lines(a)[0].day == "Today"
    qtbot.waitUntil(lambda: line_with(a, "hi alice").badge == "verified", timeout=TIMEOUT_MS)


def watch_row(model, key: str) -> list:
    """(signal, the row's text or None when it is not there) at every change of `model`."""
    seen: list = []

    def sample(what: str) -> None:
        row = model.row_of(key)
        seen.append((what, model.items[row].msg.text if row >= 0 else None))
    for sig, what in ((model.rowsRemoved, "removed"), (model.modelReset, "reset"),
                      (model.rowsInserted, "inserted"), (model.dataChanged, "changed")):
        sig.connect(lambda *_a, w=what: sample(w))
    return seen


def test_attach_by_drop_with_progress(qtbot, alice_window, make_window, tmp_path, run):
    wa, wb = two_windows(alice_window, make_window, tmp_path, qtbot)
    a, b = wa.shell.chat, wb.shell.chat
    open_dm(qtbot, run, a, "alice,bob")
    photo = tmp_path / "cat.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 2000)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photo))])
    drop = QDropEvent(QPointF(40, 40), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    a.dropEvent(drop)
    # a preview first: nothing is sent yet
    assert a.composer.file_bar.isVisible() and "cat.png" in a.composer.file_text.text()
    assert not any(ln.msg.type == "attachment" for ln in lines(a) if ln.msg)
    seen = []
    a.composer.progress.valueChanged.connect(seen.append)
    qtbot.mouseClick(a.composer.file_send, Qt.LeftButton)
    qtbot.waitUntil(lambda: any(ln.msg and ln.msg.type == "attachment" and ln.msg.status == "ok" for ln in lines(a)),
                    timeout=TIMEOUT_MS)
    assert seen and max(seen) == 1000                 # the bar went to the end
    assert not a.composer.file_bar.isVisible()
    open_dm(qtbot, run, b, "alice,bob")
    qtbot.waitUntil(lambda: any(ln.msg and ln.msg.attachment and ln.msg.attachment["name"] == "cat.png"
                                for ln in lines(b)), timeout=TIMEOUT_MS)


def test_failed_send_then_retry_when_the_server_is_back(qtbot, alice_window, run):
    wa, _url = alice_window
    qtbot.waitUntil(lambda: wa.shell.chat.loaded, timeout=TIMEOUT_MS)
    wa.shell.go("chat")
    a = wa.shell.chat
    open_dm(qtbot, run, a, "alice,bob")
    server = wa.session.server
    run(asyncio.get_running_loop().run_in_executor(None, server.stop))
    type_and_enter(qtbot, a.composer.edit, "while the server is down")
    qtbot.waitUntil(lambda: (ln := line_with(a, "while the server is down")) is not None and bool(ln.msg.error),
                    timeout=TIMEOUT_MS)
    ln = line_with(a, "while the server is down")
    assert ln.msg.msg_id is None and ln.msg.status == "pending"
    type_and_enter(qtbot, a.composer.edit, "never mind this one")
    qtbot.waitUntil(lambda: (x := line_with(a, "never mind this one")) is not None and bool(x.msg.error),
                    timeout=TIMEOUT_MS)
    gone = line_with(a, "never mind this one").msg.outbox_id
    discarded, real_discard = [], a.app.chat.discard

    async def discard(outbox_id):
        discarded.append(outbox_id)
        return await real_discard(outbox_id)
    a.app.chat.discard = discard
    click_part(qtbot, a, a.timeline, [i for i, x in enumerate(lines(a)) if x.msg and x.msg.outbox_id == gone][0],
               "delete")
    qtbot.waitUntil(lambda: line_with(a, "never mind this one") is None, timeout=TIMEOUT_MS)
    assert discarded == [gone]                       # the Delete button asked the engine
    ln = line_with(a, "while the server is down")
    run(asyncio.get_running_loop().run_in_executor(None, server.start))
    asked = []
    real_retry = a.app.chat.retry

    async def retry(outbox_id):
        asked.append(outbox_id)
        return await real_retry(outbox_id)
    a.app.chat.retry = retry
    row = [i for i, x in enumerate(lines(a)) if x is ln][0]
    click_part(qtbot, a, a.timeline, row, "retry")
    qtbot.waitUntil(lambda: (x := line_with(a, "while the server is down")) is not None and x.msg.status == "ok",
                    timeout=TIMEOUT_MS)
    assert asked == [ln.msg.outbox_id]               # the Retry button asked for it
    qtbot.wait(500)
    assert line_with(a, "never mind this one") is None
    assert run(a.app.chat.store.aio.outbox_get(gone)) is None              # never posted


def test_html_is_literal_text_everywhere(qtbot, alice_window, make_window, tmp_path, run, monkeypatch):
    """A message of markup reaches alice's notification, timeline, tooltip and list as the
    characters bob typed; a muted conversation then notifies nothing."""
    from PySide6.QtGui import QImage, QPainter

    from kbapp.gui.plain import might_be_rich, plain_notice
    wa, wb = two_windows(alice_window, make_window, tmp_path, qtbot)
    a, b = wa.shell.chat, wb.shell.chat
    evil = '<img src=x> <a href="http://evil.example/">click</a> <b>bold</b>'
    open_dm(qtbot, run, a, "alice,bob")
    open_dm(qtbot, run, b, "alice,bob")
    wa.shell.go("people")                      # the conversation is not in front of alice
    type_and_enter(qtbot, b.composer.edit, evil)
    qtbot.waitUntil(lambda: wa.tray.last_message is not None, timeout=TIMEOUT_MS)
    assert wa.tray.last_message == ("bob", plain_notice(evil))
    assert not any(ch in "".join(wa.tray.last_message) for ch in "<>&")
    qtbot.waitUntil(lambda: wa.windowTitle() == "kbapp (1 unread)", timeout=TIMEOUT_MS)
    assert wa.tray.unread == 1

    qtbot.waitUntil(lambda: line_with(a, evil) is not None, timeout=TIMEOUT_MS)
    idx = a.model.index_of_msg(line_with(a, evil).msg.msg_id)
    assert idx.data() == f"bob: {evil}"
    tip = idx.data(Qt.ToolTipRole)
    assert not might_be_rich(tip) or tip.startswith("<p style='white-space:pre-wrap'>&lt;img")
    # the painted row draws the very characters (QPainter.drawText never reads markup)
    drawn = []
    real = QPainter.drawText
    monkeypatch.setattr(QPainter, "drawText", lambda self, *args: (drawn.append(args[-1]), real(self, *args))[1])
    img = QImage(800, 200, QImage.Format_ARGB32)
    p = QPainter(img)
    opt = a.timeline.viewOptions() if hasattr(a.timeline, "viewOptions") else None
    from PySide6.QtWidgets import QStyleOptionViewItem
    opt = QStyleOptionViewItem()
    a.timeline.initViewItemOption(opt)
    opt.rect = a.timeline.visualRect(idx).translated(0, -a.timeline.visualRect(idx).top())
    a.delegate.paint(p, opt, idx)
    p.end()
    assert evil in drawn

    # muted: bob's next message notifies nothing
    before = a.notifier.notified
    a.open_conv(a.current)
    qtbot.mouseClick(a.mute_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: a.current_view is not None and a.current_view.muted, timeout=TIMEOUT_MS)
    wa.shell.go("people")
    type_and_enter(qtbot, b.composer.edit, "are you there?")
    qtbot.waitUntil(lambda: line_with(a, "are you there?") is not None, timeout=TIMEOUT_MS)
    qtbot.wait(300)
    assert a.notifier.notified == before


def test_ctrl_k_opens_a_conversation_and_search_jumps_to_a_message(qtbot, alice_window, run):
    wa, _url = alice_window
    qtbot.waitUntil(lambda: wa.shell is not None and wa.shell.chat.loaded, timeout=TIMEOUT_MS)
    shell = wa.shell
    shell.go("chat")
    a = shell.chat
    open_dm(qtbot, run, a, "alice,bob")
    for i in range(3):
        type_and_enter(qtbot, a.composer.edit, f"note {i} about kiwis" if i == 1 else f"note {i}")
    qtbot.waitUntil(lambda: len([ln for ln in lines(a) if ln.ok]) == 3, timeout=TIMEOUT_MS)
    conv_id = a.current
    a.current = None                               # as if another conversation were open
    shell.go("people")
    wa.activateWindow()
    qtbot.waitUntil(wa.isActiveWindow, timeout=5000)
    qtbot.keyClick(wa, Qt.Key_K, Qt.ControlModifier)
    sw = wa.keys.switcher
    qtbot.keyClicks(sw.edit, "alice,bob")
    assert sw.list.currentItem().text() == "alice,bob (chat)"
    qtbot.keyClick(sw.edit, Qt.Key_Return)
    qtbot.waitUntil(lambda: shell.current_key() == "chat" and a.current == conv_id and idle(a), timeout=TIMEOUT_MS)

    # search over all conversations, then jump to the hit
    a.search.setText("kiwis")
    qtbot.keyClick(a.search, Qt.Key_Return)
    qtbot.waitUntil(lambda: a.results.isVisible() and a.results_model.rowCount() == 1, timeout=TIMEOUT_MS)
    assert "[kiwis]" in a.results_model.index(0).data()
    hit = a.results_model.items[0]
    qtbot.mouseClick(a.results.viewport(), Qt.LeftButton, pos=a.results.visualRect(a.results_model.index(0)).center())
    qtbot.waitUntil(lambda: a.timeline.currentIndex().isValid()
                    and a.timeline.currentIndex().data(Qt.UserRole + 1).msg.msg_id == hit.msg_id, timeout=TIMEOUT_MS)


def test_an_exploding_message_counts_down_then_disappears(qtbot, alice_window, run):
    """The sender's own view (the receiving side is the engine's: tests/integration)."""
    wa, _url = alice_window
    qtbot.waitUntil(lambda: wa.shell is not None and wa.shell.chat.loaded, timeout=TIMEOUT_MS)
    wa.shell.go("chat")
    a = wa.shell.chat
    open_dm(qtbot, run, a, "alice,bob")
    a.composer.set_exploding(30)
    assert a.composer.explode.text() == "💣 30s"
    type_and_enter(qtbot, a.composer.edit, "this will self-destruct")
    type_and_enter(qtbot, a.composer.edit, "so will this")
    a.composer.set_exploding(None)
    type_and_enter(qtbot, a.composer.edit, "this one stays")
    qtbot.waitUntil(lambda: (ln := line_with(a, "this one stays")) is not None and ln.ok, timeout=TIMEOUT_MS)
    boom = line_with(a, "this will self-destruct").msg.explodes_at
    assert boom is not None and line_with(a, "this one stays").msg.explodes_at is None
    assert a.ticker.isActive()
    real = a.clock
    a.clock = lambda: real() + 31                 # half a minute later
    qtbot.waitUntil(lambda: line_with(a, "this will self-destruct") is None, timeout=5000)
    assert line_with(a, "so will this") is None and line_with(a, "this one stays") is not None


def test_a_sender_whose_identity_broke_is_flagged(qtbot, alice_window, make_window, tmp_path, run):
    """bob's chain grows and the server rewrites the new link: alice's conversation with him
    warns, and his name on his messages turns red ("identity broken"), not the green check.
    (Links alice verified already are never fetched again: tests/gui/test_people.py.)"""
    from gui_support import tamper_link

    wa, wb = two_windows(alice_window, make_window, tmp_path, qtbot)
    a, b = wa.shell.chat, wb.shell.chat
    open_dm(qtbot, run, a, "alice,bob")
    open_dm(qtbot, run, b, "alice,bob")
    type_and_enter(qtbot, b.composer.edit, "it is really me")
    qtbot.waitUntil(lambda: (ln := line_with(a, "it is really me")) is not None and ln.badge == "verified",
                    timeout=TIMEOUT_MS)
    assert not a.warning.isVisible()
    run(wb.app.create_paperkey())
    run(wb.app.paperkey_shown())
    tamper_link(wa.session.embedded_dir() / "server.sqlite3", "paper", "papex", newest=True)
    conv_id, a.current = a.current, None
    a.open_conv(conv_id)
    qtbot.waitUntil(lambda: a.warning.isVisible(), timeout=TIMEOUT_MS)
    assert a.warning.title.text() == "Identity warning"
    assert "The identity of bob no longer checks out" in a.warning.findChild(type(a.conv_title), "bannerMessage").text()
    qtbot.waitUntil(lambda: (ln := line_with(a, "it is really me")) is not None and ln.badge == "broken",
                    timeout=TIMEOUT_MS)
    assert "did not verify" in a.model.index_of_msg(line_with(a, "it is really me").msg.msg_id).data(Qt.ToolTipRole)


def test_new_conversation_shows_who_before_anything_is_sent(qtbot, alice_window, run):
    wa, _url = alice_window
    qtbot.waitUntil(lambda: wa.shell is not None and wa.shell.chat.loaded, timeout=TIMEOUT_MS)
    wa.shell.go("chat")
    a = wa.shell.chat
    qtbot.mouseClick(a.new_button, Qt.LeftButton)
    dlg = a.new_dialog
    qtbot.keyClicks(dlg.edit, "nobody-here")
    qtbot.mouseClick(dlg.lookup, Qt.LeftButton)
    qtbot.waitUntil(lambda: dlg.banner.isVisible(), timeout=TIMEOUT_MS)
    assert not dlg.start.isEnabled()
    dlg.edit.clear()
    qtbot.keyClicks(dlg.edit, "bob")
    qtbot.keyClick(dlg.edit, Qt.Key_Return)                # Enter looks up
    qtbot.waitUntil(dlg.start.isEnabled, timeout=TIMEOUT_MS)
    assert dlg.who.text().startswith("✓ bob is bob, verified (")
    assert not any(c.name == "alice,bob" for c in a.convs)  # nothing made yet
    dlg.edit.setText("bob ")                                 # edited: look up again first
    assert not dlg.start.isEnabled()
    qtbot.mouseClick(dlg.lookup, Qt.LeftButton)
    qtbot.waitUntil(dlg.start.isEnabled, timeout=TIMEOUT_MS)
    qtbot.mouseClick(dlg.start, Qt.LeftButton)
    qtbot.waitUntil(lambda: a.current_view is not None and a.current_view.name == "alice,bob", timeout=TIMEOUT_MS)
    assert a.conv_title.text() == "bob"


def test_an_upload_can_be_cancelled(qtbot, alice_window, run):
    wa, _url = alice_window
    qtbot.waitUntil(lambda: wa.shell is not None and wa.shell.chat.loaded, timeout=TIMEOUT_MS)
    wa.shell.go("chat")
    a = wa.shell.chat
    open_dm(qtbot, run, a, "alice,bob")
    big = tmp = wa.app.ctx.home / "big.bin"
    with open(tmp, "wb") as f:
        f.truncate(96 * 1024 * 1024)                   # big enough to be caught in flight
    a.composer.offer_file(big)
    qtbot.mouseClick(a.composer.file_send, Qt.LeftButton)
    qtbot.waitUntil(lambda: a.composer.progress.value() > 0, timeout=TIMEOUT_MS)
    qtbot.mouseClick(a.composer.file_cancel, Qt.LeftButton)
    qtbot.waitUntil(lambda: a._upload.done(), timeout=TIMEOUT_MS)
    assert a._upload.cancelled() and not a.composer.file_bar.isVisible()
    qtbot.wait(500)
    assert not any(ln.msg and ln.msg.type == "attachment" for ln in lines(a))


def test_notices_for_mentions_not_for_the_conversation_in_front(qtbot, alice_window, make_window, tmp_path, run):
    wa, wb = two_windows(alice_window, make_window, tmp_path, qtbot)
    a, b = wa.shell.chat, wb.shell.chat
    run(wa.app.create_team("acme"))
    run(wa.app.add_member("acme", "bob", "writer"))
    open_dm(qtbot, run, a, "alice,bob")
    open_dm(qtbot, run, b, "alice,bob")
    open_dm(qtbot, run, b, "acme#general")
    open_dm(qtbot, run, a, "acme#general")
    open_dm(qtbot, run, a, "alice,bob")            # alice looks at the DM, in front
    wa.activateWindow()
    qtbot.waitUntil(wa.isActiveWindow, timeout=5000)
    # a channel message without a mention: no notice; with one: "bob in acme#general"
    b.open_conv(next(c.conv_id for c in b.convs if c.name == "acme#general"))
    type_and_enter(qtbot, b.composer.edit, "morning team")
    type_and_enter(qtbot, b.composer.edit, "@alice can you look at the release?")
    qtbot.waitUntil(lambda: wa.tray.last_message is not None, timeout=TIMEOUT_MS)
    assert wa.tray.last_message == ("bob in acme#general", "@alice can you look at the release?")
    assert a.notifier.notified == 1
    conv = next(c.conv_id for c in a.convs if c.name == "acme#general")
    qtbot.waitUntil(lambda: a.conv_model.index(a.conv_model.row_of(conv)).data().endswith("@1"), timeout=TIMEOUT_MS)
    # the DM in front of alice: bob's message there shows, no notice
    b.open_conv(next(c.conv_id for c in b.convs if c.name == "alice,bob"))
    wa.activateWindow()
    qtbot.waitUntil(wa.isActiveWindow, timeout=5000)
    type_and_enter(qtbot, b.composer.edit, "are you at your desk?")
    qtbot.waitUntil(lambda: line_with(a, "are you at your desk?") is not None, timeout=TIMEOUT_MS)
    qtbot.wait(300)
    assert a.notifier.notified == 1


def test_pin_from_the_menu_shows_in_info(qtbot, alice_window, run):
    wa, _url = alice_window
    qtbot.waitUntil(lambda: wa.shell is not None and wa.shell.chat.loaded, timeout=TIMEOUT_MS)
    wa.shell.go("chat")
    a = wa.shell.chat
    open_dm(qtbot, run, a, "alice,bob")
    type_and_enter(qtbot, a.composer.edit, "the meeting is at 10 <b>sharp</b>")
    qtbot.waitUntil(lambda: (ln := line_with(a, "the meeting is at 10 <b>sharp</b>")) is not None and ln.ok,
                    timeout=TIMEOUT_MS)
    ln = line_with(a, "the meeting is at 10 <b>sharp</b>")
    dict(x for x in a.menu_actions(ln) if x)["Pin"]()
    qtbot.waitUntil(lambda: a.model.timeline is not None and ln.msg.msg_id in a.model.timeline.pins,
                    timeout=TIMEOUT_MS)
    qtbot.mouseClick(a.info_button, Qt.LeftButton)
    assert a.info.pins.text() == "📌 alice: the meeting is at 10 <b>sharp</b>"
    assert a.info.pins.textFormat() == Qt.PlainText
    assert "Unpin" in dict(x for x in a.menu_actions(line_with(a, "the meeting is at 10 <b>sharp</b>")) if x)


def test_typing_shows_under_the_other_ones_timeline(qtbot, alice_window, make_window, tmp_path, run):
    """bob types (no Enter): alice's page says "bob is typing…" (plain text) for ~5 s; bob's
    keystrokes cost one typing notice, sent off the Qt thread."""
    wa, wb = two_windows(alice_window, make_window, tmp_path, qtbot)
    a, b = wa.shell.chat, wb.shell.chat
    open_dm(qtbot, run, a, "alice,bob")
    type_and_enter(qtbot, a.composer.edit, "hi bob")
    open_dm(qtbot, run, b, "alice,bob")
    qtbot.waitUntil(lambda: "hi bob" in texts(b) and "hi bob" in texts(a), timeout=TIMEOUT_MS)
    asked, real_typing = [], b.app.chat.typing

    async def typing(conv):
        asked.append(conv)
        return await real_typing(conv)
    b.app.chat.typing = typing
    assert not a.typing_line.isVisible()
    b.composer.edit.setFocus()
    qtbot.keyClicks(b.composer.edit, "wait, let me")
    qtbot.waitUntil(lambda: a.typing_line.isVisible(), timeout=TIMEOUT_MS)
    assert a.typing_line.text() == "bob is typing…" and a.typing_line.textFormat() == Qt.PlainText
    assert asked == [b.current]                      # one notice for all those keys
    assert not b.typing_line.isVisible()             # not our own
    base = a.typing_line.clock()
    a.typing_line.clock = lambda: base + 6           # ~5 s later: gone
    qtbot.waitUntil(lambda: not a.typing_line.isVisible(), timeout=TIMEOUT_MS)
