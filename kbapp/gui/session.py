"""One profile as the GUI sees it: the `App` facade, plus the embedded server it may run.

A profile created with "Create an account on this computer" runs its own server on
127.0.0.1 (SQLite in the profile folder). The profile remembers that, with the port,
so the next launch starts the same server at the same address the client pinned.
Everything else goes through `App`; nothing here decides what is true.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from kbapp.client.app import App
from kbapp.client.keystore import ENV_PASSPHRASE, backend_for
from kbapp.core import errors

log = logging.getLogger(__name__)

PREF_EMBEDDED = "gui.embedded_server"      # "1" when this profile runs its own server
PREF_EMBEDDED_PORT = "gui.embedded_port"
PREF_EMBEDDED_DIR = "gui.embedded_dir"
PREF_THEME = "gui.theme"                   # system | light | dark
PREF_NOTIFICATIONS = "gui.notifications"   # "1" | "0"
PREF_TRAY_TOLD = "gui.tray_told"          # "1" once the user was told closing leaves kbapp in the tray

# How a profile's own server is made, (data_dir, port) -> a server not started yet: handed
# in by the program's launcher (kbapp/main.py, `embedded_server`), since the GUI layer does
# not import the server. Tests and benches set it the same way.
server_factory = None


class Session:
    def __init__(self, home: Path | None = None, *, app: App | None = None, passphrase: str | None = None,
                 server_factory=None):
        self._passphrase = passphrase
        self.app = app or App(home, passphrase_prompt=lambda _new: self._passphrase)
        self.server_factory = server_factory
        self.server = None  # what server_factory made, once started
        self.opened = False

    @property
    def home(self) -> Path:
        return self.app.home

    @property
    def unlocked(self) -> bool:
        """The keystore is open (`unlock()` succeeded)."""
        return self.app.unlocked

    async def open(self) -> None:
        """Open the profile; start its embedded server if it has one."""
        if not self.opened:
            await self.app.open()
            self.opened = True
        if self.embedded and self.server is None:
            await self.start_embedded()

    async def close(self) -> None:
        if self.opened:
            await self.app.close()
            self.opened = False
        if self.server is not None:
            server, self.server = self.server, None
            await asyncio.get_running_loop().run_in_executor(None, server.stop)

    # -- the embedded server -------------------------------------------------------

    @property
    def embedded(self) -> bool:
        return self.opened and self.app.preference(PREF_EMBEDDED) == "1"

    def embedded_dir(self) -> Path:
        saved = self.app.preference(PREF_EMBEDDED_DIR) if self.opened else None
        return Path(saved) if saved else self.home / "server"

    async def start_embedded(self, port: int | None = None) -> str:
        """Start (or restart, on the remembered port) the profile's own server, off the event loop."""
        if self.server is not None:
            return self.server.url
        make = self.server_factory or server_factory
        if make is None:
            raise errors.NetworkError("this kbapp was started without a server to run on this computer")
        saved = self.app.preference(PREF_EMBEDDED_PORT)
        port = port if port is not None else int(saved) if saved and saved.isdigit() else 0
        server = make(self.embedded_dir(), port)
        try:
            url = await asyncio.get_running_loop().run_in_executor(None, server.start)
        except RuntimeError as e:
            raise errors.NetworkError(f"the server on this computer did not start on port {port}: {e}") from None
        self.server = server
        return url

    def remember_embedded(self) -> None:
        """Called once the account exists: the next launch starts the server again."""
        if self.server is None:
            return
        self.app.set_preference(PREF_EMBEDDED, "1")
        self.app.set_preference(PREF_EMBEDDED_PORT, str(self.server.cfg.port))
        self.app.set_preference(PREF_EMBEDDED_DIR, str(self.server.cfg.data_dir))

    async def drop_embedded(self) -> None:
        """The welcome flow's Back: a server started for an account never made is stopped."""
        if self.server is not None and self.app.preference(PREF_EMBEDDED) != "1":
            server, self.server = self.server, None
            await asyncio.get_running_loop().run_in_executor(None, server.stop)

    # -- secrets -------------------------------------------------------------------

    async def keystore_needs_passphrase(self) -> bool:
        """True when secrets live in the passphrase-sealed file and we do not have the passphrase yet."""
        if self._passphrase or os.environ.get(ENV_PASSPHRASE):
            return False
        if self.unlocked:
            return False
        backend = await asyncio.get_running_loop().run_in_executor(None, backend_for, self.home)
        return backend == "file"

    def keystore_file_exists(self) -> bool:
        from kbapp.client.keystore import KEYSTORE_FILE
        return (self.home / KEYSTORE_FILE).exists()

    def clear_passphrase(self) -> None:
        self._passphrase = None

    async def unlock(self, passphrase: str | None = None) -> None:
        """Open the keystore; the facade does it in a worker thread (the file backend
        runs argon2id: ~0.65 s), so the window keeps painting."""
        if passphrase:
            self._passphrase = passphrase
        await self.app.unlock()
