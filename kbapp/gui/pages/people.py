"""People: look someone up and see what their chain proves, with a verdict badge.

Green "Verified" means the whole chain was played back and matched the
transparency log; red "Broken" means the server's answer failed a check, with the
typed error's code and message. A broken answer shows nothing else: none of it
was trusted.

A verified identity also lists its proofs (each checked live on its service, a
busy row while that runs), a Follow / Unfollow button, and, for someone you
follow who changed since, a banner naming each change with "Accept changes and
re-follow". Looking at yourself offers "Prove an account" and Revoke instead.
Proof links open in the browser only after a confirmation, and only http(s).
"""

from __future__ import annotations

import time

import qasync
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QAbstractItemView, QFrame, QHBoxLayout, QHeaderView, QLineEdit, QMessageBox,
                               QPushButton, QTableView, QVBoxLayout, QWidget)

from kbapp.client.events import ProofsChanged, ProofsChecking
from kbapp.client.models import FollowChangeView, Identity
from kbapp.core import errors
from kbapp.core.uid import check_username

from .. import ops, theme
from ..assets import icon
from ..dialogs import confirm, unlock_keys, wait_finished
from ..models import DeviceTableModel, KeyTableModel, ObjectRole, ProofTableModel, openable_url, service_label
from ..people_completer import PeopleCompleter
from ..plain import plain_tip
from ..prove import ProveDialog
from ..widgets import Avatar, Badge, IconLabel, fit_table, guarded, label, restyle, rule
from .base import Page

SERIOUS = {"account_reset", "proof_broken", "key_removed"}   # a red banner; the rest is amber


def change_text(c: FollowChangeView) -> str:
    """One line of the follow banner, in words (subjects are untrusted: plain text only)."""
    if c.kind == "account_reset":
        return ("The account was reset: it has a new eldest key, and nothing you checked when you "
                "followed applies to it any more.")
    if c.kind == "proof_added":
        return f"New proof: {c.subject}"
    if c.kind == "proof_removed":
        return f"Proof revoked: {c.subject}"
    if c.kind == "proof_broken":
        return f"Proof no longer checks: {c.detail.removeprefix('proof ')}"
    if c.kind == "proof_fixed":
        return f"Proof checks again: {c.subject}"
    if c.kind == "device_revoked":
        return f"Device revoked: {c.detail.removeprefix('device ').removesuffix(' was revoked')}"
    if c.kind == "device_added":
        return f"New device: {c.detail.removeprefix('new device ')}"
    if c.kind == "key_added":
        return f"New signing key: {c.subject[:24]}…"
    if c.kind == "key_removed":
        return f"Signing key removed: {c.subject[:24]}…"
    return c.detail


async def confirm_open(parent: QWidget, url: str) -> bool:
    """Ask before a proof link leaves the app (plain text; opened with .open(), no nested loop)."""
    box = QMessageBox(QMessageBox.Question, "Open link?", "Open this link in your web browser?",
                      QMessageBox.Cancel, parent)
    box.setObjectName("openLinkBox")
    box.setTextFormat(Qt.PlainText)
    box.setInformativeText(f"{url}\n\nIt was written by the person you looked up and points to a page "
                           "outside kbapp.")
    ok = box.addButton("Open link", QMessageBox.AcceptRole)
    ok.setObjectName("openLinkButton")
    box.setDefaultButton(QMessageBox.Cancel)
    try:
        await wait_finished(box)
        return box.clickedButton() is ok
    finally:
        box.deleteLater()


