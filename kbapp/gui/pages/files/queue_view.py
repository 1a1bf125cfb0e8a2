"""The Files page's live state: what the engine pushes (a folder changed, its queue moved) and
the drops on their way into the journal, with the status line that says where they are.

A mixin of FilesPage (page.py), which holds the widgets: `queue` (transfers.py), `status_line`,
`bar`, the buttons, `banner`, `hint_timer`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from kbapp.client.fs.events import FilesQueueChanged, FolderChanged
from kbapp.client.fs.hints import FolderHinted
from kbapp.core import errors

from ... import ops
from .models import human_size
from .transfers import plan_drop


class FileQueue:
    # -- pushed state ---------------------------------------------------------------------

    def _folder_changed(self, ev: FolderChanged) -> None:
        if ev.folder == self.folder and self.rev is None:
            self._soon()                          # throttled: a burst of changes is one listing
        if self.folder_model.row_of(ev.folder) < 0 and self.loaded:
            self.reload_folders()

    def _hinted(self, _ev: FolderHinted) -> None:
        """The server says some folder moved (a push hint names its id, not its name): the open
        one re-lists, which syncs and verifies it only if it is the one that moved."""
        if self.folder:
            self._soon()

    def _queue_changed(self, _ev: FilesQueueChanged) -> None:
        ops.run(self, self.app.files.status, key="status", clear=False, cursor=False,
                on_done=self._show_status, on_error=lambda _e: None)

    def _show_status(self, st: dict) -> None:
        self.engine_status = st or {}
        self._progress()
        self.journal_panel.pushed(self.engine_status)

    # -- drops and the status line ----------------------------------------------------------

    def _dropped_on_folder(self, paths: list, folder: str) -> None:
        """Files dropped on a folder in the sidebar go into that folder's top directory."""
        if paths:
            self.queue_paths([Path(p) for p in paths], folder)

    def drop_urls(self, urls, into: str) -> None:
        paths = [Path(u.toLocalFile()) for u in urls if u.isLocalFile()]
        if not paths or not self.folder:
            return
        if self.rev is not None:
            self._writable()                      # says why: a past revision is read-only
            return
        self.queue_paths(paths, into)

    def _transfer_failed(self, msg: str) -> None:
        exc = self.queue.last_error
        if isinstance(exc, errors.JournalFull):
            self.banner.show_message(
                "warning", "Not saved: the local journal is full",
                "Files wait in an encrypted journal on this computer until they are uploaded, and it has "
                "reached its size limit. Let the uploads finish (check that you are online and uploads "
                "are not paused), then press Retry; or free disk space, or raise the limit "
                "(the fs.journal_max_bytes setting). Nothing of the refused files was kept.")
        elif isinstance(exc, errors.FolderNotWriter):
            self.banner.show_message("warning", "You can't add files to this folder", msg)
        else:
            self.banner.show_message("warning", "A file was not saved", msg)

    def _drop_refused(self, exc: BaseException) -> None:
        if isinstance(exc, (errors.FolderNotWriter, errors.ReadOnlyView)):
            self.banner.show_message("warning", "You can't add files to this folder",
                                     f"{exc} Nothing was copied. Ask one of its writers to add them, or "
                                     "put them in a folder you write.")
        elif isinstance(exc, errors.DropRefused):
            self.banner.show_message("warning", "Nothing was copied", str(exc))
        else:
            self.banner.show_error(exc)

    def queue_paths(self, paths: list[Path], into: str) -> asyncio.Task:
        """Check we may write here (a reader is told before anything is read or sealed), plan
        the copy on a worker thread (it lstats every entry), then queue it."""
        async def plan():
            await self.app.files.check_writable(into)
            return await asyncio.to_thread(plan_drop, paths, into)

        def queued(got) -> None:
            items, skipped = got
            if skipped:
                self.banner.show_message("info", f"{len(skipped)} item(s) were not copied",
                                         "\n".join(skipped[:8]) + ("\n…" if len(skipped) > 8 else ""))
            self.queue.add(items)
            self.transfers.setVisible(True)
            self.cancel_button.show()
            self.ticker.start()
            self._progress()

        return ops.run(self, plan, key=("plan", into), clear=False, on_done=queued, on_error=self._drop_refused)

    def _progress(self) -> None:
        t = self.queue.totals()
        st = self.engine_status
        bits = []
        if t["files"]:
            eta = f", about {int(t['eta_s'])} s left" if t["eta_s"] is not None else ""
            bits.append(f"Encrypting {t['files']} file(s), {human_size(t['done'])} of {human_size(t['bytes'])}{eta}")
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * t["done"] / t["bytes"]) if t["bytes"] else 0)
            self.bar.show()
        else:
            self.bar.hide()
        if st.get("pending"):
            speed = st.get("speed_bps") or 0
            eta = st.get("eta_s")
            bits.append(f"Uploading {st['pending']} file(s), {human_size(st.get('pending_bytes', 0))}"
                        + (f" at {human_size(int(speed))}/s" if speed else "")
                        + (f", about {int(eta)} s left" if eta else ""))
        paused = bool(st.get("paused"))
        if paused:
            reason = st.get("reason")
            bits.append("Uploads paused" + (f": {reason}" if reason else ""))
        elif st.get("pending") and st.get("last_error"):
            bits.append(f"Retrying after: {st['last_error']}")
        for view in st.get("parked") or []:
            bits.append(f"Kept unmerged changes in {view}")
        engine_failed = st.get("failed") or []
        failed = t["failed"] + (len(engine_failed) if isinstance(engine_failed, list) else int(engine_failed))
        if failed:
            bits.append(f"{failed} failed: see the list, then Retry")
        if not bits:
            bits.append("Everything is uploaded" if st else "")
        self.status_line.setText(" · ".join(b for b in bits if b))
        self.pause_button.setText("Resume uploads" if paused else "Pause uploads")
        self.retry_button.setVisible(failed > 0)
        self._summarise(t, st, paused, failed)
        if self.queue.current is not None:      # only the row being copied moves (not 1,000 rows a tick)
            self.queue.model.changed(self.queue.current)

    def _summarise(self, t: dict, st: dict, paused: bool, failed: int) -> None:
        """One short line for the window's status bar, wherever the user is in the app."""
        if failed:
            text, trouble = f"Files: {failed} not uploaded", True
        elif paused:
            text, trouble = "Files: uploads paused", True
        elif st.get("pending") and st.get("last_error"):
            text, trouble = f"Files: {st['pending']} waiting to retry", True
        elif t["files"] or st.get("pending"):
            n = t["files"] + int(st.get("pending") or 0)
            left = max(0, t["bytes"] - t["done"]) + int(st.get("pending_bytes") or 0)
            eta = st.get("eta_s") or t.get("eta_s")
            text = f"Files: uploading {n} ({human_size(left)})" + (f", about {int(eta)} s left" if eta else "…")
            trouble = False
        else:
            text, trouble = "", False
        if (text, trouble) != getattr(self, "_summary", None):
            self._summary = (text, trouble)
            self.syncSummary.emit(text, trouble)

    def _transfers_done(self, saved: int, failed: int) -> None:
        self.ticker.stop()
        self.cancel_button.hide()
        self.queue.model.clear_finished()
        self.transfers.setVisible(self.queue.model.rowCount() > 0)
        self._progress()
        self.reload(clear=False)                  # what the drop said (skipped, full journal) stays
        self._queue_changed(FilesQueueChanged())
