"""Images in the Chat page's timeline (issue 15), with two real profiles on one real embedded
server and the real photo models (MobileNetV2 tags, open_nsfw):

* bob sends a dog photo: alice's timeline paints its preview inline (decoded in a worker),
  with the tags her photo library gave it under it;
* bob sends a photo the NSFW model puts in its "review" band: it arrives blurred (the blurred
  pixels are what is decoded and drawn), a click on "Show" shows it, and nothing is deleted;
* a hostile sender's "preview" of 6000x6000 pixels is never decoded (ImageTooLarge), a note
  says why;
* the edit history: an edited message shows "edited"; a click lists the earlier versions.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageStat
from PySide6.QtCore import Qt

from chat_gui_support import click_part, idle, line_with, lines, open_dm, two_windows, type_and_enter
from gui_support import TIMEOUT_MS
from photo_support import DEV, need_model

DOG = "ILSVRC2012_val_00000355.JPEG"
SENSITIVE = "ILSVRC2012_val_00006236.JPEG"      # open_nsfw: 0.735 ("review")
SLOW = 180_000


def image_line(page, name: str):
    for ln in lines(page):
        if ln.msg is not None and ln.msg.attachment and ln.msg.attachment.get("name") == name:
            return ln
    return None


def _sharpness(pm) -> float:
    img = pm.toImage().convertToFormat(pm.toImage().Format.Format_RGB888)
    w, h = img.width(), img.height()
    im = Image.frombytes("RGB", (w, h), bytes(img.constBits())[: w * h * 3]) if img.bytesPerLine() == 3 * w \
        else Image.frombytes("RGB", (w, h), bytes(img.constBits()), "raw", "RGB", img.bytesPerLine())
    edges = im.convert("L").point(lambda v: v).filter(__import__("PIL.ImageFilter").ImageFilter.FIND_EDGES)
    return ImageStat.Stat(edges).mean[0]


def _send(qtbot, page, path: Path) -> None:
    page.send_file(path)
    qtbot.waitUntil(lambda: image_line(page, path.name) is not None
                    and image_line(page, path.name).msg.status == "ok", timeout=SLOW)


def test_an_image_shows_inline_with_tags_and_a_sensitive_one_blurred_until_shown(
        qtbot, alice_window, make_window, tmp_path, run):
    need_model()
    wa, wb = two_windows(alice_window, make_window, tmp_path, qtbot)
    a, b = wa.shell.chat, wb.shell.chat
    open_dm(qtbot, run, a, "alice,bob")
    open_dm(qtbot, run, b, "alice,bob")
    dog = tmp_path / "rex.jpg"
    with Image.open(DEV / "images" / DOG) as im:
        im.convert("RGB").save(dog, "JPEG", quality=90)
    _send(qtbot, b, dog)

    # alice: the preview inline, its tags under it, decoded off the Qt thread, clear
    qtbot.waitUntil(lambda: (ln := image_line(a, "rex.jpg")) is not None and ln.image is not None
                    and bool(ln.image.tags) and not ln.image.unchecked, timeout=SLOW)
    info = image_line(a, "rex.jpg").image
    assert not info.sensitive and Path(info.path).is_file()
    assert any("dog" in t or "chow" in t for t in info.tags), info.tags
    a.timeline.scrollToBottom()
    qtbot.waitUntil(lambda: a.previews.get(info.path, False) is not None, timeout=TIMEOUT_MS)
    assert not image_line(a, "rex.jpg").image.blurred           # checked: shown clear

    # a sensitive one arrives blurred: the blurred decode is what exists, "Show" reveals it
    shot = tmp_path / "bonnet.jpg"
    with Image.open(DEV / "images" / SENSITIVE) as im:
        im.convert("RGB").save(shot, "JPEG", quality=90)
    _send(qtbot, b, shot)
    qtbot.waitUntil(lambda: (ln := image_line(a, "bonnet.jpg")) is not None and ln.image is not None
                    and not ln.image.unchecked, timeout=SLOW)
    ln = image_line(a, "bonnet.jpg")
    assert ln.image.sensitive and ln.image.blurred
    a.timeline.scrollToBottom()
    qtbot.waitUntil(lambda: a.previews.get(ln.image.path, True) is not None, timeout=TIMEOUT_MS)
    assert (ln.image.path, False) not in a.previews._mem       # the clear pixels were never decoded
    blurred = _sharpness(a.previews.get(ln.image.path, True))
    qtbot.waitUntil(lambda: idle(a), timeout=TIMEOUT_MS)
    row = a.model.row_of(ln.key)
    a.timeline.scrollTo(a.model.index(row))
    click_part(qtbot, a, a.timeline, row, "show")
    qtbot.waitUntil(lambda: not image_line(a, "bonnet.jpg").image.blurred, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: a.previews.get(ln.image.path, False) is not None, timeout=TIMEOUT_MS)
    assert _sharpness(a.previews.get(ln.image.path, False)) > 2 * blurred
    assert Path(ln.image.path).is_file()                       # flagged, never deleted
    assert image_line(a, "bonnet.jpg").msg.status == "ok"


def test_a_preview_bomb_from_a_hostile_sender_is_never_decoded(qtbot, alice_window, make_window, tmp_path,
                                                               run, monkeypatch):
    """bob's client (the attacker's own) sends a 6000x6000 "preview" of a small photo."""
    import io

    from kbapp.client.chat import media

    wa, wb = two_windows(alice_window, make_window, tmp_path, qtbot)
    a, b = wa.shell.chat, wb.shell.chat
    buf = io.BytesIO()
    Image.new("RGB", (6000, 6000), (200, 30, 30)).save(buf, "JPEG", quality=10)
    bomb = buf.getvalue()
    assert len(bomb) < media.MAX_PREVIEW_BYTES
    monkeypatch.setattr(media, "make_preview", lambda path: (bomb, 320, 320))
    open_dm(qtbot, run, a, "alice,bob")
    open_dm(qtbot, run, b, "alice,bob")
    small = tmp_path / "small.png"
    Image.new("RGB", (64, 64), (0, 90, 0)).save(small)
    _send(qtbot, b, small)
    qtbot.waitUntil(lambda: (ln := image_line(a, "small.png")) is not None and ln.image is not None
                    and not ln.image.unchecked, timeout=SLOW)
    info = image_line(a, "small.png").image
    assert info.refused and "too large" in info.refused and "ImageTooLarge" not in info.refused
    a.timeline.scrollToBottom()
    qtbot.wait(300)
    assert a.previews.made == 0 and not a.previews._pending    # asked for nothing, decoded nothing
    assert a.previews.get(info.path, True) is None and a.previews.made == 0


def test_an_edited_message_shows_its_earlier_versions(qtbot, alice_window, make_window, tmp_path, run):
    wa, wb = two_windows(alice_window, make_window, tmp_path, qtbot)
    a, b = wa.shell.chat, wb.shell.chat
    open_dm(qtbot, run, a, "alice,bob")
    type_and_enter(qtbot, a.composer.edit, "<b>first</b> draft")
    qtbot.waitUntil(lambda: (ln := line_with(a, "<b>first</b> draft")) is not None and ln.msg.status == "ok",
                    timeout=TIMEOUT_MS)
    open_dm(qtbot, run, b, "alice,bob")
    qtbot.waitUntil(lambda: line_with(b, "<b>first</b> draft") is not None, timeout=TIMEOUT_MS)
    target = line_with(a, "<b>first</b> draft").msg.msg_id
    for text in ("second draft", "final"):
        qtbot.waitUntil(lambda: idle(a), timeout=TIMEOUT_MS)
        a.edit_last()
        a.composer.edit.selectAll()
        qtbot.keyClicks(a.composer.edit, text)
        qtbot.keyClick(a.composer.edit, Qt.Key_Return)
        qtbot.waitUntil(lambda t=text: (ln := line_with(b, t)) is not None and ln.msg.edited, timeout=TIMEOUT_MS)
    row = b.model.index_of_msg(target).row()
    assert b.model.items[row].msg.edited
    click_part(qtbot, b, b.timeline, row, "edited")
    qtbot.waitUntil(lambda: b.history_dialog is not None and b.history_dialog.isVisible(), timeout=TIMEOUT_MS)
    shown = [lb.text() for lb in b.history_labels]
    assert shown == ["<b>first</b> draft", "second draft", "final"]
    assert all(lb.textFormat() == Qt.PlainText for lb in b.history_labels)
    assert b.history.versions[-1].current and b.history.not_shown == 0
    b.history_dialog.reject()
    # the context menu has the same entry
    acts = [t for t, *_ in filter(None, b.menu_actions(b.model.items[row]))]
    assert "Show edits" in acts


def test_a_photo_from_chat_jumps_to_its_message(qtbot, alice_window, make_window, tmp_path, run):
    """The Photos page finds bob's dog in alice's library; "Show in chat" on it opens the DM at
    that message (the origin the chat side wrote names conversation and message)."""
    need_model()
    wa, wb = two_windows(alice_window, make_window, tmp_path, qtbot)
    a, b = wa.shell.chat, wb.shell.chat
    open_dm(qtbot, run, a, "alice,bob")
    open_dm(qtbot, run, b, "alice,bob")
    dog = tmp_path / "rex.jpg"
    with Image.open(DEV / "images" / DOG) as im:
        im.convert("RGB").save(dog, "JPEG", quality=90)
    _send(qtbot, b, dog)
    for i in range(30):                                  # then enough text to scroll it out of view
        run(b.app.chat.send("alice,bob", f"filler {i}"))
    qtbot.waitUntil(lambda: (ln := image_line(a, "rex.jpg")) is not None and ln.image is not None
                    and not ln.image.unchecked, timeout=SLOW)
    msg_id = image_line(a, "rex.jpg").msg.msg_id
    conv_id = a.current
    qtbot.waitUntil(lambda: line_with(a, "filler 29") is not None and idle(a), timeout=TIMEOUT_MS)
    a.timeline.scrollToBottom()
    assert not a.timeline.visualRect(a.model.index_of_msg(msg_id)).intersects(a.timeline.viewport().rect())
    wa.shell.go("photos")
    photos = wa.shell.photos
    with qtbot.waitSignal(photos.searched, timeout=SLOW):
        photos.search_clicked()
    qtbot.waitUntil(lambda: any((it.hit.origin or {}).get("msg_id") == msg_id for it in photos.model.items),
                    timeout=SLOW)
    row = next(i for i, it in enumerate(photos.model.items) if (it.hit.origin or {}).get("msg_id") == msg_id)
    photos._context_menu(photos.grid.visualRect(photos.model.index(row)).center())
    act = next(x for x in photos.menu.actions() if x.objectName() == "showInChatAction")
    assert "alice,bob" in act.text() and f"#{msg_id}" in act.text()
    act.trigger()
    assert wa.shell.current_key() == "chat" and a.current == conv_id
    qtbot.waitUntil(lambda: (ix := a.timeline.currentIndex()).isValid()
                    and ix.data(Qt.UserRole + 1).msg.msg_id == msg_id, timeout=TIMEOUT_MS)
    assert a.timeline.visualRect(a.timeline.currentIndex()).intersects(a.timeline.viewport().rect())
