"""The "Prove an account" dialog end to end against the loopback website and GitHub
imitations: choose, post the text, "I posted it" (too early, then for real), the
signed link lands in the chain; then the proof is revoked from People."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox

from kbapp.core.proofs import proof_text

from gui_support import TIMEOUT_MS


@pytest.fixture
def me(alice_window, fakes, qtbot):
    """alice's window on her own People card."""
    fakes.reset()
    w, _url = alice_window
    w.app.proof_config = fakes.config()
    people = w.shell.people
    w.shell.go("people")
    before = people._request
    qtbot.mouseClick(people.me_button, Qt.LeftButton)       # "Your profile"
    qtbot.waitUntil(lambda: people._request > before and people.card.badge.state == "verified"
                    and not people.busy.busy, timeout=TIMEOUT_MS)
    assert people.search.text() == "alice"
    return w


def open_dialog(qtbot, people):
    assert people.card.prove_button.isVisible() and not people.card.follow_button.isVisible()
    qtbot.mouseClick(people.card.prove_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: people.prove_dialog is not None and people.prove_dialog.isVisible(), timeout=TIMEOUT_MS)
    return people.prove_dialog


def choose(qtbot, dlg, service: str, name: str) -> None:
    dlg.service.setCurrentIndex(dlg.service.findData(service))
    dlg.name.setText(name)
    qtbot.mouseClick(dlg.next_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not dlg.busy_now, timeout=TIMEOUT_MS)


def check(qtbot, dlg) -> None:
    qtbot.mouseClick(dlg.next_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not dlg.busy_now, timeout=TIMEOUT_MS)


def test_prove_website_end_to_end_then_revoke(qtbot, me, fakes, run):
    w = me
    people = w.shell.people
    dlg = open_dialog(qtbot, people)
    assert [dlg.service.itemData(i) for i in range(dlg.service.count())][:4] == ["website", "dns", "github",
                                                                                 "mastodon"]
    assert dlg.current_page() == "choose" and not dlg.next_button.isEnabled()   # no name yet

    # a bad name is a clear message, not a crash
    choose(qtbot, dlg, "website", "not a host!")
    assert dlg.current_page() == "choose"
    assert dlg.banner.title.text() == "That name can't be used"

    choose(qtbot, dlg, "website", "alice.dev")
    assert dlg.current_page() == "post"
    text = dlg.text.text()
    req = dlg.request
    assert text == proof_text("alice", req.sig_id) and dlg.text.textFormat() == Qt.PlainText
    assert "https://alice.dev/.well-known/kbapp.txt" in dlg.instructions.text()
    qtbot.mouseClick(dlg.copy_button, Qt.LeftButton)
    assert QGuiApplication.clipboard().text() == text

    # "I posted it" before posting: said plainly, nothing published
    check(qtbot, dlg)
    assert dlg.current_page() == "post"
    assert dlg.banner.title.text() == "The text is not there yet"
    assert run(w.app.list_proofs()) == []
    fakes.web.mode = "down"                                # the site answers 503
    check(qtbot, dlg)
    assert dlg.current_page() == "post"
    assert dlg.banner.title.text() == "The service did not answer" and "503" in dlg.banner.message.text()
    fakes.web.mode = "ok"

    fakes.post("website", "alice.dev", "my site\n" + text + "\n")
    check(qtbot, dlg)
    assert dlg.current_page() == "done", dlg.banner.message.text()
    assert dlg.done_text.text() == "alice.dev on Website is proven"
    assert dlg.proof.state == "ok" and dlg.proof.sig_id == req.sig_id
    qtbot.mouseClick(dlg.next_button, Qt.LeftButton)       # Done
    qtbot.waitUntil(lambda: people.prove_dialog is None, timeout=TIMEOUT_MS)

    # the People card shows the new proof (checked live), and the chain holds it
    model = people.card.proofs
    qtbot.waitUntil(lambda: model.rowCount() == 1 and model.state_of(0) == "ok" and not people.busy.busy,
                    timeout=TIMEOUT_MS)
    assert [(p.service, p.name, p.state) for p in run(w.app.list_proofs())] == [("website", "alice.dev", "ok")]

    # revoke it: select, confirm, gone
    card = people.card
    assert card.own_row.isVisible() and not card.revoke_proof_button.isEnabled()
    card.proofs_view.selectRow(0)
    assert card.revoke_proof_button.isEnabled()
    qtbot.mouseClick(card.revoke_proof_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: w.findChild(QMessageBox, "confirmBox") is not None, timeout=TIMEOUT_MS)
    box = w.findChild(QMessageBox, "confirmBox")
    next(b for b in box.buttons() if b.text() == "Revoke proof").click()
    qtbot.waitUntil(lambda: model.rowCount() == 0 and not people.busy.busy, timeout=TIMEOUT_MS)
    assert run(w.app.list_proofs()) == []
    assert card.proofs_empty.isVisible() and "not proven" in card.proofs_empty.text()


