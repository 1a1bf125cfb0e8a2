"""The main window: a start-up screen, the welcome flow, then the shell (sidebar,
pages, status bar). One window for all three, so onboarding never juggles
top-level windows.
"""

from __future__ import annotations

import asyncio
import gc
import time
from urllib.parse import urlsplit

import qasync
from PySide6.QtCore import QItemSelectionModel, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPen
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QListView, QMainWindow, QPushButton, QStackedWidget,
                               QStyle, QStyledItemDelegate, QVBoxLayout, QWidget)

from kbapp.client.events import CheckpointAdvanced, IdentityVerified, LoggedIn, VerificationFailed
from kbapp.client.sync import attach as attach_sync

from . import theme
from .assets import app_icon, svg_pixmap
from .bridge import EventBridge
from .models import ComingRole, KeyRole, SidebarModel
from .pages.chat import ChatPage
from .pages.chat.notify import ChatNotifier
from .pages.devices import DevicesPage
from .mount_card import MountControl, mount_at_login
from .pages.files import FilesPage
from .pages.people import PeoplePage
from .pages.placeholder import ComingPage
from .pages.settings import SettingsPage
from .pages.teams import TeamsPage
from .plain import plain_tip
from .push_status import PushStatus

try:  # the Photos page needs the [ml] (or [gpu]) extra: numpy, Pillow, onnxruntime
    from .photo_service import ml_missing
    if why := ml_missing():   # looked up, not imported: they load when the page first needs them
        raise ImportError(why)
    from .pages.photos import IndexStatus, PhotosPage, ml_status_text
    from .photo_service import PhotoService
    ML_MISSING: str | None = None
except ImportError as e:
    PhotosPage = PhotoService = None
    ML_MISSING = str(e)
from .session import PREF_NOTIFICATIONS, PREF_THEME, PREF_TRAY_TOLD, Session
from .shortcuts import Keyboard
from .tray import Tray
from .welcome import WelcomeFlow
from .widgets import Avatar, Banner, BusyBar, IconLabel, guarded, label



def age(ts: int, now: float | None = None) -> str:
    s = max(0, int((now or time.time()) - ts))
    if s < 5:
        return "just now"
    if s < 60:
        return f"{s} s ago"
    if s < 3600:
        return f"{s // 60} min ago"
    if s < 86400:
        return f"{s // 3600} h ago"
    return f"{s // 86400} d ago"


class SidebarDelegate(QStyledItemDelegate):
    """Rounded rows, tinted icon, and a "soon" pill on pages that are placeholders."""

    def sizeHint(self, option, index) -> QSize:
        return QSize(200, 40)

    def paint(self, p: QPainter, option, index) -> None:
        p.save()
        p.setRenderHint(QPainter.Antialiasing)
        r = QRectF(option.rect).adjusted(10, 2, -10, -2)
        selected = bool(option.state & QStyle.State_Selected)
        hover = bool(option.state & QStyle.State_MouseOver)
        if selected or hover:
            p.setPen(Qt.NoPen)
            p.setBrush(QColor(theme.colour("sidebar-selected" if selected else "sidebar-hover")))
            p.drawRoundedRect(r, 8, 8)
        ic: QIcon = index.data(Qt.DecorationRole)
        pm = ic.pixmap(QSize(20, 20), QIcon.Selected if selected else QIcon.Normal)
        p.drawPixmap(int(r.left() + 12), int(r.center().y() - 10), pm)
        f = QFont(option.font)
        f.setPixelSize(14)
        f.setWeight(QFont.DemiBold if selected else QFont.Normal)
        p.setFont(f)
        coming = bool(index.data(ComingRole))
        p.setPen(QColor(theme.colour("accent" if selected else "text-muted" if coming else "text")))
        text_r = r.adjusted(44, 0, -8, 0)
        p.drawText(text_r, Qt.AlignVCenter | Qt.AlignLeft, index.data(Qt.DisplayRole))
        if coming:
            small = QFont(option.font)
            small.setPixelSize(10)
            small.setBold(True)
            p.setFont(small)
            w = p.fontMetrics().horizontalAdvance("SOON") + 12
            pill = QRectF(r.right() - w - 8, r.center().y() - 9, w, 18)
            p.setPen(QPen(QColor(theme.colour("border"))))
            p.setBrush(Qt.NoBrush)
            p.drawRoundedRect(pill, 9, 9)
            p.setPen(QColor(theme.colour("text-faint")))
            p.drawText(pill, Qt.AlignCenter, "SOON")
        p.restore()


