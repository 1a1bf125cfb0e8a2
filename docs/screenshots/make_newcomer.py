"""Screenshots of the screens issue 13's last items changed (docs/user-guide.md):

    xvfb-run -a -s "-screen 0 1440x900x24" .venv/bin/python docs/screenshots/make_newcomer.py

A real server on 127.0.0.1 with bob; alice joins it from the welcome flow and types
"bob" (taken, said while typing), then signs up as alice; the People search suggests bob
as she types "b"; the Photos page answers "puppy in the snow" (dog AND snow) on ImageNet
dev photos from tests/data (a demo only: they never ship with the app).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make  # noqa: E402 - its environment, helpers and imports (the same run, the same look)
from make import App, MainWindow, QCursor, ROOT, Session, settle, setup_application, shoot, until  # noqa: E402

import qasync  # noqa: E402

PHOTOS = ["ILSVRC2012_val_00011006.JPEG",   # dogsled: dogs in the snow
          "ILSVRC2012_val_00000355.JPEG", "ILSVRC2012_val_00002318.JPEG", "ILSVRC2012_val_00004225.JPEG",
          "ILSVRC2012_val_00008374.JPEG", "ILSVRC2012_val_00000796.JPEG", "ILSVRC2012_val_00000347.JPEG",
          "ILSVRC2012_val_00000556.JPEG"]


def shoot_screen(window, name: str) -> None:
    """The window with its popups (a completer's list is a window of its own)."""
    g = window.frameGeometry()
    pm = window.screen().grabWindow(0, g.x(), g.y(), g.width(), g.height())
    if pm.isNull() or pm.width() < 100:
        return shoot(window, name)
    path = make.OUT / f"{name}.png"
    pm.save(str(path))
    print(f"saved {path.relative_to(ROOT)} ({pm.width()}x{pm.height()})")


async def main() -> None:
    from kbapp.server.main import EmbeddedServer, ServerConfig

    tmp = Path(tempfile.mkdtemp(prefix="kbapp-shots-"))
    server = EmbeddedServer(ServerConfig(data_dir=tmp / "server", port=0))
    url = server.start()
    bob = App(tmp / "bob")
    await bob.open()
    await bob.signup("bob", device_name="bob-laptop", server_url=url)
    await bob.close()

    QCursor.setPos(1439, 899)
    window = MainWindow(Session(tmp / "alice"))
    window.resize(1180, 760)
    window.move(0, 0)
    window.show()
    await window.start()
    wf = window.welcome
    wf.start.joinServerButton.click()
    wf.server.serverUrl.setText(url)
    wf.server.connectButton.click()
    await until(lambda: wf.server.fingerprintCard.isVisible())
    wf.server.signupButton.click()
    wf.create.username.setText("bob")
    wf.create.deviceName.setText("alice-desktop")
    await until(lambda: wf.availability.state == "taken")
    await settle()
    shoot(window, "welcome-name-taken")

    wf.create.username.setText("alice")
    await until(lambda: wf.availability.state == "free")
    wf.create.createButton.click()
    await until(lambda: wf.current_page() == "offer")
    wf.offer.skipButton.click()
    await until(lambda: window.shell is not None and window.stack.currentWidget() is window.shell)
    shell = window.shell
    await window.app.identify("bob")

    shell.go("people")
    people = shell.people
    window.activateWindow()
    people.search.setFocus()
    people.search.setText("b")
    people.completer_.update_for("b")
    await until(lambda: people.completer_.popup().isVisible())
    await settle(0.6)
    shoot_screen(window, "people-suggest")
    people.completer_.popup().hide()

    folder = tmp / "Pictures"
    folder.mkdir()
    dev = ROOT / "tests" / "data" / "imagenet-val-dev" / "images"
    for name in PHOTOS:
        shutil.copyfile(dev / name, folder / name)
    service = shell.photo_service
    shell.go("photos")
    page = shell.photos
    service.add_folder(folder)
    await until(lambda: service.last_summary is not None, timeout=120)
    page.search.setText("puppy in the snow")
    await page.run_search()
    if page.model.rowCount():
        page.grid.setCurrentIndex(page.model.index(0))
    await until(lambda: page.thumbs.pending() == 0)
    await settle(1.0)
    shoot(window, "photos-multiword")

    await window.shutdown()
    server.stop()


if __name__ == "__main__":
    app = setup_application(sys.argv)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(main())
