"""`app.photos`: the profile's photo index and its watched folders, for the CLI and the GUI alike.

Photos need no account: this service reads only the profile folder (`<home>/photos/`)
and the profile's preferences (`photos.folders`, a JSON list of absolute folders), so
`kbapp photos watch` watches the folders set in the app's Settings and the GUI shows
what `kbapp photos folders add` set (in a process started after the change: each one
reads the list when it starts watching).

`PhotoLibrary` (kbapp/ml/library.py) is synchronous and thread-safe but slow to open
(numpy, onnxruntime) and its jobs are long. So it is opened lazily, in a worker, and
every call runs in one of two single-thread executors: the long job (index, watch,
forgetting a folder) and the short queries (search, tags, ...), so a search answers
while a thousand photos are being indexed. Importing this module loads no ML package:
the GUI window imports it at start-up (tests/gui/test_without_ml.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from kbapp.core import errors
from kbapp.ml.threads import lower_thread_priority

log = logging.getLogger(__name__)

PREF_PHOTO_FOLDERS = "photos.folders"      # JSON list of absolute folder paths


class DictPrefs:
    """Preferences kept in memory (benchmarks, tests without a profile); `App` has the same two methods."""

    def __init__(self):
        self.values: dict[str, str] = {}

    def preference(self, key: str, default: str | None = None) -> str | None:
        return self.values.get(key, default)

    def set_preference(self, key: str, value: str) -> None:
        self.values[key] = value


def _norm(folder: str | Path) -> str:
    return str(Path(folder).expanduser().resolve())


class PhotoService:
    """The profile's `PhotoLibrary` behind two worker threads, and the watched-folders preference."""

    def __init__(self, home: Path, prefs, *, library_factory: Callable[[Path], object] | None = None):
        self.home = Path(home)
        self.prefs = prefs                 # `preference(key, default)` / `set_preference(key, value)`
        self._factory = library_factory    # tests: a library with a stub analyzer
        self.models_dir: Path | None = None
        self.ocr = False
        self.last_note: str | None = None  # the last search's note on a multi-word query (ml/multiword.py)
        # The GUI sets this so that both threads yield the CPU to the GUI thread (onnxruntime's
        # own threads inherit it); the CLI keeps full speed. Read when the threads are made.
        self.background = False
        self.provider: str | None = None   # the ML execution provider, once the models are loaded
        self.closed = False
        self._lib = None
        self._open_lock = threading.Lock()
        self._pools: dict[str, ThreadPoolExecutor] = {}

    def configure(self, *, models_dir: Path | None = None, ocr: bool = False) -> None:
        """Model options for the library (`--models-dir`, `--ocr`): before it is opened."""
        if self._lib is not None and (models_dir != self.models_dir or ocr != self.ocr):
            raise errors.Conflict("the photo library is already open with other model options")
        self.models_dir, self.ocr = models_dir, ocr

    # -- the library and its threads ---------------------------------------------------------

    def library(self):
        """The open library, opened on first use: call it in a worker thread, never on the loop."""
        with self._open_lock:
            if self.closed:
                raise errors.Cancelled("the photo library is closed")
            if self._lib is None:
                if self._factory is not None:
                    self._lib = self._factory(self.home)
                else:
                    from kbapp.ml.library import PhotoLibrary   # numpy, onnxruntime: here, in the worker
                    self._lib = PhotoLibrary.open(self.home, models_dir=self.models_dir, ocr=self.ocr)
            return self._lib

    def _pool(self, which: str) -> ThreadPoolExecutor:
        with self._open_lock:
            if self.closed:
                raise errors.Cancelled("the photo library is closed")
            pool = self._pools.get(which)
            if pool is None:
                pool = self._pools[which] = ThreadPoolExecutor(
                    1, thread_name_prefix=f"kbapp-photos-{which}",
                    initializer=lower_thread_priority if self.background else None)
            return pool

    async def _on(self, which: str, fn: Callable[[object], object]):
        return await asyncio.get_running_loop().run_in_executor(self._pool(which), lambda: fn(self.library()))

    async def _query(self, fn):
        return await self._on("q", fn)

    async def _job(self, fn):
        return await self._on("index", fn)

    def _models_loaded(self, lib) -> str:
        """Load the models (in the calling worker) and note the provider onnxruntime really uses."""
        self.provider = lib.analyzer.provider
        return self.provider

    # -- queries (the query thread) -------------------------------------------------------------

    async def search(self, text: str | None = None, *, like: Path | None = None, nsfw: str = "include",
                     folder: Path | None = None, since: str | None = None, until: str | None = None,
                     limit: int = 20) -> list:
        return (await self.search_counted(text, like=like, nsfw=nsfw, folder=folder, since=since,
                                          until=until, limit=limit))[0]

    async def search_counted(self, text: str | None = None, *, like: Path | None = None,
                             **kw) -> tuple[list, int | None]:
        """Hits and how many photos matched before `limit` (None for a similarity search)."""
        def run(lib):
            hits = lib.search(text, like=like, **kw)
            total = getattr(lib, "last_total", None)   # read in the same thread, right after
            self.last_note = getattr(lib, "last_note", None)   # how a multi-word query was read
            if text or like:   # the models are loaded now
                self._models_loaded(lib)
            return hits, total
        return await self._query(run)

    async def similar(self, path: Path, *, nsfw: str = "include", limit: int = 20, include_self: bool = False):
        return await self._query(lambda lib: lib.similar(Path(path), limit=limit, nsfw=nsfw,
                                                         include_self=include_self))

    async def tags(self, path: Path):
        return await self._query(lambda lib: lib.tags(Path(path)))

    async def photos_at(self, paths) -> dict:
        """str(path) -> Hit (top tags, NSFW score, origin) for those of `paths` that are indexed;
        no analysis of the others (the chat timeline asks this for the previews it shows)."""
        def run(lib):
            return {str(p): h for p in paths if (h := lib.photo(Path(p))) is not None}
        return await self._query(run)

    async def known_tags(self, limit: int = 2000) -> list[tuple[str, int]]:
        return await self._query(lambda lib: lib.known_tags(limit=limit))

    async def count(self) -> int:
        return await self._query(lambda lib: lib.count())

    async def dupes(self, threshold: float | None = None) -> list:
        return await self._query(lambda lib: lib.dupes() if threshold is None else lib.dupes(threshold=threshold))

    async def dupe_hits(self) -> tuple[list, int]:
        """Near-duplicate groups as hits, group after group (for a grid); and how many groups."""
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

    async def load_models(self) -> str:
        """Load the models in the query thread; the provider onnxruntime really uses."""
        return await self._query(self._models_loaded)

    async def concept_add(self, name: str, positives=(), negatives=()):
        return await self._query(lambda lib: lib.concept_add(name, positives, negatives))

    async def concept_train(self, name: str):
        return await self._query(lambda lib: lib.concept_train(name))

    async def concepts(self) -> list:
        return await self._query(lambda lib: lib.concepts())

    async def concept_remove(self, name: str) -> bool:
        return await self._query(lambda lib: lib.concept_remove(name))

    # -- the watched folders ------------------------------------------------------------------

    def folders(self) -> list[str]:
        """The watched folders (the preference; untrusted text: anything but a list of strings is dropped)."""
        raw = self.prefs.preference(PREF_PHOTO_FOLDERS, "[]") or "[]"
        try:
            value = json.loads(raw)
        except ValueError:
            log.warning("photo folders preference is not JSON: ignored")
            return []
        if not isinstance(value, list):
            return []
        return [v for v in value if isinstance(v, str) and v]

    def set_folders(self, folders: list[str | Path]) -> list[str]:
        """Save the list (absolute, resolved, without repeats); returns what was saved."""
        clean: list[str] = []
        for f in folders:
            p = _norm(f)
            if p not in clean:
                clean.append(p)
        self.prefs.set_preference(PREF_PHOTO_FOLDERS, json.dumps(clean))
        return clean

    def add_folder(self, folder: str | Path) -> list[str]:
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise errors.NotFound(f"{path} is not a folder")
        return self.set_folders(self.folders() + [str(path)])

    def unwatch(self, folder: str | Path) -> str | None:
        """Drop `folder` from the list (its photos stay indexed); the entry removed, or None if not watched."""
        current = self.folders()
        wanted = {str(folder), _norm(folder)}
        gone = next((f for f in current if f in wanted), None)
        if gone is not None:
            self.set_folders([f for f in current if f != gone])
        return gone

    async def forget_folder(self, folder: str | Path) -> int:
        """Drop the photos under `folder` from the index in one transaction (the files stay); how many.

        Photos that a still-watched folder covers stay. Runs in the job thread: a watcher of this
        service must be stopped first (it would hold the thread, and could index them again)."""
        keep = [Path(f) for f in self.folders()]
        return await self._job(lambda lib: lib.forget_folder(Path(folder), keep=keep))

    async def remove_folder(self, folder: str | Path, *, forget: bool = False) -> int:
        """Stop watching `folder`; with `forget`, also drop its photos. Returns how many were dropped."""
        if self.unwatch(folder) is None:
            raise errors.NotFound(f"{folder} is not a watched photo folder")
        return await self.forget_folder(folder) if forget else 0

    def watched(self) -> tuple[list[Path], list[str]]:
        """The watched folders that exist now, and those that do not (unplugged, deleted)."""
        present, missing = [], []
        for f in self.folders():
            if Path(f).is_dir():
                present.append(Path(f))
            else:
                missing.append(f)
        return present, missing

    # -- indexing and watching (the job thread) ----------------------------------------------------

    async def index(self, folders: list[Path], *, progress=None, cancel: threading.Event | None = None,
                    follow_symlinks: bool = False, on_provider: Callable[[str], None] | None = None):
        """One incremental pass over `folders`; `on_provider` (called in the worker): load the models first."""
        def run(lib):
            if on_provider is not None:
                on_provider(self._models_loaded(lib))
            return lib.index([Path(f) for f in folders], progress=progress, cancel=cancel,
                             follow_symlinks=follow_symlinks)
        return await self._job(run)

    async def watch(self, folders: list[Path] | None = None, *, stop: threading.Event,
                    cancel: threading.Event | None = None, interval: float = 2.0, on_update=None, progress=None,
                    follow_symlinks: bool = False, on_provider: Callable[[str], None] | None = None) -> None:
        """Index, then re-index on file-system events until `stop` (see `PhotoLibrary.watch`).

        `folders` None: the watched folders that exist now (NotFound when there is none)."""
        if folders is None:
            folders, _missing = self.watched()
            if not folders:
                raise errors.NotFound("no photo folders to watch: add one in the app's Settings or with "
                                      "`kbapp photos folders add DIR`")

        def run(lib):
            if on_provider is not None:
                on_provider(self._models_loaded(lib))
            if stop.is_set():
                return
            lib.watch([Path(f) for f in folders], interval=interval, stop=stop, cancel=cancel,
                      on_update=on_update, progress=progress, follow_symlinks=follow_symlinks)
        await self._job(run)

    # -- life cycle -----------------------------------------------------------------------------

    async def close(self) -> None:
        """Let the workers finish (stop a watcher first), then close the library; off the loop."""
        with self._open_lock:
            if self.closed:
                return
            self.closed = True
            pools = list(self._pools.values())

        def shut() -> None:
            for pool in pools:
                pool.shutdown(wait=True, cancel_futures=True)
            with self._open_lock:
                lib, self._lib = self._lib, None
            if lib is not None:
                lib.close()
        if pools or self._lib is not None:
            await asyncio.get_running_loop().run_in_executor(None, shut)