class StatusItem(QWidget):
    """An icon and a text in the status bar."""

    def __init__(self, icon_name: str, name: str, parent=None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 2, 10, 2)
        lay.setSpacing(6)
        lay.addWidget(IconLabel(icon_name, "text-faint", 14))
        self.text = label("")
        self.text.setObjectName(name)
        lay.addWidget(self.text)

    def set_text(self, text: str, tip: str = "") -> None:
        self.text.setText(text)
        self.setToolTip(plain_tip(tip))   # server URLs and messages


class FilesStatus(StatusItem):
    """The folder journal in the status bar ("Files: uploading 3, about 20 s left", "2 not
    uploaded"), pushed by the Files page; hidden when all is uploaded. A click opens Sync details."""

    def __init__(self, shell, parent=None):
        super().__init__("files", "statusFiles", parent)
        self.shell = shell
        self.setCursor(Qt.PointingHandCursor)
        self.hide()
        shell.files.syncSummary.connect(self.show_summary)

    def show_summary(self, text: str, trouble: bool) -> None:
        self.set_text(text, "Open the Files page's Sync details: every change on its way up, with Retry and Cancel")
        self.text.setProperty("tone", "warning" if trouble else "")
        self.text.style().unpolish(self.text)
        self.text.style().polish(self.text)
        self.setVisible(bool(text))

    def mousePressEvent(self, e) -> None:
        self.shell.go("files")
        panel = self.shell.files.journal_panel
        if not panel.isVisible():
            panel.toggle()
        e.accept()


class Shell(QWidget):
    """Sidebar and pages, for a logged-in profile."""

    def __init__(self, session: Session, bridge: EventBridge, tray: Tray, parent=None):
        super().__init__(parent)
        self.setObjectName("central")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)

        side = QFrame()
        side.setObjectName("sidebar")
        side.setFixedWidth(232)
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 18, 0, 12)
        sl.setSpacing(0)
        brand = QHBoxLayout()
        brand.setContentsMargins(20, 0, 16, 0)
        brand.setSpacing(10)
        logo = label("")
        logo.setPixmap(svg_pixmap("io.kbapp.Kbapp", 28))
        brand.addWidget(logo)
        brand.addWidget(label("kbapp", "brand"))
        brand.addStretch(1)
        sl.addLayout(brand)
        sl.addSpacing(18)

        me = QHBoxLayout()
        me.setContentsMargins(20, 0, 16, 0)
        me.setSpacing(10)
        self.avatar = Avatar(34)
        me.addWidget(self.avatar)
        names = QVBoxLayout()
        names.setSpacing(0)
        self.me_name = label("", "brand")
        self.me_name.setObjectName("accountName")
        self.me_device = label("", "faint")
        self.me_device.setObjectName("accountDevice")
        names.addWidget(self.me_name)
        names.addWidget(self.me_device)
        me.addLayout(names, 1)
        sl.addLayout(me)
        sl.addSpacing(16)

        self.model = SidebarModel(parent=self)
        self.nav = QListView()
        self.nav.setObjectName("sidebarList")
        self.nav.setModel(self.model)
        self.nav.setItemDelegate(SidebarDelegate(self.nav))
        self.nav.setMouseTracking(True)
        self.nav.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.nav.setFocusPolicy(Qt.NoFocus)
        sl.addWidget(self.nav, 1)
        lay.addWidget(side)

        self._build_pages(session, bridge, tray)
        lay.addWidget(self.pages, 1)
        self.nav.selectionModel().currentChanged.connect(self._nav_changed)
        theme.current().changed.connect(self.model.retint)

    def _build_pages(self, session: Session, bridge: EventBridge, tray: Tray) -> None:
        """One page per sidebar section, in a stack."""
        self.pages = QStackedWidget()
        self.pages.setObjectName("pages")
        self.people = PeoplePage(session, bridge)
        self.devices = DevicesPage(session, bridge, tray=tray)
        if PhotoService is not None:
            self.photo_service = PhotoService(session.app.photos, parent=self)
            self.photos = PhotosPage(self.photo_service)
        else:
            self.photo_service = None
            self.photos = ComingPage("photos", "photos", pill_text="NOT INSTALLED",
                                     headline="Photos need the ML extra",
                                     text="Install it with  pip install 'kbapp[ml]'  (or 'kbapp[gpu]' for an "
                                          f"NVIDIA GPU), then start kbapp again. ({ML_MISSING})")
        self.mount_control = MountControl(session.app)          # Settings → Files: folders as a drive
        self.settings = SettingsPage(session, tray, photos=self.photo_service, mount=self.mount_control)
        asyncio.ensure_future(mount_at_login(session.app, self.mount_control))
        self.teams = TeamsPage(session, bridge)
        self.chat = ChatPage(session, bridge, tray)
        self.files = FilesPage(session, bridge)
        self.by_key: dict[str, QWidget] = {}
        for section in self.model.sections:
            page = {"people": self.people, "devices": self.devices, "settings": self.settings,
                    "photos": self.photos, "teams": self.teams, "chat": self.chat,
                    "files": self.files}.get(section.key)
            if page is None:
                page = ComingPage(section.key, section.icon)
            page.setProperty("section", section.key)
            self.by_key[section.key] = page
            self.pages.addWidget(page)

    def set_account(self, username: str, device: str) -> None:
        self.avatar.set_name(username)
        self.me_name.setText(username)
        self.me_device.setText(device)

    def go(self, key: str) -> None:
        idx = self.model.index(self.model.row_of(key))
        self.nav.selectionModel().setCurrentIndex(idx, QItemSelectionModel.ClearAndSelect)

    def current_key(self) -> str:
        return self.pages.currentWidget().property("section")

    def _nav_changed(self, current, _previous) -> None:
        page = self.by_key[current.data(KeyRole)]
        self.pages.setCurrentWidget(page)
        shown = getattr(page, "shown", None)
        if shown:
            shown()