class FollowBanner(QFrame):
    """What changed in a followed identity since the follow, with "Accept changes and re-follow"."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("followBanner")
        self.setProperty("kind", "warning")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(14, 12, 14, 12)
        lay.setSpacing(12)
        self.icon = IconLabel("alert", "warn", 24)
        lay.addWidget(self.icon, 0, Qt.AlignTop)
        col = QVBoxLayout()
        col.setSpacing(4)
        self.title = label("", wrap=True)
        self.title.setObjectName("followBannerTitle")
        self.changes = label("", wrap=True, selectable=True)
        self.changes.setObjectName("followBannerChanges")
        self.note = label("You followed what you checked then. Check these changes with them (in "
                          "person, or on another channel) before you accept them.", "muted", wrap=True)
        for w in (self.title, self.changes, self.note):
            col.addWidget(w)
        row = QHBoxLayout()
        row.addStretch(1)
        self.accept_button = QPushButton("Accept changes and re-follow")
        self.accept_button.setObjectName("acceptChangesButton")
        self.accept_button.setToolTip("Sign a new follow of what you see now")
        row.addWidget(self.accept_button)
        col.addLayout(row)
        lay.addLayout(col, 1)
        self.lines: list[str] = []
        self.hide()

    def show_changes(self, username: str, changes: list[FollowChangeView]) -> None:
        serious = any(c.kind in SERIOUS for c in changes)
        self.setProperty("kind", "error" if serious else "warning")
        self.icon.set_icon("alert", "bad" if serious else "warn")
        self.title.setText(f"{username} changed since you followed them")
        self.lines = [change_text(c) for c in changes]
        self.changes.setText("\n".join(f"•  {t}" for t in self.lines))
        restyle(self)
        self.show()

    def clear(self) -> None:
        self.lines = []
        self.hide()


def make_table(model, name: str) -> QTableView:
    view = QTableView()
    view.setObjectName(name)
    view.setModel(model)
    view.setSelectionMode(QAbstractItemView.NoSelection)
    view.setFocusPolicy(Qt.NoFocus)
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.verticalHeader().hide()
    view.verticalHeader().setDefaultSectionSize(34)
    view.horizontalHeader().setHighlightSections(False)
    view.horizontalHeader().setDefaultAlignment(Qt.AlignLeft | Qt.AlignVCenter)
    view.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    view.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    view.setIconSize(view.iconSize().scaled(18, 18, Qt.KeepAspectRatio))
    return view


class IdentityCard(QFrame):
    """One user's identity as verified (or not) by this device."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setProperty("role", "card")
        self.setObjectName("identityCard")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(24, 20, 24, 20)
        lay.setSpacing(10)

        top = QHBoxLayout()
        top.setSpacing(16)
        self.avatar = Avatar(56)
        top.addWidget(self.avatar, 0, Qt.AlignTop)
        names = QVBoxLayout()
        names.setSpacing(3)
        self.name = label("", "name", selectable=True)
        self.name.setObjectName("identityName")
        self.meta = label("", "muted", wrap=True)
        self.meta.setObjectName("identityMeta")
        self.uid = label("", "faint", selectable=True)
        self.uid.setObjectName("identityUid")
        names.addWidget(self.name)
        names.addWidget(self.meta)
        names.addWidget(self.uid)
        top.addLayout(names, 1)
        side = QVBoxLayout()
        side.setSpacing(8)
        self.badge = Badge()
        side.addWidget(self.badge, 0, Qt.AlignRight)
        self.follow_button = QPushButton("Follow")
        self.follow_button.setObjectName("followButton")
        self.follow_button.setProperty("role", "primary")
        side.addWidget(self.follow_button, 0, Qt.AlignRight)
        self.prove_button = QPushButton("Prove an account…")
        self.prove_button.setObjectName("proveButton")
        self.prove_button.setProperty("role", "primary")
        self.prove_button.setToolTip("Link a website, domain or social account to this identity")
        self.prove_button.hide()
        side.addWidget(self.prove_button, 0, Qt.AlignRight)
        side.addStretch(1)
        top.addLayout(side)
        lay.addLayout(top)

        self.follow_banner = FollowBanner()
        lay.addWidget(self.follow_banner)

        # the verdict when the server lied: code and message of the typed error
        self.broken = QFrame()
        self.broken.setObjectName("brokenPanel")
        bl = QHBoxLayout(self.broken)
        bl.setContentsMargins(14, 12, 14, 12)
        bl.setSpacing(12)
        bl.addWidget(IconLabel("broken", "bad", 28), 0, Qt.AlignTop)
        bcol = QVBoxLayout()
        bcol.setSpacing(4)
        self.broken_title = label("", wrap=True)
        self.broken_title.setObjectName("brokenTitle")
        f = self.broken_title.font()
        f.setBold(True)
        self.broken_title.setFont(f)
        self.broken_code = label("", selectable=True)
        self.broken_code.setObjectName("brokenCode")
        self.broken_message = label("", wrap=True, selectable=True)
        self.broken_message.setObjectName("brokenMessage")
        self.broken_note = label("Nothing from this answer was trusted or saved, and what this device "
                                 "verified before is unchanged. If it persists, the server is lying "
                                 "or broken: don't rely on it for this person's keys.", "muted", wrap=True)
        for w in (self.broken_title, self.broken_code, self.broken_message, self.broken_note):
            bcol.addWidget(w)
        bl.addLayout(bcol, 1)
        lay.addWidget(self.broken)

        # what a verified chain says
        self.details = QWidget()
        dl = QVBoxLayout(self.details)
        dl.setContentsMargins(0, 4, 0, 0)
        dl.setSpacing(8)
        dl.addWidget(rule())
        dl.addWidget(label("PROOFS", "section"))
        self.proofs = ProofTableModel(self)
        self.proofs_view = make_table(self.proofs, "peopleProofs")
        self.proofs_view.setMouseTracking(True)
        self.proofs_view.setTextElideMode(Qt.ElideRight)
        self.proofs_view.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.proofs_view.setFocusPolicy(Qt.StrongFocus)   # arrows pick your proof to revoke
        self.proofs_view.selectionModel().selectionChanged.connect(self._own_selection)
        dl.addWidget(self.proofs_view)
        empty = QHBoxLayout()
        empty.setSpacing(8)
        empty.addWidget(IconLabel("link", "text-faint", 16))
        self.proofs_empty = label("", "muted", wrap=True)
        self.proofs_empty.setObjectName("proofsEmpty")
        empty.addWidget(self.proofs_empty, 1)
        self.proofs_empty_row = QWidget()
        self.proofs_empty_row.setLayout(empty)
        dl.addWidget(self.proofs_empty_row)
        own = QHBoxLayout()
        own.setSpacing(8)
        self.own_hint = label("Select one of your proofs to revoke it.", "faint", wrap=True)
        self.own_hint.setObjectName("ownProofsHint")
        own.addWidget(self.own_hint, 1)
        self.revoke_proof_button = QPushButton("Revoke proof…")
        self.revoke_proof_button.setObjectName("revokeProofButton")
        self.revoke_proof_button.setProperty("role", "danger")
        self.revoke_proof_button.setEnabled(False)
        own.addWidget(self.revoke_proof_button)
        self.own_row = QWidget()
        self.own_row.setLayout(own)
        dl.addWidget(self.own_row)
        # devices, keys and checkpoint: hidden while only the proof rows are being checked
        self.chain_details = QWidget()
        cl = QVBoxLayout(self.chain_details)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(8)
        cl.addWidget(label("DEVICES", "section"))
        self.devices = DeviceTableModel(self)
        self.devices_view = make_table(self.devices, "peopleDevices")
        cl.addWidget(self.devices_view)
        cl.addWidget(label("KEYS", "section"))
        self.keys = KeyTableModel(self)
        self.keys_view = make_table(self.keys, "peopleKeys")
        cl.addWidget(self.keys_view)
        cl.addSpacing(4)
        self.checkpoint = label("", "faint", wrap=True)
        self.checkpoint.setObjectName("identityCheckpoint")
        cl.addWidget(self.checkpoint)
        dl.addWidget(self.chain_details)
        lay.addWidget(self.details)

        for v in (self.devices_view, self.keys_view):
            hh = v.horizontalHeader()
            hh.setSectionResizeMode(QHeaderView.ResizeToContents)
            hh.setStretchLastSection(True)
        hh = self.proofs_view.horizontalHeader()
        for c in range(3):
            hh.setSectionResizeMode(c, QHeaderView.ResizeToContents)
        hh.setSectionResizeMode(3, QHeaderView.Stretch)
        hh.setSectionResizeMode(ProofTableModel.LINK_COL, QHeaderView.Fixed)
        hh.resizeSection(ProofTableModel.LINK_COL, 250)
        hh.setStretchLastSection(False)
        self.ident: Identity | None = None
        self.is_me = False

    def set_follow_state(self, ident: Identity | None, me: str | None) -> None:
        """Follow / Unfollow, or Prove for yourself; disabled with the reason as tooltip."""
        b = self.follow_button
        self.is_me = ident is not None and ident.username == me
        self.proofs_view.setSelectionMode(QAbstractItemView.SingleSelection if self.is_me
                                          else QAbstractItemView.NoSelection)
        self.prove_button.setVisible(self.is_me)
        b.setVisible(not self.is_me)
        if ident is None:
            b.setText("Follow")
            b.setProperty("role", "primary")
            b.setEnabled(False)
            b.setToolTip("Only an identity that verified can be followed")
        elif not me:
            b.setText("Follow")
            b.setEnabled(False)
            b.setToolTip("Log in to follow people")
        elif ident.following:
            b.setText("Unfollow")
            b.setProperty("role", "")
            b.setEnabled(True)
            b.setToolTip(plain_tip(f"Stop following {ident.username} (signs an untrack link)"))
        else:
            b.setText("Follow")
            b.setProperty("role", "primary")
            b.setEnabled(True)
            b.setToolTip(plain_tip(f"Sign a snapshot of what you checked of {ident.username}: "
                                   "later changes are flagged"))
        if self.is_me:
            b.setEnabled(False)
            b.setToolTip("This is you: you cannot follow yourself")
        restyle(b)

    def proofs_checking(self, proofs) -> None:
        """The chain verified and its proofs are being fetched: show those rows, busy."""
        self.meta.setText("Chain verified; checking the proofs on their services…")
        self.chain_details.hide()
        self.details.show()
        self.proofs.set_checking(proofs)
        self._fit_proofs()

    def _fit_proofs(self) -> None:
        n = self.proofs.rowCount()
        self.proofs_view.setVisible(n > 0)
        self.proofs_empty_row.setVisible(n == 0)
        self.own_row.setVisible(self.is_me and n > 0)
        if self.is_me:
            self.proofs_empty.setText("You have not proven any account yet: \u201cProve an account\u201d "
                                      "links a website or an account elsewhere to you.")
        else:
            self.proofs_empty.setText("No proofs: this person has not linked any website or account.")
        fit_table(self.proofs_view)
        self._own_selection()

    def selected_proof(self):
        rows = self.proofs_view.selectionModel().selectedRows()
        return self.proofs.data(rows[0], ObjectRole) if rows and self.is_me else None

    def _own_selection(self, *_):
        p = self.selected_proof()
        self.revoke_proof_button.setEnabled(p is not None)
        self.own_hint.setText(f"{p.name} on {service_label(p.service)}: revoking it removes it from your "
                              "identity for everyone who looks you up." if p is not None
                              else "Select one of your proofs to revoke it.")

    def checking(self, username: str) -> None:
        self.avatar.set_name(username)
        self.name.setText(username)
        self.meta.setText("Checking the chain against the transparency log…")
        self.uid.setText("")
        self.badge.set_state("checking")
        self.broken.hide()
        self.details.hide()
        self.follow_banner.clear()
        self.ident = None
        self.set_follow_state(None, None)
        self.follow_button.hide()
        self.prove_button.hide()
        self.proofs.set_proofs([])   # nothing of the previous answer stays on screen
        self.devices.set_devices([])
        self.keys.set_keys([])

    def rechecking(self) -> None:
        """A refresh of the card on screen: it stays as it was (no flicker, Prove stays clickable)
        while the chain is checked again; only Follow waits for the fresh answer."""
        self.meta.setText("Checking the chain against the transparency log again…")
        self.badge.set_state("checking")
        self.follow_button.setEnabled(False)

    def verified(self, ident: Identity, me: str | None = None) -> None:
        self.ident = ident
        self.avatar.set_name(ident.username)
        self.name.setText(ident.username)
        active = sum(1 for d in ident.devices if not d.revoked)
        self.meta.setText(f"{ident.chain_length} links in the chain · {active} active "
                          f"device{'s' if active != 1 else ''} · per-user key generation {ident.puk_generation}"
                          + (" · changed since last check" if ident.changed else ""))
        self.uid.setText(f"uid {ident.uid}")
        self.badge.set_state("verified")
        self.broken.hide()
        self.devices.set_devices(ident.devices)
        self.keys.set_keys(ident.keys, ident.devices)
        cp = ident.checkpoint
        self.checkpoint.setText(
            f"Checked against log checkpoint {cp.size} (root {cp.root_hex[:16]}…) at "
            f"{time.strftime('%H:%M:%S', time.localtime())}." if cp else "")
        self.set_follow_state(ident, me)
        self.proofs.set_proofs(ident.proofs)
        if ident.follow_diff:
            self.follow_banner.show_changes(ident.username, ident.follow_diff)
        else:
            self.follow_banner.clear()
        self.chain_details.show()
        self.details.show()
        fit_table(self.devices_view)
        fit_table(self.keys_view)
        self._fit_proofs()

    def failed(self, username: str, exc: errors.VerificationError) -> None:
        self.avatar.set_name(username)
        self.name.setText(username)
        self.meta.setText("Could not be verified")
        self.uid.setText("")
        self.badge.set_state("broken", f"Broken · {exc.code}")
        self.broken_title.setText(f"The server's answer about {username} did not check out.")
        self.broken_code.setText(exc.code)
        self.broken_message.setText(str(exc))
        self.details.hide()
        self.broken.show()
        self.ident = None
        self.follow_banner.clear()
        self.set_follow_state(None, None)
        self.follow_button.setToolTip("A broken identity cannot be followed: nothing in it was trusted")


