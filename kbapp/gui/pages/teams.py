"""Teams: your teams and subteams as a tree; the selected team's members (role and
identity badge), what an admin can do (add, change role, remove, settings, join
requests to approve or deny, token invites), and what any member can do (leave,
rotate the key). Subteams you administer through a parent team are in the tree
from the start (list_teams finds and verifies them).

Every team shown was played back from its whole chain and checked against the
transparency log by the facade (client/teams.py). Loading posts nothing: the
admin chores (add open-team joiners, rotate after a leave) are the housekeeper's,
asked for by gui/team_chores.py after login, each time the page opens and, for one
team, when a push hint names it (from login on, the page opened or not); what they
change comes back as TeamChanged / TeamKeyRotated and the page reloads. Buttons you may
not use stay visible but disabled, with the reason as tooltip and in a line of
text. The page reloads on TeamChanged / TeamKeyRotated (through the bridge).
"""

from __future__ import annotations

import asyncio
import itertools

import qasync
from PySide6.QtCore import QItemSelectionModel, QModelIndex, QSize, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDialog, QFrame, QHBoxLayout, QHeaderView,
                               QLabel, QListView, QPushButton, QScrollArea, QStackedWidget, QTableView, QTreeView,
                               QVBoxLayout, QWidget)

from kbapp.client.events import TeamChanged, TeamKeyRotated
from kbapp.core import errors

from .. import ops, theme
from ..assets import icon
from ..dialogs import confirm, unlock_keys, wait_finished
from ..models import ObjectRole
from ..plain import plain_tip
from ..dialog_runner import run_dialog
from ..team_chores import TeamChores
from ..team_dialogs import MemberDialog, NameDialog
from ..team_models import (ROLE_ORDER, InviteModel, JoinRequestModel, NameRole, TeamMemberModel, TeamTreeModel,
                           is_admin_role)
from ..widgets import IconLabel, card, fit_table, flash_text, label
from .base import Page

REFRESH_DELAY_MS = 150   # events arriving together cause one reload
_actions = itertools.count(1)


def a_role(role: str) -> str:
    if role in ("none", ""):
        return "not a member"
    return f"{'an' if role[:1] in 'aeiou' else 'a'} {role}"