class StartupPage(QWidget):
    """What shows while the profile opens (and its embedded server starts), or why it could not."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("welcome")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addStretch(2)
        logo = label("")
        logo.setPixmap(svg_pixmap("io.kbapp.Kbapp", 64))
        lay.addWidget(logo, 0, Qt.AlignHCenter)
        lay.addSpacing(12)
        self.text = label("Opening your profile…", "muted")
        self.text.setAlignment(Qt.AlignHCenter)
        lay.addWidget(self.text, 0, Qt.AlignHCenter)
        col = QVBoxLayout()
        self.busy = BusyBar()
        self.busy.setFixedWidth(240)
        col.addWidget(self.busy, 0, Qt.AlignHCenter)
        self.banner = Banner()
        self.banner.setFixedWidth(520)
        col.addWidget(self.banner, 0, Qt.AlignHCenter)
        self.retry = QPushButton("Try again")
        self.retry.setObjectName("retryButton")
        self.retry.hide()
        col.addWidget(self.retry, 0, Qt.AlignHCenter)
        lay.addLayout(col)
        lay.addStretch(3)


class MainWindow(QMainWindow):
    closed = Signal()   # after the profile and its server were shut down
    ready = Signal()    # the welcome flow or the shell is showing

    def __init__(self, session: Session, parent=None):
        super().__init__(parent)
        self.session = session
        self.app = session.app
        self.bridge = EventBridge(self.app.events, self)
        self.tray = Tray(self)
        self.tray.activated.connect(self._raise)
        self.tray.quitRequested.connect(self.quit)
        self.setWindowTitle("kbapp")
        self.setWindowIcon(app_icon())
        self.resize(1120, 740)
        self.setMinimumSize(880, 600)

        self.stack = QStackedWidget()
        self.stack.setObjectName("central")
        self.setCentralWidget(self.stack)
        self.startup = StartupPage()
        self.startup.retry.clicked.connect(self.start_clicked)
        self.stack.addWidget(self.startup)
        self.welcome: WelcomeFlow | None = None
        self.shell: Shell | None = None

        sb = self.statusBar()
        sb.setSizeGripEnabled(False)
        self.server_status = StatusItem("server", "statusServer")
        self.checkpoint_status = StatusItem("checkpoint", "statusCheckpoint")
        self.ml_status = StatusItem("ml", "statusML")
        self.ml_status.set_text(*ml_status_text(None))
        sb.addWidget(self.server_status)
        sb.addWidget(self.checkpoint_status)
        self.push_status = PushStatus(self.bridge)   # the push channel: live, offline, reconnecting in N s
        sb.addWidget(self.push_status)
        sb.addPermanentWidget(self.ml_status)
        sb.hide()
        self._checkpoint: tuple[int, int] | None = None  # size, seen_at
        self._age_timer = QTimer(self)
        self._age_timer.setInterval(15_000)
        self._age_timer.timeout.connect(self._sync_checkpoint)

        self.bridge.attach(self)   # LISTENS below
        self._closing = False
        self._closed = False
        self._quitting = False      # Quit (Ctrl+Q, the tray's menu) rather than closing the window
        self.told_about_tray = False
        self.keys = Keyboard(self)  # shortcuts and the menu bar (kbapp/gui/shortcuts.py)
        self._first_refresh: asyncio.Future | None = None

    # -- start -------------------------------------------------------------------------

    @qasync.asyncSlot()
    async def start_clicked(self) -> None:
        await self.start()

    async def start(self) -> None:
        s = self.startup
        s.retry.hide()
        s.text.setText("Opening your profile…")
        ok, err = await guarded(self.session.open(), banner=s.banner, busy=s.busy)
        if not ok:
            s.text.setText("kbapp could not open your profile")
            s.retry.show()
            return
        st = await self.app.status()
        self.tray.notifications = self.app.preference(PREF_NOTIFICATIONS, "1") == "1"
        choice = self.app.preference(PREF_THEME, "system")
        if choice != theme.current().choice:
            theme.current().set_choice(choice)
        if st.logged_in:
            await self.show_shell()
        else:
            self.show_welcome()
        # Everything loaded so far (Qt, SQLAlchemy, the pages) lives as long as the app: keep it out
        # of the cyclic GC's full passes, which otherwise stall the loop for ~50 ms every so often.
        gc.freeze()
        self.ready.emit()

    def show_welcome(self) -> None:
        if self.welcome is None:
            self.welcome = WelcomeFlow(self.session)
            self.welcome.finished.connect(self._welcome_done)
            self.stack.addWidget(self.welcome)
        self.statusBar().hide()
        self.stack.setCurrentWidget(self.welcome)

    @qasync.asyncSlot()
    async def _welcome_done(self) -> None:
        await self.show_shell()

    async def show_shell(self) -> None:
        if self.shell is None:
            self.shell = Shell(self.session, self.bridge, self.tray)
            self.stack.addWidget(self.shell)
            self.keys.shell_ready(self.shell)
            if self.shell.photo_service is not None:
                self._connect_photos(self.shell.photo_service)
            self.files_status = FilesStatus(self.shell)
            self.statusBar().addWidget(self.files_status)
        st = await self.app.status()
        self.shell.set_account(st.username or "", st.device_name or "")
        self.stack.setCurrentWidget(self.shell)
        self.statusBar().show()
        await self.refresh_status()
        self._age_timer.start()
        self.shell.go("people")
        # verify our own chain at once: it refreshes the checkpoint and the devices list
        self._first_refresh = asyncio.ensure_future(self.shell.devices.refresh())
        attach_sync(self.app).start()   # push hints: the Devices page reloads when another device changes us
        self.shell.teams.run_chores()   # the admin chores due in our teams (a read never does them)
        if self.shell.chat.notifier is None:   # DMs and mentions to the tray, unread on the title
            self.shell.chat.notifier = ChatNotifier(self.app, self.tray, self, self.shell.chat, self.bridge)
            self.shell.chat.refresh(sync=True)
        if self.shell.photo_service is not None:
            self.shell.photo_service.start()   # index and watch the saved photo folders

    # -- status bar --------------------------------------------------------------------------

    async def refresh_status(self) -> None:
        st = await self.app.status()
        if st.server_url:
            host = urlsplit(st.server_url).netloc or st.server_url
            where = "on this computer" if self.session.embedded else "remote"
            self.server_status.set_text(f"{host} · {where}",
                                        f"{st.server_url}\nkey fingerprint {st.server_fingerprint}")
        else:
            self.server_status.set_text("no server")
        if st.checkpoint:
            self._checkpoint = (st.checkpoint.size, st.checkpoint.seen_at)
        self._render_checkpoint()

    def _connect_photos(self, service: PhotoService) -> None:
        """Indexing progress and the ML provider (read from the onnxruntime session) in the status bar."""
        self.photo_status = IndexStatus(service)
        self.statusBar().addWidget(self.photo_status)
        service.providerChanged.connect(lambda p: self.ml_status.set_text(*ml_status_text(p)))

    LISTENS = {CheckpointAdvanced: "_checkpoint_advanced", IdentityVerified: "_identity_verified",
               VerificationFailed: "_verification_failed", LoggedIn: "_logged_in"}

    def _checkpoint_advanced(self, ev: CheckpointAdvanced) -> None:
        self._checkpoint = (ev.size, int(time.time()))
        self._render_checkpoint()

    @qasync.asyncSlot()
    async def _sync_checkpoint(self, checked: bool = False) -> None:
        """Show the checkpoint the profile trusts now (the card's), however it advanced (a follow,
        a team load), and `checked`: a verification just used it, so it was verified just now."""
        if self._closing:
            return
        ok, st = await guarded(self.app.status())
        if not ok or st.checkpoint is None or self._closing:
            return
        seen = int(time.time()) if checked else max(st.checkpoint.seen_at, (self._checkpoint or (0, 0))[1])
        self._checkpoint = (st.checkpoint.size, seen)
        self._render_checkpoint()

    def _render_checkpoint(self) -> None:
        if self._checkpoint is None:
            self.checkpoint_status.set_text("No checkpoint verified yet")
            return
        size, seen = self._checkpoint
        self.checkpoint_status.set_text(f"Checkpoint {size} · verified {age(seen)}",
                                        f"The newest log checkpoint this device verified: tree size {size}")

    def _identity_verified(self, _ev: IdentityVerified) -> None:
        self._sync_checkpoint(checked=True)

    def _logged_in(self, ev: LoggedIn) -> None:
        if self.shell:
            self.shell.set_account(ev.username, ev.device_name)

    def _verification_failed(self, ev: VerificationFailed) -> None:
        self.tray.set_alert(True, "A server answer did not check out", f"{ev.subject}: {ev.code}")

    def _raise(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    # -- shut down -------------------------------------------------------------------------

    def quit(self) -> None:
        """Really quit: close the profile and stop the embedded server (Ctrl+Q, the tray's Quit)."""
        self._quitting = True
        self.close()

    def closeEvent(self, event) -> None:
        if self._closed:
            event.accept()
            return
        event.ignore()
        if not self._quitting and not self._closing and self.tray.available:
            # the window goes, the app stays (the server for other devices, folder watching, later chat)
            self.hide()
            if not (self.told_about_tray or self.app.preference(PREF_TRAY_TOLD) == "1"):
                self.told_about_tray = True                 # once per profile, not once per run
                self.app.set_preference(PREF_TRAY_TOLD, "1")
                self.tray.notify("kbapp is still running",
                                 "Its icon is in the tray. Choose Quit there (or press Ctrl+Q) to stop it.")
            return
        if not self._closing:
            self._closing = True
            self.hide()
            asyncio.ensure_future(self.shutdown())

    async def shutdown(self) -> None:
        """Close the profile and stop the embedded server, then let the window go."""
        self._closing = True
        self._age_timer.stop()
        # a device being added with a phrase stops waiting (its task would outlive the profile)
        if self.welcome is not None:
            self.welcome.cancel_phrase()
        if self.shell is not None and self.shell.devices.add_dialog is not None:
            self.shell.devices.add_dialog.reject()
        if self.shell is not None and self.shell.people.prove_dialog is not None:
            self.shell.people.prove_dialog.reject()   # its running check or signing stops too
        if self._first_refresh is not None and not self._first_refresh.done():
            self._first_refresh.cancel()  # closed right after logging in: don't query a closed profile
        if self.shell is not None:
            self.shell.teams.shutdown()   # no more team reloads
            if self.shell.photo_service is not None:
                await self.shell.photos.shutdown()
                await guarded(self.shell.photo_service.close())   # stop watching, close the photo index
        if getattr(self.app, "sync", None) is not None:
            await self.app.sync.stop()
        if self.shell is not None:
            await guarded(self.shell.mount_control.shutdown())      # unmount before the engine closes
        await guarded(self.session.close())
        self.tray.hide()
        self._closed = True
        self.closed.emit()
        self.close()
