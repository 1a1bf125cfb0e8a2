"""The GUI's side of the photo index: one `PhotoLibrary` per profile, off the Qt thread.

`PhotoLibrary` is synchronous and thread-safe (SQLite in WAL mode behind a
SQLAlchemy pool, one writer lock, locked vector sets), but its jobs are long. So
there are two single-thread executors: one runs the long job (index, then watch:
the library's polling watcher) and one runs the short queries (search, tags,
known tags), so a search answers while a thousand photos are being indexed. Both
threads run at a lowered priority (Linux per-thread nice; onnxruntime's own
threads inherit it when a session is made there), so the GUI thread wins the CPU.

The folders to watch are a preference of the profile (a JSON list); they are
indexed when the shell opens and watched until the app quits. Cancel stops the
running pass only (its own event); watching goes on, and the next change starts a
new pass. A folder removed with "forget" has its photos dropped from the index in
the job thread between stopping the old watcher and starting the new one, so no
pass can put them back. Progress comes from
the worker thread and is re-emitted as Qt signals (queued to the GUI thread),
at most every `PROGRESS_EVERY` seconds, so a fast index cannot flood the loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Signal

from kbapp.core import errors
from kbapp.ml.threads import lower_thread_priority

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

PREF_PHOTO_FOLDERS = "photos.folders"      # JSON list of absolute folder paths
PREF_NOT_SENSITIVE = "photos.not_sensitive"  # JSON list of photo paths the user marked "not sensitive"
WATCH_INTERVAL = 2.0
PROGRESS_EVERY = 0.1
BROWSE_LIMIT = 1000
SEARCH_LIMIT = 200


def provider_name(provider: str | None) -> str:
    """"CUDAExecutionProvider" -> "CUDA"; what the status bar shows."""
    if not provider:
        return ""
    return provider.removesuffix("ExecutionProvider") or provider


class DictPrefs:
    """Preferences kept in memory (benchmarks, tests without a profile); `App` has the same two methods."""

    def __init__(self):
        self.values: dict[str, str] = {}

    def preference(self, key: str, default: str | None = None) -> str | None:
        return self.values.get(key, default)

    def set_preference(self, key: str, value: str) -> None:
        self.values[key] = value


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

    def __init__(self, home: Path, prefs, *, library_factory: Callable[[Path], object] | None = None,
                 watch_interval: float = WATCH_INTERVAL, parent: QObject | None = None):
        super().__init__(parent)
        self.home = Path(home)
        self.prefs = prefs
        self._factory = library_factory
        self.watch_interval = watch_interval
        self._lib = None
        self._open_lock = threading.Lock()
        self._queries = ThreadPoolExecutor(1, thread_name_prefix="kbapp-photos-q", initializer=lower_thread_priority)
        self._jobs = ThreadPoolExecutor(1, thread_name_prefix="kbapp-photos-index", initializer=lower_thread_priority)
        self._stop: threading.Event | None = None       # ends the watcher
        self._cancel: threading.Event | None = None     # ends the running pass only
        self._job: asyncio.Future | None = None
        self._restart_lock = asyncio.Lock()
        self._to_forget: list[str] = []
        self.provider: str | None = None
        self.indexing = False
        self.closed = False
        self.last_summary = None

    # -- the library ------------------------------------------------------------------------

    def _library(self):
        """Open on first use, in whichever worker asks first (never on the GUI thread)."""
        with self._open_lock:
            if self.closed:
                raise errors.Cancelled("the photo library is closed")
            if self._lib is None:
                if self._factory is not None:
                    self._lib = self._factory(self.home)
                else:
                    from kbapp.ml.library import PhotoLibrary
                    self._lib = PhotoLibrary.open(self.home)
            return self._lib

    async def _query(self, fn, *args, **kw):
        if self.closed:
            raise errors.Cancelled("the photo library is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._queries, lambda: fn(self._library(), *args, **kw))

    async def search(self, text: str | None = None, *, like: Path | None = None, nsfw: str = "include",
                     limit: int | None = None):
        """Hits for a query; no text and no example: the newest photos (browsing)."""
        text = (text or "").strip() or None
        if limit is None:
            limit = SEARCH_LIMIT if (text or like) else BROWSE_LIMIT
        def run(lib):
            hits = lib.search(text, like=like, nsfw=nsfw, limit=limit)
            if text or like:   # the models are loaded now: say which provider runs them
                self._set_provider(lib.analyzer.provider)
            return hits
        return await self._query(run)

    async def similar(self, path: Path, *, nsfw: str = "include", limit: int = SEARCH_LIMIT):
        """More like this: the photo itself first (it anchors the view), then its neighbours."""
        return await self._query(lambda lib: lib.similar(Path(path), limit=limit, nsfw=nsfw, include_self=True))

    async def dupes(self):
        """Near-duplicate groups as hits, group after group; returns (hits, number of groups)."""
        def run(lib):
            hits, groups = [], lib.dupes()
            for n, g in enumerate(groups, 1):
                for p in g.paths:
                    hit = lib.photo(Path(p))
                    if hit is None:
                        continue
                    hit.score, hit.why = g.similarity, [f"near-duplicates {n}", f"similarity {g.similarity:.3f}"]
                    hits.append(hit)
            return hits, len(groups)
        return await self._query(run)

    async def tags(self, path: Path):
        return await self._query(lambda lib: lib.tags(Path(path)))

    async def known_tags(self, limit: int = 2000) -> list[str]:
        return await self._query(lambda lib: [t for t, _ in lib.known_tags(limit=limit)])

    async def count(self) -> int:
        return await self._query(lambda lib: lib.count())

    async def load_provider(self) -> str:
        """Load the models (in the query thread) and report the provider onnxruntime really uses."""
        p = await self._query(lambda lib: lib.analyzer.provider)
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

    def mark_not_sensitive(self, path: str, on: bool = True) -> None:
        paths = self.not_sensitive()
        (paths.add if on else paths.discard)(path)
        self.prefs.set_preference(PREF_NOT_SENSITIVE, json.dumps(sorted(paths)))

    # -- folders -----------------------------------------------------------------------------

    def folders(self) -> list[str]:
        raw = self.prefs.preference(PREF_PHOTO_FOLDERS, "[]") or "[]"
        try:
            value = json.loads(raw)
        except ValueError:
            log.warning("photo folders preference is not JSON: ignored")
            return []
        if not isinstance(value, list):
            return []
        return [str(v) for v in value if isinstance(v, str) and v]

    def set_folders(self, folders: list[str]) -> None:
        clean: list[str] = []
        for f in folders:
            p = str(Path(f).expanduser().resolve())
            if p not in clean:
                clean.append(p)
        self.prefs.set_preference(PREF_PHOTO_FOLDERS, json.dumps(clean))
        self.foldersChanged.emit(clean)
        if not self.closed:
            self.restart()

    def add_folder(self, folder: str | Path) -> None:
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise errors.NotFound(f"{path} is not a folder")
        self.set_folders(self.folders() + [str(path)])

    def remove_folder(self, folder: str, *, forget: bool = False) -> None:
        """Stop watching `folder`; with `forget`, also drop its photos from the index (the files stay).

        The forgetting runs in the restart that this change starts, after the old watcher has
        stopped; photos that another watched folder still covers stay (`folderForgotten` says
        how many left)."""
        if forget and str(folder) not in self._to_forget:
            self._to_forget.append(str(folder))
        self.set_folders([f for f in self.folders() if f != str(folder)])

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
            folders = [Path(f) for f in self.folders()]
            if not folders or self.closed:
                return
            missing = [str(f) for f in folders if not f.is_dir()]
            present = [f for f in folders if f.is_dir()]
            if missing:
                self.indexFailed.emit("not found, skipped: " + ", ".join(missing))
            if not present:
                return
            stop, cancel = threading.Event(), threading.Event()
            self._stop, self._cancel = stop, cancel
            self.indexing = True
            self.indexStarted.emit()
            loop = asyncio.get_running_loop()
            self._job = loop.run_in_executor(self._jobs, self._watch, present, stop, cancel)
            job = self._job
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
            keep = [Path(f) for f in self.folders()]
            loop = asyncio.get_running_loop()
            try:
                n = await loop.run_in_executor(self._jobs, lambda: self._library().forget_folder(Path(folder),
                                                                                                 keep=keep))
            except Exception as e:  # noqa: BLE001 - shown in the page's banner, never a traceback
                if not isinstance(e, errors.KbappError):
                    log.exception("forgetting the photos of %s failed", folder)
                self.indexFailed.emit(f"could not forget the photos of {folder}: {e or type(e).__name__}")
                continue
            self.folderForgotten.emit(folder, n)

    def _watch(self, folders: list[Path], stop: threading.Event, cancel: threading.Event) -> None:
        """The job thread: a full index, then the library's watcher until `stop`; `cancel` ends a pass."""
        lib = self._library()
        self._set_provider(lib.analyzer.provider)   # loads the models here, off the GUI thread
        last = [0.0]

        def progress(p) -> None:
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

        if self.watch_interval <= 0:  # one pass only (benchmarks)
            updated(lib.index(folders, progress=progress, cancel=cancel))   # stop() sets cancel too
            return
        lib.watch(folders, interval=self.watch_interval, stop=stop, cancel=cancel, on_update=updated,
                  progress=progress)

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
        loop = asyncio.get_running_loop()

        def shut() -> None:
            self._queries.shutdown(wait=True, cancel_futures=True)
            self._jobs.shutdown(wait=True, cancel_futures=True)
            with self._open_lock:
                if self._lib is not None:
                    self._lib.close()
                    self._lib = None
        await loop.run_in_executor(None, shut)
