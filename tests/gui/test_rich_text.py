"""Untrusted strings are shown as typed, never rendered as rich text.

carol posts a proof whose account name is markup (a broken proof that would draw
a green VERIFIED and load a local file) from a device whose name is markup too;
alice looks her up. Hostile device names, file names, tags and a typed proof
name reach the Devices, Photos and Prove pages; Teams, Settings and the status
bar are visited. Then every widget of the window (QApplication.allWidgets()),
every label, every tooltip and every item view's DisplayRole and ToolTipRole is
read the way Qt will show it: wherever the hostile text appears, its markup must
be shown literally, never interpreted.
"""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtGui import Qt as QtG
from PySide6.QtWidgets import QAbstractItemView, QApplication, QHeaderView, QLabel

from kbapp.client.proofs.website import WebsiteService
from kbapp.gui.plain import plain_notice, plain_tip

from gui_support import TIMEOUT_MS, other_user
from proof_support import as_user

TAG = '<b style="color:green">VERIFIED</b>'
HOSTILE = TAG + '<img src="file:///etc/passwd">'
HOSTILE_FILE = TAG + '<img src="x">.jpg'       # a file name cannot hold "/"
HOSTILE_DEVICE = TAG + "<img src=x>"           # a device name is at most 64 characters
MARK = "VERIFIED"


def shown(text: str, fmt=Qt.AutoText) -> str:
    """What a person reads: the text itself when Qt treats it as plain, else the rendered document."""
    if fmt == Qt.PlainText or (fmt == Qt.AutoText and not QtG.mightBeRichText(text)):
        return text
    doc = QTextDocument()
    doc.setHtml(text)
    return doc.toPlainText()


class Walk:
    """Every string the window shows, with where it came from; `bad` lists those rendered as markup."""

    def __init__(self):
        self.seen: dict[str, int] = {}
        self.where: set[str] = set()
        self.bad: list[str] = []

    def check(self, where: str, text, fmt=Qt.AutoText) -> None:
        if not isinstance(text, str) or MARK not in text:
            return
        self.seen[where.split(":")[0]] = self.seen.get(where.split(":")[0], 0) + 1
        self.where.add(where)
        if '<b style="color:green">' not in shown(text, fmt):
            self.bad.append(f"{where}: {text[:160]!r}")

    def model(self, where: str, model, parent=QModelIndex(), depth=0) -> None:
        if model is None or depth > 4:
            return
        for r in range(min(model.rowCount(parent), 500)):
            try:
                columns = model.columnCount(parent)
            except TypeError:   # a list model: one column, columnCount not exposed
                columns = 1
            for c in range(max(1, columns)):
                ix = model.index(r, c, parent)
                # the default delegates (and this app's) draw DisplayRole as plain text
                self.check(f"display:{where}", model.data(ix, Qt.DisplayRole), Qt.PlainText)
                self.check(f"tooltip:{where}", model.data(ix, Qt.ToolTipRole))
                if c == 0 and model.rowCount(ix) > 0:
                    self.model(where, model, ix, depth + 1)

    def widgets(self) -> None:
        for w in QApplication.allWidgets():
            name = f"{type(w).__name__}#{w.objectName()}"
            self.check(f"tooltip:{name}", w.toolTip())
            if isinstance(w, QLabel):
                self.check(f"label:{name}", w.text(), w.textFormat())
            if isinstance(w, QAbstractItemView) and not isinstance(w, QHeaderView):
                self.model(name, w.model())


@pytest.fixture
def hostile(alice_window, fakes, run, tmp_path, qtbot, monkeypatch):
    """alice's window after looking up carol, whose broken proof and device are named with markup."""
    fakes.reset()
    w, url = alice_window
    w.app.proof_config = fakes.config()
    run(other_user(tmp_path / "carol", url, "carol", HOSTILE_DEVICE))

    async def post_unchecked(app):   # a modified client: any name, posted without a check
        req = await app.start_proof("website", HOSTILE)
        await app.finish_proof(req, check=False)

    with monkeypatch.context() as m:
        m.setattr(WebsiteService, "normalize", lambda self, name: name)
        run(as_user(tmp_path / "carol", fakes.config(), post_unchecked))
    people = w.shell.people
    w.shell.go("people")
    before = people._request
    people.search.setText("carol")
    people.lookup_button.click()
    qtbot.waitUntil(lambda: people._request > before and people.card.badge.state in ("verified", "broken")
                    and not people.busy.busy, timeout=TIMEOUT_MS)
    assert any(p.state == "broken" for p in people.card.proofs.proofs)
    return w


