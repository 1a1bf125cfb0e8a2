"""Settings → Files: "Show my folders as a drive" (a FUSE mount of every folder, in this process).

The switch and the directory are preferences of the profile (`fs.mount`, `fs.mount_dir`,
default `~/kbapp`): on at login, the folders are mounted again. The mount runs on its own
thread and calls the engine on the window's loop (kbapp/client/fs/mount.py); a program of
our own thread that touches it is refused at once (EDEADLK) rather than freezing the window.
Where FUSE cannot be used the switch is off and greyed, and the card says how to get it.
Quitting unmounts (`shutdown`).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from PySide6.QtWidgets import QCheckBox, QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout

from kbapp.core import errors

from . import ops
from .widgets import card, label

PREF_MOUNT, PREF_MOUNT_DIR = "fs.mount", "fs.mount_dir"


def default_dir() -> str:
    return str(Path.home() / "kbapp")


class MountControl:
    """Starts and stops the one mount of this window's profile."""

    def __init__(self, app):
        self.app = app
        self.mount = None
        self.where: str | None = None
        self._lock = asyncio.Lock()         # a quit while mounting waits for the mount, then undoes it

    @staticmethod
    def unavailable() -> str | None:
        from kbapp.client.fs import mount as fs_mount
        return fs_mount.available()

    async def start(self, where: str) -> str:
        async with self._lock:
            return await self._start(where)

    async def _start(self, where: str) -> str:
        from kbapp.client.fs import mount as fs_mount

        await self._stop()
        target = Path(where).expanduser()
        await asyncio.to_thread(target.mkdir, parents=True, exist_ok=True)
        if os.path.ismount(target) or await asyncio.to_thread(lambda: any(target.iterdir())):
            raise errors.Conflict(f"{target} is not empty: choose an empty directory for your folders")
        self.mount = await fs_mount.Mount(self.app, target).start()
        self.where = str(target)
        self.app.files.start()
        return self.where

    async def stop(self) -> None:
        async with self._lock:
            await self._stop()

    async def _stop(self) -> None:
        m, self.mount, self.where = self.mount, None, None
        if m is not None:
            await m.close()

    async def shutdown(self) -> None:
        await self.stop()


class MountCard:
    """The card on the Settings page (built in code, like the photo folders card)."""

    def __init__(self, page, control: MountControl):
        self.page, self.control, self.app = page, control, page.app
        box = self.box = card()
        box.setObjectName("mountCard")
        bl = QVBoxLayout(box)
        bl.setContentsMargins(18, 12, 18, 14)
        bl.setSpacing(8)
        bl.addWidget(label("FILES: YOUR FOLDERS AS A DRIVE", "section"))
        bl.addWidget(label("Every folder appears under this directory, so any program can open and save "
                           "files there; they are encrypted and checked exactly as in the Files page.",
                           "faint", wrap=True))
        row = QHBoxLayout()
        self.dir_edit = QLineEdit(self.app.preference(PREF_MOUNT_DIR, default_dir()) or default_dir())
        self.dir_edit.setObjectName("mountDir")
        self.change = QPushButton("Change…")
        self.change.clicked.connect(self._choose)
        row.addWidget(self.dir_edit, 1)
        row.addWidget(self.change)
        bl.addLayout(row)
        self.check = QCheckBox("Show my folders as a drive")
        self.check.setObjectName("mountCheck")
        bl.addWidget(self.check)
        self.state = label("", "faint", wrap=True)
        self.state.setObjectName("mountState")
        bl.addWidget(self.state)
        why = control.unavailable()
        if why:
            self.check.setEnabled(False)
            self.state.setText(why)
        else:
            self.check.setChecked(self.app.preference(PREF_MOUNT, "0") == "1" and control.mount is not None)
            self._say()
        self.check.toggled.connect(self.toggled)

    def _say(self) -> None:
        w = self.control.where
        self.state.setText(f"Mounted at {w}. Quitting kbapp unmounts it." if w else "Not mounted.")

    def _choose(self) -> None:
        d = QFileDialog.getExistingDirectory(self.page, "Where your folders appear", self.dir_edit.text())
        if d:
            self.dir_edit.setText(d)

    def toggled(self, on: bool):
        self.app.set_preference(PREF_MOUNT, "1" if on else "0")
        if on:
            where = self.dir_edit.text().strip() or default_dir()
            self.app.set_preference(PREF_MOUNT_DIR, where)

            def failed(exc: BaseException) -> None:
                self.check.blockSignals(True)
                self.check.setChecked(False)
                self.check.blockSignals(False)
                self.app.set_preference(PREF_MOUNT, "0")
                self.state.setText(f"Not mounted: {exc}")
            return ops.run(self.box, lambda: self.control.start(where), key="mount", on_done=lambda _w: self._say(),
                           on_error=failed)
        return ops.run(self.box, self.control.stop, key="mount", on_done=lambda _v: self._say(),
                       on_error=lambda e: self.state.setText(f"Unmounting failed: {e}"))


async def mount_at_login(app, control: MountControl) -> None:
    """The switch was on when kbapp last ran: mount again (quietly skipped where it cannot)."""
    if app.preference(PREF_MOUNT, "0") != "1" or control.unavailable():
        return
    try:
        await control.start(app.preference(PREF_MOUNT_DIR, default_dir()) or default_dir())
    except (errors.KbappError, OSError, RuntimeError):
        app.set_preference(PREF_MOUNT, "0")        # said in Settings: the switch shows off
