"""Screenshots of the Chat page for docs/user-guide.md (issue 15).

Run under a virtual X server, like make.py:

    xvfb-run -a -s "-screen 0 1440x900x24" .venv/bin/python docs/screenshots/make_chat.py

In a throwaway folder: alice's window runs the embedded server; bob and carol are
clients on their own profiles (in this process). alice makes acme with both and a
#design channel; they talk in #general (a reply, reactions, a thread) and bob writes
to alice directly (with a file); in #design the server withholds the body of one of
carol's messages, which alice's window shows as withheld. Everything else reaches alice's window the way it would on
a real desk: pushed by the server, verified and stored by her engine.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import tempfile
from pathlib import Path

from make import settle, shoot, until  # the same set-up as make.py (paths, env)

import qasync  # noqa: E402
from PySide6.QtGui import QCursor  # noqa: E402

from kbapp.client.app import App  # noqa: E402
from kbapp.gui import theme  # noqa: E402
from kbapp.gui.main import setup_application  # noqa: E402
from kbapp.gui.session import Session  # noqa: E402
from kbapp.gui.window import MainWindow  # noqa: E402


async def person(home: Path, url: str, name: str) -> App:
    app = App(home)
    await app.open()
    await app.signup(name, device_name=f"{name}-laptop", server_url=url)
    return app


def line(page, text: str):
    return next((ln for ln in page.model.items if ln.msg is not None and ln.msg.text == text), None)


async def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="kbapp-chat-shots-"))
    QCursor.setPos(1439, 899)
    s = Session(tmp / "alice")
    await s.open()
    url = await s.start_embedded()
    await s.app.signup("alice", device_name="alice-desktop", server_url=url)
    s.remember_embedded()
    await s.close()
    window = MainWindow(Session(tmp / "alice"))
    window.resize(1280, 800)
    window.move(0, 0)
    window.show()
    await window.start()
    await until(lambda: window.shell is not None)
    shell, page = window.shell, window.shell.chat
    bob = await person(tmp / "bob", url, "bob")
    carol = await person(tmp / "carol", url, "carol")
    app = window.app
    await app.create_team("acme")
    await app.add_member("acme", "bob", "writer")
    await app.add_member("acme", "carol", "writer")
    await app.chat.create_channel("acme#design", topic="Mock-ups and colours")

    shell.go("chat")
    await page.open_named("acme#general")
    await until(lambda: page.current is not None)
    await app.chat.send("acme#general", "Morning all! The release notes draft is in the shared folder.")
    await bob.chat.send("acme#general", "Thanks, reading it now.")
    r = await bob.chat.send("acme#general", "One thing: should we mention the new chat search?\n"
                                            "It finds messages in every conversation.")
    for a in (app, carol):
        await a.chat.read("acme#general", sync=True)     # what bob wrote, fetched and verified
    await carol.chat.send("acme#general", "Yes please, it is the feature people asked for most.", reply_to=r.msg_id)
    await until(lambda: line(page, "Yes please, it is the feature people asked for most.") is not None, 30)
    await app.chat.react("acme#general", r.msg_id, "👍")
    await carol.chat.react("acme#general", r.msg_id, "👍")
    await carol.chat.react("acme#general", r.msg_id, "🎉")
    await carol.chat.send("acme#general", "I can write that paragraph.", thread=r.msg_id)
    await bob.chat.read("acme#general", sync=True)
    await bob.chat.send("acme#general", "Great, thank you!", thread=r.msg_id)
    await app.chat.send("acme#general", "Lovely. @carol ping me when it is in.")
    await until(lambda: (ln := line(page, r and "One thing: should we mention the new chat search?\n"
                                              "It finds messages in every conversation.")) is not None
                and ln.msg.replies == 2 and len(ln.msg.reactions) == 2, 30)

    await bob.chat.send("alice,bob", "Hi alice, here are the photos from Friday.")
    photo = tmp / "friday.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 900)
    await bob.chat.upload("alice,bob", photo)
    await page.refresh(sync=True)
    await settle(0.8)
    shoot(window, "chat-channel")

    await page.open_named("alice,bob")
    await until(lambda: any(ln.msg is not None and ln.msg.type == "attachment" for ln in page.model.items), 30)
    page.composer.edit.setPlainText("Thank you! The one by the lake is my favourite")
    await settle(0.8)
    shoot(window, "chat-dm")

    await page.open_named("acme#general")
    await until(lambda: line(page, "I can write that paragraph.") is None and page.model.rowCount() > 3, 30)
    page.open_thread(r.msg_id)
    await until(lambda: page.thread.model.rowCount() == 3, 30)
    await settle(0.8)
    shoot(window, "chat-thread")

    page.close_thread()
    # the server withholds a body: alice's push channel is off while carol writes in #design,
    # the server's database loses the body of one message, then alice opens #design
    await app.sync.stop()
    await carol.chat.send("acme#design", "Here are the new mock-ups for the settings page.")
    hidden = await carol.chat.send("acme#design", "I would pick the second one: it reads better.")
    await bob.chat.read("acme#design", sync=True)
    await bob.chat.send("acme#design", "Agreed, the second one.")
    conv_id = (await carol.chat.conv("acme#design")).conv_id
    db = sqlite3.connect(window.session.embedded_dir() / "server.sqlite3")
    db.execute("UPDATE chat_messages SET body = NULL WHERE conv_id = ? AND msg_id = ?", (conv_id, hidden.msg_id))
    db.commit()
    db.close()
    await page.open_named("acme#design")
    await until(lambda: any(ln.msg is not None and ln.msg.status == "withheld" for ln in page.model.items), 30)
    await settle(0.8)
    shoot(window, "chat-withheld")
    app.sync.start()

    await page.open_named("acme#general")
    theme.current().set_choice("dark")
    page.toggle_info()
    await settle(0.8)
    shoot(window, "chat-dark")

    for other in (bob, carol):
        await other.close()
    await window.shutdown()


if __name__ == "__main__":
    qapp = setup_application(sys.argv)
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(main())
