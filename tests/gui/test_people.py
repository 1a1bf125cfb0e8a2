"""People: a verified identity gets a green badge; a tampered chain a red one with the typed error."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel

from kbapp.gui import theme

from gui_support import TIMEOUT_MS, tamper_link


def look_up(qtbot, people, name: str) -> None:
    people.search.clear()
    qtbot.keyClicks(people.search, name)
    qtbot.mouseClick(people.lookup_button, Qt.LeftButton)


def badge_colour(badge) -> str:
    return badge.text.palette().color(QPalette.WindowText).name()


def test_lookup_shows_verified_badge(qtbot, alice_window):
    w, _url = alice_window
    w.shell.go("people")
    people = w.shell.people
    look_up(qtbot, people, "bob")
    card = people.card
    qtbot.waitUntil(lambda: card.badge.state == "verified", timeout=TIMEOUT_MS)
    assert card.badge.text.text() == "Verified"
    assert badge_colour(card.badge) == theme.colour("ok")  # green
    assert card.name.text() == "bob"
    assert "5 links" in card.meta.text() and "2 active devices" in card.meta.text()
    assert {(d.name, d.type) for d in card.devices.devices} == {("bob-laptop", "desktop")} | {
        (d.name, "paper") for d in card.devices.devices if d.type == "paper"}
    kinds = sorted(k.kind for k in card.keys.keys)
    assert kinds == ["puk-encryption", "puk-signing", "sibkey", "sibkey", "subkey", "subkey"]
    assert all(len(k.fingerprint) > 20 for k in card.keys.keys)
    assert card.proofs.rowCount() == 0 and card.proofs_empty.text().startswith("No proofs")
    assert card.details.isVisible() and not card.broken.isVisible()
    assert not people.banner.isVisible()


def test_tampered_chain_shows_broken_badge(qtbot, alice_window, tmp_path, run):
    """bob's chain grows after alice verified it, and the server tampers with the new link.
    (Links alice already verified are never fetched again: rewriting them reaches nobody
    who has them; a newcomer meets that in test_broken_on_first_sight.)"""
    from gui_support import add_paper_key

    w, _url = alice_window
    w.shell.go("people")
    people = w.shell.people
    look_up(qtbot, people, "bob")
    qtbot.waitUntil(lambda: people.card.badge.state == "verified", timeout=TIMEOUT_MS)

    run(add_paper_key(tmp_path / "bob"))
    # the server edits the device type inside bob's newest signed link
    tamper_link(w.session.embedded_dir() / "server.sqlite3", "paper", "papex", newest=True)
    look_up(qtbot, people, "bob")
    card = people.card
    qtbot.waitUntil(lambda: card.badge.state == "broken", timeout=TIMEOUT_MS)
    assert badge_colour(card.badge) == theme.colour("bad")  # red
    assert card.badge.text.text() == "Broken · VERIFY_FAILED"
    assert card.broken.isVisible() and not card.details.isVisible()
    assert card.broken_code.text() == "VERIFY_FAILED"
    assert not card.follow_button.isEnabled() and "broken" in card.follow_button.toolTip()
    assert "payload_json does not hash" in card.broken_message.text()
    assert "bob" in card.broken_title.text()
    # the bridge carried the typed event to the tray's alert hook
    assert w.tray.alert and "VERIFY_FAILED" in w.tray.alert_text


def test_broken_on_first_sight(qtbot, alice_window, tmp_path, run):
    """Never verified before: the tampered chain is refused all the same."""
    from gui_support import other_user

    w, url = alice_window
    run(other_user(tmp_path / "erin", url, "erin", "erin-pc"))
    tamper_link(w.session.embedded_dir() / "server.sqlite3", "erin-pc", "erin-mac")
    w.shell.go("people")
    look_up(qtbot, w.shell.people, "erin")
    qtbot.waitUntil(lambda: w.shell.people.card.badge.state == "broken", timeout=TIMEOUT_MS)


def test_unknown_user_is_a_message_not_a_badge(qtbot, alice_window):
    w, _ = alice_window
    people = w.shell.people
    look_up(qtbot, people, "nobody")
    qtbot.waitUntil(lambda: people.banner.isVisible(), timeout=TIMEOUT_MS)
    assert people.banner.title.text() == "Not found"
    assert not people.card.isVisible()


def test_server_strings_are_plain_text(qtbot, tmp_path, make_window, run):
    """A device name full of HTML is shown as typed, everywhere."""
    from gui_support import new_profile_with_embedded_server

    run(new_profile_with_embedded_server(tmp_path / "alice", "alice",
                                         others=[(tmp_path / "mallory", "mallory", "<b>bold</b><img src=x>")]))
    w = make_window(tmp_path / "alice")
    people = w.shell.people
    look_up(qtbot, people, "mallory")
    qtbot.waitUntil(lambda: people.card.badge.state == "verified", timeout=TIMEOUT_MS)
    assert people.card.devices.devices[0].name == "<b>bold</b><img src=x>"
    assert people.card.devices.data(people.card.devices.index(0, 0)) == "<b>bold</b><img src=x>"
    for page_key in ("people", "devices", "settings"):
        w.shell.go(page_key)
    rich = [f"{type(lab).__name__}:{lab.objectName()}:{lab.text()!r}:{type(lab.parent()).__name__}" for lab in w.findChildren(QLabel) if lab.textFormat() != Qt.PlainText]
    assert rich == []
