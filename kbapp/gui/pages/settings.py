"""Settings (ui/settings.ui): server, profile, theme, notifications; folders of photos to watch.

Theme, notifications and the photo folders are preferences kept in the client store
(`App.preference`), so they follow the profile rather than the machine. The photo
folders card is built in code: its list is a model shared with the photo service.
Removing a folder asks (a message box opened with `open()`) whether its photos
should also leave the index; the service does that in its job thread.
"""

from __future__ import annotations

import qasync
from PySide6.QtCore import QStringListModel, Qt
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QFrame, QHBoxLayout, QListView, QMessageBox,
                               QPushButton, QScrollArea, QVBoxLayout, QWidget)

from .. import ops, theme
from ..forms import load_form
from ..session import PREF_NOTIFICATIONS, PREF_THEME
from ..widgets import card, label
from .base import MARGINS

THEMES = ("system", "light", "dark")


class SettingsPage(QWidget):
    def __init__(self, session, tray=None, parent=None, *, photos=None, mount=None):
        super().__init__(parent)
        self.setObjectName("page")
        self.session = session
        self.app = session.app
        self.tray = tray
        self.form = load_form("settings", self)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        inner = QWidget()
        inner.setObjectName("pageContent")
        il = QVBoxLayout(inner)
        il.setContentsMargins(MARGINS[0], MARGINS[1], MARGINS[2], MARGINS[3])
        il.addWidget(self.form.widget)
        area = QScrollArea()   # the photo folders card makes the page taller than a small window
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.NoFrame)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        area.setWidget(inner)
        lay.addWidget(area)
        self.photos = photos
        self.folder_dialog: QFileDialog | None = None
        self.remove_box: QMessageBox | None = None
        if photos is not None:
            self._add_photo_folders_card()
        self.mount_card = None
        if mount is not None:
            from ..mount_card import MountCard
            self.mount_card = MountCard(self, mount)
            main = self.form.layout
            main.insertWidget(main.count() - 1, self.mount_card.box)
        f = self.form
        choice = self.app.preference(PREF_THEME, "system")
        f.themeCombo.setCurrentIndex(THEMES.index(choice) if choice in THEMES else 0)
        f.notificationsCheck.setChecked(self.app.preference(PREF_NOTIFICATIONS, "1") == "1")
        f.themeCombo.currentIndexChanged.connect(self.theme_changed)
        f.notificationsCheck.toggled.connect(self.notifications_changed)

    # -- photo folders ------------------------------------------------------------------

    def _add_photo_folders_card(self) -> None:
        box = card()
        box.setObjectName("photoFoldersCard")
        bl = QVBoxLayout(box)
        bl.setContentsMargins(18, 12, 18, 14)
        bl.setSpacing(8)
        bl.addWidget(label("PHOTOS: FOLDERS TO WATCH", "section"))
        bl.addWidget(label("kbapp indexes these folders when it starts and watches them for new and changed "
                           "photos. Tags and search stay on this computer.", "faint", wrap=True))
        self.folders_model = QStringListModel(self.photos.folders(), self)
        self.folders_view = QListView()
        self.folders_view.setObjectName("photoFoldersList")
        self.folders_view.setModel(self.folders_model)
        self.folders_view.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.folders_view.setMaximumHeight(110)
        self.folders_view.selectionModel().selectionChanged.connect(self._folder_selection)
        bl.addWidget(self.folders_view)
        row = QHBoxLayout()
        self.add_folder_button = QPushButton("Add a folder…")
        self.add_folder_button.setObjectName("addWatchedFolderButton")
        self.add_folder_button.clicked.connect(self.add_folder_clicked)
        self.remove_folder_button = QPushButton("Remove")
        self.remove_folder_button.setObjectName("removeWatchedFolderButton")
        self.remove_folder_button.setEnabled(False)
        self.remove_folder_button.clicked.connect(self.remove_folder_clicked)
        row.addWidget(self.add_folder_button)
        row.addWidget(self.remove_folder_button)
        row.addStretch(1)
        bl.addLayout(row)
        main = self.form.layout
        main.insertWidget(main.count() - 1, box)   # above the form's bottom spacer
        self.photos.foldersChanged.connect(self.folders_model.setStringList)

    def _folder_selection(self, *_) -> None:
        self.remove_folder_button.setEnabled(bool(self.folders_view.selectionModel().selectedRows()))

    def add_folder_clicked(self) -> None:
        if self.folder_dialog is not None:
            return
        dlg = QFileDialog(self.window(), "A folder of photos to watch")
        dlg.setObjectName("watchFolderDialog")
        dlg.setFileMode(QFileDialog.Directory)
        dlg.setOption(QFileDialog.ShowDirsOnly, True)
        dlg.finished.connect(lambda result: self._folder_chosen(dlg, result))
        self.folder_dialog = dlg
        dlg.open()   # never exec(): no nested event loop

    def _folder_chosen(self, dlg: QFileDialog, result: int) -> None:
        self.folder_dialog = None
        files = dlg.selectedFiles() if result == QFileDialog.Accepted else []
        dlg.deleteLater()
        if files:
            self.photos.add_folder(files[0])

    def remove_folder_clicked(self) -> None:
        """Ask whether the folder's photos stay in the index, then stop watching it."""
        rows = self.folders_view.selectionModel().selectedRows()
        if not rows or self.remove_box is not None:
            return
        folder = rows[0].data()
        box = QMessageBox(QMessageBox.Question, "Stop watching this folder?", f"Stop watching {folder}?",
                          QMessageBox.NoButton, self.window())
        box.setObjectName("removeWatchedFolderBox")
        box.setTextFormat(Qt.PlainText)
        box.setInformativeText("Its photos can stay in your photo index (still found by search), or be "
                               "forgotten: their tags, text and similarity data are removed from this "
                               "computer. The photo files themselves are not touched either way.")
        forget = box.addButton("Stop and forget its photos", QMessageBox.DestructiveRole)
        forget.setObjectName("forgetFolderPhotosButton")
        keep = box.addButton("Stop, keep its photos", QMessageBox.AcceptRole)
        keep.setObjectName("keepFolderPhotosButton")
        box.addButton(QMessageBox.Cancel)
        box.setDefaultButton(keep)
        box.finished.connect(lambda _result: self._remove_answered(box, folder, forget, keep))
        self.remove_box = box
        box.open()   # never exec(): no nested event loop

    def _remove_answered(self, box: QMessageBox, folder: str, forget, keep) -> None:
        self.remove_box = None
        clicked = box.clickedButton()
        box.deleteLater()
        if clicked is forget:
            self.photos.remove_folder(folder, forget=True)
        elif clicked is keep:
            self.photos.remove_folder(folder)
        self._folder_selection()

    def theme_changed(self, index: int) -> None:
        choice = THEMES[index]
        self.app.set_preference(PREF_THEME, choice)
        theme.current().set_choice(choice)

    def notifications_changed(self, on: bool) -> None:
        self.app.set_preference(PREF_NOTIFICATIONS, "1" if on else "0")
        if self.tray is not None:
            self.tray.notifications = on

    def shown(self) -> None:
        self.refresh_clicked()

    @qasync.asyncSlot()
    async def refresh_clicked(self) -> None:
        await self.refresh()

    async def refresh(self) -> None:
        """The profile's status, shown when it comes (through ops.run: the newest wins, and an
        answer for a page closed meanwhile is dropped)."""
        await ops.run(self, self.app.status, key="status", cursor=False, on_done=self._show_status)

    def _show_status(self, st) -> None:
        f = self.form
        f.username.setText(st.username or "not logged in")
        f.deviceName.setText(st.device_name or "—")
        f.serverUrl.setText(st.server_url or "none yet")
        f.serverFingerprint.setText(st.server_fingerprint or "—")
        s = self.session
        if s.embedded:
            f.serverKind.setText(f"On this computer: kbapp starts it with the app, on the same port each "
                                 f"time, and it runs as long as kbapp does. Closing the window keeps both "
                                 f"running in the tray (where the desktop has one); Quit (Ctrl+Q, or the "
                                 f"tray's menu) stops the server too, and your other devices can't reach "
                                 f"it until kbapp starts again. Its data is in {s.embedded_dir()}.")
        else:
            f.serverKind.setText("Elsewhere: kbapp pinned its key at first contact and checks every "
                                 "answer against it.")
        f.profileDir.setText(st.home)
        f.keystoreKind.setText({"keyring": "In the system keyring",
                                "file": "In a passphrase-sealed file in the profile folder",
                                "memory": "In memory only (tests): lost when kbapp quits"}
                               .get(st.keystore, "Not unlocked yet"))
