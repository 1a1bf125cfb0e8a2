"""Image attachments in the timeline: the conversation's own decrypted preview, painted inline,
with the tags the photo library gave it and its NSFW band.

The engine keeps every verified image's preview in the profile (client/chat/media.py) and
hands it to the photo library with its origin; the page only reads: which previews exist
and how big they are (a header read), then their tags and NSFW score from the index, all
off the Qt thread. A sensitive image (band "review" or "nsfw") is decoded blurred in the
worker, so the clear pixels never reach the screen until the user clicks "Show"; nothing
is deleted for being flagged.

Decoding is a plain function in a thread pool leaving a QImage on a queue that a timer
drains on the Qt thread (the Photos page's ThumbnailCache pattern: workers touch no
QObject, so the page can go while one is still decoding). Nothing is written to disk:
a thumbnail file would outlive a deleted or exploded message's shredded preview.
"""

from __future__ import annotations

import asyncio
import io
import logging
import queue
import threading
import weakref
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import shiboken6
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap

from kbapp.core import errors
from kbapp.ml.bands import band
from kbapp.ml.threads import lower_thread_priority

log = logging.getLogger(__name__)

BOX_W, BOX_H = 320, 240            # an inline image fits in this box
MAX_PREVIEW_SIDE = 4096            # a "preview" bigger than this is a sender's bomb: never decoded
BLUR_RADIUS = 14


@dataclass(frozen=True)
class ImageInfo:
    """What the timeline knows of one image message; hashable (a row's height depends on it)."""

    path: str
    width: int = 0
    height: int = 0
    tags: tuple = ()
    sensitive: bool = False
    revealed: bool = False
    refused: str = ""                # why the preview is not shown (too large, unreadable)
    unchecked: bool = False          # not in the photo index yet: blurred until its NSFW score is known

    @property
    def blurred(self) -> bool:
        return self.sensitive and not self.revealed

    def box(self, max_w: int) -> tuple[int, int]:
        """The painted size: the preview scaled down to fit BOX_W x BOX_H (and the row)."""
        if self.refused or self.width < 1 or self.height < 1:
            return min(max_w, BOX_W), 60
        s = min(1.0, BOX_W / self.width, BOX_H / self.height, max_w / self.width)
        return max(1, int(self.width * s)), max(1, int(self.height * s))


def _opened(src):
    """A path as it is; bytes (the Files page's decrypted file) as a fresh in-memory file."""
    return io.BytesIO(src) if isinstance(src, (bytes, bytearray, memoryview)) else src