def test_no_hostile_string_is_rendered_as_rich_text(qtbot, hostile, run):
    w = hostile
    walk = Walk()
    walk.widgets()   # People, with carol's card

    # Devices: one of alice's devices named with markup, selected (its hint names it)
    dev = w.shell.devices
    w.shell.go("devices")
    qtbot.waitUntil(lambda: dev.model.rowCount() > 0, timeout=TIMEOUT_MS)
    dev.model.set_devices([dataclasses.replace(d, name=HOSTILE, current=False) for d in dev.model.devices])
    dev.view.selectRow(0)
    walk.widgets()

    # Photos: a hit with a hostile file name and tags, shown in the grid and the detail pane
    from kbapp.gui.pages.photos import PhotosPage
    if isinstance(w.shell.photos, PhotosPage):
        from kbapp.ml.library import Hit
        page = w.shell.photos
        w.shell.go("photos")
        page.model.set_hits([Hit(f"/photos/{HOSTILE_FILE}", 1.0, 1, [HOSTILE, "dog"], None, None,
                                 ["similarity " + HOSTILE])])
        page.show_detail(0)
        page.detail.chips_model.set_tags([(HOSTILE, 0.9, "concept")])
        walk.widgets()

    for key in ("teams", "settings"):
        w.shell.go(key)
        qtbot.wait(50)
        walk.widgets()

    # the Prove dialog with a hostile name typed in: the error names it
    w.shell.go("people")
    people = w.shell.people
    before = people._request
    people.me_button.click()
    qtbot.waitUntil(lambda: people._request > before and not people.busy.busy, timeout=TIMEOUT_MS)
    people.card.prove_button.click()
    qtbot.waitUntil(lambda: people.prove_dialog is not None and people.prove_dialog.isVisible(),
                    timeout=TIMEOUT_MS)
    dlg = people.prove_dialog
    dlg.service.setCurrentIndex(dlg.service.findData("website"))
    dlg.name.setText(HOSTILE)
    dlg.next_button.click()
    qtbot.waitUntil(lambda: not dlg.busy_now, timeout=TIMEOUT_MS)
    walk.widgets()
    dlg.reject()

    # the status bar says where we are; the tray's alert carries a server message
    w.tray.set_alert(True, "The server lied", HOSTILE)
    walk.check("tray:alert_text", w.tray.alert_text, Qt.PlainText)
    walk.widgets()
    w.tray.set_alert(False)

    assert not walk.bad, "rendered as rich text:\n" + "\n".join(sorted(set(walk.bad)))
    # the walk saw the hostile strings where they land (a walk that sees nothing tests nothing)
    expected = {"tooltip:QTableView#peopleProofs", "display:QTableView#peopleProofs",
                "display:QTableView#peopleDevices", "display:QTableView#devicesView", "label:QLabel#devicesHint",
                "label:QLabel#bannerMessage"}
    if isinstance(w.shell.photos, PhotosPage):
        expected |= {"tooltip:QListView#photoGrid", "tooltip:QLabel#photoName", "tooltip:QListView#tagChips"}
    assert expected <= walk.where, sorted(walk.where)


def test_plain_tip_and_notice():
    assert plain_tip("Broken: HTTP 404") == "Broken: HTTP 404"            # plain stays as it is
    assert plain_tip("") == "" and plain_tip(None) is None
    tip = plain_tip(HOSTILE + "\nsecond line")
    assert shown(tip) == HOSTILE + "\nsecond line"                         # shown as typed, both lines
    assert shown(plain_tip("a & b <c>")) == "a & b <c>"
    notice = plain_notice(HOSTILE)
    assert not any(ch in notice for ch in "<>&") and MARK in notice


def test_a_window_title_shows_brackets_star_as_written(qtbot):
    """Qt drops `[*]` from a window title (its "modified" placeholder): `holiday[*].jpg` showed
    as `holiday.jpg` (found in review); plain_title keeps it."""
    from PySide6.QtWidgets import QWidget

    from kbapp.gui.plain import plain_title

    w = QWidget()
    qtbot.addWidget(w)
    w.setWindowTitle(plain_title("holiday[*].jpg"))
    w.show()
    qtbot.waitExposed(w)
    assert w.windowHandle().title() == "holiday[*].jpg"
