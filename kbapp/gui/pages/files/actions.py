"""What the Files page does to files: new directory, rename, delete to the trash, save a
copy, history, drag out, pause and retry (copy, cut, paste and move: moving.py). Each is one `app.files` call (or a
few) through `ops.run`, so the window never waits; the list re-reads when it is done.

Delete moves into the folder's `.trash` directory (restorable from the Trash view);
deleting inside the trash removes for good, after a question. Drag out and "Save a copy"
export through `kbapp.client.fs.export` where it exists: every name checked, nothing
written outside the chosen directory.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtGui import QDrag
from PySide6.QtWidgets import QFileDialog, QInputDialog, QLineEdit, QMenu, QMessageBox

from kbapp.core import errors
from kbapp.core.fs.names import check_component

from ... import ops
from .folder_copy import ROWS_MIME, rows_mime_data

DRAG_STAGING = "drag-staging"
DRAG_KEEP_S = 3600.0


def sweep_drag_stages(root: Path, *, keep: Path | None = None, now: float | None = None) -> int:
    """Stages of drags over an hour old, removed (plaintext copies the drop target has long
    since taken); how many."""
    import shutil
    import time

    now = time.time() if now is None else now
    n = 0
    if not root.is_dir():
        return 0
    for d in root.iterdir():
        try:
            old = d != keep and d.is_dir() and not d.is_symlink() and now - d.stat().st_mtime > DRAG_KEEP_S
        except OSError:
            continue
        if old:
            shutil.rmtree(d, ignore_errors=True)
            n += 1
    return n

TRASH = ".trash"


def join(folder: str, comps) -> str:
    return folder + "".join("/" + c for c in comps)


class FileActions:
    """Mixed into FilesPage (which holds app, folder, comps, list, model, queue, banner)."""

    clipboard: list[str] = []

    # -- helpers --------------------------------------------------------------------------

    def _run(self, work, *, key, status: str, then=None):
        def done(value) -> None:
            self.app.files.start()         # the background uploader takes the change from the journal
            self.reload()
            if then is not None:
                then(value)
        return ops.run(self, work, key=key, busy=self.busy, banner=self.banner, status=status, on_done=done)

    def offer_rollback(self, exc: errors.FolderHeadUnreadable) -> None:
        """The folder's newest revision cannot be read: say who wrote it and offer writers the
        way out (a rollback to the newest revision that reads; readers are told to ask one)."""
        folder, target = self.folder, exc.readable
        writer = exc.writer or "another writer"
        what = (f"Revision {exc.revision} of this folder (by {writer}) cannot be read: the server does not "
                "serve its files, or they are damaged. Nothing here can be read or changed on top of it; "
                "your own changes wait, kept on this computer.")
        if self.read_only or target is None:
            self.banner.show_message("error", "This folder's newest change can't be read", what + (
                " Ask one of the folder's writers to roll it back." if self.read_only else
                " None of the revisions before it reads either: roll it back to an older one with "
                f"kbapp fs rollback {folder} --rev N."), subject="head")
            return
        where = f"revision {target}" if target else "an empty folder"

        async def roll():
            from ...dialogs import confirm
            if not await confirm(self.window(), "Roll the folder back?",
                                 f"Make the folder as it was at {where} again, for everyone?",
                                 f"This adds a new revision; history keeps revision {exc.revision}. Files "
                                 f"changed after {where} by others go back to their earlier state.",
                                 "Roll back"):
                return None
            return await self.app.files.rollback(folder, target, expect_head=exc.revision)

        def ask() -> None:
            ops.run(self, roll, key="rollback", busy=self.busy, banner=self.banner, status="Rolling back…",
                    on_done=lambda out: out and self.open_dir(folder, ()))
        self.banner.show_message("error", "This folder's newest change can't be read",
                                 what + f" Roll the folder back to {where} to use it again.", subject="head",
                                 action=(f"Roll back to {where}", ask))

    def _ask_name(self, title: str, prompt: str, text: str = "") -> str | None:
        name, ok = QInputDialog.getText(self, title, prompt, QLineEdit.Normal, text)
        if not ok or not name.strip():
            return None
        try:
            return check_component(name.strip())
        except errors.KbappError as e:
            self.banner.show_error(e)
            return None

    def _writable(self) -> bool:
        if not self.folder or self.rev is not None or self.in_parked_view():
            self.banner.show_message("info", "This view is read-only",
                                     "Pick the folder again to return to its current state.")
            return False
        if getattr(self, "read_only", ""):
            self.banner.show_message("info", "This folder is read-only for you", self.read_only)
            return False
        return True

    # -- toolbar --------------------------------------------------------------------------

    def add_files_clicked(self) -> None:
        if not self._writable():
            return
        files, _ = QFileDialog.getOpenFileNames(self, "Add files")
        if files:
            self.queue_paths([Path(f) for f in files], self.path())

    def mkdir_clicked(self) -> None:
        if not self._writable():
            return
        name = self._ask_name("New directory", "Name:")
        if name:
            path = self.path_of(name)
            self._run(lambda: self.app.files.mkdir(path, upload=False), key="mkdir", status=f"Creating {name}…")

    def pause_clicked(self) -> None:
        files = self.app.files
        paused = bool(self.engine_status.get("paused"))
        (files.resume if paused else files.pause)()
        self._queue_changed(None)

    def retry_clicked(self) -> None:
        self.queue.retry()
        from kbapp.client.fs import queue_control
        ops.run(self, lambda: queue_control.retry(self.app.files), key="retry", banner=self.banner, clear=False,
                on_done=lambda _v: self._queue_changed(None))
        self.ticker.start()

    # -- on the selection -----------------------------------------------------------------

    def rename_clicked(self) -> None:
        rows = self.selected_rows()
        if len(rows) != 1 or not self._writable():
            return
        old = rows[0]["name"]
        name = self._ask_name("Rename", "New name:", old)
        if name and name != old:
            src, dst, here, files = self.path_of(old), self.path_of(name), self.path(), self.app.files

            async def rename():              # the engine's rename replaces a file of that name: never here
                if name in {r["name"] for r in await files.ls(here)}:
                    raise errors.PathExists(f"{dst} already exists: {old} was not renamed")
                return await files.mv(src, dst, upload=False)
            self._run(rename, key="mv", status=f"Renaming {old}…")

    def delete_clicked(self) -> None:
        rows = self.selected_rows()
        if not rows or not self._writable():
            return
        names = [r["name"] for r in rows]
        if self.comps[:1] == (TRASH,):
            if QMessageBox.question(self, "Delete for good",
                                    f"Delete {len(names)} item(s) for good? Earlier revisions stay in the "
                                    "folder's history until they are collected.") != QMessageBox.Yes:
                return
            paths = [self.path_of(n) for n in names]

            async def gone():
                for p in paths:
                    await self.app.files.rm(p, recursive=True, upload=False)
            self._run(gone, key="rm", status="Deleting…")
            return
        folder, here = self.folder, [self.path_of(n) for n in names]

        async def to_trash():
            await self.app.files.mkdir(join(folder, (TRASH,)), parents=True, upload=False)
            taken = {r["name"] for r in await self.app.files.ls(join(folder, (TRASH,)))}
            for src, name in zip(here, names):
                dest, n = name, 2
                while dest in taken:
                    stem, dot, ext = name.rpartition(".")
                    dest = f"{stem} ({n}).{ext}" if dot and stem else f"{name} ({n})"
                    n += 1
                taken.add(dest)
                await self.app.files.mv(src, join(folder, (TRASH, dest)), upload=False)
        self._run(to_trash, key="rm", status=f"Moving {len(names)} item(s) to the trash…",
                  then=lambda _v: self.banner.show_message(
                      "info", f"Moved {len(names)} item(s) to the trash", "Open Trash to restore them."))

    def restore_from_trash(self) -> None:
        rows = self.selected_rows()
        if self.comps[:1] != (TRASH,) or not rows:
            return
        pairs = [(self.path_of(r["name"]), join(self.folder, (r["name"],))) for r in rows]

        async def back():
            for src, dst in pairs:
                await self.app.files.mv(src, dst, upload=False)
        self._run(back, key="mv", status="Restoring…")

    def _past_copy_refused(self) -> bool:
        """Copies out are made from today's tree: from a past revision's view they would be
        today's files under yesterday's names. A file's History saves that version."""
        if self.rev is None:
            return False
        self.banner.show_message("info", "Copies are made of the current version",
                                 "This view shows a past revision. To save a file as it was then, open its "
                                 "History (right click) and choose Save this version…")
        return True

    def save_copy_clicked(self) -> None:
        rows = self.selected_rows()
        if not rows or self._past_copy_refused():
            return
        target = QFileDialog.getExistingDirectory(self, "Save a decrypted copy to")
        if target:
            paths = [self.path_of(r["name"]) for r in rows]
            ops.run(self, lambda: self._export(paths, Path(target)), key="export", busy=self.busy,
                    banner=self.banner, status="Saving copies…",
                    on_done=lambda n: self.banner.show_message("info", f"Saved {n} item(s) to {target}"))

    async def _export(self, paths: list[str], target: Path) -> int:
        """Decrypted copies of `paths` under `target`, by the export module's rules. One item the
        local disk refuses (a file in the way) does not stop the others; a full disk does."""
        from kbapp.client.fs import export as fs_export
        n, refused = 0, []
        for p in paths:
            try:
                await fs_export.export(self.app.files, p, target)
                n += 1
            except (errors.LocalExists, errors.ExportIncomplete, errors.ExportRefused) as e:
                refused.append(e)
        if refused:
            if len(refused) == 1 and n == 0:
                raise refused[0]
            hostile = any(isinstance(e, errors.ExportRefused) for e in refused)   # stays a verification failure
            cls = errors.ExportRefused if hostile else errors.ExportIncomplete
            raise cls(f"{n} of {len(paths)} item(s) saved; " + "; ".join(str(e) for e in refused[:5]))
        return n

    def history_clicked(self) -> None:
        rows = self.selected_rows()
        if len(rows) != 1:
            return
        from .dialogs import HistoryDialog
        HistoryDialog(self.app, self.path_of(rows[0]["name"]), self).open()

    def view_at_time_clicked(self) -> None:
        rev, ok = QInputDialog.getInt(self, "View the folder as it was", "Revision:", 1, 1)
        if ok:
            self.open_dir(self.folder, self.comps, rev=rev)

    # -- drag out -------------------------------------------------------------------------

    def start_drag_out(self) -> None:
        """Export the selection to a private staging directory, then drag those copies. The
        export runs off the Qt thread; a drag starts when it is ready (small files: at once)."""
        rows = self.selected_rows()
        if not rows or self._past_copy_refused():
            return
        paths = [self.path_of(r["name"]) for r in rows]
        self._drag_paths = paths                 # carried too: dropped on a directory here, they move
        stage = Path(tempfile.mkdtemp(prefix="drag-", dir=self._drag_root()))

        async def prepare() -> int:
            await asyncio.to_thread(sweep_drag_stages, stage.parent, keep=stage)
            return await self._export(paths, stage)
        task = ops.run(self, prepare, key="drag", busy=self.busy, banner=self.banner,
                       status="Preparing decrypted copies…")
        self._drag_task = task

        async def then():
            out = await task
            if out.ok and out.value and not out.stale:
                self.drag_out(stage)
        asyncio.ensure_future(then())

    def _drag_root(self) -> Path:
        """Decrypted copies for a drag live in the profile (`drag-staging/`), not in /tmp, and
        are removed an hour later (`sweep_drags`: the drop target has copied them by then)."""
        home = getattr(self.app, "home", None)
        root = Path(home) / DRAG_STAGING if home is not None else Path(tempfile.gettempdir()) / "kbapp-drag"
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        return root

    def sweep_drags(self) -> None:
        """Remove drag stages over an hour old, off the Qt thread."""
        home = getattr(self.app, "home", None)
        if home is not None:
            asyncio.ensure_future(asyncio.to_thread(sweep_drag_stages, Path(home) / DRAG_STAGING))

    def drag_mime(self, stage: Path) -> QMimeData:
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(p)) for p in sorted(stage.iterdir())])
        mime.setData(ROWS_MIME, rows_mime_data(getattr(self, "_drag_paths", [])))
        return mime

    def drag_out(self, stage: Path) -> None:
        drag = QDrag(self.list)
        drag.setMimeData(self.drag_mime(stage))
        self.last_drag_stage = stage
        drag.exec(Qt.CopyAction)

    # -- menus ----------------------------------------------------------------------------

    def _menu(self, pos) -> None:
        rows = self.selected_rows()
        m = QMenu(self)
        in_trash = self.comps[:1] == (TRASH,)
        if len(rows) == 1 and rows[0].get("type") != "dir":
            m.addAction("Open preview", lambda: self._activated(self.list.currentIndex()))
            m.addAction("History…", self.history_clicked)
        if rows:
            m.addAction("Save a copy…", self.save_copy_clicked)
            m.addAction("Copy", self.copy_clicked)
        if rows and self.rev is None:
            if in_trash:
                m.addAction("Restore", self.restore_from_trash)
            if len(rows) == 1:
                m.addAction("Rename…", self.rename_clicked)
            m.addAction("Cut", self.cut_clicked)
            m.addAction("Move to…", self.move_to_clicked)
            m.addAction("Delete for good…" if in_trash else "Move to trash", self.delete_clicked)
        m.addSeparator()
        if self.rev is None:
            m.addAction("Paste", self.paste_clicked).setEnabled(self.can_paste())
            m.addAction("New directory…", self.mkdir_clicked)
        m.addAction("View the folder at a revision…", self.view_at_time_clicked)
        m.exec(self.list.viewport().mapToGlobal(pos))

    def new_shared_folder(self) -> None:
        from .dialogs import NewFolderDialog
        dlg = self.new_folder_dialog = NewFolderDialog(self.app, self.me, self)
        dlg.accepted.connect(lambda: self.select_folder(dlg.folder_path))
        dlg.open()


