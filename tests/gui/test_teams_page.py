"""The Teams page, driven like a user would, against a real embedded server: the tree
of teams and subteams, members with roles and badges, admin actions (add, change
role, remove: the key rotates), disabled buttons with the reason for a non-admin,
open-team joins by name and closed-team requests denied and approved; subteams
administered through a parent are in the tree without opening the parent.

The other people (bob, carol, dave) are real clients on their own profiles.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from kbapp.client.app import App
from kbapp.core import errors
from kbapp.gui.team_models import InviteModel, JoinRequestModel, TeamMemberModel, TeamTreeModel

from gui_support import TIMEOUT_MS, other_user


def confirm_box():
    boxes = [b for b in QApplication.topLevelWidgets()
             if isinstance(b, QMessageBox) and b.objectName() == "confirmBox" and b.isVisible()]
    return boxes[0] if boxes else None


async def as_user(home, work):
    """Another person's client on their own profile: open, `await work(app)`, close."""
    app = App(home)
    await app.open()
    try:
        return await work(app)
    finally:
        await app.close()


def open_teams(qtbot, w):
    w.shell.go("teams")
    page = w.shell.teams
    qtbot.waitUntil(lambda: page.loaded and not page.busy.busy, timeout=TIMEOUT_MS)
    return page


def idle(page) -> bool:
    return not page.busy.busy and not page._ops and not page._refreshing and page.dialog is None


def name_dialog(qtbot, page, button, text: str) -> None:
    qtbot.mouseClick(button, Qt.LeftButton)
    qtbot.waitUntil(lambda: page.dialog is not None and page.dialog.isVisible(), timeout=TIMEOUT_MS)
    dlg = page.dialog
    dlg.edit.setText(text)
    qtbot.mouseClick(dlg.findChild(type(button), "nameOkButton"), Qt.LeftButton)


def member_dialog(qtbot, page, button, username: str | None, role: str) -> None:
    qtbot.mouseClick(button, Qt.LeftButton)
    qtbot.waitUntil(lambda: page.dialog is not None and page.dialog.isVisible(), timeout=TIMEOUT_MS)
    dlg = page.dialog
    if username is not None:
        dlg.form.username.setText(username)
    dlg.form.role.setCurrentIndex(dlg.form.role.findData(role))
    qtbot.mouseClick(dlg.findChild(type(button), "memberOkButton"), Qt.LeftButton)


def roles(page) -> dict[str, str]:
    return {m.username: m.role for m in page.members.members}


def select_member(page, username: str) -> None:
    page.members_view.selectRow(page.members.row_of(username))


def select_team(qtbot, page, name: str) -> None:
    page.tree.setCurrentIndex(page.tree_model.index_of(name))
    qtbot.waitUntil(lambda: page.view is not None and page.view.name == name and idle(page), timeout=TIMEOUT_MS)


