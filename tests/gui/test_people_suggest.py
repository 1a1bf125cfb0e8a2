"""People pickers suggest while typing: users this profile verified, then assertion forms."""

from __future__ import annotations

from PySide6.QtCore import Qt

from kbapp.gui.people_completer import suggestions

from gui_support import TIMEOUT_MS


def test_suggestions_prefix_first_then_contains_then_assertions():
    known = ["bobby", "carol", "bob", "abbot"]   # most recently verified first
    assert suggestions("bo", known) == ["bobby", "bob", "abbot", "bo@github", "bo@https", "bo@dns"]
    assert suggestions("BO", known, assertions=False) == ["bobby", "bob", "abbot"]
    assert suggestions("bob", known, assertions=False) == ["bobby"]     # the typed name itself is not offered
    assert suggestions("bob@g", known) == ["bob@github"]
    assert suggestions("bob@", known, assertions=False) == []
    assert suggestions("  ", known) == [] and suggestions("@git", known) == []
    assert len(suggestions("b", [f"b{i}" for i in range(20)])) == 8


def _shown(completer) -> list[str]:
    return completer.model().stringList() if completer.popup().isVisible() else []


def test_people_search_suggests_known_users_and_looks_up_the_pick(qtbot, alice_window, run):
    w, _ = alice_window
    run(w.app.identify("bob"))                    # a lookup: now a user this profile knows
    w.shell.go("people")
    people = w.shell.people
    comp = people.completer_
    w.activateWindow()
    people.search.setFocus()
    qtbot.waitUntil(people.search.hasFocus, timeout=TIMEOUT_MS)   # a line edit takes a pick only when focused
    qtbot.keyClicks(people.search, "b")
    qtbot.waitUntil(lambda: "bob" in _shown(comp), timeout=TIMEOUT_MS)
    assert not any("@" in s for s in _shown(comp))   # People looks up usernames only
    popup = comp.popup()
    row = popup.model().index(_shown(comp).index("bob"), 0)
    popup.setCurrentIndex(row)                 # the arrow keys' doing
    qtbot.keyClick(popup, Qt.Key_Return)
    assert people.search.text() == "bob"
    qtbot.waitUntil(lambda: people.card.isVisible() and people.card.name.text() == "bob", timeout=TIMEOUT_MS)


def test_add_member_suggests_users_and_assertions(qtbot, alice_window, run):
    w, _ = alice_window
    run(w.app.identify("bob"))
    run(w.app.create_team("acme"))
    w.shell.go("teams")
    page = w.shell.teams
    qtbot.waitUntil(lambda: page.view is not None and page.view.name == "acme" and not page.busy.busy,
                    timeout=TIMEOUT_MS)
    qtbot.mouseClick(page.add_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: page.dialog is not None and page.dialog.isVisible(), timeout=TIMEOUT_MS)
    dlg = page.dialog
    comp = dlg.completer_
    qtbot.waitUntil(lambda: comp.loaded, timeout=TIMEOUT_MS)
    dlg.form.username.setFocus()
    qtbot.keyClicks(dlg.form.username, "bo")
    qtbot.waitUntil(lambda: _shown(comp)[:1] == ["bob"], timeout=TIMEOUT_MS)
    assert "bo@github" in _shown(comp)
    dlg.reject()


def test_a_list_of_names_is_completed_name_by_name():
    from kbapp.gui.people_completer import list_suggestions
    known = ["carol", "bob", "carla"]
    assert list_suggestions("ca", known, assertions=False) == ["carol", "carla"]
    assert list_suggestions("bob,ca", known, assertions=False) == ["bob, carol", "bob, carla"]
    assert list_suggestions("bob, carol, b", known) == ["bob, carol, b@github", "bob, carol, b@https",
                                                        "bob, carol, b@dns"]       # bob is already in
    assert list_suggestions("bob, ", known) == []


def test_the_new_chat_dialog_suggests_names(qtbot, alice_window, run):
    from kbapp.gui.pages.chat.newchat import NewChatDialog
    w, _ = alice_window
    run(w.app.identify("bob"))
    dlg = NewChatDialog(w.app, "alice", w)
    dlg.show()
    comp = dlg.completer_
    qtbot.waitUntil(lambda: comp.loaded, timeout=TIMEOUT_MS)
    dlg.activateWindow()
    dlg.edit.setFocus()
    qtbot.waitUntil(dlg.edit.hasFocus, timeout=TIMEOUT_MS)
    qtbot.keyClicks(dlg.edit, "b")
    qtbot.waitUntil(lambda: "bob" in _shown(comp), timeout=TIMEOUT_MS)
    assert "b@github" in _shown(comp)
    dlg.close()