class PeoplePage(Page):
    def __init__(self, session, bridge, parent=None):
        super().__init__("People", "Look anyone up by username. Their devices and keys are checked "
                         "here, link by link, against the server's public log.", scroll=True, parent=parent)
        self.app = session.app
        self._request = 0
        self.me_button = QPushButton("Your profile")
        self.me_button.setObjectName("myProfileButton")
        self.me_button.setToolTip("Look yourself up: your proofs, and \u201cProve an account\u201d")
        self.me_button.clicked.connect(self.me_clicked)
        self.actions.addWidget(self.me_button)
        row = QHBoxLayout()
        row.setSpacing(8)
        self.search = QLineEdit()
        self.search.setObjectName("peopleSearch")
        self.search.setPlaceholderText("Username, e.g. bob")
        self.search.setClearButtonEnabled(True)
        self.search.setMaxLength(32)
        self._search_action = self.search.addAction(icon("search", theme.colour("text-faint")),
                                                    QLineEdit.LeadingPosition)
        self.search.returnPressed.connect(self.lookup_clicked)
        self.search.textChanged.connect(lambda _t: self.banner.clear_about("search"))
        self.completer_ = PeopleCompleter(self.search, self.app, assertions=False)   # lookups take names only
        self.completer_.activated.connect(lambda _name: self.lookup_clicked())
        row.addWidget(self.search, 1)
        self.lookup_button = QPushButton("Look up")
        self.lookup_button.setObjectName("lookupButton")
        self.lookup_button.setProperty("role", "primary")
        self.lookup_button.clicked.connect(self.lookup_clicked)
        row.addWidget(self.lookup_button)
        self.body.addLayout(row)
        self.body.addSpacing(6)

        self.empty = QWidget()
        el = QVBoxLayout(self.empty)
        el.setContentsMargins(0, 40, 0, 0)
        el.setSpacing(10)
        el.addWidget(IconLabel("people", "text-faint", 48), 0, Qt.AlignHCenter)
        hint = label("Nobody looked up yet", "name")
        hint.setAlignment(Qt.AlignHCenter)
        el.addWidget(hint)
        sub = label("Type a username above. kbapp never takes the server's word for it: a mismatch "
                    "anywhere turns the badge red.", "muted", wrap=True)
        sub.setAlignment(Qt.AlignHCenter)
        el.addWidget(sub)
        self.body.addWidget(self.empty)

        self.card = IdentityCard()
        self.card.hide()
        self.body.addWidget(self.card)
        self.body.addStretch(1)
        theme.current().changed.connect(self._retint)

        self.session = session
        self.current = ""            # the username on the card (or being looked up)
        self.prove_dialog: ProveDialog | None = None
        c = self.card
        c.follow_button.clicked.connect(self.follow_clicked)
        c.follow_banner.accept_button.clicked.connect(self.accept_changes_clicked)
        c.prove_button.clicked.connect(self.prove_clicked)
        c.revoke_proof_button.clicked.connect(self.revoke_proof_clicked)
        c.proofs_view.clicked.connect(self.proof_clicked)
        bridge.listen(ProofsChecking, self._proofs_checking, owner=self)
        bridge.listen(ProofsChanged, self._proofs_changed, owner=self)

    def _retint(self) -> None:
        self._search_action.setIcon(icon("search", theme.colour("text-faint")))

    @qasync.asyncSlot()
    async def me_clicked(self) -> None:
        me = (await self.app.status()).username
        if me:
            self.search.setText(me)
            await self.lookup(me)

    @qasync.asyncSlot()
    async def lookup_clicked(self) -> None:
        await self.lookup(self.search.text())

    async def lookup(self, text: str) -> None:
        """Names typed quickly: ops.run's key "lookup" makes the newest lookup's answer win."""
        self._request += 1   # lookups started (tests wait on it)
        try:
            username = check_username(text.strip())
        except errors.BadUsername as e:
            ops.supersede(self, "lookup")                  # an older lookup's answer is not for this
            self.banner.show_error(e, subject="search")   # goes as soon as the name is edited
            return
        self.banner.clear_unless(username)   # "Not found: bbo", "You follow bob": about another card
        self.empty.hide()
        same = self.card.ident is not None and self.card.ident.username == username and self.card.isVisible()
        self.current = username
        if same:
            self.card.rechecking()
        else:
            self.card.checking(username)
        self.card.show()

        async def work():
            mine = (await self.app.status()).username
            return await self.app.identify(username), mine

        def failed(e: BaseException) -> None:
            if isinstance(e, errors.VerificationError):
                self.card.failed(username, e)
            else:
                self.card.hide()
                self.empty.show()
                self.banner.show_error(e, subject=username)

        await ops.run(self, work, key="lookup", busy=self.busy, cursor=False,
                      on_done=lambda got: self.card.verified(*got), on_error=failed)

    # -- proofs ---------------------------------------------------------------------------------

    def _proofs_checking(self, ev: ProofsChecking) -> None:
        """The facade started live checks: show those rows busy while they run."""
        if ev.username == self.current and self.card.ident is None and not self.card.broken.isVisible():
            self.card.proofs_checking(ev.proofs)

    def _proofs_changed(self, ev: ProofsChanged) -> None:
        if ev.username == self.current and self.card.ident is not None:
            self.refresh_clicked()

    @qasync.asyncSlot()
    async def refresh_clicked(self) -> None:
        if self.current:
            await self.lookup(self.current)

    @qasync.asyncSlot(object)
    async def proof_clicked(self, index) -> None:
        if index.isValid() and index.column() == ProofTableModel.LINK_COL:
            await self.open_link(index.row())

    async def open_link(self, row: int) -> bool:
        """Open a proof's page in the browser, after asking; never a non-web link."""
        p = self.card.proofs.proofs[row]
        url = p.proof_url
        if not openable_url(url):
            self.banner.show_message("info", "Nothing to open",
                                     f"{url or 'This proof'} is not a web link: check it with the service's "
                                     "own tools.")
            return False
        if not await confirm_open(self.window(), url):
            return False
        QDesktopServices.openUrl(QUrl(url, QUrl.StrictMode))
        return True

    @qasync.asyncSlot()
    async def prove_clicked(self) -> None:
        if self.prove_dialog is not None:
            return
        dlg = ProveDialog(self.app, self.session, self.window())
        dlg.setObjectName("proveDialog")
        dlg.finished.connect(lambda _r: self._prove_finished(dlg))
        self.prove_dialog = dlg
        dlg.open()

    def _prove_finished(self, dlg) -> None:
        self.prove_dialog = None
        dlg.cancel()
        if dlg.proof is not None:
            p = dlg.proof
            self.banner.show_message("info", f"{p.name} on {service_label(p.service)} is proven",
                                     "Anyone who looks you up now sees it, checked live on the service.",
                                     subject=self.current)
            self.refresh_clicked()
        dlg.deleteLater()

    @qasync.asyncSlot()
    async def revoke_proof_clicked(self) -> None:
        p = self.card.selected_proof()
        if p is None or not self.card.is_me:
            return
        sure = await confirm(self.window(), "Revoke this proof?", f"Revoke your proof of {p.name} on "
                             f"{service_label(p.service)}?",
                             "Your chain gets a revocation: the proof no longer counts, even if its text stays "
                             "on the service (you can delete it there too). This cannot be undone; you can "
                             "prove the account again later.", "Revoke proof")
        if not sure:
            return
        ok, _ = await guarded(self._signed(self.app.revoke_proof, p.sig_id), banner=self.banner, busy=self.busy,
                              disable=(self.card.revoke_proof_button,))
        if ok:
            self.banner.show_message("info", f"Your proof of {p.name} is revoked", subject=self.current)
            await self.lookup(self.current)

    # -- following ------------------------------------------------------------------------------

    async def _signed(self, fn, *args):
        """Run a facade call that signs a link, unlocking the keys first (may ask a passphrase)."""
        if not await unlock_keys(self.session, self):
            raise errors.KeystoreError("your keys stay locked: nothing was signed")
        return await fn(*args)

    @qasync.asyncSlot()
    async def follow_clicked(self) -> None:
        ident = self.card.ident
        if ident is None or self.card.is_me:
            return
        fn = self.app.unfollow if ident.following else self.app.follow
        ok, _ = await guarded(self._signed(fn, ident.username), banner=self.banner, busy=self.busy,
                              disable=(self.card.follow_button,))
        if ok:
            await self.lookup(ident.username)
            if not ident.following:
                self.banner.show_message("info", f"You follow {ident.username}",
                                         "Your chain now holds a signed snapshot of their keys and proofs: any "
                                         "change from here on is flagged when you look them up.",
                                         subject=ident.username)

    @qasync.asyncSlot()
    async def accept_changes_clicked(self) -> None:
        """Re-sign the track link: what we see now becomes what we follow."""
        ident = self.card.ident
        if ident is None or not ident.following:
            return
        ok, _ = await guarded(self._signed(self.app.follow, ident.username), banner=self.banner, busy=self.busy,
                              disable=(self.card.follow_banner.accept_button, self.card.follow_button))
        if ok:
            await self.lookup(ident.username)
            self.banner.show_message("info", f"You follow {ident.username} as they are now",
                                     "A new follow was signed over what you just checked.", subject=ident.username)