def test_models_are_sound(qtmodeltester, qloop):
    from kbapp.client.models import JoinRequestView, TeamInviteView, TeamListItem, TeamMemberView

    tree = TeamTreeModel()
    qtmodeltester.check(tree)
    tree.set_teams([TeamListItem("1" * 32, "acme", "owner", False, 3, 1),
                    TeamListItem("2" * 32, "acme.eng.web", "writer", False, 2, 1),
                    TeamListItem("3" * 32, "zeta", "reader", False, 5, 4),
                    TeamListItem("4" * 32, "alice,bob", "owner", True, 2, 1),
                    TeamListItem("5" * 32, "acme.qa", "admin", False, 1, 1, implicit_admin=True)],
                   known={"acme.ops"})
    qtmodeltester.check(tree)
    # implicit teams stay out; acme.eng (not a member) is there, greyed, to hold acme.eng.web
    assert tree.names() == ["acme", "acme.eng", "acme.eng.web", "acme.ops", "acme.qa", "zeta"]
    assert tree.index_of("acme.qa", 1).data() == "admin (via parent)"
    assert "parent team" in tree.index_of("acme.qa").data(Qt.ToolTipRole)
    acme = tree.index_of("acme")
    assert tree.rowCount(acme) == 3 and tree.item("acme.eng") is None
    web = tree.index_of("acme.eng.web")
    assert web.parent().data() == "eng" and web.parent().parent() == acme
    assert tree.index_of("acme.eng.web", 1).data() == "writer"

    members = TeamMemberModel()
    qtmodeltester.check(members)
    members.set_members([TeamMemberView("alice", "a" * 32, "owner", "verified"),
                         TeamMemberView("mallory", "b" * 32, "writer", "broken", "<b>github</b>: gone"),
                         TeamMemberView("olga", "c" * 32, "admin", "verified", implicit_admin=True)], me="alice")
    qtmodeltester.check(members)
    assert members.index(0, 0).data() == "alice (you)"
    assert members.index(1, 2).data() == "Broken"
    # the reason is anyone's text: shown as typed (escaped), never as markup
    assert "Broken: &lt;b&gt;github&lt;/b&gt;: gone" in members.index(1, 2).data(Qt.ToolTipRole)
    assert members.index(2, 1).data() == "admin (via parent team)"

    reqs = JoinRequestModel()
    qtmodeltester.check(reqs)
    reqs.set_requests([JoinRequestView("acme", "bob", "d" * 32, 0)])
    qtmodeltester.check(reqs)
    assert reqs.index(0, 0).data() == "bob asks to join"

    invites = InviteModel()
    qtmodeltester.check(invites)
    invites.set_rows([TeamInviteView("ab12cd34ef56", "seitan", "e" * 64, "writer"),
                      TeamInviteView("0123456789ab", "github", "carol", "reader"),
                      TeamInviteView("fedcba987654", "keybase", "f" * 32 + "%1", "admin")])
    qtmodeltester.check(invites)
    assert [invites.index(i, 0).data() for i in range(3)] == [
        "A token · joins as writer · invite ab12cd34", "carol@github · joins as reader once they prove it",
        "user ffffffffffff… · joins as admin"]
    assert "proves the github account 'carol'" in invites.index(1, 0).data(Qt.ToolTipRole)


