"""Images in chat: encrypted previews, the local cache, and the photo library.

* Sending an image: a 320 px JPEG preview is made in a worker thread (Pillow; EXIF turned
  into pixels, then dropped with every other metadata block: the preview says nothing the
  pixels do not) and uploaded as its own small signencrypted blob; its keys go in the
  attachment body's `preview` (core/chat/body.py), so the server sees one more blob of a
  padded size class and nothing else.
* Every image sent or received is kept as its preview in `<home>/chat-media/<conv_id>/
  <msg_id>.jpg` (0600, in the private profile) and handed to the photo library with its
  origin (conversation name, msg id, sender: ml/origins.py), so `kbapp photos search dog`
  says "from bob in acme#general (#5)". A received preview is fetched and checked chunk by
  chunk like any attachment (transfer.py), after the message itself was verified; an image
  that came without one gets a preview made here when it is downloaded.
* `sweep` removes the cached file and the photo index entry of every message that was
  deleted or exploded (sync and the exploding scrub call it).
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import tempfile
from pathlib import Path

from kbapp.core import errors
from kbapp.core.chat.body import PREVIEW_FIELDS

from . import transfer

log = logging.getLogger(__name__)

PREVIEW_PX = 320
PREVIEW_QUALITY = 80
MAX_PIXELS = 80_000_000          # no preview of a larger image (a decompression bomb is refused)
MAX_PREVIEW_BYTES = 1 << 20      # a received preview over this is not fetched
IMAGE_MIMES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp", "image/tiff"})
CACHE = "chat-media"


def make_preview(path: Path) -> tuple[bytes, int, int] | None:
    """(JPEG bytes, width, height) of a preview at most PREVIEW_PX on a side, no metadata;
    None when the file is not an image Pillow reads (it is sent as a plain file)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = im.size
            if w < 1 or h < 1 or w * h > MAX_PIXELS:
                return None
            im.draft("RGB", (PREVIEW_PX, PREVIEW_PX))          # a JPEG decodes at a fraction of its size
            im = ImageOps.exif_transpose(im).convert("RGB")
            im.thumbnail((PREVIEW_PX, PREVIEW_PX), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            im.save(out, "JPEG", quality=PREVIEW_QUALITY, optimize=True)   # no exif=, no icc_profile=: none kept
            return out.getvalue(), im.size[0], im.size[1]
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None


def is_image(mime: str | None) -> bool:
    return isinstance(mime, str) and mime in IMAGE_MIMES


class ChatMedia:
    """One ChatService's images: previews, the cache, the photo library hand-off."""

    def __init__(self, svc):
        self.svc = svc

    @property
    def root(self) -> Path:
        return Path(self.svc.ctx.home) / CACHE

    def path_of(self, conv_id: str, msg_id: int) -> Path:
        return self.root / conv_id / f"{int(msg_id)}.jpg"

    # -- sending -----------------------------------------------------------------------------

    async def preview(self, path: Path, mime: str) -> tuple[dict, bytes] | None:
        """(the body's `preview` map, the JPEG) of an image about to be sent; None otherwise."""
        if not is_image(mime):
            return None
        made = await asyncio.get_running_loop().run_in_executor(None, make_preview, Path(path))
        if made is None:
            return None
        jpeg, w, h = made
        tmp = self._write_private(self.root / "tmp", jpeg)
        try:
            ref = await transfer.upload(self.svc.ctx.api, tmp, name="preview.jpg", mime="image/jpeg",
                                        rng=self.svc.ctx.rng)
        finally:
            tmp.unlink(missing_ok=True)
        fields = ref.to_body({"width": w, "height": h})
        return {k: fields[k] for k in PREVIEW_FIELDS}, jpeg

    async def sent(self, row, msg_id: int, jpeg: bytes) -> None:
        """Our own image is in the conversation: keep its preview and index it."""
        dest = self.path_of(row.conv_id, msg_id)
        self._write_private(dest.parent, jpeg, dest)
        await self._to_library(dest, row, msg_id, self.svc.ctx.store.get("username") or "")

    # -- receiving ---------------------------------------------------------------------------

    async def received(self, row, messages) -> int:
        """Fetch the previews of newly verified image attachments (not already cached) and
        hand them to the photo library. A preview that fails its checks (a server that swapped
        or cut it) is logged and not kept: the message itself stands (its own blob is checked
        when downloaded), and a download of the image makes a preview here instead."""
        done = 0
        for m in messages:
            if m.status != "ok" or m.type != "attachment" or m.deleted_by is not None or not m.body:
                continue
            pv = m.body.get("preview")
            dest = self.path_of(row.conv_id, m.msg_id)
            if not pv or not is_image(m.body.get("mime")) or dest.exists() or pv["size"] > MAX_PREVIEW_BYTES:
                continue
            try:
                ref = transfer.AttachmentRef.from_body({**pv, "name": "preview.jpg"})
                dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                await transfer.download(self.svc.ctx.api, ref, dest)
                os.chmod(dest, 0o600)
                await self._to_library(dest, row, m.msg_id, m.sender or "")
                done += 1
            except (errors.KbappError, OSError) as e:     # a full disk: the sync that stored the rows goes on
                log.info("chat media: preview of %s #%s: %s", row.name, m.msg_id, e)
        return done

    async def downloaded(self, row, m, path: Path) -> bool:
        """An image attachment downloaded whole (one sent without a preview, say): a preview of
        it is made here, kept and indexed like a received one (so its deletion reaches it)."""
        dest = self.path_of(row.conv_id, m.msg_id)
        if not m.body or not is_image(m.body.get("mime")) or dest.exists():
            return False
        made = await asyncio.get_running_loop().run_in_executor(None, make_preview, Path(path))
        if made is None:
            return False
        self._write_private(dest.parent, made[0], dest)
        await self._to_library(dest, row, m.msg_id, m.sender or "")
        return True

    # -- forgetting ----------------------------------------------------------------------------

    async def sweep(self, conv_ids=None) -> int:
        """Cached previews (and their photo index entries) of messages that are gone: deleted,
        exploded, or no longer stored. How many were removed."""
        if not self.root.is_dir():
            return 0
        removed = 0
        for d in sorted(self.root.iterdir()):
            if d.name == "tmp" or not d.is_dir() or (conv_ids is not None and d.name not in conv_ids):
                continue
            gone = []
            for f in d.glob("*.jpg"):
                if not f.stem.isdigit():
                    continue
                m = await self.svc.store.aio.message(d.name, int(f.stem))
                if m is None or m.deleted_by is not None or m.status != "ok" or m.body is None:
                    gone.append(int(f.stem))
                    _shred(f)
            if gone:
                removed += len(gone)
                await self._forget(d.name, gone)
        return removed

    # -- the photo library -----------------------------------------------------------------------

    async def _to_library(self, path: Path, row, msg_id: int, sender: str) -> None:
        photos = getattr(self.svc, "photos", None)
        if photos is None:
            return
        from kbapp.ml import origins

        origin = dict(source="chat", conv=row.name, conv_id=row.conv_id, msg_id=int(msg_id), sender=sender)
        try:
            await photos._job(lambda lib: origins.add(lib, path, **origin))
        except errors.KbappError as e:        # no models installed, a closed library: the chat goes on
            log.info("chat media: photo library: %s", e)

    async def _forget(self, conv_id: str, msg_ids: list[int]) -> None:
        photos = getattr(self.svc, "photos", None)
        if photos is None:
            return
        from kbapp.ml.library import index_path
        if not index_path(self.svc.ctx.home).exists():
            return
        from kbapp.ml import origins
        await photos._job(lambda lib: origins.forget(lib, conv_id, msg_ids))

    @staticmethod
    def _write_private(folder: Path, data: bytes, dest: Path | None = None) -> Path:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".jpg")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if dest is None:
            return Path(tmp)
        os.replace(tmp, dest)
        return dest


def _shred(path: Path) -> None:
    """Overwrite then remove: a copy of the profile taken later does not hold the preview."""
    try:
        n = path.stat().st_size
        with open(path, "r+b") as f:
            f.write(b"\0" * n)
            f.flush()
            os.fsync(f.fileno())
        path.unlink()
    except FileNotFoundError:
        pass


def of(svc) -> ChatMedia:
    found = svc.__dict__.get("_media")
    if found is None:
        found = svc.__dict__["_media"] = ChatMedia(svc)
    return found
