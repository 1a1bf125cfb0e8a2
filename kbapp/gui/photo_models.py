"""Item models of the Photos page, and the thumbnail cache behind the grid.

Thumbnails are made lazily: the grid model asks for one the first time a view
paints its row, a worker thread decodes the photo with the pipeline's own loader
(the same size and pixel limits, EXIF rotation, every mode to RGB) and writes a
256-pixel JPEG under the profile (`<home>/thumbs/<sha256>-256.jpg`, keyed by the
file's content, so copies share one and an edited photo gets a new one). A
sensitive photo (NSFW band "review" or "nsfw") gets a second, blurred file
(`-256-blur.jpg`): the blur is baked into the pixels, so what is drawn is never
the clear picture until the user reveals that photo. Until a thumbnail is ready
the row shows a placeholder; `dataChanged` repaints it when it arrives.

Workers touch no QObject: the cache (and the page and window that own it) can be
deleted while a worker is still decoding, and a worker emitting a signal into a
QObject being destroyed on the GUI thread crashes the process. A worker is a plain
function holding plain values; it leaves its QImage (not a QObject, safe to make
off the GUI thread) on a queue that the cache's timer drains on the GUI thread.
When the cache closes or is destroyed, the queued work is cancelled and whatever a
worker still finishes lands on a queue nobody reads.
"""

from __future__ import annotations

import io
import logging
import os
import queue
import threading
import weakref
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import shiboken6
from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap

from kbapp.core import errors
from kbapp.ml.bands import band
from kbapp.ml.threads import lower_thread_priority

from .plain import plain_tip   # file names and tags are anyone's text


log = logging.getLogger(__name__)

_Index = QModelIndex | QPersistentModelIndex
THUMB_SIZE = 256
BLUR_RADIUS = 14
SENSITIVE = ("review", "nsfw")

PathRole = Qt.UserRole + 1        # the photo's path (str)
HitRole = Qt.UserRole + 2         # the library's Hit
BandRole = Qt.UserRole + 3        # "safe" / "review" / "nsfw" / None
BlurredRole = Qt.UserRole + 4     # True while the tile is drawn blurred
StateRole = Qt.UserRole + 5       # thumbnail state: "pending", "ready", "failed"
TagRole = Qt.UserRole + 6         # chips: the tag name
ScoreRole = Qt.UserRole + 7       # chips: the tag's score


def is_sensitive(nsfw: float | None) -> bool:
    return band(nsfw) in SENSITIVE


def thumb_paths(cache_dir: Path, sha256: str) -> tuple[Path, Path]:
    return cache_dir / f"{sha256}-{THUMB_SIZE}.jpg", cache_dir / f"{sha256}-{THUMB_SIZE}-blur.jpg"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{threading.get_native_id()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def make_thumbnail(path: Path, cache_dir: Path, *, blurred: bool) -> tuple[str, bytes]:
    """(sha256, JPEG bytes) of a photo's thumbnail, blurred or not; made and cached if missing.

    Runs in a worker thread. Raises a typed `ImageError` for a file that cannot be shown.
    """
    from PIL import Image, ImageFilter

    from kbapp.ml.imaging import file_sha256, load_image

    data_path = Path(path)
    try:
        sha = file_sha256(data_path.read_bytes())
    except OSError as e:
        raise errors.ImageError(f"{data_path.name}: cannot read ({e.strerror or e})") from e
    clear, blur = thumb_paths(cache_dir, sha)
    want = blur if blurred else clear
    if want.is_file():
        try:
            return sha, want.read_bytes()
        except OSError:
            pass
    cache_dir.mkdir(parents=True, exist_ok=True)
    if clear.is_file():
        im = Image.open(io.BytesIO(clear.read_bytes()))
        im.load()
    else:
        d = load_image(data_path, min_side=THUMB_SIZE)
        im = d.image
        im.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=85)
        _write_atomic(clear, buf.getvalue())
        if not blurred:
            return sha, buf.getvalue()
    if not blurred:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=85)
        return sha, buf.getvalue()
    soft = im.convert("RGB").filter(ImageFilter.GaussianBlur(BLUR_RADIUS))
    buf = io.BytesIO()
    soft.save(buf, "JPEG", quality=80)
    _write_atomic(blur, buf.getvalue())
    return sha, buf.getvalue()


def _thumbnail_job(cache_dir: Path, path: str, blurred: bool, out: queue.SimpleQueue,
                   cancelled: threading.Event) -> None:
    """A worker's whole job: plain values in, (path, blurred, QImage or None, error) out on `out`."""
    if cancelled.is_set():
        return
    try:
        _, jpeg = make_thumbnail(Path(path), cache_dir, blurred=blurred)
        img = QImage.fromData(jpeg, "JPG")   # QImage (not QPixmap) is safe off the GUI thread
        if img.isNull():
            raise errors.ImageError(f"{Path(path).name}: thumbnail did not decode")
        out.put((path, blurred, img, ""))
    except errors.KbappError as e:
        out.put((path, blurred, None, str(e)))
    except Exception as e:  # noqa: BLE001 - a hostile file must not take the pool down
        log.warning("thumbnail of %s failed: %s: %s", path, type(e).__name__, e)
        out.put((path, blurred, None, f"{type(e).__name__}: {e}"))