def test_prove_github_and_cancel(qtbot, me, fakes, run):
    w = me
    people = w.shell.people
    dlg = open_dialog(qtbot, people)
    choose(qtbot, dlg, "github", "alice")
    assert dlg.current_page() == "post" and "gist" in dlg.instructions.text()
    fakes.post("github", "alice", dlg.text.text())
    check(qtbot, dlg)
    assert dlg.current_page() == "done"
    assert dlg.done_text.text() == "alice on GitHub is proven"
    dlg.reject()                                           # closing after success keeps the proof
    qtbot.waitUntil(lambda: people.prove_dialog is None, timeout=TIMEOUT_MS)
    assert [(p.service, p.state) for p in run(w.app.list_proofs())] == [("github", "ok")]

    # Back drops the signed link; Cancel leaves nothing behind
    dlg = open_dialog(qtbot, people)
    choose(qtbot, dlg, "website", "alice.dev")
    qtbot.mouseClick(dlg.back_button, Qt.LeftButton)
    assert dlg.current_page() == "choose" and dlg.request is None
    qtbot.mouseClick(dlg.cancel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: people.prove_dialog is None, timeout=TIMEOUT_MS)
    assert [p.service for p in run(w.app.list_proofs())] == ["github"]


def _text_fully_shown(dlg) -> bool:
    t, b = dlg.text, dlg.copy_button
    return (dlg.width() >= 620 and t.isVisible() and b.isVisible() and t.height() >= t.heightForWidth(t.width())
            and b.height() >= b.sizeHint().height() and t.visibleRegion().boundingRect().height() >= t.height())


def test_prove_errors_keep_the_text_and_say_what_happened(qtbot, me, fakes):
    """After any failure the text to post and its Copy button stay whole; a DNS failure, a site that is
    down and a text not yet posted each get their own words and advice, never a raw exception."""
    w = me
    w.app.proof_config = fakes.config(hosts=("alice.dev",))
    dlg = open_dialog(qtbot, w.shell.people)
    choose(qtbot, dlg, "website", "alice-no-such-host.invalid")
    assert dlg.current_page() == "post"
    qtbot.waitUntil(lambda: _text_fully_shown(dlg), timeout=5000)
    check(qtbot, dlg)
    assert dlg.banner.isVisible()
    assert dlg.banner.title.text() == "That name was not found", dlg.banner.message.text()
    assert dlg.banner.message.text().startswith("No computer answers to that name")
    qtbot.waitUntil(lambda: _text_fully_shown(dlg), timeout=5000)
    assert dlg.text.text() == proof_text("alice", dlg.request.sig_id)

    qtbot.mouseClick(dlg.back_button, Qt.LeftButton)
    choose(qtbot, dlg, "website", "alice.dev")
    fakes.web.mode = "down"
    check(qtbot, dlg)
    assert dlg.banner.title.text() == "The service did not answer"
    assert "Nothing is wrong with your text" in dlg.banner.message.text()
    qtbot.waitUntil(lambda: _text_fully_shown(dlg), timeout=5000)
    fakes.web.mode = "ok"
    check(qtbot, dlg)
    assert dlg.banner.title.text() == "The text is not there yet"
    assert "Post the text exactly as shown" in dlg.banner.message.text()
    qtbot.waitUntil(lambda: _text_fully_shown(dlg), timeout=5000)
    dlg.reject()
