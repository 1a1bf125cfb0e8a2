"""Devices: this account's devices, a new device (with a phrase), a new paper key,
and revocation.

The list reloads on DevicesChanged from the bridge (whichever window or command made
the change), keeping the selected device selected.
"""

from __future__ import annotations

import qasync
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QAbstractItemView, QHBoxLayout, QHeaderView, QPushButton, QTableView, QVBoxLayout

from kbapp.client.events import DevicesChanged

from .. import ops, theme
from ..assets import icon
from ..dialogs import AddDeviceDialog, PaperKeyDialog, unlock_keys, wait_finished
from ..models import DeviceTableModel, ObjectRole
from ..revoke_dialog import RevokeDeviceDialog
from ..widgets import card, fit_table, guarded, label
from .base import Page


class DevicesPage(Page):
    def __init__(self, session, bridge, parent=None, *, tray=None):
        super().__init__("Devices", "Every device has its own keys and signs for itself. A paper key is a "
                         "device too: your way back in if you lose this computer.", scroll=True, parent=parent)
        self.session = session
        self.app = session.app
        self.loaded = False
        self.tray = tray                              # tells of devices added or revoked elsewhere
        self._known: dict[str, bool] | None = None   # device id -> revoked, as last shown

        self.add_device_button = QPushButton("Add a device")
        self.add_device_button.setObjectName("addDeviceButton")
        self.add_device_button.setToolTip("Show a phrase to type on your new computer")
        self.add_device_button.clicked.connect(self.add_device)
        self.actions.addWidget(self.add_device_button)

        self.add_button = QPushButton("Add a paper key")
        self.add_button.setObjectName("addPaperKeyButton")
        self.add_button.setProperty("role", "primary")
        self.add_button.clicked.connect(self.add_paperkey)
        self.actions.addWidget(self.add_button)

        box = card()
        bl = QVBoxLayout(box)
        bl.setContentsMargins(1, 6, 1, 1)
        bl.setSpacing(0)
        self.model = DeviceTableModel(self)
        self.view = QTableView()
        self.view.setObjectName("devicesView")
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SingleSelection)
        self.view.setShowGrid(False)
        self.view.setWordWrap(False)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(40)
        self.view.horizontalHeader().setHighlightSections(False)
        self.view.horizontalHeader().setDefaultAlignment(Qt.AlignLeft | Qt.AlignVCenter)
        hh = self.view.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.Stretch)
        for c in (1, 2, 3):
            hh.setSectionResizeMode(c, QHeaderView.ResizeToContents)
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        bl.addWidget(self.view)

        foot = QHBoxLayout()
        foot.setContentsMargins(16, 10, 12, 12)
        self.hint = label("Select a device to revoke it.", "faint", wrap=True)
        self.hint.setObjectName("devicesHint")
        foot.addWidget(self.hint, 1)
        self.revoke_button = QPushButton("Revoke…")
        self.revoke_button.setObjectName("revokeButton")
        self.revoke_button.setProperty("role", "danger")
        self.revoke_button.setEnabled(False)
        self.revoke_button.clicked.connect(self.revoke_clicked)
        foot.addWidget(self.revoke_button)
        bl.addLayout(foot)
        self.body.addWidget(box)
        self.body.addStretch(1)

        self.dialog: PaperKeyDialog | None = None
        self.add_dialog: AddDeviceDialog | None = None
        self.revoke_dialog: RevokeDeviceDialog | None = None
        bridge.listen(DevicesChanged, self._devices_changed, owner=self)
        theme.current().changed.connect(self._retint)
        self._retint()

    def _retint(self) -> None:
        self.add_button.setIcon(icon("plus", theme.colour("accent-text")))
        self.add_device_button.setIcon(icon("devices", theme.colour("text-muted")))
        self.revoke_button.setIcon(icon("revoke", theme.colour("bad"), disabled=theme.colour("text-faint")))

    def shown(self) -> None:
        if not self.loaded:
            self.refresh_clicked()

    # -- list ----------------------------------------------------------------------------------

    def selected(self):
        rows = self.view.selectionModel().selectedRows()
        return self.model.data(rows[0], ObjectRole) if rows else None

    def _selection_changed(self, *_):
        d = self.selected()
        can = d is not None and not d.revoked and not d.current
        self.revoke_button.setEnabled(can)
        if d is None:
            self.hint.setText("Select a device to revoke it.")
        elif d.revoked:
            self.hint.setText(f"“{d.name}” is revoked: it cannot sign or decrypt anything new.")
        elif d.current:
            self.hint.setText("This is the device you are using: revoke it from another device.")
        else:
            self.hint.setText(f"“{d.name}” can sign for you and read what is sent to you.")

    def _tell_changes(self, devices) -> None:
        """A device added or revoked since the last (verified) list: every device of the account
        is told, as Keybase does, so a key added by a thief does not go unnoticed."""
        known, self._known = self._known, {d.id: d.revoked for d in devices}
        if known is None or self.tray is None:
            return
        for d in devices:
            if d.id not in known and not d.current and not d.revoked:
                self.tray.notify("A device was added to your account",
                                 f"“{d.name}” ({d.type}) can now sign for you and read what is sent to you. "
                                 "Not you? Revoke it on the Devices page.")
            elif known.get(d.id) is False and d.revoked:
                self.tray.notify("A device was revoked", f"“{d.name}” can no longer sign for you.")

    def _devices_changed(self, _ev: DevicesChanged) -> None:
        self.refresh_clicked()

    @qasync.asyncSlot()
    async def refresh_clicked(self) -> None:
        await self.refresh()

    async def refresh(self) -> None:
        """Reloads overlap (DevicesChanged during a click): ops' key makes the newest list win."""
        keep = self.selected()
        out = await ops.run(self, lambda: self.app.devices(), key="devices", banner=self.banner, busy=self.busy,
                            clear=False, cursor=False)
        if not out.ok or out.stale:
            return
        devices = out.value
        self.loaded = True
        self._tell_changes(devices)
        self.model.set_devices(devices)
        fit_table(self.view)
        row = self.model.row_of(keep.id) if keep else -1
        if row >= 0:
            self.view.selectionModel().select(self.model.index(row, 0),
                                              QItemSelectionModel.ClearAndSelect | QItemSelectionModel.Rows)
        self._selection_changed()

    # -- actions --------------------------------------------------------------------------------

    @qasync.asyncSlot()
    async def add_paperkey(self) -> None:
        ok, phrase = await guarded(self._make_paperkey(), banner=self.banner, busy=self.busy,
                                   disable=(self.add_button, self.revoke_button))
        if ops.alive(self):
            self._selection_changed()   # guarded re-enabled Revoke: what is selected decides
        if ok and phrase:
            self.dialog = PaperKeyDialog(phrase, self.window())
            self.dialog.setObjectName("paperKeyDialog")
            self.dialog.finished.connect(self.dialog.deleteLater)
            self.dialog.open()
            await guarded(self.app.paperkey_shown(), banner=self.banner)   # on screen: no longer pending

    @qasync.asyncSlot()
    async def add_device(self) -> None:
        """Show a phrase for the new computer; the dialog waits for it and vouches for it."""
        if self.add_dialog is not None:
            return
        ok, unlocked = await guarded(unlock_keys(self.session, self), banner=self.banner, busy=self.busy,
                                     disable=(self.add_device_button,))
        if not ok or not unlocked or self.add_dialog is not None:
            return
        st = await self.app.status()
        dlg = AddDeviceDialog(self.app, self.window(), username=st.username or "", server_url=st.server_url or "")
        dlg.setObjectName("addDeviceDialog")
        dlg.finished.connect(lambda result: self._add_device_finished(dlg, result))
        self.add_dialog = dlg
        dlg.open()
        dlg.start()

    def _add_device_finished(self, dlg: AddDeviceDialog, result: int) -> None:
        self.add_dialog = None
        dlg.cancel()
        if result == AddDeviceDialog.Accepted and dlg.device is not None:
            self.banner.show_message("info", f"“{dlg.device.name}” is one of your devices now",
                                     "It has its own keys, and this device gave it your per-user key.")
        dlg.deleteLater()

    async def _make_paperkey(self):
        if not await unlock_keys(self.session, self):
            return None
        return await self.app.create_paperkey()

    @qasync.asyncSlot()
    async def revoke_clicked(self) -> None:
        d = self.selected()
        if d is None or d.revoked or d.current:
            return
        dlg = RevokeDeviceDialog(d, self.window())   # type, date and key fingerprint tell look-alikes apart
        self.revoke_dialog = dlg
        try:
            sure = await wait_finished(dlg) == RevokeDeviceDialog.Accepted
        finally:
            self.revoke_dialog = None
            dlg.deleteLater()
        if not sure:
            return
        ok, _ = await guarded(self._revoke(d.id), banner=self.banner, busy=self.busy,
                              disable=(self.add_button, self.revoke_button))
        if ops.alive(self):
            self._selection_changed()   # guarded re-enabled Revoke, perhaps after the list showed it revoked
        if ok:
            self.banner.show_message("info", f"“{d.name}” is revoked",
                                     "A new per-user key was made for your other devices.")

    async def _revoke(self, device_id: str):
        if not await unlock_keys(self.session, self):
            return None
        return await self.app.revoke_device(device_id)