class TeamsPage(Page):
    def __init__(self, session, bridge, parent=None):
        super().__init__("Teams", "A team is a signed chain of members and roles, with keys that rotate when "
                         "someone leaves. Every team shown here was checked against the transparency log.",
                         parent=parent)   # the list and the details scroll each on their own
        self.session = session
        self.app = session.app
        self.loaded = False
        self.view = None            # the selected TeamView
        self.me = ""
        self.dialog = None          # the open dialog, if any (tests reach it here)
        self.known: set[str] = set()  # subteams seen in an opened team's list (not in list_teams)
        self._seq = 0
        self._refreshing = False
        self._again = False
        self._select: str | None = None
        self._ops = 0
        self._closed = False

        self.join_button = QPushButton("Join a team…")
        self.join_button.setObjectName("joinTeamButton")
        self.join_button.setToolTip("Join a team by name, or accept an invite token")
        self.join_button.clicked.connect(self.join_clicked)
        self.actions.addWidget(self.join_button)
        self.create_button = QPushButton("Create a team")
        self.create_button.setObjectName("createTeamButton")
        self.create_button.setProperty("role", "primary")
        self.create_button.clicked.connect(self.create_clicked)
        self.actions.addWidget(self.create_button)

        row = QHBoxLayout()
        row.setSpacing(16)
        # -- the tree (left) --
        left = card()
        left.setFixedWidth(240)
        ll = QVBoxLayout(left)
        ll.setContentsMargins(1, 6, 1, 10)
        ll.setSpacing(6)
        self.tree_model = TeamTreeModel(self)
        self.tree = QTreeView()
        self.tree.setObjectName("teamsTree")
        self.tree.setModel(self.tree_model)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.tree.setSelectionMode(QAbstractItemView.SingleSelection)
        self.tree.setUniformRowHeights(True)
        self.tree.setMinimumHeight(160)
        self.tree.setFrameShape(QFrame.NoFrame)
        self.tree.header().setStretchLastSection(False)
        self.tree.header().setSectionResizeMode(0, QHeaderView.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeToContents)
        self.tree.selectionModel().currentRowChanged.connect(self._tree_changed)
        ll.addWidget(self.tree, 1)
        self.subteam_button = QPushButton("Create a subteam…")
        self.subteam_button.setObjectName("createSubteamButton")
        self.subteam_button.clicked.connect(self.subteam_clicked)
        sub_row = QHBoxLayout()
        sub_row.setContentsMargins(12, 0, 12, 0)
        sub_row.addWidget(self.subteam_button)
        ll.addLayout(sub_row)
        row.addWidget(left)

        # -- the selected team (right) --
        self.right = QStackedWidget()
        self.empty = self._empty_panel()
        self.right.addWidget(self.empty)
        self.detail = QWidget()
        dl = QVBoxLayout(self.detail)
        dl.setContentsMargins(0, 0, 0, 0)
        dl.setSpacing(12)
        dl.addWidget(self._members_card())
        dl.addWidget(self._settings_card())
        dl.addWidget(self._requests_card())
        dl.addWidget(self._invite_card())
        dl.addStretch(1)
        self.right.addWidget(self.detail)
        col = QVBoxLayout()           # the team's name stays put above its scrolling details
        col.setSpacing(10)
        col.addWidget(self.team_head)
        self.right_scroll = QScrollArea()
        self.right_scroll.setObjectName("teamDetailsScroll")
        self.right_scroll.setWidgetResizable(True)
        self.right_scroll.setFrameShape(QFrame.NoFrame)
        self.right_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.right_scroll.setWidget(self.right)
        col.addWidget(self.right_scroll, 1)
        row.addLayout(col, 1)
        self.body.addLayout(row, 1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REFRESH_DELAY_MS)
        self._timer.timeout.connect(self.refresh_clicked)
        bridge.listen(TeamChanged, self._team_event, owner=self)
        bridge.listen(TeamKeyRotated, self._team_event, owner=self)
        self.chores = TeamChores(self, self.app, bridge, changed=self._chores_changed)   # after login, on hints
        theme.current().changed.connect(self._retint)
        self._retint()
        self._show(None)

    # -- building -----------------------------------------------------------------------------

    def _empty_panel(self) -> QWidget:
        box = QFrame()
        box.setProperty("role", "placeholder")
        box.setObjectName("teamsEmpty")
        lay = QVBoxLayout(box)
        lay.setContentsMargins(48, 40, 48, 44)
        lay.setSpacing(10)
        lay.addWidget(IconLabel("teams", "text-faint", 48), 0, Qt.AlignHCenter)
        self.empty_text = label("You are not in a team yet.", "name")
        self.empty_text.setAlignment(Qt.AlignHCenter)
        lay.addWidget(self.empty_text)
        body = label("Create one and add people, or join one by its name. Subteams (acme.eng) have their "
                     "own members and keys; a team's admins administer its subteams too.", "muted", wrap=True)
        body.setAlignment(Qt.AlignHCenter)
        lay.addWidget(body)
        lay.addStretch(1)             # the explanation at the top, however tall the pane
        return box

    def _members_card(self) -> QFrame:
        box = card()
        box.setObjectName("teamMembersCard")
        lay = QVBoxLayout(box)
        lay.setContentsMargins(20, 16, 20, 14)
        lay.setSpacing(8)
        head = QHBoxLayout()
        names = QVBoxLayout()
        names.setSpacing(2)
        self.team_name = label("", "name", selectable=True)
        self.team_name.setObjectName("teamName")
        self.team_meta = label("", "muted", wrap=True)
        self.team_meta.setObjectName("teamMeta")
        names.addWidget(self.team_name)
        names.addWidget(self.team_meta)
        head.addLayout(names, 1)
        self.generation = label("", "pill")
        self.generation.setObjectName("teamGeneration")
        head.addWidget(self.generation, 0, Qt.AlignTop)
        self.team_head = QWidget()
        self.team_head.setObjectName("teamHead")
        head.setContentsMargins(4, 0, 4, 0)
        self.team_head.setLayout(head)
        lay.addWidget(label("MEMBERS", "section"))
        self.members = TeamMemberModel(self)
        self.members_view = v = members_table()
        v.setObjectName("teamMembersView")
        v.setModel(self.members)
        hh = v.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.Stretch)
        hh.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        hh.setSectionResizeMode(2, QHeaderView.ResizeToContents)
        v.selectionModel().selectionChanged.connect(self._update_buttons)
        lay.addWidget(v)
        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        self.add_button = self._button("Add member…", "addMemberButton", self.add_clicked, "primary")
        self.role_button = self._button("Change role…", "changeRoleButton", self.role_clicked)
        self.remove_button = self._button("Remove…", "removeMemberButton", self.remove_clicked, "danger")
        for b in (self.add_button, self.role_button, self.remove_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay.addLayout(buttons)
        foot = QHBoxLayout()
        foot.setSpacing(8)
        self.reason = label("", "faint", wrap=True)
        self.reason.setObjectName("teamReason")
        keep = self.reason.sizePolicy()
        keep.setRetainSizeWhenHidden(True)    # the buttons beside it keep their size
        self.reason.setSizePolicy(keep)
        foot.addWidget(self.reason, 1)
        self.rotate_button = self._button("Rotate key", "rotateKeyButton", self.rotate_clicked)
        self.leave_button = self._button("Leave…", "leaveTeamButton", self.leave_clicked, "danger")
        foot.addWidget(self.rotate_button, 0, Qt.AlignTop)
        foot.addWidget(self.leave_button, 0, Qt.AlignTop)
        lay.addLayout(foot)
        return box

    def _settings_card(self) -> QFrame:
        box, lay = self._card_layout("teamSettingsCard")
        lay.addWidget(label("SETTINGS", "section"))
        self.open_check = QCheckBox("Open team: anyone may join by name")
        self.open_check.setObjectName("teamOpenCheck")
        self.open_check.toggled.connect(self._settings_edited)
        lay.addWidget(self.open_check)
        row = QHBoxLayout()
        row.setSpacing(10)
        row.addWidget(label("New members join as", "muted"))
        self.default_role = QComboBox()
        self.default_role.setObjectName("teamDefaultRole")
        for r in ("admin", "writer", "reader"):
            self.default_role.addItem(r.capitalize(), r)
        self.default_role.currentIndexChanged.connect(self._settings_edited)
        row.addWidget(self.default_role)
        row.addStretch(1)
        self.save_settings_button = self._button("Save", "saveSettingsButton", self.save_settings_clicked)
        row.addWidget(self.save_settings_button)
        lay.addLayout(row)
        self.settings_note = label("", "faint", wrap=True)
        self.settings_note.setObjectName("teamSettingsNote")
        lay.addWidget(self.settings_note)
        return box

    def _card_layout(self, name: str) -> tuple[QFrame, QVBoxLayout]:
        box = card()
        box.setObjectName(name)
        lay = QVBoxLayout(box)
        lay.setContentsMargins(20, 14, 20, 14)
        lay.setSpacing(8)
        return box, lay

    def _pick_list(self, lay: QVBoxLayout, model, name: str, buttons) -> tuple[QListView, QLabel]:
        """A short list to pick one row from, with a note and the buttons that act on it."""
        view = QListView()
        view.setObjectName(f"team{name}View")
        view.setModel(model)
        view.setSelectionMode(QAbstractItemView.SingleSelection)
        view.setFixedHeight(72)
        view.setIconSize(QSize(18, 18))
        view.selectionModel().selectionChanged.connect(self._update_buttons)
        lay.addWidget(view)
        row = QHBoxLayout()
        note = label("", "faint", wrap=True)
        note.setObjectName(f"team{name}Note")
        row.addWidget(note, 1)
        for b in buttons:
            row.addWidget(b)
        lay.addLayout(row)
        return view, note

    def _requests_card(self) -> QFrame:
        box, lay = self._card_layout("teamRequestsCard")
        lay.addWidget(label("JOIN REQUESTS", "section"))
        self.requests = JoinRequestModel(self)
        self.deny_button = self._button("Deny", "denyButton", self.deny_clicked, "danger")
        self.approve_button = self._button("Approve", "approveButton", self.approve_clicked, "primary")
        self.requests_view, self.requests_note = self._pick_list(lay, self.requests, "Requests",
                                                                 (self.deny_button, self.approve_button))
        return box

    def _invite_card(self) -> QFrame:
        box, lay = self._card_layout("teamInviteCard")
        self.invites_title = label("PENDING INVITES", "section")
        lay.addWidget(self.invites_title)
        self.invites = InviteModel(self)
        self.cancel_invite_button = self._button("Cancel invite", "cancelInviteButton", self.cancel_invite_clicked,
                                                 "danger")
        self.invites_view, self.invites_note = self._pick_list(lay, self.invites, "Invites",
                                                               (self.cancel_invite_button,))
        lay.addWidget(label("INVITE WITH A TOKEN", "section"))
        row = QHBoxLayout()
        row.setSpacing(10)
        row.addWidget(label("Whoever holds the token joins as", "muted"))
        self.invite_role = QComboBox()
        self.invite_role.setObjectName("inviteRole")
        for r in ("admin", "writer", "reader"):
            self.invite_role.addItem(r.capitalize(), r)
        self.invite_role.setCurrentIndex(1)
        row.addWidget(self.invite_role)
        row.addStretch(1)
        self.invite_button = self._button("Make a token", "inviteTokenButton", self.invite_clicked)
        row.addWidget(self.invite_button)
        lay.addLayout(row)
        self.token_row = QWidget()
        tl = QHBoxLayout(self.token_row)
        tl.setContentsMargins(0, 0, 0, 0)
        self.token_text = label("", "mono", selectable=True)
        self.token_text.setObjectName("inviteToken")
        tl.addWidget(self.token_text, 1)
        self.copy_token_button = self._button("Copy", "copyTokenButton", self.copy_token)
        tl.addWidget(self.copy_token_button)
        lay.addWidget(self.token_row)
        self.invite_note = label("Send the token privately. It is shown once; the server only ever sees its "
                                 "public half. Your kbapp adds whoever accepts it the next time it opens the "
                                 "team.", "faint", wrap=True)
        lay.addWidget(self.invite_note)
        self.token_row.hide()
        return box

    def _button(self, text: str, name: str, slot, role: str | None = None) -> QPushButton:
        b = QPushButton(text)
        b.setObjectName(name)
        if role:
            b.setProperty("role", role)
        b.clicked.connect(slot)
        return b

    def _retint(self) -> None:
        self.create_button.setIcon(icon("plus", theme.colour("accent-text")))
        self.join_button.setIcon(icon("teams", theme.colour("text-muted")))
        self.copy_token_button.setIcon(icon("copy", theme.colour("text-muted")))

    # -- loading ------------------------------------------------------------------------------

    def shown(self) -> None:
        if not self.loaded:
            self.refresh_clicked()
        self.run_chores()

    def run_chores(self) -> asyncio.Task | None:
        """The housekeeper's pass over our teams, in the background (gui/team_chores.py)."""
        return self.chores.run_all()

    def _chores_changed(self) -> None:
        if self.loaded:
            self.refresh_clicked()   # a reload running meanwhile may have read the team before

    def current_name(self) -> str | None:
        idx = self.tree.selectionModel().currentIndex()
        return idx.data(NameRole) if idx.isValid() else None

    def _team_event(self, *_):
        """A team changed (seen by a load elsewhere in the app): reload once things settle.
        Events our own loads and actions cause are already in what they show."""
        if self.loaded and not self._closed and not self._refreshing and not self._ops:
            self._timer.start()

    def shutdown(self) -> None:
        """The profile is closing: no more reloads."""
        self._closed = True
        self._timer.stop()
        self._seq += 1
        self.chores.close()

    @qasync.asyncSlot()
    async def refresh_clicked(self) -> None:
        await self.refresh()

    async def refresh(self, select: str | None = None) -> None:
        """Reload the tree (every team verified), then the selected team."""
        if self._ops or self._closed:
            return                   # the running action reloads when it ends
        if self._refreshing:
            self._again = True
            self._select = select or self._select
            return
        self._refreshing = True
        self._select = select
        try:
            while True:
                self._again = False
                select, self._select = self._select, None
                await self._refresh_once(select)
                if not self._again:
                    break
        finally:
            self._refreshing = False

    async def _refresh_once(self, select: str | None) -> None:
        want = select or self.current_name()
        out = await ops.run(self, self.app.list_teams, key="teams", banner=self.banner, busy=self.busy,
                            clear=False, cursor=False)
        if not out.ok or out.stale:
            return
        teams = out.value
        st = await self.app.status()
        self.me = st.username or ""
        self.loaded = True
        self._set_tree(teams, want)
        name = self.current_name()
        if name is not None:
            await self.load_team(name)
        else:
            self._show(None)

    def _set_tree(self, teams, want: str | None) -> None:
        names = {t.name for t in teams if not t.implicit}
        self.known = {k for k in self.known if k.split(".")[0] in {n.split(".")[0] for n in names}}
        sm = self.tree.selectionModel()
        sm.blockSignals(True)          # a rebuild is not a new selection: load once, below
        try:
            self.tree_model.set_teams(teams, self.known)
            self.tree.expandAll()
            idx = self.tree_model.index_of(want) if want else QModelIndex()
            if not idx.isValid() and self.tree_model.rowCount() > 0:
                idx = self.tree_model.index(0, 0)
            if idx.isValid():
                sm.setCurrentIndex(idx, QItemSelectionModel.ClearAndSelect | QItemSelectionModel.Rows)
        finally:
            sm.blockSignals(False)
        self.tree.viewport().update()
        self.empty_text.setText("You are not in a team yet." if not names else "Select a team.")

    @qasync.asyncSlot()
    async def _tree_changed(self, current, _previous) -> None:
        name = current.data(NameRole) if current.isValid() else None
        if name:
            self.token_row.hide()
            await self.load_team(name)

    async def load_team(self, name: str) -> None:
        """The team with members' badges; for an admin, the valid join requests too."""
        self._seq += 1
        seq = self._seq
        out = await ops.run(self, lambda: self.app.list_members(name), key="members", banner=self.banner,
                            busy=self.busy, clear=False, cursor=False)
        if seq != self._seq or out.stale:
            return                    # another team was selected meanwhile (or the page closed)
        if not out.ok:
            self._show(None)
            return
        view, requests = out.value, []
        if self._is_admin(view):
            got = await ops.run(self, lambda: self.app.join_requests(name), key="requests", banner=self.banner,
                                busy=self.busy, clear=False, cursor=False)
            if seq != self._seq or got.stale:
                return
            requests = got.value if got.ok else []
        new = {s for s in view.subteams if self.tree_model.item(s) is None and s not in self.known}
        self._show(view, requests)
        if new:
            self.known |= new
            teams = [self.tree_model.item(n) for n in self.tree_model.names()]
            self._set_tree([t for t in teams if t is not None], view.name)

    # -- showing ----------------------------------------------------------------------------

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

    def _show(self, view, requests=()) -> None:
        keep = self.selected_member()
        self.view = view
        self.team_head.setVisible(view is not None)
        if view is None:
            self.right.setCurrentWidget(self.empty)
            self.members.set_members([])
            self.requests.set_requests([])
            self.invites.set_rows([])
            self._update_buttons()
            return
        self.right.setCurrentWidget(self.detail)
        self.team_name.setText(view.name)
        n = len([m for m in view.members if not m.implicit_admin])
        kind = "Subteam" if view.parent_id else "Team"
        self.team_meta.setText(f"{kind} · {n} member{'s' if n != 1 else ''} · "
                               f"{'open' if view.open else 'closed'} · you are {self._role_word(view)}")
        self.generation.setText(f"KEY GENERATION {view.generation}")
        self.generation.setToolTip(f"The team's newest key generation is {view.generation}: a new one is made "
                                   "whenever someone is removed or leaves.\n"
                                   f"Chain: {view.seqno} links, tail {view.tail_link_id[:16]}…")
        self.members.set_members(view.members, self.me)
        fit_table(self.members_view)
        if keep is not None:
            row = self.members.row_of(keep.username)
            if row >= 0:
                self.members_view.selectRow(row)
        self.open_check.blockSignals(True)
        self.default_role.blockSignals(True)
        self.open_check.setChecked(view.open)
        i = self.default_role.findData(view.default_role)
        self.default_role.setCurrentIndex(i if i >= 0 else 1)
        self.open_check.blockSignals(False)
        self.default_role.blockSignals(False)
        self.requests.set_requests(list(requests))
        self.requests_view.setVisible(self.requests.rowCount() > 0)
        self.invites.set_rows(view.invites)
        for w in (self.invites_title, self.invites_view, self.invites_note, self.cancel_invite_button):
            w.setVisible(bool(view.invites))
        self._update_buttons()

    def selected_member(self):
        rows = self.members_view.selectionModel().selectedRows()
        return self.members.data(rows[0], ObjectRole) if rows else None

    def selected_request(self):
        rows = self.requests_view.selectionModel().selectedRows()
        return self.requests.data(rows[0], ObjectRole) if rows else None

    def selected_invite(self):
        rows = self.invites_view.selectionModel().selectedRows()
        return self.invites.data(rows[0], ObjectRole) if rows else None

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


def members_table() -> QTableView:
    """The members table: rows selectable, no grid, sized to its rows (the page scrolls)."""
    v = QTableView()
    v.setSelectionBehavior(QAbstractItemView.SelectRows)
    v.setSelectionMode(QAbstractItemView.SingleSelection)
    v.setShowGrid(False)
    v.setWordWrap(False)
    v.verticalHeader().hide()
    v.verticalHeader().setDefaultSectionSize(36)
    v.horizontalHeader().setHighlightSections(False)
    v.horizontalHeader().setDefaultAlignment(Qt.AlignLeft | Qt.AlignVCenter)
    v.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    v.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    return v