def _stop_workers(pool: ThreadPoolExecutor, cancelled: threading.Event) -> None:
    """Drop the queued jobs; the running ones finish on their own (they touch no QObject)."""
    cancelled.set()
    pool.shutdown(wait=False, cancel_futures=True)


class ThumbnailCache(QObject):
    """Thumbnails on disk and in memory; made in a thread pool, announced with `ready`."""

    ready = Signal(str, bool)       # path, blurred
    failed = Signal(str, str)       # path, reason
    DRAIN_MS = 15                   # how often finished thumbnails are collected while some are pending
    DRAIN_MAX = 64                  # at most this many per tick: the GUI thread stays responsive

    def __init__(self, cache_dir: Path, *, workers: int = 2, memory: int = 1500, parent: QObject | None = None):
        super().__init__(parent)
        self.dir = Path(cache_dir)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="kbapp-thumbs", initializer=lower_thread_priority)
        self._results: queue.SimpleQueue = queue.SimpleQueue()
        self._cancelled = threading.Event()
        self._mem: OrderedDict[tuple[str, bool], QPixmap] = OrderedDict()
        self._memory = memory
        self._pending: set[tuple[str, bool]] = set()
        self._failed: dict[str, str] = {}
        self.made = 0
        self.closed = False
        self._timer = QTimer(self)
        self._timer.setInterval(self.DRAIN_MS)
        self._timer.timeout.connect(self._drain)
        # Dropped with its window without close(): stop the workers all the same (the
        # finalizer holds the pool and the flag, not this object). A Python finalizer, not a
        # slot on `destroyed`: Qt calling Python from inside an object's destruction crashed
        # the GUI suite (segfault at _stop_workers' entry).
        weakref.finalize(self, _stop_workers, self._pool, self._cancelled)

    def get(self, path: str, blurred: bool) -> QPixmap | None:
        """The pixmap if ready; otherwise None, and a worker is asked to make it."""
        key = (path, blurred)
        pm = self._mem.get(key)
        if pm is not None:
            self._mem.move_to_end(key)
            return pm
        if key not in self._pending and path not in self._failed and not self.closed:
            if self._cancelled.is_set() or not shiboken6.isValid(self._timer):   # destroyed without close()
                self.closed = True
                return None
            self._pending.add(key)
            self._pool.submit(_thumbnail_job, self.dir, path, blurred, self._results, self._cancelled)
            if not self._timer.isActive():
                self._timer.start()
        return None

    def failed_reason(self, path: str) -> str | None:
        return self._failed.get(path)

    def pending(self) -> int:
        return len(self._pending)

    def _drain(self) -> None:
        """On the GUI thread: take in what the workers finished."""
        for _ in range(self.DRAIN_MAX):
            try:
                item = self._results.get_nowait()
            except queue.Empty:
                break
            if self.closed:
                continue
            self._arrived(*item)
        if self.closed or (not self._pending and self._results.empty()):
            self._timer.stop()

    def _arrived(self, path: str, blurred: bool, img, error: str) -> None:
        self._pending.discard((path, blurred))
        if img is None:
            self._failed[path] = error
            self.failed.emit(path, error)
            return
        self._mem[(path, blurred)] = QPixmap.fromImage(img)
        self.made += 1
        while len(self._mem) > self._memory:
            self._mem.popitem(last=False)
        self.ready.emit(path, blurred)

    def close(self) -> None:
        """No more thumbnails; safe to call after the cache was destroyed with its page."""
        self.closed = True
        if shiboken6.isValid(self._timer):
            self._timer.stop()
        _stop_workers(self._pool, self._cancelled)


@dataclass
class PhotoItem:
    hit: object                       # kbapp.ml.library.Hit
    revealed: bool = False
    extra: dict = field(default_factory=dict)
    cleared: bool = False             # the user said "not sensitive" (remembered by the photo service)

    @property
    def path(self) -> str:
        return self.hit.path

    @property
    def key(self) -> str:
        """What a "not sensitive" correction is remembered by: the content (a copy elsewhere is the
        same photo), or the path when the index has no hash for it."""
        sha = getattr(self.hit, "sha256", None)
        return f"sha256:{sha}" if sha else self.hit.path

    @property
    def flagged(self) -> bool:
        """What the NSFW model says, whatever the user corrected."""
        return is_sensitive(self.hit.nsfw)

    @property
    def sensitive(self) -> bool:
        return self.flagged and not self.cleared

    @property
    def blurred(self) -> bool:
        return self.sensitive and not self.revealed


