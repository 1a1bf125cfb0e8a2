"""People: look someone up and see what their chain proves, with a verdict badge.

Green "Verified" means the whole chain was played back and matched the
transparency log; red "Broken" means the server's answer failed a check, with the
typed error's code and message. A broken answer shows nothing else: none of it
was trusted.
"""

from __future__ import annotations

import time

import qasync
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QFrame, QHBoxLayout, QHeaderView, QLineEdit, QPushButton,
                               QTableView, QVBoxLayout, QWidget)

from kbapp.client.models import Identity
from kbapp.core import errors
from kbapp.core.uid import check_username

from .. import theme
from ..assets import icon
from ..models import DeviceTableModel, KeyTableModel
from ..widgets import Avatar, Badge, IconLabel, fit_table, guarded, label, rule
from .base import Page


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
        self.badge = Badge()
        top.addWidget(self.badge, 0, Qt.AlignTop)
        lay.addLayout(top)

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
        dl.addWidget(label("DEVICES", "section"))
        self.devices = DeviceTableModel(self)
        self.devices_view = make_table(self.devices, "peopleDevices")
        dl.addWidget(self.devices_view)
        dl.addWidget(label("KEYS", "section"))
        self.keys = KeyTableModel(self)
        self.keys_view = make_table(self.keys, "peopleKeys")
        dl.addWidget(self.keys_view)
        dl.addWidget(label("PROOFS", "section"))
        proofs = QHBoxLayout()
        proofs.setSpacing(8)
        proofs.addWidget(IconLabel("link", "text-faint", 16))
        self.proofs = label("Proofs of websites and social accounts come with issue 5.", "muted", wrap=True)
        self.proofs.setObjectName("proofsPlaceholder")
        proofs.addWidget(self.proofs, 1)
        dl.addLayout(proofs)
        dl.addSpacing(4)
        self.checkpoint = label("", "faint", wrap=True)
        self.checkpoint.setObjectName("identityCheckpoint")
        dl.addWidget(self.checkpoint)
        lay.addWidget(self.details)

        for v in (self.devices_view, self.keys_view):
            hh = v.horizontalHeader()
            hh.setSectionResizeMode(QHeaderView.ResizeToContents)
            hh.setStretchLastSection(True)

    def checking(self, username: str) -> None:
        self.avatar.set_name(username)
        self.name.setText(username)
        self.meta.setText("Checking the chain against the transparency log…")
        self.uid.setText("")
        self.badge.set_state("checking")
        self.broken.hide()
        self.details.hide()

    def verified(self, ident: Identity) -> None:
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
        self.details.show()
        fit_table(self.devices_view)
        fit_table(self.keys_view)

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


class PeoplePage(Page):
    def __init__(self, session, bridge, parent=None):
        super().__init__("People", "Look anyone up by username. Their devices and keys are checked "
                         "here, link by link, against the server's public log.", scroll=True, parent=parent)
        self.app = session.app
        self._request = 0
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

    def _retint(self) -> None:
        self._search_action.setIcon(icon("search", theme.colour("text-faint")))

    @qasync.asyncSlot()
    async def lookup_clicked(self) -> None:
        await self.lookup(self.search.text())

    async def lookup(self, text: str) -> None:
        self._request += 1
        me = self._request
        try:
            username = check_username(text.strip())
        except errors.BadUsername as e:
            self.banner.show_error(e)
            return
        self.empty.hide()
        self.card.checking(username)
        self.card.show()
        ok, result = await guarded(self.app.identify(username), busy=self.busy)
        if me != self._request:
            return  # a newer lookup started meanwhile; its answer wins
        if ok:
            self.card.verified(result)
        elif isinstance(result, errors.VerificationError):
            self.card.failed(username, result)
        else:
            self.card.hide()
            self.empty.show()
            self.banner.show_error(result)
