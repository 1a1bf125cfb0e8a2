"""Watching folders: re-index them whenever their files change (file-system events, or polling
for network drives and FUSE mounts). A mixin of PhotoLibrary (ml/library.py)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Iterable

from kbapp.ml.files import walk_images
from kbapp.ml.library_types import IndexProgress, IndexSummary


class Watching:
    def watch(self, roots: Iterable[Path], *, interval: float = 2.0, stop: threading.Event | None = None,
              cancel: threading.Event | None = None,
              on_update: Callable[[IndexSummary], None] | None = None,
              progress: Callable[[IndexProgress], None] | None = None, follow_symlinks: bool = False,
              force_polling: bool | None = None) -> None:
        """Re-index `roots` whenever their files change, until `stop` is set (Ctrl-C in the CLI).

        `stop` ends the watcher (and the pass it runs); `cancel` ends only the running pass
        (its summary says `cancelled`) and watching goes on: `cancel` is cleared when each
        pass starts, and the next change starts a new pass, which also picks up what the
        cancelled one left.

        File-system events (watchfiles: inotify, FSEvents, ReadDirectoryChangesW), so an
        idle library costs nothing; `force_polling` (or WATCHFILES_FORCE_POLLING) for network
        drives and FUSE mounts (a KBFS folder), where events are unreliable. A pass starts
        once the folders have been quiet for `interval` seconds and their files differ from
        what the last pass saw (one `stat` per file then), so a half-copied file is not read.
        A full `index` runs first; what changed while it ran is caught by the first check.
        """
        from watchfiles import watch as fs_events

        roots = [Path(r).resolve() for r in roots]
        stop = stop or threading.Event()
        cancel = cancel or threading.Event()
        either = _EitherEvent(stop, cancel)

        def one_pass() -> IndexSummary:
            cancel.clear()
            return self.index(roots, progress=progress, cancel=either, follow_symlinks=follow_symlinks)

        def snapshot():
            return {p: (st.st_size, st.st_mtime_ns)
                    for p, st in walk_images(roots, follow_symlinks=follow_symlinks).items()}

        # taken before the pass: a file that arrives while it runs is a change for the next check
        indexed = snapshot()
        summary = one_pass()
        if on_update:
            on_update(summary)
        quiet_ms = max(50, int(interval * 1000))
        dirty = True                     # check once after the first pass
        present = [r for r in roots if r.exists()]
        if not present:                  # nothing to watch (a folder unplugged): wait for stop
            stop.wait()
            return
        for changes in fs_events(*present, stop_event=stop, rust_timeout=quiet_ms,
                                 yield_on_timeout=True, debounce=quiet_ms, force_polling=force_polling,
                                 raise_interrupt=False):
            if stop.is_set():
                break
            if changes:
                dirty = True             # still moving: wait for a quiet period
                continue
            if not dirty:
                continue
            dirty = False
            now = snapshot()
            if now != indexed:
                indexed = now
                summary = one_pass()
                if on_update:
                    on_update(summary)


class _EitherEvent:
    """Set when either event is: what `index` polls while `watch` runs it (stop or cancel)."""

    def __init__(self, a: threading.Event, b: threading.Event):
        self.a, self.b = a, b

    def is_set(self) -> bool:
        return self.a.is_set() or self.b.is_set()
