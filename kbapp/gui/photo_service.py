"""The GUI's side of the photo index: Qt signals over `app.photos`, the service the CLI uses too.

`app.photos` (kbapp/client/photos.py) owns the profile's `PhotoLibrary`, its two
single-thread executors (the long job: index, watch, forgetting; the short
queries, so a search answers while a thousand photos are being indexed) and the
watched folders (the `photos.folders` preference). This module adds what only a
window needs: the threads run at a lowered priority (Linux per-thread nice;
onnxruntime's own threads inherit it), so the GUI thread wins the CPU; the saved
folders are indexed when the shell opens and watched until the app quits, the
watcher restarting when the list changes; progress, results and the ML provider
come back as Qt signals (queued to the GUI thread), progress at most every
`PROGRESS_EVERY` seconds, so a fast index cannot flood the loop.

Cancel stops the running pass only (its own event); watching goes on, and the next
change starts a new pass. A folder removed with "forget" has its photos dropped
(`app.photos.forget_folder`) between stopping the old watcher and starting the new
one, so no pass can put them back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Signal

from kbapp.client.photos import PREF_PHOTO_FOLDERS, DictPrefs  # noqa: F401 - also imported from here
from kbapp.client.photos import PhotoService as Photos
from kbapp.core import errors

log = logging.getLogger(__name__)

ML_PACKAGES = ("numpy", "PIL", "onnxruntime")   # what the Photos page cannot work without


def ml_missing() -> str | None:
    """Why the Photos page cannot work here ("No module named 'numpy'"), or None.

    Looked up without importing: the ML packages load with the photo library, when the
    page first needs it, so they cost the window's start-up nothing."""
    import importlib.util

    for name in ML_PACKAGES:
        try:
            if importlib.util.find_spec(name) is None:
                return f"No module named {name!r}"
        except (ImportError, ValueError) as e:
            return str(e)
    return None

PREF_NOT_SENSITIVE = "photos.not_sensitive"  # JSON list: "sha256:<hex>" of photos the user marked
                                             # "not sensitive" (by content); older entries are paths
WATCH_INTERVAL = 2.0
PROGRESS_EVERY = 0.1
BROWSE_LIMIT = 1000
SEARCH_LIMIT = 200


def provider_name(provider: str | None) -> str:
    """"CUDAExecutionProvider" -> "CUDA"; what the status bar shows."""
    if not provider:
        return ""
    return provider.removesuffix("ExecutionProvider") or provider