def test_admin_builds_a_team_with_a_subteam_and_manages_members(qtbot, qtmodeltester, alice_window, tmp_path, run):
    w, url = alice_window
    for n in ("carol", "dave"):
        run(other_user(tmp_path / n, url, n, f"{n}-laptop"))
    page = open_teams(qtbot, w)
    assert page.right.currentWidget() is page.empty
    assert page.tree_model.rowCount() == 0

    name_dialog(qtbot, page, page.create_button, "acme")
    qtbot.waitUntil(lambda: page.view is not None and page.view.name == "acme" and idle(page), timeout=TIMEOUT_MS)
    assert roles(page) == {"alice": "owner"}
    assert page.view.generation == 1 and page.generation.text() == "KEY GENERATION 1"
    assert page.add_button.isEnabled() and not page.reason.text().startswith("Only")

    for who, role in (("bob", "writer"), ("carol", "reader"), ("dave", "admin")):
        member_dialog(qtbot, page, page.add_button, who, role)
        qtbot.waitUntil(lambda: who in roles(page) and idle(page), timeout=TIMEOUT_MS)
    assert roles(page) == {"alice": "owner", "bob": "writer", "carol": "reader", "dave": "admin"}
    # each member's identity was checked: the badge column says so
    assert {m.badge for m in page.members.members} == {"verified"}
    col = TeamMemberModel.BADGE_COL
    assert all(page.members.index(r, col).data() == "Verified" for r in range(page.members.rowCount()))

    # a subteam shows under its parent
    name_dialog(qtbot, page, page.subteam_button, "eng")
    qtbot.waitUntil(lambda: page.view is not None and page.view.name == "acme.eng" and idle(page),
                    timeout=TIMEOUT_MS)
    acme = page.tree_model.index_of("acme")
    assert page.tree_model.rowCount(acme) == 1 and page.tree_model.index(0, 0, acme).data() == "eng"
    assert page.team_meta.text().startswith("Subteam")
    assert roles(page) == {"alice": "admin", "dave": "admin"}   # dave administers acme, so acme.eng too
    qtmodeltester.check(page.tree_model)

    # change a role
    select_team(qtbot, page, "acme")
    select_member(page, "carol")
    assert page.role_button.isEnabled()
    member_dialog(qtbot, page, page.role_button, None, "writer")
    qtbot.waitUntil(lambda: roles(page).get("carol") == "writer" and idle(page), timeout=TIMEOUT_MS)

    # remove a member: confirmed, then the key rotates and the generation shown goes up
    select_member(page, "bob")
    assert page.remove_button.isEnabled()
    qtbot.mouseClick(page.remove_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: confirm_box() is not None, timeout=TIMEOUT_MS)
    box = confirm_box()
    assert "bob" in box.text()
    qtbot.mouseClick(next(b for b in box.buttons() if b.text() == "Remove member"), Qt.LeftButton)
    qtbot.waitUntil(lambda: "bob" not in roles(page) and idle(page), timeout=TIMEOUT_MS)
    assert page.view.generation == 2 and page.generation.text() == "KEY GENERATION 2"
    assert "generation 2" in page.banner.message.text()
    qtmodeltester.check(page.members)

    # the owner can't remove themselves here (Leave does that), and says why
    select_member(page, "alice")
    assert not page.remove_button.isEnabled()
    assert page.remove_button.toolTip() == "To remove yourself, use Leave."

    # any member may rotate the key
    qtbot.mouseClick(page.rotate_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: page.view.generation == 3 and idle(page), timeout=TIMEOUT_MS)
    assert page.generation.text() == "KEY GENERATION 3"

    # dave (an admin of acme) makes acme.ops: alice is no member of it, but administers it through
    # acme; it is in the tree after a refresh though acme is not the team open (list_teams finds it)
    select_team(qtbot, page, "acme.eng")
    page.known.clear()
    run(as_user(tmp_path / "dave", lambda app: app.create_subteam("acme", "ops")))
    run(page.refresh())
    qtbot.waitUntil(lambda: "acme.ops" in page.tree_model.names() and idle(page), timeout=TIMEOUT_MS)
    assert page.view.name == "acme.eng" and "acme.ops" not in page.known
    ops = page.tree_model.item("acme.ops")
    assert ops is not None and ops.implicit_admin and ops.role == "admin"
    assert page.tree_model.index_of("acme.ops", 1).data() == "admin (via parent)"
    select_team(qtbot, page, "acme.ops")
    alice = page.members.members[page.members.row_of("alice")]
    assert alice.implicit_admin and page.members.index(page.members.row_of("alice"), 1).data() == \
        "admin (via parent team)"
    assert page.add_button.isEnabled()
    assert not page.leave_button.isEnabled() and "through a parent team" in page.leave_button.toolTip()
    assert "an admin through a parent team" in page.team_meta.text()


