"""What a Teams page user can do and why not: the reasons each button is off, and the actions
behind the buttons (each signs team links after unlocking the keys, runs with the buttons
disabled, then reloads the page). A mixin of TeamsPage (pages/teams.py), which holds the widgets.
"""

from __future__ import annotations

import itertools

import qasync
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog

from kbapp.core import errors

from .. import ops
from ..dialog_runner import run_dialog
from ..dialogs import confirm, unlock_keys, wait_finished
from ..plain import plain_tip
from ..team_dialogs import MemberDialog, NameDialog
from ..team_models import ROLE_ORDER, is_admin_role
from ..widgets import flash_text

_actions = itertools.count(1)


def a_role(role: str) -> str:
    if role in ("none", ""):
        return "not a member"
    return f"{'an' if role[:1] in 'aeiou' else 'a'} {role}"


class TeamActions:
    """The buttons' side of the Teams page (self is the TeamsPage)."""

    def _is_admin(self, view) -> bool:
        if view is None:
            return False
        return is_admin_role(view.my_role) or any(m.implicit_admin and m.username == self.me for m in view.members)

    def _role_word(self, view) -> str:
        if view is None:
            return "not a member"
        if view.my_role == "none" and self._is_admin(view):
            return "an admin through a parent team"
        return a_role(view.my_role)

    def _only_admins(self, what: str) -> str:
        return f"Only admins and owners can {what}; you are {self._role_word(self.view)}."

    def reasons(self) -> dict[str, str]:
        """Why each action is unavailable now ("" when it is available)."""
        v, m = self.view, self.selected_member()
        admin = self._is_admin(v)
        owner = v is not None and v.my_role == "owner"
        member = v is not None and v.my_role != "none"
        out = {k: "" for k in ("add", "role", "remove", "rotate", "leave", "settings", "approve", "deny",
                               "invite", "cancel_invite", "subteam")}
        if v is None:
            return {k: "Select a team first." for k in out}
        if not admin:
            for k, what in (("add", "add members"), ("role", "change roles"), ("remove", "remove members"),
                            ("settings", "change the team's settings"), ("approve", "approve join requests"),
                            ("deny", "deny join requests"), ("invite", "invite people"),
                            ("cancel_invite", "cancel invites"), ("subteam", "create subteams")):
                out[k] = self._only_admins(what)
        else:
            for k, what in (("role", "change their role"), ("remove", "remove them")):
                if m is None:
                    out[k] = f"Select a member to {what}."
                elif m.implicit_admin:
                    out[k] = f"{m.username} is an admin of a parent team: change that in the parent team."
                elif m.role == "owner" and not owner:
                    out[k] = f"Only owners can {what.replace('their', 'an owner’s').replace('them', 'an owner')}; " \
                             f"you are {self._role_word(v)}."
            if m is not None and m.username == self.me and not out["remove"]:
                out["remove"] = "To remove yourself, use Leave."
            for k in ("approve", "deny"):
                if self.selected_request() is None:
                    out[k] = ("No one is waiting to join." if self.requests.rowCount() == 0
                              else f"Select a request to {k} it.")
            if v.implicit:
                out["cancel_invite"] = "The invites of an implicit team are its name: they stay until proved."
            elif self.selected_invite() is None:
                out["cancel_invite"] = "Select an invite to cancel it."
            if not out["settings"] and not self._settings_dirty():
                out["settings"] = "Nothing changed."
        if not member:
            out["leave"] = "You administer this team through a parent team: you are not a member to leave."
        if not member and not admin:
            out["rotate"] = "Only members can rotate the team's key."
        return out

    def _settings_dirty(self) -> bool:
        v = self.view
        return v is not None and (self.open_check.isChecked() != v.open
                                  or self.default_role.currentData() != v.default_role)

    def _settings_edited(self, *_):
        self._update_buttons()

    def _update_buttons(self, *_) -> None:
        why = self.reasons()
        pairs = ((self.add_button, "add", "Add someone to this team with a role"),
                 (self.role_button, "role", "Give the selected member another role"),
                 (self.remove_button, "remove", "Remove the selected member: the team key rotates"),
                 (self.rotate_button, "rotate", "Make a new team key generation for the current members"),
                 (self.leave_button, "leave", "Leave this team"),
                 (self.save_settings_button, "settings", "Sign the new settings into the team's chain"),
                 (self.approve_button, "approve", "Add the selected requester with the default role"),
                 (self.deny_button, "deny", "Turn the selected request down: it is dropped (they may ask again)"),
                 (self.invite_button, "invite", "Make a one-time token that lets its holder join"),
                 (self.cancel_invite_button, "cancel_invite", "Withdraw the selected invite: signed into the "
                                                              "team's chain, so no one can use it afterwards"),
                 (self.subteam_button, "subteam", "Create a subteam of the selected team"))
        for b, key, tip in pairs:
            b.setEnabled(not why[key] and not self._ops)
            b.setToolTip(plain_tip(why[key] or tip))
        admin = self._is_admin(self.view)
        for w in (self.open_check, self.default_role):
            w.setEnabled(admin and not self._ops)
            w.setToolTip("" if admin else plain_tip(why["settings"]))
        self.invite_role.setEnabled(admin and not self._ops)
        self.requests_view.setEnabled(admin)
        # the visible reason line: the first thing you cannot do and why
        if self.view is None:
            self.reason.setText("")
        elif not admin:
            self.reason.setText(why["add"])
        else:
            self.reason.setText(why["role"] if self.selected_member() is None else "")
        self.reason.setVisible(bool(self.reason.text()))
        v = self.view
        if v is not None:
            self.settings_note.setText(
                (f"Open: anyone who asks by name is added as {v.default_role} by an admin's kbapp, the next time "
                 "it opens the team." if self.open_check.isChecked() else
                 "Closed: requests to join wait here until an admin approves them.")
                + ("" if admin else " " + why["settings"]))
            self.requests_note.setText(why["approve"] or "Approving adds them with the team's default role.")
            self.invites_note.setText(why["cancel_invite"] or "Cancelling is signed into the team's chain.")

    # -- running actions ----------------------------------------------------------------------

    async def _signed(self, fn, *args, **kw):
        """Facade calls that sign team links: unlock the keys first (may ask a passphrase)."""
        if not await unlock_keys(self.session, self):
            raise errors.KeystoreError("your keys stay locked: nothing was signed")
        return await fn(*args, **kw)

    async def _act(self, fn, *args, select: str | None = None, in_dialog: bool = False, **kw):
        """Run one action with the buttons disabled, then reload what it changed. `in_dialog`:
        the open dialog shows a failure (dialog_runner), not the page's banner."""
        self._ops += 1
        self._update_buttons()
        try:   # each action its own key: one never makes another's outcome stale
            out = await ops.run(self, lambda: self._signed(fn, *args, **kw), key=("act", next(_actions)),
                                banner=None if in_dialog else self.banner, busy=self.busy, cursor=False)
        finally:
            self._ops -= 1
        if out.stale:                # the page closed meanwhile: nothing to reload or show
            return False, errors.Cancelled("the page closed before the answer came")
        self._timer.stop()          # the reload below covers the events this action caused
        await self.refresh(select)
        return out.ok, out.value

    async def _ask(self, dialog) -> bool:
        self.dialog = dialog
        try:
            return await wait_finished(dialog) == QDialog.Accepted
        finally:
            self.dialog = None
            dialog.deleteLater()

    async def _ask_and_act(self, dialog, attempt) -> tuple[bool, object]:
        """Open `dialog`; each OK runs `attempt()` with the dialog open; a failure shows in it and what
        was typed stays (dialog_runner.run_dialog)."""
        self.dialog = dialog
        try:
            return await run_dialog(dialog, attempt)
        finally:
            self.dialog = None
            dialog.deleteLater()

    def _done(self, title: str, message: str = "") -> None:
        self.banner.show_message("info", title, message)

    @qasync.asyncSlot()
    async def create_clicked(self) -> None:
        dlg = NameDialog(self.window(), title="Create a team", ok_text="Create", placeholder="e.g. acme",
                         note="A team name is 2 to 16 letters, digits or _, and can't be changed. You become "
                              "its owner; the team gets its first key.")
        ok, view = await self._ask_and_act(dlg, lambda: self._act(self.app.create_team, dlg.text.lower(),
                                                                  select=dlg.text.lower(), in_dialog=True))
        if ok:
            self._done(f"You created {view.name}", "You are its owner. Add members, or make it open so people "
                                                   "can join by name.")

    @qasync.asyncSlot()
    async def subteam_clicked(self) -> None:
        parent = self.view.name if self.view is not None else None
        if parent is None:
            return
        dlg = NameDialog(self.window(), title="Create a subteam", ok_text="Create", placeholder="e.g. eng",
                         prefix=f"{parent}.…",
                         note=f"A subteam of {parent} with its own members and keys. Admins of {parent} "
                              "administer it too.")

        def attempt():
            sub = dlg.text.lower()
            full = sub if sub.startswith(parent + ".") else f"{parent}.{sub}"
            return self._act(self.app.create_subteam, parent, sub, select=full, in_dialog=True)
        ok, view = await self._ask_and_act(dlg, attempt)
        if ok:
            self._done(f"You created {view.name}", "You are its admin.")

    @qasync.asyncSlot()
    async def join_clicked(self) -> None:
        dlg = NameDialog(self.window(), title="Join a team", ok_text="Join", placeholder="acme, or acme:token",
                         note="Type a team's name to ask to join it, or paste an invite token someone sent you.")

        typed: list[str] = []

        def attempt():
            typed.append(dlg.text)
            if ":" in typed[-1]:
                return self._act(self.app.accept_invite, typed[-1], in_dialog=True)
            return self._act(self.app.join_team, typed[-1].lower(), in_dialog=True)
        ok, view = await self._ask_and_act(dlg, attempt)
        if not ok:
            return
        if ":" in typed[-1]:
            self._done(f"You accepted the invite to {typed[-1].rpartition(':')[0]}",
                       f"An admin's kbapp adds you as {view.role} the next time it opens the team.")
            return
        if view.open:
            self._done(f"You asked to join {view.name}, an open team",
                       f"No one needs to approve it: an admin's kbapp adds you as {view.default_role} the next "
                       "time it opens the team, and it shows up here then.")
        else:
            self._done(f"Request sent to {view.name}",
                       f"{view.name} is closed: one of its admins has to approve your request.")

    @qasync.asyncSlot()
    async def add_clicked(self) -> None:
        v = self.view
        if v is None or self.reasons()["add"]:
            return
        roles = ROLE_ORDER if v.my_role == "owner" else ROLE_ORDER[1:]
        dlg = MemberDialog(self.window(), title=f"Add a member to {v.name}", roles=roles)
        asked: list[tuple[str, str]] = []

        def attempt():
            who, role = dlg.username, dlg.role
            asked.append((who, role))
            if "@" in who:   # bob@github: someone who may not be on kbapp yet; joins once they prove it
                return self._act(self.app.invite, v.name, who, role=role, select=v.name, in_dialog=True)
            return self._act(self.app.add_member, v.name, who, role, select=v.name, in_dialog=True)
        ok, _ = await self._ask_and_act(dlg, attempt)
        if not ok:
            return
        who, role = asked[-1]
        if "@" in who:
            self._done(f"{who} is invited to {v.name} as {role}",
                       "An admin's kbapp adds whoever proves that account, the next time it opens the team.")
            return
        if ok:
            self._done(f"{who} is {a_role(role)} in {v.name} now",
                       "Their identity was checked, and they got the team's current key.")

    @qasync.asyncSlot()
    async def role_clicked(self) -> None:
        v, m = self.view, self.selected_member()
        if v is None or m is None or self.reasons()["role"]:
            return
        roles = ROLE_ORDER if v.my_role == "owner" else ROLE_ORDER[1:]
        dlg = MemberDialog(self.window(), title=f"Change {m.username}'s role", username=m.username, role=m.role,
                           roles=roles, ok_text="Change role",
                           note=f"{m.username} is {a_role(m.role)} in {v.name} now.")
        if not await self._ask(dlg):
            return
        role = dlg.role
        if role == m.role:
            return
        ok, _ = await self._act(self.app.edit_member, v.name, m.username, role, select=v.name)
        if ok:
            self._done(f"{m.username} is {a_role(role)} in {v.name} now")

    @qasync.asyncSlot()
    async def remove_clicked(self) -> None:
        v, m = self.view, self.selected_member()
        if v is None or m is None or self.reasons()["remove"]:
            return
        sure = await confirm(self.window(), f"Remove {m.username}?", f"Remove {m.username} from {v.name}?",
                             "kbapp makes a new team key for everyone else, so what the team shares from "
                             "now on is sealed without them. They keep what they could already read.",
                             "Remove member")
        if not sure:
            return
        ok, view = await self._act(self.app.remove_member, v.name, m.username, select=v.name)
        if ok:
            self._done(f"{m.username} was removed from {v.name}",
                       f"The team key rotated to generation {view.generation}.")

    @qasync.asyncSlot()
    async def leave_clicked(self) -> None:
        v = self.view
        if v is None or self.reasons()["leave"]:
            return
        sure = await confirm(self.window(), f"Leave {v.name}?", f"Leave {v.name}?",
                             "You lose access to what the team shares from now on: an admin's kbapp makes a "
                             "new key without you. Someone has to add you again to come back.", "Leave team")
        if not sure:
            return
        ok, _ = await self._act(self.app.leave_team, v.name)
        if ok:
            self._done(f"You left {v.name}")

    @qasync.asyncSlot()
    async def rotate_clicked(self) -> None:
        v = self.view
        if v is None or self.reasons()["rotate"]:
            return
        ok, view = await self._act(self.app.rotate_team_key, v.name, select=v.name, reason="asked in the app")
        if ok:
            self._done(f"New key for {v.name}: generation {view.generation}",
                       "Every current member got it; older generations stay readable to them.")

    @qasync.asyncSlot()
    async def save_settings_clicked(self) -> None:
        v = self.view
        if v is None or self.reasons()["settings"]:
            return
        want_open, role = self.open_check.isChecked(), self.default_role.currentData()
        ok, view = await self._act(self.app.team_settings, v.name, open=want_open, default_role=role, select=v.name)
        if ok:
            self._done(f"{view.name} is {'open' if view.open else 'closed'} now",
                       f"New members join as {view.default_role}.")

    @qasync.asyncSlot()
    async def approve_clicked(self) -> None:
        v, r = self.view, self.selected_request()
        if v is None or r is None or self.reasons()["approve"]:
            return
        ok, _ = await self._act(self.app.approve_join, v.name, r.username, select=v.name)
        if ok:
            self._done(f"{r.username} joined {v.name} as {v.default_role}")

    @qasync.asyncSlot()
    async def deny_clicked(self) -> None:
        v, r = self.view, self.selected_request()
        if v is None or r is None or self.reasons()["deny"]:
            return
        ok, _ = await self._act(self.app.deny_join, v.name, r.username, select=v.name)
        if ok:
            self._done(f"You denied {r.username}'s request to join {v.name}",
                       "The request is gone; they can ask again.")

    @qasync.asyncSlot()
    async def cancel_invite_clicked(self) -> None:
        v, i = self.view, self.selected_invite()
        if v is None or i is None or self.reasons()["cancel_invite"]:
            return
        what = self.invites.subject(i)
        sure = await confirm(self.window(), "Cancel this invite?", f"Cancel the invite for {what}?",
                             "The cancel is signed into the team's chain: no admin's kbapp adds anyone with it "
                             "afterwards, even if it is accepted later.", "Cancel invite")
        if not sure:
            return
        ok, _ = await self._act(self.app.cancel_invite, v.name, i.id, select=v.name)
        if ok:
            self._done(f"The invite for {what} was cancelled")

    @qasync.asyncSlot()
    async def invite_clicked(self) -> None:
        v = self.view
        if v is None or self.reasons()["invite"]:
            return
        role = self.invite_role.currentData()
        ok, tok = await self._act(self.app.invite, v.name, role=role, token=True, select=v.name)
        if ok:
            self.token_text.setText(tok.token)
            self.token_row.show()
            self._done(f"An invite token for {v.name}", f"Whoever accepts it joins as {tok.role}.")

    def copy_token(self) -> None:
        QGuiApplication.clipboard().setText(self.token_text.text())
        flash_text(self.copy_token_button, "Copied")
