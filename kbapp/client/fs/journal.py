"""The local journal of encrypted folders: what this device wrote and has not yet uploaded.

Its own SQLite file in the profile (`fs.sqlite3`, on its own db thread, `synchronous=FULL`:
a write's acknowledgement promises it survives a crash) and its sealed blocks as files under
`<home>/fs-journal/blocks/<id[:2]>/<id>` (ciphertext only: blocks are sealed before they
reach the disk). A block is written to a temp file, fsynced, renamed to its id and its
directory fsynced *before* the row naming it commits, so a committed entry never names a
block the disk lost.

Tables: `entries` (one acknowledged file write: folder, path, the content's root pointer,
its block ids, state `pending` -> `uploaded` | `failed`, the last error) and `folders` (the
judge's memory between runs and the verified root pointer, per folder id).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from kbapp.core import errors
from kbapp.core.encoding import pack, unpack

from ..db import Database, Step

FILE = "fs.sqlite3"
BLOCKS_DIR = "fs-journal"
MAX_STATE = 1 << 20


def _v1(conn) -> None:
    conn.exec_driver_sql(
        "CREATE TABLE IF NOT EXISTS entries (id INTEGER PRIMARY KEY AUTOINCREMENT, folder TEXT NOT NULL, "
        "path TEXT NOT NULL, root BLOB NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL, "
        "blocks TEXT NOT NULL, state TEXT NOT NULL, error TEXT, tries INTEGER NOT NULL DEFAULT 0, "
        "created INTEGER NOT NULL)")
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS entries_state ON entries(state, id)")
    conn.exec_driver_sql(
        "CREATE TABLE IF NOT EXISTS folders (folder_id TEXT PRIMARY KEY, name TEXT NOT NULL, "
        "judge_state BLOB NOT NULL, root BLOB, updated INTEGER NOT NULL)")


MIGRATIONS = (Step(1, "fs journal: entries, folders", _v1),)


@dataclass(frozen=True)
class JournalEntry:
    id: int
    folder: str            # "/private/alice,bob"
    path: tuple[str, ...]  # components below the folder root
    root: bytes            # packed wire form of the content's root pointer
    size: int
    mtime: int             # ns
    blocks: tuple[str, ...]
    state: str             # pending | uploaded | failed
    error: str | None
    tries: int


def _entry(r) -> JournalEntry:
    return JournalEntry(r.id, r.folder, tuple(json.loads(r.path)), bytes(r.root), r.size, r.mtime,
                        tuple(json.loads(r.blocks)), r.state, r.error, r.tries)


def _fsync_dir(path: Path) -> None:
    if os.name == "nt":
        return                                   # directories cannot be opened for fsync there
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    def __init__(self, home: Path):
        self.home = Path(home)
        self.blocks_dir = self.home / BLOCKS_DIR / "blocks"
        self.db = Database(self.home / FILE, MIGRATIONS, name="fs journal")

    async def open(self) -> "Journal":
        await self.db.open()
        return self

    def close(self) -> None:
        self.db.close()

    # -- blocks -------------------------------------------------------------------------

    def _block_path(self, block_id: str) -> Path:
        if len(block_id) != 64 or any(c not in "0123456789abcdef" for c in block_id):
            raise errors.EncodingError("a block id is 64 lowercase hex digits")
        return self.blocks_dir / block_id[:2] / block_id

    def put_block(self, block_id: str, stored: bytes) -> None:
        """Durably keep one sealed block (idempotent): temp file, fsync, rename, fsync of the directory."""
        if hashlib.sha256(stored).hexdigest() != block_id:
            raise errors.EncodingError("a block's id is the SHA-256 of its stored bytes")
        path = self._block_path(block_id)
        if path.exists():
            return
        for d in (self.home / BLOCKS_DIR, self.blocks_dir, path.parent):    # each 0700, not just the last
            d.mkdir(exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{block_id}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(stored)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _fsync_dir(path.parent)

    def get_block(self, block_id: str) -> bytes | None:
        """A kept block, or None; bytes whose hash is not the id (disk damage) count as absent."""
        try:
            data = self._block_path(block_id).read_bytes()
        except FileNotFoundError:
            return None
        return data if hashlib.sha256(data).hexdigest() == block_id else None

    # -- entries (on the db thread) -------------------------------------------------------

    def _add(self, folder: str, path, root: bytes, size: int, mtime: int, blocks) -> int:
        with self.db.engine.begin() as conn:
            cur = conn.exec_driver_sql(
                "INSERT INTO entries (folder, path, root, size, mtime, blocks, state, created) "
                "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
                (folder, json.dumps(list(path)), root, size, mtime, json.dumps(list(blocks)), int(time.time())))
            return int(cur.lastrowid)

    async def add(self, folder: str, path, root: bytes, size: int, mtime: int, blocks) -> int:
        """Record one acknowledged write; every block it names must already be kept (put_block)."""
        missing = [b for b in blocks if not self._block_path(b).exists()]
        if missing:
            raise errors.EncodingError(f"{len(missing)} block(s) of this write are not on disk")
        return await self.db.run(self._add, folder, path, root, size, mtime, blocks)

    def _rows(self, where: str, args=()) -> list[JournalEntry]:
        with self.db.engine.connect() as conn:
            return [_entry(r) for r in conn.exec_driver_sql(f"SELECT * FROM entries {where} ORDER BY id", args)]

    async def pending(self) -> list[JournalEntry]:
        return await self.db.run(self._rows, "WHERE state = 'pending'")

    async def entries(self) -> list[JournalEntry]:
        return await self.db.run(self._rows, "")

    def _set(self, entry_id: int, state: str, error: str | None) -> None:
        with self.db.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE entries SET state = ?, error = ?, tries = tries + 1 WHERE id = ?",
                                 (state, error, entry_id))

    async def mark(self, entry_id: int, state: str, error: str | None = None) -> None:
        await self.db.run(self._set, entry_id, state, error)

    # -- folders: the judge's memory ----------------------------------------------------

    def _folder(self, folder_id: str):
        with self.db.engine.connect() as conn:
            r = conn.exec_driver_sql("SELECT judge_state, root FROM folders WHERE folder_id = ?",
                                     (folder_id,)).first()
        if r is None:
            return None, None
        return unpack(bytes(r.judge_state), max_size=MAX_STATE, max_depth=8), (bytes(r.root) if r.root else None)

    async def folder(self, folder_id: str) -> tuple[dict | None, bytes | None]:
        """(judge state dict, packed verified root pointer) as last saved, or (None, None)."""
        return await self.db.run(self._folder, folder_id)

    def _save(self, folder_id: str, name: str, state: dict, root: bytes | None) -> None:
        with self.db.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO folders (folder_id, name, judge_state, root, updated) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(folder_id) DO UPDATE SET name = excluded.name, judge_state = excluded.judge_state, "
                "root = excluded.root, updated = excluded.updated",
                (folder_id, name, pack(state), root, int(time.time())))

    async def save_folder(self, folder_id: str, name: str, state: dict, root: bytes | None) -> None:
        await self.db.run(self._save, folder_id, name, state, root)
