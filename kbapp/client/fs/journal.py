"""The local journal of encrypted folders: what this device wrote and has not yet uploaded.

Its own SQLite file in the profile (`fs.sqlite3`, on its own db thread, `synchronous=FULL`:
a write's acknowledgement promises it survives a crash) and its sealed blocks as files under
`<home>/fs-journal/blocks/<id[:2]>/<id>` (ciphertext only: blocks are sealed before they
reach the disk). A block is written to a temp file, fsynced and renamed to its id on a
worker thread (blockio.py: many at once), and `add` waits for every block the row names and
fsyncs their directories *before* the row commits, so a committed entry never names a block
the disk lost.

Tables: `entries` (one acknowledged local op: write, mkdir, rm, rename, setattr; for a
write the content's root pointer and block ids; the verified head it was made on (`base`);
state `pending` -> `uploaded` | `failed` | `parked`, the last error, and the id of the
revision carrying it once one was signed), `folders` (the judge's memory between runs and
the verified root pointer, per folder id) and `revs` (every revision the judge accepted:
number, id, writer, device, time, root and ops, for history, time travel and merges) and
`follows` (a merged revision's local renames, saved before its POST: follow.py).
Version 1 rows (whole-file writes) read as `write` ops made on revision 0.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from kbapp.core import errors
from kbapp.core.encoding import pack, unpack

from ..db import Database, Step
from .blockio import DurableBlocks

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


def _v2(conn) -> None:
    for col in ("op TEXT NOT NULL DEFAULT 'write'", "dest TEXT", "etype INTEGER NOT NULL DEFAULT 1",
                "attr TEXT", "base INTEGER NOT NULL DEFAULT 0", "rev_id TEXT", "view TEXT", "writer TEXT"):
        conn.exec_driver_sql(f"ALTER TABLE entries ADD COLUMN {col}")
    conn.exec_driver_sql(
        "CREATE TABLE IF NOT EXISTS revs (folder_id TEXT NOT NULL, rev INTEGER NOT NULL, id TEXT NOT NULL, "
        "uid TEXT NOT NULL, kid TEXT NOT NULL, ctime INTEGER NOT NULL, root BLOB NOT NULL, ops BLOB NOT NULL, "
        "mine INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (folder_id, rev))")


def _v3(conn) -> None:
    conn.exec_driver_sql(
        "CREATE TABLE IF NOT EXISTS follows (rev_id TEXT PRIMARY KEY, folder TEXT NOT NULL, "
        "revision INTEGER NOT NULL, pairs TEXT NOT NULL)")


MIGRATIONS = (Step(1, "fs journal: entries, folders", _v1),
              Step(2, "fs journal v2: entries are ops; verified revisions kept", _v2),
              Step(3, "fs journal v3: a merged revision's renames kept until later rows follow them", _v3))
OPS = ("write", "mkdir", "rm", "rename", "setattr")


@dataclass(frozen=True)
class JournalEntry:
    id: int
    folder: str            # "/private/alice,bob"
    path: tuple[str, ...]  # components below the folder root
    root: bytes            # packed wire form of the content's root pointer (b"" unless a write)
    size: int
    mtime: int             # ns
    blocks: tuple[str, ...]
    state: str             # pending | uploaded | failed | parked
    error: str | None
    tries: int
    op: str = "write"      # write | mkdir | rm | rename | setattr
    dest: tuple[str, ...] | None = None     # rename: the new path
    etype: int = 1         # write/setattr: the entry type (file or exec)
    attr: str | None = None                 # setattr: exec | mtime; rm: "r" when recursive
    base: int = 0          # the verified head revision this op was made on
    rev_id: str | None = None               # the revision signed to carry it (crash recovery)
    view: str | None = None                 # parked: the read-only view it is kept in
    writer: str | None = None               # uid hex of the writer (None: rows from version 1)


def _entry(r) -> JournalEntry:
    return JournalEntry(r.id, r.folder, tuple(json.loads(r.path)), bytes(r.root), r.size, r.mtime,
                        tuple(json.loads(r.blocks)), r.state, r.error, r.tries, r.op,
                        tuple(json.loads(r.dest)) if r.dest else None, r.etype, r.attr, r.base, r.rev_id,
                        r.view, r.writer)


@dataclass(frozen=True)
class RevRow:
    """A revision the judge accepted (kept for history, `--rev`, restore and merges)."""
    rev: int
    id: str
    uid: str
    kid: str
    ctime: int
    root: bytes            # packed root pointer
    ops: bytes             # packed [op wire, ...]
    mine: bool


class Journal:
    def __init__(self, home: Path):
        self.home = Path(home)
        self.blocks_dir = self.home / BLOCKS_DIR / "blocks"
        self.db = Database(self.home / FILE, MIGRATIONS, name="fs journal")
        self.cache = None                 # the DiskBlockCache: where uploaded blocks go (service sets it)
        self.writes = DurableBlocks()     # block files being written (made durable by `add`)

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
        """Start keeping one sealed block (idempotent): temp file, fsync and rename on a worker
        thread; `add` (or `settle`) waits for it and fsyncs its directory (a write error is
        raised there). Blocks the caller while many blocks are in flight. `block_id` is the
        SHA-256 the sealer computed (`get_block` checks it on every read)."""
        path = self._block_path(block_id)
        if path.exists() and not self.writes.in_flight(block_id):
            return
        for d in (self.home / BLOCKS_DIR, self.blocks_dir, path.parent):    # each 0700, not just the last
            d.mkdir(exist_ok=True, mode=0o700)
        self.writes.put(block_id, path, stored)

    def settle(self, block_ids) -> None:
        """Block until these blocks are durable (files and directories fsynced); blocking."""
        self.writes.settle(block_ids)

    def get_block(self, block_id: str) -> bytes | None:
        """A kept block (journal, then the block cache its uploaded blocks moved to), or None;
        bytes whose hash is not the id (disk damage) count as absent."""
        try:
            data = self._block_path(block_id).read_bytes()
        except FileNotFoundError:
            return None if self.cache is None else self.cache.get(block_id)
        return data if hashlib.sha256(data).hexdigest() == block_id else None

    def has_block(self, block_id: str) -> bool:
        return self._block_path(block_id).exists()

    # -- entries (on the db thread) -------------------------------------------------------

    def _add(self, folder: str, path, root: bytes, size: int, mtime: int, blocks, op: str, dest, etype: int,
             attr, base: int, writer) -> int:
        with self.db.engine.begin() as conn:
            cur = conn.exec_driver_sql(
                "INSERT INTO entries (folder, path, root, size, mtime, blocks, state, created, op, dest, etype, "
                "attr, base, writer) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?)",
                (folder, json.dumps(list(path)), root, size, mtime, json.dumps(list(blocks)), int(time.time()),
                 op, json.dumps(list(dest)) if dest is not None else None, etype, attr, base, writer))
            return int(cur.lastrowid)

    async def add(self, folder: str, path, root: bytes, size: int, mtime: int, blocks, *, op: str = "write",
                  dest=None, etype: int = 1, attr: str | None = None, base: int = 0,
                  writer: str | None = None) -> int:
        """Record one acknowledged op; every block it names must already be kept (put_block)."""
        if op not in OPS:
            raise errors.EncodingError(f"unknown journal op {op!r}")
        if blocks:
            await asyncio.to_thread(self.writes.settle, blocks)
        missing = [b for b in blocks if not self._block_path(b).exists()]
        if missing:
            raise errors.EncodingError(f"{len(missing)} block(s) of this write are not on disk")
        return await self.db.run(self._add, folder, path, root, size, mtime, blocks, op, dest, etype, attr,
                                 base, writer)

    def _rows(self, where: str, args=()) -> list[JournalEntry]:
        with self.db.engine.connect() as conn:
            return [_entry(r) for r in conn.exec_driver_sql(f"SELECT * FROM entries {where} ORDER BY id", args)]

    async def pending(self) -> list[JournalEntry]:
        return await self.db.run(self._rows, "WHERE state = 'pending'")

    async def entries(self) -> list[JournalEntry]:
        return await self.db.run(self._rows, "")

    async def unfinished(self) -> list[JournalEntry]:
        """Rows not uploaded (pending, failed, parked): what the queue shows. Uploaded rows stay
        in the journal for history, so reading them all on every status would grow with it."""
        return await self.db.run(self._rows, "WHERE state != 'uploaded'")

    def _summary(self, last: int) -> tuple[list[JournalEntry], int, list[JournalEntry]]:
        with self.db.engine.connect() as conn:
            uploaded = conn.exec_driver_sql("SELECT COUNT(*) FROM entries WHERE state = 'uploaded'").scalar() or 0
            recent = [_entry(r) for r in conn.exec_driver_sql(
                "SELECT * FROM entries ORDER BY id DESC LIMIT ?", (last,))]
        return self._rows("WHERE state != 'uploaded'"), int(uploaded), recent[::-1]

    async def summary(self, last: int = 50) -> tuple[list[JournalEntry], int, list[JournalEntry]]:
        """(rows not uploaded, how many were uploaded, the newest `last` rows) in one hop."""
        return await self.db.run(self._summary, last)

    def _set(self, entry_id: int, state: str, error: str | None) -> None:
        with self.db.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE entries SET state = ?, error = ?, tries = tries + 1 WHERE id = ?",
                                 (state, error, entry_id))

    async def mark(self, entry_id: int, state: str, error: str | None = None) -> None:
        await self.db.run(self._set, entry_id, state, error)

    def _update(self, ids, fields: dict) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.db.engine.begin() as conn:
            for i in ids:
                conn.exec_driver_sql(f"UPDATE entries SET {sets} WHERE id = ?", (*fields.values(), i))

    async def update(self, ids, **fields) -> None:
        """Set columns (state, error, rev_id, view, base, tries) on rows, in one transaction."""
        if not set(fields) <= {"state", "error", "rev_id", "view", "base", "tries"}:
            raise errors.EncodingError("not a journal column one may set")
        await self.db.run(self._update, list(ids), fields)

    async def get(self, entry_id: int) -> JournalEntry | None:
        rows = await self.db.run(self._rows, "WHERE id = ?", (entry_id,))
        return rows[0] if rows else None

    async def of_folder(self, folder: str, states=("pending",)) -> list[JournalEntry]:
        marks = ", ".join("?" for _ in states)
        return await self.db.run(self._rows, f"WHERE folder = ? AND state IN ({marks})", (folder, *states))

    def drop_blocks(self, block_ids, keep=None) -> int:
        """Delete uploaded blocks from the journal (handed to `keep(id, path)` first, e.g. the
        block cache, which may move the file); the bytes freed."""
        freed = 0
        block_ids = list(block_ids)
        self.writes.forget(block_ids)          # none still being written (it would come back)
        for b in block_ids:
            path = self._block_path(b)
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            if keep is not None:
                keep(b, path)
            if path.exists():
                path.unlink()
            freed += size
        return freed

    def used_bytes(self) -> int:
        """Bytes of sealed blocks kept in the journal now (scanned: call off the event loop)."""
        total = 0
        if self.blocks_dir.exists():
            for sub in self.blocks_dir.iterdir():
                if sub.is_dir():
                    total += sum(p.stat().st_size for p in sub.iterdir() if p.is_file())
        return total

    # -- verified revisions ---------------------------------------------------------------

    def _add_revs(self, folder_id: str, rows) -> None:
        with self.db.engine.begin() as conn:
            for r in rows:
                conn.exec_driver_sql(
                    "INSERT INTO revs (folder_id, rev, id, uid, kid, ctime, root, ops, mine) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(folder_id, rev) DO UPDATE SET "
                    "mine = max(mine, excluded.mine)",
                    (folder_id, r.rev, r.id, r.uid, r.kid, r.ctime, r.root, r.ops, int(r.mine)))

    async def add_revs(self, folder_id: str, rows) -> None:
        if rows:
            await self.db.run(self._add_revs, folder_id, list(rows))

    def _revs(self, folder_id: str, lo: int, hi: int) -> list[RevRow]:
        with self.db.engine.connect() as conn:
            return [RevRow(r.rev, r.id, r.uid, r.kid, r.ctime, bytes(r.root), bytes(r.ops), bool(r.mine))
                    for r in conn.exec_driver_sql(
                        "SELECT * FROM revs WHERE folder_id = ? AND rev >= ? AND rev <= ? ORDER BY rev",
                        (folder_id, lo, hi))]

    async def revs(self, folder_id: str, lo: int = 0, hi: int = 1 << 62) -> list[RevRow]:
        return await self.db.run(self._revs, folder_id, lo, hi)

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
