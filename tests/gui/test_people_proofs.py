"""People: proofs with their live states, proof links (asked first, web links only),
Follow / Unfollow, and the banner when a followed identity changed (a new proof, a
broken one, a revoked device, a reset account), against loopback service imitations."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QUrl, Qt
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox

from kbapp.gui.models import ProofTableModel

from gui_support import TIMEOUT_MS
from proof_support import prove, reset_account, revoke_paper_device


@pytest.fixture
def alice(alice_window, fakes):
    """alice's window (bob on the same server, with a paper key), proof checks on the fakes."""
    fakes.reset()
    w, url = alice_window
    w.app.proof_config = fakes.config()
    w.shell.go("people")
    return w, url


def look_up(qtbot, people, name: str) -> None:
    before = people._request
    people.search.setText(name)
    qtbot.mouseClick(people.lookup_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: people._request > before and people.card.badge.state in ("verified", "broken")
                    and not people.busy.busy, timeout=TIMEOUT_MS)


def rows(model) -> dict:
    return {(p.service, p.name): model.state_of(i) for i, p in enumerate(model.proofs)}


def row_of(model, service: str) -> int:
    return next(i for i, p in enumerate(model.proofs) if p.service == service)


def click_cell(qtbot, view, index) -> None:
    qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=view.visualRect(index).center())


def message_box(w, name: str) -> QMessageBox:
    box = w.findChild(QMessageBox, name)
    assert box is not None and box.isVisible()
    return box


def test_proofs_with_states_and_links(qtbot, qtmodeltester, alice, fakes, tmp_path, run, monkeypatch):
    w, _url = alice
    for service, name in (("website", "bob.dev"), ("github", "bob"), ("dns", "bob.dev")):
        run(prove(tmp_path / "bob", fakes, service, name))
    people = w.shell.people
    card = people.card
    look_up(qtbot, people, "bob")
    model = card.proofs
    qtmodeltester.check(model)
    assert rows(model) == {("website", "bob.dev"): "ok", ("github", "bob"): "ok", ("dns", "bob.dev"): "ok"}
    assert card.proofs_view.isVisible() and not card.proofs_empty_row.isVisible()
    web = row_of(model, "website")
    assert model.data(model.index(web, 0)) == "bob.dev"
    assert model.data(model.index(web, 1)) == "Website"
    assert model.data(model.index(web, ProofTableModel.STATE_COL)) == "OK"
    link = model.index(web, ProofTableModel.LINK_COL)
    assert model.data(link) == "bob.dev/.well-known/kbapp.txt"
    assert "https://bob.dev/.well-known/kbapp.txt" in model.data(link, Qt.ToolTipRole)

    # the website deletes the proof: broken, with the reason shown and as a tooltip
    fakes.post("website", "bob.dev", None)
    look_up(qtbot, people, "bob")
    qtmodeltester.check(model)
    assert rows(model)[("website", "bob.dev")] == "broken"
    assert rows(model)[("github", "bob")] == "ok"
    web = row_of(model, "website")
    assert model.data(model.index(web, ProofTableModel.STATE_COL)) == "Broken"
    assert model.data(model.index(web, 3)) == "HTTP 404 (not found)"   # the URL is in the link column
    assert "Broken" in model.data(model.index(web, ProofTableModel.STATE_COL), Qt.ToolTipRole)
    assert "404" in model.data(model.index(web, ProofTableModel.STATE_COL), Qt.ToolTipRole)

    # links open only after a confirmation
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    link = model.index(web, ProofTableModel.LINK_COL)
    click_cell(qtbot, card.proofs_view, link)
    qtbot.waitUntil(lambda: w.findChild(QMessageBox, "openLinkBox") is not None, timeout=TIMEOUT_MS)
    box = message_box(w, "openLinkBox")
    assert box.textFormat() == Qt.PlainText
    assert "https://bob.dev/.well-known/kbapp.txt" in box.informativeText()
    box.button(QMessageBox.Cancel).click()
    qtbot.waitUntil(lambda: w.findChild(QMessageBox, "openLinkBox") is None, timeout=TIMEOUT_MS)
    assert opened == []

    click_cell(qtbot, card.proofs_view, link)
    qtbot.waitUntil(lambda: w.findChild(QMessageBox, "openLinkBox") is not None, timeout=TIMEOUT_MS)
    message_box(w, "openLinkBox").findChild(object, "openLinkButton").click()
    qtbot.waitUntil(lambda: bool(opened), timeout=TIMEOUT_MS)
    assert opened == [QUrl("https://bob.dev/.well-known/kbapp.txt")]

    # a DNS proof has no web page: nothing is offered, nothing opened
    dns_link = model.index(row_of(model, "dns"), ProofTableModel.LINK_COL)
    assert model.data(dns_link) == "dns:_kbapp.bob.dev?type=TXT"
    assert "not a web link" in model.data(dns_link, Qt.ToolTipRole)
    click_cell(qtbot, card.proofs_view, dns_link)
    qtbot.waitUntil(lambda: people.banner.isVisible(), timeout=TIMEOUT_MS)
    assert people.banner.title.text() == "Nothing to open"
    assert w.findChild(QMessageBox, "openLinkBox") is None
    assert opened == [QUrl("https://bob.dev/.well-known/kbapp.txt")]