def test_non_admin_sees_why_and_joins_by_name(qtbot, alice_window, tmp_path, run):
    w, url = alice_window
    bob_home = tmp_path / "bob"

    async def bob_team(app):
        await app.create_team("bobco")
        await app.add_member("bobco", "alice", "writer")
        await app.invite("bobco", "carol@github", role="reader")
        await app.create_team("bobopen")
        await app.team_settings("bobopen", open=True, default_role="reader")
    run(as_user(bob_home, bob_team))

    page = open_teams(qtbot, w)
    qtbot.waitUntil(lambda: page.tree_model.item("bobco") is not None, timeout=TIMEOUT_MS)
    select_team(qtbot, page, "bobco")
    assert roles(page) == {"bob": "owner", "alice": "writer"}
    reason = "Only admins and owners can add members; you are a writer."
    assert not page.add_button.isEnabled() and page.add_button.toolTip() == reason
    assert page.reason.isVisible() and page.reason.text() == reason
    select_member(page, "bob")
    for b, what in ((page.role_button, "change roles"), (page.remove_button, "remove members"),
                    (page.save_settings_button, "change the team's settings"), (page.invite_button, "invite people"),
                    (page.subteam_button, "create subteams"), (page.cancel_invite_button, "cancel invites")):
        assert not b.isEnabled() and b.toolTip() == f"Only admins and owners can {what}; you are a writer."
    # the pending invite is listed for members too, with why they cannot cancel it
    assert page.invites_view.isVisible()
    assert [page.invites.text(i) for i in page.invites.rows] == ["carol@github · joins as reader once they prove it"]
    assert page.invites_note.text() == "Only admins and owners can cancel invites; you are a writer."
    assert not page.open_check.isEnabled()
    assert page.leave_button.isEnabled() and page.rotate_button.isEnabled()

    # a team that does not exist: said in plain words in the dialog, which keeps what was typed
    name_dialog(qtbot, page, page.join_button, "nosuchteam")
    dlg = page.dialog
    qtbot.waitUntil(lambda: dlg.error.text() != "" and not page._ops and not page.busy.busy, timeout=TIMEOUT_MS)
    assert dlg.isVisible() and dlg.edit.text() == "nosuchteam" and dlg.error.text().startswith("Not found")
    assert "nosuchteam" not in page.tree_model.names()
    dlg.reject()
    qtbot.waitUntil(lambda: idle(page), timeout=TIMEOUT_MS)

    # join bob's open team by name: bob's client adds alice (with its default role) when it next opens it
    name_dialog(qtbot, page, page.join_button, "bobopen")
    qtbot.waitUntil(lambda: idle(page) and page.banner.isVisible(), timeout=TIMEOUT_MS)
    assert page.banner.title.text() == "You asked to join bobopen, an open team"
    assert page.tree_model.item("bobopen") is None
    view, done = run(as_user(bob_home, lambda app: app.housekeeper.team("bobopen")))
    assert {m.username: m.role for m in view.members}["alice"] == "reader" and done == ["added alice"]
    run(page.refresh())
    assert page.tree_model.item("bobopen").role == "reader"

    # leave bobco (confirmed): it goes from the tree
    select_team(qtbot, page, "bobco")
    qtbot.mouseClick(page.leave_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: confirm_box() is not None, timeout=TIMEOUT_MS)
    box = confirm_box()
    qtbot.mouseClick(next(b for b in box.buttons() if b.text() == "Leave team"), Qt.LeftButton)
    qtbot.waitUntil(lambda: page.tree_model.item("bobco") is None and idle(page), timeout=TIMEOUT_MS)
    assert page.banner.title.text() == "You left bobco"


