"""Screenshots of images in the Chat page (issue 15), two profiles side by side.

Run under a virtual X server, like make.py:

    xvfb-run -a -s "-screen 0 2240x900x24" .venv/bin/python docs/screenshots/make_chat_media.py

In a throwaway folder: alice's window runs the embedded server, bob's window is his own
profile on it (in this process). bob sends alice a dog photo and a photo the NSFW model puts
in its "review" band (ImageNet dev photos, a demo in the docs only). alice's window shows
the first inline with the tags her photo library gave it, the second blurred with "Show".
Shots: chat-image-tags (alice), chat-nsfw-blurred (alice), chat-two-profiles (both windows,
side by side), chat-image-dark (alice, dark theme).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

from make import OUT, ROOT, settle, shoot, until  # the same set-up as make.py (paths, env)

import qasync  # noqa: E402
from PySide6.QtGui import QCursor, QPainter, QPixmap  # noqa: E402

from kbapp.client.app import App  # noqa: E402
from kbapp.gui import theme  # noqa: E402
from kbapp.gui.main import setup_application  # noqa: E402
from kbapp.gui.session import Session  # noqa: E402
from kbapp.gui.window import MainWindow  # noqa: E402

DOG, REVIEW = "ILSVRC2012_val_00000355.JPEG", "ILSVRC2012_val_00006236.JPEG"


def image_line(page, name: str):
    return next((ln for ln in page.model.items if ln.msg is not None and ln.msg.attachment
                 and ln.msg.attachment.get("name") == name), None)


def grab(window) -> QPixmap:
    pm = window.screen().grabWindow(window.winId())
    return pm if not pm.isNull() and pm.width() >= 100 else window.grab()


async def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="kbapp-chat-media-shots-"))
    QCursor.setPos(2239, 899)
    s = Session(tmp / "alice")
    await s.open()
    url = await s.start_embedded()
    await s.app.signup("alice", device_name="alice-desktop", server_url=url)
    s.remember_embedded()
    await s.close()
    wa = MainWindow(Session(tmp / "alice"))            # its start runs the embedded server again
    wa.resize(1100, 860)
    wa.move(0, 0)
    wa.show()
    await wa.start()
    await until(lambda: wa.shell is not None, 60)
    b = App(tmp / "bob")
    await b.open()
    await b.signup("bob", device_name="bob-laptop", server_url=url)
    await b.close()
    wb = MainWindow(Session(tmp / "bob"))
    for w, x in ((wb, 1120),):
        w.resize(1100, 860)
        w.move(x, 0)
        w.show()
        await w.start()
    for w in (wa, wb):
        await until(lambda w=w: w.shell is not None and w.shell.chat.loaded, 60)
        w.shell.go("chat")
    a, bp = wa.shell.chat, wb.shell.chat
    await a.open_named("alice,bob")
    await bp.open_named("alice,bob")
    await until(lambda: a.current is not None and bp.current is not None, 30)

    dev = ROOT.parent / "shared" / "data" / "imagenet-val-dev" / "images"
    if not dev.is_dir():
        dev = ROOT / "tests" / "data" / "imagenet-val-dev" / "images"
    rex, bonnet = tmp / "rex.jpg", tmp / "bonnet.jpg"
    shutil.copyfile(dev / DOG, rex)
    shutil.copyfile(dev / REVIEW, bonnet)
    await wb.app.chat.send("alice,bob", "Rex at the park this morning <3")
    await wb.app.chat.upload("alice,bob", rex)
    await until(lambda: (ln := image_line(a, "rex.jpg")) is not None and ln.image is not None
                and ln.image.tags and not ln.image.unchecked, 180)
    await a.app.chat.send("alice,bob", "He looks so happy! What breed is he?")
    await wb.app.chat.send("alice,bob", "A chow. And here is the costume photo from the party")
    await wb.app.chat.upload("alice,bob", bonnet)
    await until(lambda: (ln := image_line(a, "bonnet.jpg")) is not None and ln.image is not None
                and not ln.image.unchecked, 180)
    for p in (a, bp):
        p.timeline.scrollToBottom()
    await until(lambda: a.previews.get(image_line(a, "bonnet.jpg").image.path, True) is not None, 30)
    top = a.model.index(a.model.row_of(image_line(a, "rex.jpg").key) - 1)     # bob's words above it
    a.timeline.scrollTo(top, a.timeline.ScrollHint.PositionAtTop)
    await until(lambda: a.previews.get(image_line(a, "rex.jpg").image.path, False) is not None, 30)
    await settle(1.0)
    shoot(wa, "chat-image-tags")

    a.timeline.scrollToBottom()
    await settle(1.0)
    shoot(wa, "chat-nsfw-blurred")

    left, right = grab(wa), grab(wb)
    both = QPixmap(left.width() + right.width(), max(left.height(), right.height()))
    both.fill()
    p = QPainter(both)
    p.drawPixmap(0, 0, left)
    p.drawPixmap(left.width(), 0, right)
    p.end()
    both.save(str(OUT / "chat-two-profiles.png"))
    print(f"saved {(OUT / 'chat-two-profiles.png').relative_to(ROOT)} ({both.width()}x{both.height()})")

    theme.current().set_choice("dark")
    a.timeline.scrollTo(top, a.timeline.ScrollHint.PositionAtTop)
    await settle(1.0)
    shoot(wa, "chat-image-dark")
    theme.current().set_choice("light")

    for w in (wb, wa):
        await w.shutdown()


if __name__ == "__main__":
    qapp = setup_application(sys.argv)
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(main())
