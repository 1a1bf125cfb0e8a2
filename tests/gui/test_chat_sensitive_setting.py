"""The Chat page's per-conversation "Sensitive images" choice (issue 15: "an NSFW-flagged image
arrives blurred with click-to-reveal (a per-conversation setting)"), with two real profiles
on one real embedded server and the real photo models (open_nsfw).

alice sends a photo the NSFW model puts in its "review" band; bob's page blurs it (the
default), shows it clear at once when he chooses "Show them" for that conversation (the row
changes in place), keeps the choice across a restart of his app, not for his other
conversations, and blurs it again when he chooses "blur".
"""

from __future__ import annotations

from PIL import Image

from chat_gui_support import idle, open_dm, two_windows
from gui_support import TIMEOUT_MS
from photo_support import DEV, need_model
from test_chat_images import SENSITIVE, SLOW, _send, image_line

from kbapp.client.chat import prefs


def _wait_checked(qtbot, page, name: str):
    qtbot.waitUntil(lambda: (ln := image_line(page, name)) is not None and ln.image is not None
                    and bool(ln.image.tags) and not ln.image.unchecked, timeout=SLOW)
    return image_line(page, name)


def _chat_on(qtbot, w):
    qtbot.waitUntil(lambda: w.shell is not None and w.shell.chat.loaded, timeout=TIMEOUT_MS)
    w.shell.go("chat")
    return w.shell.chat


def test_sensitive_images_blurred_or_shown_per_conversation_and_kept(qtbot, alice_window, make_window,
                                                                     tmp_path, run):
    need_model()
    wa, wb = two_windows(alice_window, make_window, tmp_path, qtbot)
    a, b = wa.shell.chat, wb.shell.chat
    open_dm(qtbot, run, a, "alice,bob")
    open_dm(qtbot, run, b, "alice,bob")
    shot = tmp_path / "bonnet.jpg"
    with Image.open(DEV / "images" / SENSITIVE) as im:
        im.convert("RGB").save(shot, "JPEG", quality=90)
    _send(qtbot, a, shot)

    # bob: blurred, the default; the button says so
    ln = _wait_checked(qtbot, b, "bonnet.jpg")
    assert ln.image.sensitive and ln.image.blurred
    qtbot.waitUntil(lambda: b.sensitive_button.isEnabled(), timeout=TIMEOUT_MS)
    assert b.sensitive_button.text() == "Sensitive images: blurred"
    assert b.sensitive_actions[prefs.BLUR].isChecked()
    conv = b.current

    # "Show them": the same row, clear now (changed in place, never removed), and kept in his store
    qtbot.waitUntil(lambda: idle(b), timeout=TIMEOUT_MS)
    gone = []
    b.model.rowsRemoved.connect(lambda *_a: gone.append("removed"))
    b.model.modelReset.connect(lambda *_a: gone.append("reset"))
    b.sensitive_actions[prefs.SHOW].trigger()
    qtbot.waitUntil(lambda: not image_line(b, "bonnet.jpg").image.blurred, timeout=TIMEOUT_MS)
    assert gone == [] and b.sensitive_button.text() == "Sensitive images: shown"
    b.timeline.scrollToBottom()
    qtbot.waitUntil(lambda: b.previews.get(ln.image.path, False) is not None, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: run(prefs.sensitive_images(b.app.chat, conv)) == prefs.SHOW, timeout=TIMEOUT_MS)

    # his other conversations keep the default
    run(b.app.create_team("bobco"))
    open_dm(qtbot, run, b, "bobco#general")
    assert b.current != conv
    assert b.sensitive_button.text() == "Sensitive images: blurred"   # never the previous one's choice
    qtbot.waitUntil(lambda: b.sensitive_button.isEnabled(), timeout=TIMEOUT_MS)
    assert b.sensitive_button.text() == "Sensitive images: blurred"
    other = b.current
    b.open_conv(conv)                     # switching says the conversation's own choice at once
    assert b.sensitive_button.text() == "Sensitive images: shown"
    b.open_conv(other)
    assert b.sensitive_button.text() == "Sensitive images: blurred"

    # bob's app restarts: the conversation opens with its image shown, nothing clicked
    run(wb.shutdown())
    b = _chat_on(qtbot, make_window(tmp_path / "bob"))
    open_dm(qtbot, run, b, "alice,bob")
    ln = _wait_checked(qtbot, b, "bonnet.jpg")
    assert ln.image.sensitive and not ln.image.blurred
    assert b.sensitive_button.text() == "Sensitive images: shown"

    # and "blur" blurs it again, also after a click on it
    b.reveal_image(ln.msg.msg_id)
    b.sensitive_actions[prefs.BLUR].trigger()
    qtbot.waitUntil(lambda: image_line(b, "bonnet.jpg").image.blurred, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: run(prefs.sensitive_images(b.app.chat, conv)) == prefs.BLUR, timeout=TIMEOUT_MS)