def test_open_and_closed_teams_joined_by_another_user(qtbot, alice_window, tmp_path, run):
    w, url = alice_window
    bob_home = tmp_path / "bob"
    page = open_teams(qtbot, w)

    # an open team: alice opens it in the settings; bob joins by name; alice's next load adds him
    name_dialog(qtbot, page, page.create_button, "opencrew")
    qtbot.waitUntil(lambda: page.view is not None and page.view.name == "opencrew" and idle(page),
                    timeout=TIMEOUT_MS)
    assert not page.view.open and not page.save_settings_button.isEnabled()
    page.open_check.setChecked(True)
    page.default_role.setCurrentIndex(page.default_role.findData("writer"))
    assert page.save_settings_button.isEnabled()
    qtbot.mouseClick(page.save_settings_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: page.view.open and idle(page), timeout=TIMEOUT_MS)
    assert page.view.default_role == "writer" and not page.save_settings_button.isEnabled()
    assert "open" in page.team_meta.text()
    joined = run(as_user(bob_home, lambda app: app.join_team("opencrew")))
    assert joined.open
    # a read adds no one; alice's housekeeper adds him (here run outside the page): the
    # TeamChanged event reaches the page through the bridge, and it reloads by itself
    assert "bob" not in {m.username for m in run(w.app.team("opencrew", badges=False)).members}
    run(w.app.housekeeper.team("opencrew"))
    qtbot.waitUntil(lambda: roles(page).get("bob") == "writer" and idle(page), timeout=TIMEOUT_MS)

    # a closed team: bob's request waits in the list until alice denies it...
    name_dialog(qtbot, page, page.create_button, "closedcrew")
    qtbot.waitUntil(lambda: page.view is not None and page.view.name == "closedcrew" and idle(page),
                    timeout=TIMEOUT_MS)
    assert not page.deny_button.isEnabled() and page.deny_button.toolTip() == "No one is waiting to join."
    run(as_user(bob_home, lambda app: app.join_team("closedcrew")))
    run(page.refresh())
    assert "bob" not in roles(page)
    assert [r.username for r in page.requests.requests] == ["bob"]
    assert not page.approve_button.isEnabled() and not page.deny_button.isEnabled()
    assert page.deny_button.toolTip() == "Select a request to deny it."
    page.requests_view.setCurrentIndex(page.requests.index(0, 0))
    assert page.deny_button.isEnabled()
    qtbot.mouseClick(page.deny_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: page.requests.rowCount() == 0 and idle(page), timeout=TIMEOUT_MS)
    assert page.banner.title.text() == "You denied bob's request to join closedcrew"
    assert "bob" not in roles(page)
    assert run(w.app.join_requests("closedcrew")) == []           # gone from the server too
    with pytest.raises(errors.ReadNotAllowed):                        # (bob reads nothing of a team he is not in)
        run(as_user(bob_home, lambda app: app.join_requests("closedcrew")))

    # ...then he asks again, and alice approves
    run(as_user(bob_home, lambda app: app.join_team("closedcrew")))
    run(page.refresh())
    assert [r.username for r in page.requests.requests] == ["bob"]
    page.requests_view.setCurrentIndex(page.requests.index(0, 0))
    assert page.approve_button.isEnabled()
    assert page.view.default_role == "reader"          # a new team's default
    qtbot.mouseClick(page.approve_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: roles(page).get("bob") == "reader" and idle(page), timeout=TIMEOUT_MS)
    assert page.banner.title.text() == "bob joined closedcrew as reader"
    assert page.requests.rowCount() == 0

    # a token invite: shown with Copy
    qtbot.mouseClick(page.invite_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: page.token_row.isVisible() and idle(page), timeout=TIMEOUT_MS)
    token = page.token_text.text()
    assert token.startswith("closedcrew:")
    qtbot.mouseClick(page.copy_token_button, Qt.LeftButton)
    assert QApplication.clipboard().text() == token

    # pending invites: the token, then carol@github added from the Add dialog (not on kbapp yet)
    tok_id = page.view.invites[0].id
    assert [page.invites.text(i) for i in page.invites.rows] == [f"A token · joins as writer · invite {tok_id[:8]}"]
    member_dialog(qtbot, page, page.add_button, "carol@github", "writer")
    qtbot.waitUntil(lambda: page.invites.rowCount() == 2 and idle(page), timeout=TIMEOUT_MS)
    assert page.banner.title.text() == "carol@github is invited to closedcrew as writer"
    texts = sorted(page.invites.text(i) for i in page.invites.rows)
    assert texts == [f"A token · joins as writer · invite {tok_id[:8]}",
                     "carol@github · joins as writer once they prove it"]
    assert "carol" not in roles(page)
    assert not page.cancel_invite_button.isEnabled()
    assert page.cancel_invite_button.toolTip() == "Select an invite to cancel it."
    # cancel the token: confirmed, signed into the chain, gone from the list (and from bob's view)
    row = next(r for r, i in enumerate(page.invites.rows) if i.type == "seitan")
    page.invites_view.setCurrentIndex(page.invites.index(row, 0))
    assert page.cancel_invite_button.isEnabled()
    qtbot.mouseClick(page.cancel_invite_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: confirm_box() is not None, timeout=TIMEOUT_MS)
    box = confirm_box()
    assert box.text() == f"Cancel the invite for token {tok_id[:8]}?"
    qtbot.mouseClick(next(b for b in box.buttons() if b.text() == "Cancel invite"), Qt.LeftButton)
    qtbot.waitUntil(lambda: page.invites.rowCount() == 1 and idle(page), timeout=TIMEOUT_MS)
    assert page.banner.title.text() == f"The invite for token {tok_id[:8]} was cancelled"
    assert [i.type for i in page.view.invites] == ["github"]
    seen = run(as_user(bob_home, lambda app: app.team("closedcrew")))
    assert [(i.type, i.name) for i in seen.invites] == [("github", "carol")]


