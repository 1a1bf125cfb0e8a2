"""Images in encrypted folders handed to the photo library, with the folder as their origin.

After a verified sync (the folder engine calls `hand_off`), each image file of the folder's
verified head (by extension, then by its magic bytes) that is new or changed since the last
hand-off is read through `app.files` (every block checked), turned into a 320 px JPEG preview
without metadata (chat's `make_preview`: Pillow, pixel cap against decompression bombs) kept
0600 under `<home>/fs-media/<folder id>/`, and indexed with its origin: source "folder", the
file's folder path, the revision and the writer. `photos search` then says which folder a hit
is from. Files that left the folder leave the index. Only previews are kept in the clear, in
the private profile, as chat does; the folder's bytes stay sealed in the journal and on the
server. A file over MAX_IMAGE or that is not an image is skipped, never an error.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import os
import tempfile
from pathlib import Path

from kbapp.core import errors

log = logging.getLogger(__name__)

CACHE = "fs-media"
MAX_IMAGE = 64 << 20                  # bytes of one image read to make its preview
MAX_WALK = 20_000                     # entries looked at per hand-off
EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")


def looks_like_image(name: str, head: bytes) -> bool:
    """By extension, then by magic: a `.jpg` that is not a JPEG (or any image) is not handed on."""
    if Path(name).suffix.lower() not in EXTENSIONS:
        return False
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    return any(head.startswith(m) for m in MAGIC)


def _cache_dir(home: Path, folder_id: str) -> Path:
    return Path(home) / CACHE / folder_id


def _name(path: str) -> str:
    return hashlib.sha256(path.encode()).hexdigest()[:40] + ".jpg"


def _load_state(d: Path) -> dict:
    try:
        data = json.loads((d / "state.json").read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def _walk(files, root: str) -> list[tuple[str, dict]]:
    """(folder path, ls row) of every file under the folder's verified head, breadth first."""
    out, todo, seen = [], [root], 0
    while todo:
        d = todo.pop(0)
        for row in await files.ls(d):
            seen += 1
            if seen > MAX_WALK:
                return out
            p = f"{d.rstrip('/')}/{row['name']}"
            if row.get("type") == "dir":
                todo.append(p)
            elif row.get("type") in ("file", "exec") and not row.get("pending"):
                out.append((p, row))
    return out


def _writer_name(f, uid_hex: str) -> str:
    u = (getattr(f.loaded, "users", None) or {}).get(uid_hex)
    name = getattr(u, "username", None) or getattr(getattr(u, "state", None), "username", None)
    return name if isinstance(name, str) else uid_hex


async def previews_of(files, folder: str, paths) -> dict[str, Path]:
    """folder path -> the resolved preview the hand-off keeps of it (the photo index's key),
    for those of `paths` (all in `folder`) that have one: the Files page asks the library
    for their tags with these."""
    from kbapp.core.fs.names import split_path

    f = await files._folder(split_path(folder)[0])
    d = _cache_dir(files.ctx.home, f.folder_id)

    def found() -> dict[str, Path]:
        return {p: q.resolve() for p in paths if (q := d / _name(p)).is_file()}
    return await asyncio.to_thread(found)


async def hand_off(files, photos, folder: str) -> dict:
    """The engine's hook after a verified sync that brought others' revisions (it runs this in
    the background, so a listing never waits on tagging): `index_folder`."""
    return await index_folder(files, photos, folder)


async def settled(files) -> None:
    """Wait for the engine's background hand-offs (tests, shutdown)."""
    for _ in range(100):
        tasks = [t for t in getattr(files, "_tasks", ()) if not t.done()]
        if not tasks:
            return
        await asyncio.gather(*tasks, return_exceptions=True)


async def index_folder(files, photos, folder: str) -> dict:
    """Index the images of `folder`'s verified head that are new or changed; forget the gone.
    {"indexed": n, "forgotten": n, "skipped": n}."""
    from kbapp.core.fs.names import split_path
    from kbapp.ml import origins

    from ..chat.media import make_preview

    name, _ = split_path(folder)
    root = str(name)
    f = await files._folder(name)
    d = _cache_dir(files.ctx.home, f.folder_id)
    state = _load_state(d)
    now = {}
    indexed = skipped = 0
    for path, row in await _walk(files, root):
        if Path(path).suffix.lower() not in EXTENSIONS:
            continue
        key = [row.get("size"), row.get("mtime"), row.get("writer")]
        now[path] = key
        if state.get(path) == key:
            continue
        if not isinstance(row.get("size"), int) or row["size"] > MAX_IMAGE:
            skipped += 1
            continue
        data = await files.read(path)
        if not looks_like_image(path, data[:16]):
            skipped += 1
            continue
        made = await asyncio.to_thread(make_preview, io.BytesIO(data))    # in memory: no plaintext on disk
        if made is None:
            skipped += 1
            continue
        dest = d / _name(path)
        _write_private(dest, made[0])
        rev = (await files.stat(path)).get("revision", 0)
        origin = dict(source="folder", conv=path, conv_id=f.folder_id, msg_id=int(rev or 0),
                      sender=_writer_name(f, row.get("writer") or ""))
        try:
            await photos._job(lambda lib, p=dest, o=origin: origins.add(lib, p, **o))
            indexed += 1
        except errors.KbappError as e:                   # no models installed, a closed library
            log.info("fs photos: photo library: %s", e)
            now.pop(path)                                # tried again next time
    gone = [p for p in state if p not in now]
    for p in gone:
        dest = d / _name(p)
        await photos._job(lambda lib, q=dest: _forget(lib, q))
        dest.unlink(missing_ok=True)
    if now or state:
        _write_private(d / "state.json", json.dumps(now, sort_keys=True).encode())
    return {"indexed": indexed, "forgotten": len(gone), "skipped": skipped}


def _forget(lib, path: Path) -> None:
    from sqlalchemy import delete

    from kbapp.ml import origins
    from kbapp.ml.photodb import db_path
    path = Path(path).resolve()
    with lib.db.write_lock, lib.db.engine.begin() as conn:
        conn.execute(delete(origins.origins).where(origins.origins.c.path == db_path(path)))
    lib._forget(path)
