"""Read markers shared between a user's devices (issue 15): alice has two devices, each its
own window and profile on one real embedded server. bob writes to her; both windows count
the messages unread. She reads them on her laptop: her desktop's list, tray count and
window title go to zero by push (the `read` hint), with nothing reloaded by hand.
"""

from __future__ import annotations

from chat_gui_support import line_with, open_dm, type_and_enter
from gui_support import TIMEOUT_MS


def _unread(page, conv_id: str) -> int | None:
    v = next((c for c in page.convs if c.conv_id == conv_id), None)
    return None if v is None else v.unread


def test_reading_on_one_device_clears_the_count_on_the_other(qtbot, alice_window, make_window, tmp_path, run):
    from kbapp.client.app import App

    wa, url = alice_window
    phrase = run(wa.session.app.create_paperkey())
    run(wa.session.app.paperkey_shown())

    async def second_device():
        app = App(tmp_path / "alice-laptop")
        await app.open()
        try:
            await app.login_paperkey("alice", phrase, device_name="alice-laptop", server_url=url)
        finally:
            await app.close()
    run(second_device())
    wl = make_window(tmp_path / "alice-laptop")
    wb = make_window(tmp_path / "bob")
    for w in (wa, wl, wb):
        qtbot.waitUntil(lambda w=w: w.shell is not None and w.shell.chat.loaded, timeout=TIMEOUT_MS)
        w.shell.go("chat")
    a, laptop, b = wa.shell.chat, wl.shell.chat, wb.shell.chat
    open_dm(qtbot, run, a, "alice,bob")
    open_dm(qtbot, run, laptop, "alice,bob")
    conv_id = a.current
    open_dm(qtbot, run, b, "alice,bob")
    wa.shell.go("people")                           # neither of alice's devices has it in front
    wl.shell.go("people")
    for text in ("one", "two"):
        type_and_enter(qtbot, b.composer.edit, text)
        qtbot.waitUntil(lambda t=text: (ln := line_with(b, t)) is not None and ln.msg.status == "ok",
                        timeout=TIMEOUT_MS)
    for page, w in ((a, wa), (laptop, wl)):
        qtbot.waitUntil(lambda p=page: _unread(p, conv_id) == 2, timeout=TIMEOUT_MS)
        qtbot.waitUntil(lambda w=w: w.windowTitle() == "kbapp (2 unread)", timeout=TIMEOUT_MS)

    wl.shell.go("chat")                             # alice reads them on her laptop
    wl.activateWindow()
    laptop.mark_read()
    qtbot.waitUntil(lambda: _unread(laptop, conv_id) == 0, timeout=TIMEOUT_MS)
    # her desktop hears it by push: the list, the tray and the title follow
    qtbot.waitUntil(lambda: _unread(a, conv_id) == 0, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: wa.windowTitle() == "kbapp" and wa.tray.unread == 0, timeout=TIMEOUT_MS)
    row = a.conv_model.row_of(conv_id)
    assert row >= 0 and "(" not in a.conv_model.index(row).data()     # no "(2)" left in the list

    # a new message is unread again on both (the marker only covered what was read)
    type_and_enter(qtbot, b.composer.edit, "three")
    qtbot.waitUntil(lambda: _unread(a, conv_id) == 1, timeout=TIMEOUT_MS)
