"""First run: create an account (on an embedded server, or one we join), or log in
with a paper key or with a phrase from another device; then offer a paper key and
show it once.

Pages are Designer forms (ui/welcome_*.ui, ui/paperkey.ui). Each step awaits the
facade inside `guarded()`, so the window keeps painting while argon2 or the
network works, and failures show as a banner on the page.
"""

from __future__ import annotations

import asyncio

import qasync
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QStackedWidget, QVBoxLayout, QWidget

from kbapp.client.app import DEFAULT_SERVER, default_device_name
from kbapp.client.prechecks import check_paper_key, require_username_free, username_free
from kbapp.core import errors
from kbapp.core.paperkey import KIND_PROVISION, normalise_phrase
from kbapp.core.server_url import normalize_server_url
from kbapp.core.uid import check_username

from . import theme
from .assets import icon, svg_pixmap
from .dialogs import PHRASE_TIMEOUT, PaperKeyPanel, unlock_keys
from .forms import load_form
from .name_check import NameAvailability
from .widgets import guarded, restyle


def _centred(inner: QWidget, width: int = 540) -> QWidget:
    """A page column of fixed width, centred in the window, a little above the middle."""
    outer = QWidget()
    h = QHBoxLayout(outer)
    h.setContentsMargins(32, 24, 32, 24)
    h.addStretch(1)
    col = QVBoxLayout()
    col.addStretch(2)
    col.addWidget(inner)
    col.addStretch(3)
    inner.setFixedWidth(width)
    h.addLayout(col)
    h.addStretch(1)
    return outer


def _about_username(banner, result) -> None:
    """An error that is about the username (invalid, taken, unknown) goes when the name is edited."""
    if isinstance(result, (errors.BadUsername, errors.Conflict, errors.NotFound)) and banner.isVisible():
        banner.subject = "username"


