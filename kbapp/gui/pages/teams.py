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

import qasync
from PySide6.QtCore import QItemSelectionModel, QModelIndex, QSize, Qt, QTimer
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QFrame, QHBoxLayout, QHeaderView, QLabel,
                               QListView, QPushButton, QScrollArea, QStackedWidget, QTableView, QTreeView, QVBoxLayout,
                               QWidget)

from kbapp.client.events import TeamChanged, TeamKeyRotated

from .. import ops, theme
from ..assets import icon
from ..models import ObjectRole
from ..team_chores import TeamChores
from ..team_models import InviteModel, JoinRequestModel, NameRole, TeamMemberModel, TeamTreeModel
from ..widgets import IconLabel, card, fit_table, label
from .base import Page
from .team_actions import TeamActions

REFRESH_DELAY_MS = 150   # events arriving together cause one reload


class TeamsPage(TeamActions, Page):
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