def probe(path, max_side: int = MAX_PREVIEW_SIDE) -> tuple[int, int, str]:
    """(width, height, refusal) of a cached preview (a path, or bytes) from its header alone
    (a worker thread)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(_opened(path)) as im:
            w, h = im.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        return 0, 0, f"the preview does not read as an image ({type(e).__name__})"
    if w > max_side or h > max_side:
        return w, h, str(errors.ImageTooLarge(f"the preview is {w}×{h}: too large to be a preview, not shown"))
    return w, h, ""


def decode(path, blurred: bool, box: tuple[int, int] = (BOX_W, BOX_H),
           max_side: int = MAX_PREVIEW_SIDE) -> QImage:
    """The preview (a path, or bytes) fitted to `box` (the inline box), blurred if asked (the
    blur is in the pixels). Refused from the header when a side is over `max_side`: a
    decompression bomb is never decoded."""
    from PIL import Image, ImageFilter

    w, h, refused = probe(path if isinstance(path, (bytes, bytearray, memoryview)) else Path(path), max_side)
    if refused:
        raise errors.ImageTooLarge(refused)
    with Image.open(_opened(path)) as im:
        im.draft("RGB", box)
        im = im.convert("RGB")
        im.thumbnail(box, Image.Resampling.LANCZOS)
        if blurred:
            im = im.filter(ImageFilter.GaussianBlur(BLUR_RADIUS))
        raw = im.tobytes("raw", "RGB")
        return QImage(raw, im.width, im.height, 3 * im.width, QImage.Format_RGB888).copy()


def _job(path: str, blurred: bool, out: queue.SimpleQueue, cancelled: threading.Event) -> None:
    if cancelled.is_set():
        return
    try:
        out.put((path, blurred, decode(path, blurred), ""))
    except Exception as e:  # noqa: BLE001 - a hostile preview must not take the pool down
        out.put((path, blurred, None, f"{type(e).__name__}: {e}"))


def _stop(pool: ThreadPoolExecutor, cancelled: threading.Event) -> None:
    cancelled.set()
    pool.shutdown(wait=False, cancel_futures=True)


class PreviewCache(QObject):
    """Decoded inline images in memory, made in a worker; `ready` when one arrives."""

    ready = Signal(str, bool)

    def __init__(self, parent: QObject | None = None, *, memory: int = 200):
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="kbapp-chat-images",
                                        initializer=lower_thread_priority)
        self._results: queue.SimpleQueue = queue.SimpleQueue()
        self._cancelled = threading.Event()
        self._mem: OrderedDict[tuple[str, bool], QPixmap] = OrderedDict()
        self._memory = memory
        self._pending: set[tuple[str, bool]] = set()
        self.failed: dict[str, str] = {}
        self.made = 0                   # images decoded (tests)
        self._timer = QTimer(self)
        self._timer.setInterval(15)
        self._timer.timeout.connect(self._drain)
        weakref.finalize(self, _stop, self._pool, self._cancelled)

    def get(self, path: str, blurred: bool) -> QPixmap | None:
        key = (path, blurred)
        pm = self._mem.get(key)
        if pm is not None:
            self._mem.move_to_end(key)
            return pm
        if key in self._pending or path in self.failed or self._cancelled.is_set():
            return None
        if not shiboken6.isValid(self._timer):
            return None
        self._pending.add(key)
        self._pool.submit(_job, path, blurred, self._results, self._cancelled)
        if not self._timer.isActive():
            self._timer.start()
        return None

    def _drain(self) -> None:
        for _ in range(16):
            try:
                path, blurred, img, error = self._results.get_nowait()
            except queue.Empty:
                break
            self._pending.discard((path, blurred))
            if img is None:
                self.failed[path] = error
                log.info("chat image %s: %s", Path(path).name, error)
            else:
                self._mem[(path, blurred)] = QPixmap.fromImage(img)
                self.made += 1
                while len(self._mem) > self._memory:
                    self._mem.popitem(last=False)
            self.ready.emit(path, blurred)
        if not self._pending and self._results.empty():
            self._timer.stop()

    def close(self) -> None:
        if shiboken6.isValid(self._timer):
            self._timer.stop()
        _stop(self._pool, self._cancelled)


# -- what the page asks the engine and the photo library -------------------------------------


def image_messages(timeline) -> list:
    """The verified image attachments of a timeline (those with a preview the engine keeps)."""
    from kbapp.client.chat.media import is_image

    return [m for m in (timeline.messages if timeline is not None else [])
            if m.type == "attachment" and m.status == "ok" and m.msg_id is not None
            and is_image((m.attachment or {}).get("mime"))]


async def image_infos(app, conv_id: str, msgs: list, revealed: set) -> dict[int, ImageInfo]:
    """msg id -> ImageInfo for the previews this device keeps: their size (a header read) and,
    from the photo index when there is one, their tags and NSFW band. Off the Qt thread."""
    from kbapp.client.chat import media
    from kbapp.ml.library import index_path

    cache = media.of(app.chat)
    paths = {m.msg_id: cache.path_of(conv_id, m.msg_id) for m in msgs}

    def sizes() -> tuple[dict[int, tuple[int, int, str]], bool]:
        for i, p in list(paths.items()):
            paths[i] = p.resolve()       # the photo index keys a file by its resolved path
        return {i: probe(p) for i, p in paths.items() if p.is_file()}, index_path(app.home).exists()

    loop = asyncio.get_running_loop()
    found, indexed = await loop.run_in_executor(None, sizes)     # file system: off the Qt thread
    hits: dict[str, object] = {}
    photos = getattr(app, "photos", None)
    library = photos is not None and indexed     # no photo index: no NSFW check here at all
    if found and library:
        try:
            hits = await photos.photos_at([paths[i] for i in found])
        except errors.KbappError as e:        # a closed or broken library: the images still show
            log.info("chat images: photo library: %s", e)
    out = {}
    for i, (w, h, refused) in found.items():
        p = str(paths[i])
        hit = hits.get(str(paths[i]))
        unchecked = library and hit is None
        sensitive = unchecked or (hit is not None and band(hit.nsfw) in ("review", "nsfw"))
        out[i] = ImageInfo(p, w, h, tuple(hit.tags) if hit is not None else (), sensitive,
                           (conv_id, i) in revealed, refused, unchecked)
    return out