def test_proof_rows_are_busy_while_checked(qtbot, qtmodeltester, alice, fakes, tmp_path, run):
    """A slow service: the window keeps running, the row says Checking…, then a temporary failure."""
    w, _url = alice
    run(prove(tmp_path / "bob", fakes, "website", "bob.dev"))
    people = w.shell.people
    model = people.card.proofs
    fakes.web.mode = "slow"
    people.search.setText("bob")
    qtbot.mouseClick(people.lookup_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: rows(model).get(("website", "bob.dev")) == "checking", timeout=TIMEOUT_MS)
    qtmodeltester.check(model)
    assert model.data(model.index(0, ProofTableModel.STATE_COL)) == "Checking…"
    assert people.busy.busy and people.card.proofs_view.isVisible()
    assert not people.card.chain_details.isVisible()    # nothing stale from an earlier answer
    qtbot.waitUntil(lambda: rows(model).get(("website", "bob.dev")) == "temporary", timeout=TIMEOUT_MS)
    assert model.data(model.index(0, ProofTableModel.STATE_COL)) == "Temporary failure"
    assert people.card.badge.state == "verified" and people.card.chain_details.isVisible()


def test_follow_and_unfollow_sign_links(qtbot, alice, run):
    w, _url = alice
    people = w.shell.people
    card = people.card
    look_up(qtbot, people, "bob")
    b = card.follow_button
    assert b.isVisible() and b.isEnabled() and b.text() == "Follow"
    qtbot.mouseClick(b, Qt.LeftButton)
    qtbot.waitUntil(lambda: b.text() == "Unfollow" and not people.busy.busy, timeout=TIMEOUT_MS)
    assert [f.username for f in run(w.app.following())] == ["bob"]
    assert card.ident.following and not card.follow_banner.isVisible()
    assert "You follow bob" in people.banner.title.text()

    qtbot.mouseClick(b, Qt.LeftButton)
    qtbot.waitUntil(lambda: b.text() == "Follow" and not people.busy.busy, timeout=TIMEOUT_MS)
    assert run(w.app.following()) == []

    # yourself: no Follow, "Prove an account" instead; a broken identity cannot be followed
    look_up(qtbot, people, "alice")
    assert not b.isVisible() and card.prove_button.isVisible()
    assert "yourself" in b.toolTip()


def test_follow_diff_banners(qtbot, alice, fakes, tmp_path, run):
    """bob adds a proof, loses one, revokes a device, resets his account: each time alice's
    banner names the change; "Accept changes and re-follow" signs a new follow and clears it."""
    w, url = alice
    bob = tmp_path / "bob"
    run(prove(bob, fakes, "website", "bob.dev"))
    people = w.shell.people
    card = people.card
    banner = card.follow_banner
    look_up(qtbot, people, "bob")
    qtbot.mouseClick(card.follow_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: card.follow_button.text() == "Unfollow" and not people.busy.busy, timeout=TIMEOUT_MS)
    assert not banner.isVisible()

    def accept() -> None:
        follows_before = run(w.app.following())[0].seqno
        qtbot.mouseClick(banner.accept_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: not banner.isVisible() and not people.busy.busy, timeout=TIMEOUT_MS)
        assert run(w.app.following())[0].seqno > follows_before   # a new track link
        assert card.ident.following and card.ident.follow_diff == []

    def look() -> None:
        look_up(qtbot, people, "bob")
        assert banner.isVisible()
        assert banner.title.text() == "bob changed since you followed them"

    # 1. a new proof: amber
    run(prove(bob, fakes, "github", "bob"))
    look()
    assert banner.lines == ["New proof: bob@github"]
    assert banner.property("kind") == "warning"
    assert banner.changes.text() == "•  New proof: bob@github"
    accept()

    # 2. a proof breaks (deleted on the website): red
    fakes.post("website", "bob.dev", None)
    look()
    assert banner.lines == ["Proof no longer checks: bob.dev@website is now broken"]
    assert banner.property("kind") == "error"
    accept()

    # 3. a device is revoked (its signing key with it)
    paper = run(revoke_paper_device(bob, fakes))
    look()
    assert f"Device revoked: {paper.name}" in banner.lines
    assert any(line.startswith("Signing key removed: ") for line in banner.lines)
    assert banner.property("kind") == "error"
    accept()

    # 4. the account is reset: that alone is said, in red
    run(reset_account(url, bob, fakes, "bob"))
    look()
    assert len(banner.lines) == 1 and banner.lines[0].startswith("The account was reset")
    assert banner.property("kind") == "error"
    assert card.proofs.rowCount() == 0   # a reset drops the old proofs
    accept()
