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

from make import alice_and_bob, dev_images, settle, shoot, shoot_side_by_side, until  # make.py's set-up

import qasync  # noqa: E402

from kbapp.gui import theme  # noqa: E402
from kbapp.gui.main import setup_application  # noqa: E402

DOG, REVIEW = "ILSVRC2012_val_00000355.JPEG", "ILSVRC2012_val_00006236.JPEG"


def image_line(page, name: str):
    return next((ln for ln in page.model.items if ln.msg is not None and ln.msg.attachment
                 and ln.msg.attachment.get("name") == name), None)


async def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="kbapp-chat-media-shots-"))
    wa, wb = await alice_and_bob(tmp, 860)
    for w in (wa, wb):
        await until(lambda w=w: w.shell is not None and w.shell.chat.loaded, 60)
        w.shell.go("chat")
    a, bp = wa.shell.chat, wb.shell.chat
    await a.open_named("alice,bob")
    await bp.open_named("alice,bob")
    await until(lambda: a.current is not None and bp.current is not None, 30)

    dev = dev_images()
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

    shoot_side_by_side(wa, wb, "chat-two-profiles")

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