class PhotoService(QObject):
    """Owns the profile's photo library and its worker threads; everything async or signalled."""

    progress = Signal(str, int, int)        # phase (scan/analyze/done), done, total
    indexStarted = Signal()
    indexFinished = Signal(object)          # IndexSummary (after each pass of the watcher)
    indexFailed = Signal(str)               # a readable reason
    indexStopped = Signal()                 # the watcher ended (folders changed, closing)
    folderForgotten = Signal(str, int)      # a removed folder's photos left the index: folder, how many
    providerChanged = Signal(str)           # "CPUExecutionProvider", "CUDAExecutionProvider", ...
    foldersChanged = Signal(list)           # the watched folders, after a change

    def __init__(self, photos, prefs=None, *, library_factory: Callable[[Path], object] | None = None,
                 watch_interval: float = WATCH_INTERVAL, parent: QObject | None = None):
        """`photos`: the app's photo service (`app.photos`); or a profile folder, with `prefs`
        (benchmarks and tests without an `App` make a service of their own here)."""
        super().__init__(parent)
        if not isinstance(photos, Photos):
            photos = Photos(Path(photos), prefs if prefs is not None else DictPrefs(),
                            library_factory=library_factory)
        photos.background = True   # lowered priority for its threads (made on first use)
        self.photos = photos
        self.watch_interval = watch_interval
        self._stop: threading.Event | None = None       # ends the watcher
        self._cancel: threading.Event | None = None     # ends the running pass only
        self._job: asyncio.Future | None = None
        self._restart_lock = asyncio.Lock()
        self._to_forget: list[str] = []
        self.provider: str | None = None
        self.last_note: str | None = None     # the last text search's note (ml/multiword.py)
        self.indexing = False
        self.closed = False
        self.last_summary = None

    @property
    def home(self) -> Path:
        return self.photos.home

    @property
    def prefs(self):
        return self.photos.prefs

    # -- queries -----------------------------------------------------------------------------

    def _open(self) -> None:
        if self.closed:
            raise errors.Cancelled("the photo library is closed")

    async def search(self, text: str | None = None, *, like: Path | None = None, nsfw: str = "include",
                     limit: int | None = None):
        """Hits for a query; no text and no example: the newest photos (browsing)."""
        self._open()
        text = (text or "").strip() or None
        if limit is None:
            limit = SEARCH_LIMIT if (text or like) else BROWSE_LIMIT
        hits = await self.photos.search(text, like=like, nsfw=nsfw, limit=limit)
        self.last_note = getattr(self.photos, "last_note", None)   # "puppy and snow, all together. A CLIP…"
        if text or like:   # the models are loaded now: say which provider runs them
            self._set_provider(self.photos.provider)
        return hits

    async def similar(self, path: Path, *, nsfw: str = "include", limit: int = SEARCH_LIMIT):
        """More like this: the photo itself first (it anchors the view), then its neighbours."""
        self._open()
        return await self.photos.similar(Path(path), limit=limit, nsfw=nsfw, include_self=True)

    async def dupes(self):
        """Near-duplicate groups as hits, group after group; returns (hits, number of groups)."""
        self._open()
        return await self.photos.dupe_hits()

    async def tags(self, path: Path):
        self._open()
        return await self.photos.tags(Path(path))

    async def known_tags(self, limit: int = 2000) -> list[str]:
        self._open()
        return [t for t, _ in await self.photos.known_tags(limit)]

    async def count(self) -> int:
        self._open()
        return await self.photos.count()

    async def load_provider(self) -> str:
        """Load the models (in the query thread) and report the provider onnxruntime really uses."""
        self._open()
        p = await self.photos.load_models()
        self._set_provider(p)
        return p

    def _set_provider(self, p: str | None) -> None:
        """Called from worker threads too: the signal is queued to the GUI thread."""
        if p and p != self.provider:
            self.provider = p
            self.providerChanged.emit(p)

    # -- corrections ---------------------------------------------------------------------------

    def not_sensitive(self) -> set[str]:
        """Photos the user said are not sensitive (an NSFW false positive): shown unblurred."""
        try:
            value = json.loads(self.prefs.preference(PREF_NOT_SENSITIVE, "[]") or "[]")
        except ValueError:
            return set()
        return {p for p in value if isinstance(p, str)} if isinstance(value, list) else set()

    def mark_not_sensitive(self, key: str, on: bool = True) -> None:
        """`key`: "sha256:<hex>" (PhotoItem.key), or a path for a photo without a hash."""
        keys = self.not_sensitive()
        (keys.add if on else keys.discard)(key)
        self.prefs.set_preference(PREF_NOT_SENSITIVE, json.dumps(sorted(keys)))

    # -- folders (kept by app.photos) ------------------------------------------------------------

    def folders(self) -> list[str]:
        return self.photos.folders()

    def set_folders(self, folders: list[str]) -> None:
        clean = self.photos.set_folders(folders)
        self.foldersChanged.emit(clean)
        if not self.closed:
            self.restart()

    def add_folder(self, folder: str | Path) -> None:
        self.photos.add_folder(folder)   # NotFound when it is not a folder
        self.foldersChanged.emit(self.photos.folders())
        if not self.closed:
            self.restart()

    def remove_folder(self, folder: str, *, forget: bool = False) -> None:
        """Stop watching `folder`; with `forget`, also drop its photos from the index (the files stay).

        The forgetting runs in the restart that this change starts, after the old watcher has
        stopped; photos that another watched folder still covers stay (`folderForgotten` says
        how many left)."""
        if forget and str(folder) not in self._to_forget:
            self._to_forget.append(str(folder))
        self.photos.unwatch(folder)
        self.foldersChanged.emit(self.photos.folders())
        if not self.closed:
            self.restart()

    # -- indexing and watching -------------------------------------------------------------------

    def start(self) -> None:
        """Index and watch the saved folders (called when the shell opens); no folders: nothing."""
        if self.folders() and self._job is None:
            self.restart()

    def restart(self) -> None:
        """(Re)start the watcher over the current folders; a running pass is stopped first."""
        asyncio.ensure_future(self._restart())

    async def _restart(self) -> None:
        # one restart at a time: a second one waits until the first has started its watcher, then stops it
        async with self._restart_lock:
            await self.stop()
            await self._forget_pending()
            if not self.folders() or self.closed:
                return
            present, missing = self.photos.watched()
            if missing:
                self.indexFailed.emit("not found, skipped: " + ", ".join(missing))
            if not present:
                return
            stop, cancel = threading.Event(), threading.Event()
            self._stop, self._cancel = stop, cancel
            self.indexing = True
            self.indexStarted.emit()
            self._job = job = asyncio.ensure_future(self._watch(present, stop, cancel))
        try:
            await job
        except Exception as e:  # noqa: BLE001 - shown in the status bar and the page, never a traceback
            if not isinstance(e, errors.KbappError):
                log.exception("photo indexing failed")
            self.indexFailed.emit(str(e) or type(e).__name__)
        finally:
            if self._job is job:
                self._job = None
                self._stop = self._cancel = None
            self.indexing = False
            self.indexStopped.emit()

    async def _forget_pending(self) -> None:
        """Drop the photos of folders removed with "forget", in the job thread (no watcher runs now)."""
        while self._to_forget and not self.closed:
            folder = self._to_forget.pop(0)
            try:
                n = await self.photos.forget_folder(folder)
            except Exception as e:  # noqa: BLE001 - shown in the page's banner, never a traceback
                if not isinstance(e, errors.KbappError):
                    log.exception("forgetting the photos of %s failed", folder)
                self.indexFailed.emit(f"could not forget the photos of {folder}: {e or type(e).__name__}")
                continue
            self.folderForgotten.emit(folder, n)

    async def _watch(self, folders: list[Path], stop: threading.Event, cancel: threading.Event) -> None:
        """A full index, then the watcher until `stop`; `cancel` ends a pass. The models load first,
        in the job thread, so the provider shows before the first pass ends."""
        last = [0.0]

        def progress(p) -> None:   # in the job thread
            now = time.monotonic()
            if p.phase == "analyze" and 0 < p.done < p.total and now - last[0] < PROGRESS_EVERY:
                return
            last[0] = now
            self.progress.emit(p.phase, int(p.done), int(p.total))

        def updated(summary) -> None:
            self.last_summary = summary
            if summary.provider:
                self._set_provider(summary.provider)
            self.indexFinished.emit(summary)

        if self.watch_interval <= 0:  # one pass only (benchmarks); stop() sets cancel too
            updated(await self.photos.index(folders, progress=progress, cancel=cancel,
                                            on_provider=self._set_provider))
            return
        await self.photos.watch(folders, interval=self.watch_interval, stop=stop, cancel=cancel,
                                on_update=updated, progress=progress, on_provider=self._set_provider)

    def cancel(self) -> None:
        """Stop the running index pass; watching goes on (the next change starts a new pass)."""
        if self._cancel is not None:
            self._cancel.set()

    async def stop(self) -> None:
        """Stop the watcher and its running pass, and wait for the job thread to be free."""
        job = self._job
        for ev in (self._stop, self._cancel):
            if ev is not None:
                ev.set()
        if job is not None:
            try:
                await asyncio.shield(job)
            except Exception:  # noqa: BLE001 - reported by _restart
                pass

    async def close(self) -> None:
        """Stop watching, let the workers finish, close the library (off the GUI thread)."""
        if self.closed:
            return
        await self.stop()
        self.closed = True
        await self.photos.close()