async def open_team_with_a_joiner(alice_home, bob_home, team: str) -> None:
    """alice's profile (embedded server) with an open team that bob asked to join: a chore
    is due before alice's window ever starts (no push cursor saved: nothing replays it)."""
    from kbapp.gui.session import Session

    s = Session(alice_home)
    await s.open()
    try:
        url = await s.start_embedded()
        await s.app.signup("alice", device_name="alice-desktop", server_url=url)
        s.remember_embedded()
        await s.app.create_team(team)
        await s.app.team_settings(team, open=True, default_role="writer")
        await other_user(bob_home, url, "bob", "bob-laptop")
        await as_user(bob_home, lambda app: app.join_team(team))
        members = {m.username for m in (await s.app.list_members(team)).members}
        assert members == {"alice"}                    # a read (the facade's too) adds no one
    finally:
        await s.close()


def test_chores_run_after_login_and_when_the_teams_page_opens(qtbot, make_window, tmp_path, run):
    """Reads post nothing, so the GUI runs the housekeeper itself: once after login (without
    the Teams page ever opening), and each time the Teams page opens, in the background."""
    alice_home, bob_home = tmp_path / "alice", tmp_path / "bob"
    run(open_team_with_a_joiner(alice_home, bob_home, "door"))
    w = make_window(alice_home)
    page = w.shell.teams
    qtbot.waitUntil(lambda: page.chores.last is not None and page.chores.last.done(), timeout=TIMEOUT_MS)
    assert not page.loaded and w.shell.current_key() == "people"      # the page never opened
    assert roles_of(run(w.app.team("door"))) == {"alice": "owner", "bob": "writer"}

    # the Teams page opens: its pass runs again and finds a join that came meanwhile (the push
    # channel, whose hints run the housekeeper too, is stopped: the page's pass does it here)
    run(w.app.sync.stop())
    run(other_user(tmp_path / "carol", w.session.server.url, "carol", "carol-laptop"))
    run(as_user(tmp_path / "carol", lambda app: app.join_team("door")))
    page = open_teams(qtbot, w)
    qtbot.waitUntil(lambda: roles(page).get("carol") == "writer" and idle(page), timeout=TIMEOUT_MS)


def roles_of(view) -> dict[str, str]:
    return {m.username: m.role for m in view.members}


def test_an_action_whose_page_closed_meanwhile_reloads_nothing(qtbot, alice_window):
    """ops.run drops the outcome of an action whose page died while it ran: `_act` says
    Cancelled instead of reloading (and touching) a deleted page."""
    import asyncio

    import shiboken6

    from kbapp.gui.pages.teams import TeamsPage

    w, _url = alice_window
    page = TeamsPage(w.session, w.bridge)
    gate = asyncio.Event()

    async def slow():
        await gate.wait()
        return "done"
    task = asyncio.ensure_future(page._act(slow))
    qtbot.waitUntil(lambda: page._ops == 1, timeout=TIMEOUT_MS)
    page.deleteLater()
    qtbot.waitUntil(lambda: not shiboken6.isValid(page), timeout=TIMEOUT_MS)
    gate.set()
    qtbot.waitUntil(task.done, timeout=TIMEOUT_MS)
    ok, err = task.result()
    assert not ok and isinstance(err, errors.Cancelled)


def test_a_team_push_hint_runs_that_teams_chores(qtbot, alice_window, tmp_path, run):
    """sync.py only reloads a team a hint names (a read); the Teams page, even never opened,
    asks the housekeeper for that team's chores: bob's request to join alice's open team
    (a `request` hint) gets him added with no click and no page opened."""
    import asyncio
    import time

    w, _url = alice_window
    page = w.shell.teams
    qtbot.waitUntil(lambda: page.chores.last is not None and page.chores.last.done(), timeout=TIMEOUT_MS)
    tid = run(w.app.create_team("bell")).team_id
    run(w.app.team_settings("bell", open=True, default_role="reader"))
    qtbot.waitUntil(lambda: w.app.sync.state.value == "online" and f"team:{tid}" in w.app.sync.topics,
                    timeout=TIMEOUT_MS)
    run(as_user(tmp_path / "bob", lambda app: app.join_team("bell")))

    async def until_bob_is_in():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if "bob" in roles_of(await w.app.team("bell", badges=False)):
                return True
            await asyncio.sleep(0.3)
        return False
    assert run(until_bob_is_in(), timeout=30_000)
    assert roles_of(run(w.app.team("bell", badges=False)))["bob"] == "reader"
    assert not page.loaded                          # the page never opened: the hint did it
