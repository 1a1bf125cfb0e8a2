"""Screenshots of the real window for docs/user-guide.md.

Run under a virtual X server (a real window, real fonts, no window manager):

    xvfb-run -a -s "-screen 0 1440x900x24" .venv/bin/python docs/screenshots/make.py

It drives the app as a user would, in a throwaway folder: the welcome flow creates
alice on an embedded server; bob signs up from a second profile; alice looks bob up
(verified), then the server's database is tampered with and she looks again (broken);
alice adds a device with a phrase, typed into a second window's welcome flow.
Proofs: carol proves a website, a domain, GitHub and Mastodon against loopback
imitations of those services that this script serves itself
(tests/integration/fake_services.py); alice follows her, then carol's website
loses the proof (broken, and the follow banner); alice's own "Prove an account".
Teams: alice makes acme (with acme.eng and acme.eng.web), adds four people and invites
heidi@github, who is not on kbapp yet.
Photos: alice watches a folder of 13 ImageNet dev photos (demo only: they are for
research and testing and never ship with the app), searches "dog", then shows one
photo the NSFW model puts in its "review" band, blurred.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KBAPP_KEYSTORE", "memory")
os.environ.setdefault("KBAPP_THROWAWAY", "1")
ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration"))  # the loopback service imitations

import PySide6.QtWidgets  # noqa: E402,F401 - PySide6 before qasync
from PySide6.QtGui import QCursor  # noqa: E402
from PySide6.QtWidgets import QScrollArea  # noqa: E402
import qasync  # noqa: E402

from kbapp.client.app import App  # noqa: E402
from kbapp.client.proofs import ProofConfig  # noqa: E402
from kbapp.gui import theme  # noqa: E402
from kbapp.gui.main import setup_application  # noqa: E402
from kbapp.gui.session import Session  # noqa: E402
from kbapp.gui.window import MainWindow  # noqa: E402
import kbapp.gui.session  # noqa: E402
from kbapp.main import embedded_server  # noqa: E402

kbapp.gui.session.server_factory = embedded_server   # as the launcher (kbapp/main.py) hands it in


async def until(cond, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError("the window did not get there")
        await asyncio.sleep(0.05)


async def settle(seconds: float = 0.4) -> None:
    """Let layouts, animations and the X server catch up before grabbing."""
    await asyncio.sleep(seconds)  # the Qt loop runs meanwhile (never processEvents() inside a task)


def shoot(window, name: str) -> None:
    screen = window.screen()
    pm = screen.grabWindow(window.winId())
    if pm.isNull() or pm.width() < 100:
        pm = window.grab()  # no X server: what the window renders itself
    path = OUT / f"{name}.png"
    pm.save(str(path))
    print(f"saved {path.relative_to(ROOT)} ({pm.width()}x{pm.height()})")


# -- two profiles side by side (make_files.py, make_chat_media.py) ------------------------------

def dev_images() -> Path:
    """The ImageNet dev photos (a demo in the docs only): the shared checkout's, else the repository's."""
    d = ROOT.parent / "shared" / "data" / "imagenet-val-dev" / "images"
    return d if d.is_dir() else ROOT / "tests" / "data" / "imagenet-val-dev" / "images"


async def alice_and_bob(tmp: Path, height: int = 800) -> tuple[MainWindow, MainWindow]:
    """Two started windows, 1100 px wide, side by side: alice's runs the embedded server, bob's
    is his own profile on it (in this process)."""
    QCursor.setPos(2239, 899)
    s = Session(tmp / "alice")
    await s.open()
    url = await s.start_embedded()
    await s.app.signup("alice", device_name="alice-desktop", server_url=url)
    s.remember_embedded()
    await s.close()
    windows = []
    for who, x in (("alice", 0), ("bob", 1120)):
        if who == "bob":                         # on alice's server, running again in her window
            b = App(tmp / "bob")
            await b.open()
            await b.signup("bob", device_name="bob-laptop", server_url=url)
            await b.close()
        w = MainWindow(Session(tmp / who))
        w.resize(1100, height)
        w.move(x, 0)
        w.show()
        await w.start()
        await until(lambda w=w: w.shell is not None, 60)
        windows.append(w)
    return windows[0], windows[1]


def grab(window):
    """The screen's pixels where the window lies wholly on the (virtual) screen, else the widget
    rendered by itself (a second window placed past the screen's edge came out black)."""
    if not window.screen().geometry().contains(window.frameGeometry()):
        return window.grab()
    pm = window.screen().grabWindow(window.winId())
    return pm if not pm.isNull() and pm.width() >= 100 else window.grab()


def shoot_side_by_side(left_window, right_window, name: str) -> None:
    from PySide6.QtGui import QPainter, QPixmap

    left, right = grab(left_window), grab(right_window)
    both = QPixmap(left.width() + right.width(), max(left.height(), right.height()))
    both.fill()
    p = QPainter(both)
    p.drawPixmap(0, 0, left)
    p.drawPixmap(left.width(), 0, right)
    p.end()
    both.save(str(OUT / f"{name}.png"))
    print(f"saved {(OUT / f'{name}.png').relative_to(ROOT)} ({both.width()}x{both.height()})")


def tamper(db_path: Path, username_hint: str) -> None:
    """What a malicious server could do: change a device name inside a stored, signed link."""
    db = sqlite3.connect(db_path)
    uid, seqno, wire = db.execute("SELECT uid, seqno, wire FROM links WHERE wire LIKE ? ORDER BY seqno LIMIT 1",
                                  (f"%{username_hint}%",)).fetchone()
    link = json.loads(wire)
    link["payload_json"] = link["payload_json"].replace(username_hint, "bobs-new-laptop")
    db.execute("UPDATE links SET wire = ? WHERE uid = ? AND seqno = ?", (json.dumps(link), uid, seqno))
    db.commit()
    db.close()


async def proofs(window, tmp: Path) -> None:
    """carol's proofs, checked live on imitations of each service served here on 127.0.0.1."""
    from fake_services import FakeDNS, FakeGitHub, FakeMastodon, FakeWebsite, allow_list

    web, gh, masto, dns_ = FakeWebsite(), FakeGitHub(), FakeMastodon(), FakeDNS()
    try:
        cfg = ProofConfig(timeout=2.0, ttl=0, website_hosts={"carol.dev": web.url, "alice.dev": web.url},
                          dns_resolver="127.0.0.1", dns_port=dns_.port, github_api=gh.url, github_raw_hosts=[],
                          mastodon_instances={"mastodon.social": masto.url},
                          allow_private_hosts=allow_list(web, gh, masto))
        window.app.proof_config = cfg
        post = {"website": lambda name, t: setattr(web, "text", t),
                "github": lambda name, t: gh.set_gist(name, t),
                "mastodon": lambda name, t: masto.post(name.split("@")[0], t),
                "dns": lambda name, t: dns_.records.__setitem__(f"_kbapp.{name}", [t])}
        carol = App(tmp / "carol")
        await carol.open()
        carol.proof_config = cfg
        await carol.signup("carol", device_name="carol-laptop", server_url=window.session.server.url)
        await carol.create_paperkey()
        for service, name in (("website", "carol.dev"), ("github", "carol"), ("dns", "carol.dev"),
                              ("mastodon", "carol@mastodon.social")):
            req = await carol.start_proof(service, name)
            post[service](req.name, req.text)
            await carol.finish_proof(req)
        await carol.close()

        shell = window.shell
        people = shell.people
        people.search.setText("carol")
        await people.lookup("carol")
        people.card.follow_button.click()
        await until(lambda: people.card.ident is not None and people.card.ident.following and not people.busy.busy)
        people.banner.clear()
        await settle(0.6)
        shoot(window, "people-proofs")

        web.text = None    # carol's website drops the proof file
        await people.lookup("carol")
        await until(lambda: people.card.follow_banner.isVisible())
        await settle(0.6)
        shoot(window, "people-proof-broken")

        people.search.setText("alice")
        await people.lookup("alice")
        people.card.prove_button.click()
        await until(lambda: people.prove_dialog is not None)
        dlg = people.prove_dialog
        dlg.service.setCurrentIndex(dlg.service.findData("github"))
        dlg.name.setText("alice")
        dlg.next_button.click()
        await until(lambda: dlg.current_page() == "post" and not dlg.busy_now)
        await settle(0.6)
        shoot(dlg, "prove-dialog")
        dlg.reject()
        await until(lambda: people.prove_dialog is None)
    finally:
        for f in (web, gh, masto, dns_):
            f.stop()


PHOTOS = ["ILSVRC2012_val_00000355.JPEG", "ILSVRC2012_val_00001872.JPEG", "ILSVRC2012_val_00002318.JPEG",
          "ILSVRC2012_val_00002393.JPEG", "ILSVRC2012_val_00002609.JPEG", "ILSVRC2012_val_00003953.JPEG",
          "ILSVRC2012_val_00004049.JPEG", "ILSVRC2012_val_00004097.JPEG", "ILSVRC2012_val_00000796.JPEG",
          "ILSVRC2012_val_00005362.JPEG", "ILSVRC2012_val_00000347.JPEG", "ILSVRC2012_val_00000556.JPEG",
          "ILSVRC2012_val_00006236.JPEG"]   # 8 dogs, 2 cats, 2 boats, and one open_nsfw scores 0.735 ("review")


async def photos(window, tmp: Path) -> None:
    """The Photos page: ImageNet dev photos (a demo in the docs only; never shipped with the app),
    indexed from a watched folder, a search, the detail pane's tag chips, one blurred tile."""
    import shutil

    dev = ROOT.parent / "shared" / "data" / "imagenet-val-dev" / "images"
    folder = tmp / "Pictures"
    folder.mkdir()
    for name in PHOTOS:
        shutil.copyfile(dev / name, folder / name)
    shell = window.shell
    service = shell.photo_service
    shell.go("photos")
    page = shell.photos
    service.add_folder(folder)
    await until(lambda: service.last_summary is not None, timeout=120)
    page.search.setText("dog")
    await page.run_search()
    page.grid.setCurrentIndex(page.model.index(1))
    await until(lambda: page.detail.chips_model.rowCount() > 0 and page.detail.chips_model.tags[0][1] > 0)
    await until(lambda: page.thumbs.pending() == 0)
    await settle(1.0)
    shoot(window, "photos")

    page.search.clear()   # every photo: the sensitive one is drawn blurred until clicked
    await page.run_search()
    await until(lambda: any(it.sensitive for it in page.model.items))
    row = next(i for i, it in enumerate(page.model.items) if it.sensitive)
    page.grid.setCurrentIndex(page.model.index(row))
    await until(lambda: page.thumbs.pending() == 0 and page.detail.chips_model.rowCount() > 0)
    await settle(1.0)
    shoot(window, "photos-sensitive")

    # the full-size viewer, on the first dog
    page.search.setText("dog")
    await page.run_search()
    page.open_viewer(0)
    viewer = page.viewer
    await until(lambda: viewer.image is not None)
    await settle(0.6)
    shoot(viewer, "photo-viewer")
    viewer.reject()


async def teams(window, tmp: Path) -> None:
    """acme with a subteam and five members (their identities checked: the badges), made
    through the Teams page's own dialogs; the others sign up on their own profiles."""
    url = window.session.server.url
    for name in ("dave", "erin", "frank", "grace"):
        app = App(tmp / name)
        await app.open()
        await app.signup(name, device_name=f"{name}-laptop", server_url=url)
        await app.close()
    shell = window.shell
    shell.go("teams")
    page = shell.teams
    await until(lambda: page.loaded and not page.busy.busy)

    async def dialog(button, fill) -> None:
        button.click()
        await until(lambda: page.dialog is not None and page.dialog.isVisible())
        fill(page.dialog)
        page.dialog._check()   # OK: the action runs with the dialog open, which closes once it worked
        await settle(0.2)   # the page's slot goes on from there
        await until(lambda: page.dialog is None and not page._ops and not page.busy.busy)

    await dialog(page.create_button, lambda d: d.edit.setText("acme"))
    for who, role in (("dave", "admin"), ("erin", "writer"), ("frank", "writer"), ("grace", "reader"),
                      ("heidi@github", "writer")):   # not on kbapp yet: a pending invite
        def fill(d, who=who, role=role):
            d.form.username.setText(who)
            d.form.role.setCurrentIndex(d.form.role.findData(role))
        await dialog(page.add_button, fill)
    await dialog(page.subteam_button, lambda d: d.edit.setText("eng"))
    await dialog(page.subteam_button, lambda d: d.edit.setText("web"))   # acme.eng.web
    page.tree.setCurrentIndex(page.tree_model.index_of("acme"))
    await until(lambda: page.view is not None and page.view.name == "acme" and not page.busy.busy)
    page.members_view.selectRow(page.members.row_of("erin"))
    page.banner.clear()
    await settle(0.6)
    shoot(window, "teams")
    # further down: the pending invite for heidi@github, selected, with Cancel
    page.invites_view.setCurrentIndex(page.invites.index(0, 0))
    area = page.findChild(QScrollArea)
    area.ensureWidgetVisible(page.invite_note, 0, 24)
    await settle(0.6)
    shoot(window, "teams-invites")
    area.verticalScrollBar().setValue(0)


async def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="kbapp-shots-"))
    QCursor.setPos(1439, 899)  # the pointer in a corner: no button shows a stray hover
    window = MainWindow(Session(tmp / "alice"))
    window.resize(1180, 760)
    window.move(0, 0)
    window.show()
    await window.start()
    wf = window.welcome
    await settle()
    shoot(window, "welcome")

    wf.start.createHereButton.click()
    wf.create.username.setText("alice")
    wf.create.deviceName.setText("alice-desktop")
    await settle()
    shoot(window, "welcome-create")
    wf.create.createButton.click()
    await until(lambda: wf.current_page() == "offer")
    wf.offer.createPaperKeyButton.click()
    await until(lambda: wf.current_page() == "paper")
    await settle()
    shoot(window, "paper-key")
    wf.paper.form.wroteItDown.setChecked(True)
    wf.paper.form.continueButton.click()
    await until(lambda: window.shell is not None and window.stack.currentWidget() is window.shell)

    url = window.session.server.url
    bob = App(tmp / "bob")
    await bob.open()
    await bob.signup("bob", device_name="bob-laptop", server_url=url)
    await bob.create_paperkey()
    await bob.close()

    shell = window.shell
    shell.go("people")
    shell.people.search.setText("bob")
    await shell.people.lookup("bob")
    await settle(0.6)
    shoot(window, "people-verified")

    tamper(window.session.embedded_dir() / "server.sqlite3", "bob-laptop")
    await shell.people.lookup("bob")
    await settle(0.6)
    shoot(window, "people-broken")

    theme.current().set_choice("dark")  # what a dark system palette gets
    shell.people.search.setText("alice")
    await shell.people.lookup("alice")
    await settle(0.6)
    shoot(window, "people-dark")
    theme.current().set_choice("light")

    await proofs(window, tmp)

    shell.go("devices")
    await until(lambda: shell.devices.model.rowCount() >= 2)

    # Add a device: the phrase in alice's window, typed into a new computer's welcome flow
    shell.devices.add_device_button.click()
    await until(lambda: shell.devices.add_dialog is not None and bool(shell.devices.add_dialog.phrase))
    dialog = shell.devices.add_dialog
    await settle(0.6)
    shoot(dialog, "add-device")
    laptop = MainWindow(Session(tmp / "alice-laptop"))
    laptop.resize(1180, 760)
    laptop.move(0, 0)
    laptop.show()
    await laptop.start()
    lw = laptop.welcome
    lw.start.phraseButton.click()
    lw.server.serverUrl.setText(url)
    lw.server.connectButton.click()
    await until(lambda: lw.server.phraseButton.isVisible())
    lw.server.phraseButton.click()
    lw.phrase.username.setText("alice")
    lw.phrase.words.setPlainText(dialog.phrase)
    lw.phrase.deviceName.setText("alice-laptop")
    await settle()
    shoot(laptop, "welcome-phrase")
    lw.phrase.loginButton.click()
    await until(lambda: laptop.shell is not None and shell.devices.add_dialog is None)
    await laptop.shutdown()

    await until(lambda: shell.devices.model.rowCount() >= 3)
    row = next(i for i, d in enumerate(shell.devices.model.devices) if d.type == "paper")
    shell.devices.view.selectRow(row)
    await settle()
    shoot(window, "devices")
    from kbapp.gui.revoke_dialog import RevokeDeviceDialog   # what Revoke… asks: type, date, fingerprint
    box = RevokeDeviceDialog(shell.devices.model.devices[row], window)
    box.show()
    await settle(0.6)
    shoot(box, "devices-revoke")
    box.reject()

    await photos(window, tmp)

    await teams(window, tmp)

    shell.go("settings")
    await settle(0.6)
    shoot(window, "settings")

    # the Chat page's own screenshots: docs/screenshots/make_chat.py

    window.keys.show_shortcuts()   # Help → Keyboard shortcuts (F1)
    await settle(0.6)
    shoot(window.keys.help, "keyboard-shortcuts")
    window.keys.help.reject()

    await window.shutdown()


if __name__ == "__main__":
    app = setup_application(sys.argv)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(main())
