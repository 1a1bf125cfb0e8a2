"""Thumbnails and photo-library tags for the image rows of the Files list.

A thumbnail is asked for only when the view paints its row (the model's decoration role),
newest ask first, at most `MAX_WAITING` waiting (a fast scroll does not queue a 10,000-row
backlog). The file's bytes come from the engine (verified, decrypted) and are decoded by
chat's `decode` in one low-priority worker thread: the header is read first and an image
with a side over `MAX_SIDE` is refused before any pixel is decoded (a decompression bomb),
(picture.py: chat's Pillow `decode`, or Qt's reader without Pillow)
a corrupt or hostile file gives the generic icon, never an exception on the Qt thread.
Pixmaps are kept in memory only (a bounded LRU): no decrypted thumbnail is written to disk.

Tags and NSFW scores come from the photo library, which knows a folder's images through the
engine's hand-off (client/fs/photos.py: a preview per file, indexed with the folder as its
origin); they are asked for again when the engine says it indexed more
(`FolderImagesIndexed`). A sensitive image (band "review"/"nsfw"), or another writer's image
not yet checked while this profile has a photo index, is decoded blurred, as chat does.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import shiboken6
from PySide6.QtCore import QObject, QSize, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QApplication, QStyle

from kbapp.core import errors
from kbapp.ml.bands import band
from kbapp.ml.threads import lower_thread_priority

from ... import ops
from .picture import decode
from .preview import IMAGE_EXT

log = logging.getLogger(__name__)

THUMB = 32                   # px: the list's icon size
MAX_BYTES = 24 << 20         # a bigger image file keeps the generic icon (it is not read for a thumbnail)
MAX_SIDE = 8192              # px: refused from the header above this (a decompression bomb)
MAX_WAITING = 64             # asks kept; older ones (scrolled past) are dropped
MEMORY = 600                 # pixmaps kept (32 px each: a few MB at most)


@dataclass(frozen=True)
class ImageTags:
    """What the photo library says of one image row."""

    tags: tuple = ()
    sensitive: bool = False


def sensitive(hit, unchecked: bool) -> bool:
    """Blurred: flagged by the NSFW model, or not yet checked where checking is on."""
    return unchecked or (hit is not None and band(getattr(hit, "nsfw", None)) in ("review", "nsfw"))


def is_image(row: dict) -> bool:
    return row.get("type") != "dir" and str(row.get("name", "")).lower().endswith(IMAGE_EXT)


async def library_tags(app, folder: str, dir_path: str, rows: list[dict], me: str) -> dict[str, ImageTags]:
    """name -> ImageTags for the image rows of `dir_path`, from the photo library (off the Qt
    thread). No photo index in this profile: nothing (and nothing is blurred for it)."""
    from kbapp.client.fs import photos as fs_photos
    from kbapp.ml.library import index_path

    photos = getattr(app, "photos", None)
    names = {f"{dir_path.rstrip('/')}/{r['name']}": r for r in rows if is_image(r)}
    if photos is None or not names or not await asyncio.to_thread(index_path(app.home).exists):
        return {}
    previews = await fs_photos.previews_of(app.files, folder, list(names))
    hits = {}
    if previews:
        try:
            hits = await photos.photos_at(list(previews.values()))
        except errors.KbappError as e:          # a closed or broken library: the thumbnails still show
            log.info("files: photo library: %s", e)
    out = {}
    for p, r in names.items():
        q = previews.get(p)
        hit = hits.get(str(q)) if q is not None else None
        unchecked = hit is None and bool(r.get("writer")) and r.get("writer") != me
        out[str(r["name"])] = ImageTags(tuple(hit.tags) if hit is not None else (), sensitive(hit, unchecked))
    return out


class FileImages(QObject):
    """The open directory's thumbnails and tags, for `EntriesModel` (icon, tags) and the preview."""

    changed = Signal(str)            # a row's thumbnail is ready (its name)
    tagged = Signal()                # the tags of the open directory were (re)read

    def __init__(self, app, parent=None):
        super().__init__(parent)
        self.app = app
        self.dir_path = ""
        self.rev: int | None = None
        self.folder = ""
        self.info: dict[str, ImageTags] = {}
        self._mem: OrderedDict[tuple, QPixmap] = OrderedDict()
        self._failed: set[tuple] = set()
        self._want: OrderedDict[tuple, tuple] = OrderedDict()
        self._pump_task: asyncio.Task | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="kbapp-files-thumbs", initializer=lower_thread_priority)
        self.made = 0                    # thumbnails decoded (tests)
        style = QApplication.style()
        self.dir_icon = style.standardIcon(QStyle.SP_DirIcon)
        self.file_icon = style.standardIcon(QStyle.SP_FileIcon)
        self.destroyed.connect(lambda *_: self._pool.shutdown(wait=False, cancel_futures=True))

    # -- the directory ----------------------------------------------------------------------

    def open(self, folder: str, dir_path: str, rev: int | None) -> None:
        if (folder, dir_path, rev) != (self.folder, self.dir_path, self.rev):
            self.folder, self.dir_path, self.rev = folder, dir_path, rev
            self._want.clear()
            if self.info:
                self.info = {}
                self.tagged.emit()           # another directory: its own tags (the column hides meanwhile)

    def read_tags(self, rows: list[dict]) -> None:
        """Ask the photo library about the image rows (after a listing, after an index pass)."""
        if not any(is_image(r) for r in rows):
            if self.info:
                self.info = {}
                self.tagged.emit()
            return
        me = self.app.ctx.require_login()[0]
        folder, path = self.folder, self.dir_path
        ops.run(self.parent(), lambda: library_tags(self.app, folder, path, rows, me), key="image-tags",
                clear=False, cursor=False, on_done=lambda got, p=path: self._tags(p, got),
                on_error=lambda e: log.info("files: tags: %s", e))

    def _tags(self, path: str, got: dict) -> None:
        if path == self.dir_path and got != self.info:
            self.info = got
            self.tagged.emit()

    def tags_of(self, name: str) -> tuple:
        i = self.info.get(name)
        return i.tags if i is not None else ()

    def is_sensitive(self, name: str) -> bool:
        i = self.info.get(name)
        return i is not None and i.sensitive

    # -- thumbnails ---------------------------------------------------------------------------

    def icon(self, row: dict):
        """The row's decoration: a folder, a file, or the image's thumbnail once decoded (asked
        for here: the view asks only for the rows it paints)."""
        if row.get("type") == "dir":
            return self.dir_icon
        if not is_image(row) or int(row.get("size") or 0) > MAX_BYTES or not self.dir_path:
            return self.file_icon
        name = str(row["name"])
        key = (f"{self.dir_path.rstrip('/')}/{name}", self.rev, row.get("size"), row.get("mtime"),
               self.is_sensitive(name))
        pm = self._mem.get(key)
        if pm is not None:
            self._mem.move_to_end(key)
            return pm
        if key not in self._failed and key not in self._want:
            self._want[key] = (name,)
            while len(self._want) > MAX_WAITING:
                self._want.popitem(last=False)
            if self._pump_task is None or self._pump_task.done():
                self._pump_task = asyncio.ensure_future(self._pump())
        return self.file_icon

    def failed(self, name: str) -> bool:
        return any(k[0].rsplit("/", 1)[-1] == name for k in self._failed)

    async def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        while self._want and shiboken6.isValid(self):
            key, (name,) = self._want.popitem(last=True)          # the newest ask first
            path, rev, _size, _mtime, blurred = key
            try:
                data = await self.app.files.read(path, rev=rev)
                img = await loop.run_in_executor(self._pool, decode, data, blurred, (THUMB, THUMB), MAX_SIDE)
            except Exception as e:  # noqa: BLE001 - a hostile image must not stop the others
                if not shiboken6.isValid(self):
                    return
                self._failed.add(key)
                log.info("files thumbnail %s: %s", name, f"{type(e).__name__}: {e}")
            else:
                if not shiboken6.isValid(self):
                    return
                self._mem[key] = QPixmap.fromImage(img)
                self.made += 1
                while len(self._mem) > MEMORY:
                    self._mem.popitem(last=False)
            if path.rsplit("/", 1)[0] == self.dir_path.rstrip("/"):
                self.changed.emit(name)

    @staticmethod
    def size() -> QSize:
        return QSize(THUMB, THUMB)


def attach(page, bridge) -> FileImages:
    """Wire thumbnails and tags into the Files page: its model's icons and Tags column (hidden
    while no row has tags), its preview's tags, and the engine's `FolderImagesIndexed`."""
    from kbapp.client.fs.events import FolderImagesIndexed

    from .models import TAGS

    images = FileImages(page.app, page)
    page.model.images = images
    page.preview.images = images
    page.list.setIconSize(images.size())
    page.list.setColumnHidden(TAGS, True)
    images.changed.connect(page.model.icon_ready)

    def tagged() -> None:
        page.model.tags_changed()
        page.list.setColumnHidden(TAGS, not any(i.tags for i in images.info.values()))
        page.list.fit_tags()
        page.preview.show_tags()

    def indexed(ev) -> None:
        if ev.folder == page.folder and page.rev is None:
            images.read_tags(page.model.rows)
    images.tagged.connect(tagged)
    bridge.listen(FolderImagesIndexed, indexed, owner=page)
    return images