class WelcomeFlow(QWidget):
    """Emits `finished` once this profile has an account and the paper key step is done."""

    finished = Signal()

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.setObjectName("welcome")
        self.session = session
        self.app = session.app
        self.intent = "signup"     # signup | login | phrase (which button the user chose)
        self.mode = "embedded"     # embedded | remote
        self.server_url: str | None = None

        self.stack = QStackedWidget(self)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.stack)

        self.start = load_form("welcome_start")
        self.create = load_form("welcome_create")
        self.server = load_form("welcome_server")
        self.login = load_form("welcome_login")
        self.phrase = load_form("welcome_phrase")
        self.offer = load_form("welcome_offer")
        self.paper = PaperKeyPanel()
        self.phrase_task: asyncio.Task | None = None   # login_phrase, while it waits (Cancel stops it)
        self.phrase_timeout = PHRASE_TIMEOUT
        for page in (self.start, self.create, self.server, self.login, self.phrase, self.offer):
            self.stack.addWidget(_centred(page.widget))
        self.stack.addWidget(_centred(self.paper, 600))
        self._wire()
        self._style_icons()
        if theme.Theme._instance is not None:
            theme.current().changed.connect(self._style_icons)
        self.show_page(self.start)

    # -- plumbing --------------------------------------------------------------------

    def _wire(self) -> None:
        s = self.start
        s.createHereButton.clicked.connect(self.choose_embedded)
        s.joinServerButton.clicked.connect(lambda: self.choose_server("signup"))
        s.paperKeyButton.clicked.connect(lambda: self.choose_server("login"))
        s.phraseButton.clicked.connect(lambda: self.choose_server("phrase"))

        c = self.create
        c.backButton.clicked.connect(self.back_to_start)
        c.createButton.clicked.connect(self.submit_signup)
        c.username.returnPressed.connect(self.submit_signup)
        c.deviceName.returnPressed.connect(self.submit_signup)
        c.username.textChanged.connect(lambda t: self._check_name(c, t))
        self.availability = NameAvailability(c.username, self._signup_server, self)

        v = self.server
        v.backButton.clicked.connect(self.back_to_start)
        v.connectButton.clicked.connect(self.submit_connect)
        v.serverUrl.returnPressed.connect(self.submit_connect)
        v.signupButton.clicked.connect(lambda: self.show_create("remote"))
        v.loginButton.clicked.connect(self.show_login)
        v.phraseButton.clicked.connect(self.show_phrase_login)

        g = self.login
        g.backButton.clicked.connect(lambda: self.show_page(self.server))
        g.loginButton.clicked.connect(self.submit_login)
        g.username.textChanged.connect(lambda t: self._check_name(g, t))

        p = self.phrase
        p.backButton.clicked.connect(lambda: self.show_page(self.server))
        p.loginButton.clicked.connect(self.submit_phrase)
        p.cancelButton.clicked.connect(self.cancel_phrase)
        p.username.textChanged.connect(lambda t: self._check_name(p, t))
        p.cancelButton.hide()
        p.waitNote.hide()

        o = self.offer
        o.skipButton.clicked.connect(self.finished.emit)
        o.createPaperKeyButton.clicked.connect(self.submit_paperkey)
        self.paper.done.connect(self.finished.emit)

    def _style_icons(self) -> None:
        self.start.logo.setPixmap(svg_pixmap("io.kbapp.Kbapp", 72))
        muted, accent = theme.colour("text-muted"), theme.colour("accent")
        for button, name in ((self.start.createHereButton, "home"), (self.start.joinServerButton, "globe"),
                             (self.start.paperKeyButton, "paper"), (self.start.phraseButton, "devices")):
            button.icon_name = name
            button.update()
        for form in (self.create, self.server, self.login, self.phrase):
            form.backButton.setIcon(icon("back", theme.colour("link")))
        self.offer.offerIcon.setPixmap(svg_pixmap("paper", 48, accent))
        self.paper.form.copyButton.setIcon(icon("copy", muted))

    def show_page(self, form) -> None:
        widget = form.widget if hasattr(form, "widget") else form
        for i in range(self.stack.count()):
            if self.stack.widget(i).isAncestorOf(widget):
                self.stack.setCurrentIndex(i)
                break
        first = {id(self.create): "username", id(self.server): "serverUrl", id(self.login): "username",
                 id(self.phrase): "username"}.get(id(form))
        if first:
            getattr(form, first).setFocus()

    def current_page(self) -> str:
        w = self.stack.currentWidget()
        for name in ("start", "create", "server", "login", "phrase", "offer"):
            if w.isAncestorOf(getattr(self, name).widget):
                return name
        return "paper"

    @staticmethod
    def _check_name(form, text: str) -> None:
        """Say at once what is wrong with a username, before any round trip."""
        ok = True
        if text:
            try:
                check_username(text)
            except errors.BadUsername:
                ok = False
        form.username.setProperty("invalid", not ok)
        restyle(form.username)
        form.banner.clear_about("username")   # the error was about the name as it was

    # -- start -------------------------------------------------------------------------

    def choose_embedded(self) -> None:
        self.intent = "signup"
        self.show_create("embedded")

    def choose_server(self, intent: str) -> None:
        self.intent, self.mode = intent, "remote"
        v = self.server
        v.subtitle.setText(
            "Enter the address of the server where your account lives." if intent == "login" else
            "Enter the address of the server where your account lives: your other device shows it "
            "beside the words." if intent == "phrase" else
            "Enter the address its operator gave you. kbapp remembers the server's key at first "
            "contact and refuses it if it ever signs with another one.")
        if not v.serverUrl.text():
            v.serverUrl.setText(DEFAULT_SERVER)
        v.fingerprintCard.hide()
        v.banner.clear()
        for b in (v.signupButton, v.loginButton, v.phraseButton):
            b.setVisible(False)
        self.show_page(v)

    def back_to_start(self) -> None:
        self.show_page(self.start)
        self.reset_clicked()

    @qasync.asyncSlot()
    async def reset_clicked(self) -> None:
        """Undo what a half-finished start did: a pinned server, an embedded server."""
        await guarded(self._reset())

    async def _reset(self) -> None:
        st = await self.app.status()
        if not st.logged_in:
            if st.server_url:
                await self.app.forget_server()
            await self.session.drop_embedded()
        self.server_url = None

    # -- create an account ------------------------------------------------------------

    def show_create(self, mode: str) -> None:
        self.mode = mode
        c = self.create
        if mode == "embedded":
            c.serverNote.setText("kbapp will run a private server on this computer (127.0.0.1) and keep its "
                                 "data in your profile folder. Your keys never leave this device.")
        else:
            c.serverNote.setText(f"On the server at {self.server_url}. Your keys never leave this device.")
        if not c.deviceName.text():
            c.deviceName.setText(default_device_name())
        c.banner.clear()
        self.show_page(c)
        if c.username.text():
            self.availability.check_now()   # the server changed: ask again

    def _signup_server(self) -> str | None:
        """Where a new name would be registered, if a server runs yet (None: a fresh embedded one)."""
        if self.mode == "embedded":
            server = self.session.server
            return server.url if server is not None else None
        return self.server_url

    @qasync.asyncSlot()
    async def submit_signup(self) -> None:
        c = self.create
        if c.busy.busy:
            return
        ok, acct = await guarded(self._signup(c.username.text().strip(), c.deviceName.text().strip()),
                                 banner=c.banner, busy=c.busy,
                                 disable=(c.createButton, c.username, c.deviceName, c.backButton))
        _about_username(c.banner, acct)
        if ok:
            self.offer.welcomeLine.setText(f"Welcome, {acct.username}. "
                                           f"This computer is your device “{acct.device_name}”.")
            self.show_page(self.offer)

    async def _signup(self, username: str, device: str):
        check_username(username)
        if not device:
            raise errors.KbappError("give this device a name")
        url = self.server_url
        if self.mode == "embedded":
            url = await self.session.start_embedded()
            st = await self.app.status()
            if st.server_url and st.server_url != url:
                await self.app.forget_server()  # a server chosen earlier, then abandoned
        await require_username_free(url, username)   # before the passphrase: a taken name costs nothing
        if not await unlock_keys(self.session, self):
            raise errors.KeystoreError("kbapp needs a passphrase to keep this device's keys")
        acct = await self.app.signup(username, device_name=device, server_url=url)
        if self.mode == "embedded":
            self.session.remember_embedded()
        return acct

    # -- join a server -------------------------------------------------------------------

    @qasync.asyncSlot()
    async def submit_connect(self) -> None:
        v = self.server
        if v.busy.busy:
            return
        ok, info = await guarded(self._connect(v.serverUrl.text()), banner=v.banner, busy=v.busy,
                                 disable=(v.connectButton, v.serverUrl))
        if not ok:
            return
        self.server_url = info.url
        v.fingerprint.setText(info.fingerprint)
        v.fingerprintNote.setText(
            "Pinned now, at first contact. Compare it with the fingerprint the server's operator "
            "published before you go on." if info.pinned_now else
            "Pinned for this profile at an earlier contact, and unchanged.")
        v.fingerprintCard.show()
        primary = {"login": v.loginButton, "phrase": v.phraseButton}.get(self.intent, v.signupButton)
        others = [b for b in (v.signupButton, v.loginButton, v.phraseButton) if b is not primary]
        for b in others + [primary]:  # the primary button last, on the right
            v.buttons.removeWidget(b)
            v.buttons.addWidget(b)
            b.setProperty("role", "primary" if b is primary else "")
            b.setDefault(b is primary)
            b.setVisible(True)
            restyle(b)
        primary.setFocus()

    async def _connect(self, text: str):
        url = normalize_server_url(text)   # 127.0.0.1:51339 -> http://..., example.org -> https://...
        self.server.serverUrl.setText(url)
        st = await self.app.status()
        if st.server_url and st.server_url != url and not st.logged_in:
            await self.app.forget_server()
        await self.session.drop_embedded()
        return await self.app.connect(url)

    # -- paper key login ----------------------------------------------------------------

    def show_login(self) -> None:
        g = self.login
        g.serverNote.setText(f"Server: {self.server_url}")
        if not g.deviceName.text():
            g.deviceName.setText(default_device_name())
        g.banner.clear()
        self.show_page(g)

    @qasync.asyncSlot()
    async def submit_login(self) -> None:
        g = self.login
        if g.busy.busy:
            return
        ok, _ = await guarded(
            self._login(g.username.text().strip(), g.phrase.toPlainText(), g.deviceName.text().strip()),
            banner=g.banner, busy=g.busy,
            disable=(g.loginButton, g.username, g.phrase, g.deviceName, g.backButton))
        _about_username(g.banner, _)
        if ok:
            g.phrase.clear()
            self.finished.emit()

    async def _login(self, username: str, phrase: str, device: str) -> None:
        # the words, their checksum, and that they open a live device of username: before the passphrase
        await check_paper_key(self.app, username, phrase, self.server_url)
        if not await unlock_keys(self.session, self):
            raise errors.KeystoreError("kbapp needs a passphrase to keep this device's keys")
        await self.app.login_paperkey(username, " ".join(phrase.split()), device_name=device or None,
                                      server_url=self.server_url)

    # -- log in with a phrase from another device ------------------------------------------

    def show_phrase_login(self) -> None:
        p = self.phrase
        p.serverNote.setText(f"Server: {self.server_url}")
        if not p.deviceName.text():
            p.deviceName.setText(default_device_name())
        p.banner.clear()
        self.show_page(p)

    @qasync.asyncSlot()
    async def submit_phrase(self) -> None:
        p = self.phrase
        if p.busy.busy or self.phrase_task is not None:
            return
        words = " ".join(p.words.toPlainText().split())
        try:
            normalise_phrase(words, KIND_PROVISION)  # say at once what is wrong with the words
        except errors.BadPaperKey as e:
            p.banner.show_message("warning", "Those words don't work", f"{e}.")
            return
        task = self.phrase_task = asyncio.ensure_future(
            self._login_phrase(p.username.text().strip(), words, p.deviceName.text().strip()))
        p.cancelButton.show()
        p.cancelButton.setEnabled(True)
        p.waitNote.show()
        try:
            ok, result = await guarded(task, banner=p.banner, busy=p.busy,
                                       disable=(p.loginButton, p.username, p.words, p.deviceName, p.backButton))
        except asyncio.CancelledError:
            if not task.cancelled() or asyncio.current_task().cancelling():
                raise  # the window is going away, not the user's Cancel
            p.banner.show_message("info", "Cancelled", "This computer was not added.")
            return
        finally:
            self.phrase_task = None
            p.cancelButton.hide()
            p.waitNote.hide()
        if ok:
            p.words.clear()
            self.finished.emit()
        elif isinstance(result, errors.ProvisioningError) and "no answer" in str(result):
            p.banner.show_message("warning", "The device was not added",
                                  f"{result}. Check the words, and that your other device still "
                                  "shows them (Devices → Add a device).")

    def cancel_phrase(self) -> None:
        if self.phrase_task is not None and not self.phrase_task.done():
            self.phrase.cancelButton.setEnabled(False)
            self.phrase_task.cancel()

    async def _login_phrase(self, username: str, words: str, device: str) -> None:
        if await username_free(self.server_url, username):   # before the passphrase
            raise errors.NotFound(f"no user is named {check_username(username)} on this server")
        if not await unlock_keys(self.session, self):
            raise errors.KeystoreError("kbapp needs a passphrase to keep this device's keys")
        await self.app.login_phrase(username, words, device_name=device or None, server_url=self.server_url,
                                    timeout=self.phrase_timeout)

    # -- paper key ---------------------------------------------------------------------

    @qasync.asyncSlot()
    async def submit_paperkey(self) -> None:
        o = self.offer
        if o.busy.busy:
            return
        ok, phrase = await guarded(self.app.create_paperkey(), banner=o.banner, busy=o.busy,
                                   disable=(o.createPaperKeyButton, o.skipButton))
        if ok:
            self.paper.set_phrase(phrase)
            self.stack.setCurrentIndex(self.stack.count() - 1)
            await guarded(self.app.paperkey_shown(), banner=o.banner)   # on screen: no longer pending