class PhotoGridModel(QAbstractListModel):
    """Search hits (or the newest photos) for the grid: file name, thumbnail, tags, NSFW band."""

    def __init__(self, thumbs: ThumbnailCache, placeholder: QPixmap | None = None, parent=None):
        super().__init__(parent)
        self.thumbs = thumbs
        self.items: list[PhotoItem] = []
        self._rows: dict[str, list[int]] = {}
        self._revealed: set[str] = set()     # revealed stays revealed across searches, for this session
        self.cleared: set[str] = set()       # "not sensitive" corrections (the page loads them)
        self.placeholder = placeholder or QPixmap()
        self.broken = QPixmap()
        thumbs.ready.connect(self._thumb_changed)
        thumbs.failed.connect(lambda path, _why: self._thumb_changed(path, False))

    def set_hits(self, hits) -> None:
        self.beginResetModel()
        self.items = [PhotoItem(h, revealed=h.path in self._revealed) for h in hits]
        for it in self.items:
            it.cleared = it.key in self.cleared or it.path in self.cleared   # a path: an older correction
        self._rows = {}
        for i, it in enumerate(self.items):
            self._rows.setdefault(it.path, []).append(i)
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.items)

    def row_of(self, path: str) -> int:
        rows = self._rows.get(path)
        return rows[0] if rows else -1

    def item(self, row: int) -> PhotoItem | None:
        return self.items[row] if 0 <= row < len(self.items) else None

    def reveal(self, row: int, on: bool = True) -> None:
        it = self.item(row)
        if it is None or not it.sensitive or it.revealed == on:
            return
        (self._revealed.add if on else self._revealed.discard)(it.path)
        for r in self._rows.get(it.path, []):
            self.items[r].revealed = on
            ix = self.index(r)
            self.dataChanged.emit(ix, ix, [Qt.DecorationRole, BlurredRole])

    def set_cleared(self, path: str, on: bool) -> str:
        """Mark a photo not sensitive (or flagged again), by its content: every tile of that content
        (copies included) redraws clear or blurred. Returns the key the correction is kept under."""
        rows = self._rows.get(path, [])
        key = self.items[rows[0]].key if rows else path
        (self.cleared.add if on else self.cleared.discard)(key)
        if not on:
            self.cleared.discard(path)    # an older correction by path goes too
        for r, it in enumerate(self.items):
            if it.key == key or it.path == path:
                it.cleared = on
                ix = self.index(r)
                self.dataChanged.emit(ix, ix, [Qt.DecorationRole, BlurredRole])
        return key

    def _thumb_changed(self, path: str, _blurred: bool) -> None:
        for r in self._rows.get(path, []):
            ix = self.index(r)
            self.dataChanged.emit(ix, ix, [Qt.DecorationRole, StateRole])

    def thumbnail(self, row: int) -> QPixmap | None:
        it = self.item(row)
        return None if it is None else self.thumbs.get(it.path, it.blurred)

    def data(self, index: _Index, role: int = Qt.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.items):
            return None
        it = self.items[index.row()]
        h = it.hit
        if role == Qt.DisplayRole:
            return Path(h.path).name
        if role == Qt.DecorationRole:
            pm = self.thumbs.get(it.path, it.blurred)
            if pm is not None:
                return pm
            return self.broken if self.thumbs.failed_reason(it.path) else self.placeholder
        if role == Qt.ToolTipRole:
            lines = [h.path]
            if h.tags:
                lines.append(", ".join(h.tags[:5]))
            lines += [w for w in h.why if w.startswith(("near-duplicates", "similarity"))]
            if it.blurred:
                lines.append("May be sensitive: click to show")
            return plain_tip("\n".join(lines))
        if role == Qt.AccessibleTextRole:
            return Path(h.path).name + (" (sensitive, hidden)" if it.blurred else "")
        if role == PathRole:
            return h.path
        if role == HitRole:
            return h
        if role == BandRole:
            return band(h.nsfw)
        if role == BlurredRole:
            return it.blurred
        if role == StateRole:
            if self.thumbs.failed_reason(it.path):
                return "failed"
            return "ready" if (it.path, it.blurred) in self.thumbs._mem else "pending"
        return None


class TagChipModel(QAbstractListModel):
    """The tags of the selected photo, best first: one chip each."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tags: list[tuple[str, float, str]] = []

    def set_tags(self, tags) -> None:
        self.beginResetModel()
        self.tags = [(str(t), float(s), str(src)) for t, s, src in tags]
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.tags)

    def data(self, index: _Index, role: int = Qt.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.tags):
            return None
        tag, score, source = self.tags[index.row()]
        if role in (Qt.DisplayRole, TagRole, Qt.AccessibleTextRole):
            return tag
        if role == Qt.ToolTipRole:
            kind = "your concept" if source == "concept" else "model"
            return plain_tip(f"{tag}: {score:.0%} ({kind}). Click to search for it.")
        if role == ScoreRole:
            return score
        return None
