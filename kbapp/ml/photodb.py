"""The photo index database: one SQLite file per profile (SQLAlchemy Core).

What it holds: one row per photo (path, folder, sha256, size, mtime, pixel size,
EXIF date taken, NSFW score), its tags (from the model, and from the user's custom
concepts), the text OCR read in it (an FTS5 table, so it is searchable), its
embeddings, and the custom concepts with their labelled examples.

Vectors are float32 blobs in the same file, not a side .npy: a photo's row, tags
and vectors are written in one transaction, so a crash cannot leave vectors that
disagree with the metadata, and a profile is one file to back up. The cost is
loading them into memory at open (100k photos: ~0.5 GB, a few seconds), which the
exact scan needs anyway. The IVF index built above ~100k vectors is derived data
in a side file (`ivf-*.npz`) that is rebuilt whenever it is stale or unreadable.

Everything read back is checked (blob length, finite values): a damaged row is
reported and queued for re-indexing instead of crashing a search; a file that is
not a database, or a schema from a newer kbapp, is refused with `IndexCorrupt`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from sqlalchemy import (BigInteger, Column, Float, ForeignKey, Index, Integer, LargeBinary, MetaData, String,
                        Table, Text, and_, bindparam, create_engine, delete, event, func, insert, or_, select,
                        update)
from sqlalchemy.exc import DatabaseError, SQLAlchemyError

from kbapp.core import errors
from kbapp.ml import origins as _origins
from kbapp.ml.migrate import Step, migrate
from kbapp.ml.private_files import private_file

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1   # the "meta" row of the indexes made before migrations (kept, so they still open)
MAX_TAG = 200

metadata = MetaData()

meta = Table(
    "meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

photos = Table(
    "photos", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("path", Text, nullable=False, unique=True),
    Column("folder", Text, nullable=False, index=True),
    Column("sha256", String(64), nullable=False, index=True),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("taken", String(19), nullable=True),       # EXIF DateTimeOriginal, "YYYY-MM-DDTHH:MM:SS"
    Column("nsfw", Float, nullable=True),              # None: no NSFW model was installed
    Column("indexed_at", BigInteger, nullable=False),
)

tags = Table(
    "tags", metadata,
    Column("photo_id", Integer, ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(MAX_TAG, collation="NOCASE"), primary_key=True),
    Column("source", String(16), primary_key=True),   # "model" or "concept"
    Column("score", Float, nullable=False),
)
Index("tags_by_tag", tags.c.tag, tags.c.score)

embeddings = Table(
    "embeddings", metadata,
    Column("photo_id", Integer, ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(32), primary_key=True),       # "image" (tag model) or "clip"
    Column("dim", Integer, nullable=False),
    Column("vec", LargeBinary, nullable=False),         # float32, little-endian, L2-normalised
)

concepts = Table(
    "concepts", metadata,
    Column("name", String(64), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    Column("trained_at", BigInteger, nullable=True),
    Column("dim", Integer, nullable=True),
    Column("weights", LargeBinary, nullable=True),      # float32 (dim,)
    Column("bias", Float, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("metrics", Text, nullable=True),             # JSON: cross-validated precision/recall/F1/AUC
)

concept_examples = Table(
    "concept_examples", metadata,
    Column("concept", String(64), ForeignKey("concepts.name", ondelete="CASCADE"), primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("path", Text, nullable=False),
    Column("label", Integer, nullable=False),           # 1 positive, 0 negative
    Column("vec", LargeBinary, nullable=False),
)

# OCR text: FTS5 keyed by photo id (rowid). SQLAlchemy Core has no virtual tables: plain DDL.
FTS_DDL = "CREATE VIRTUAL TABLE IF NOT EXISTS photo_text USING fts5(body, tokenize = 'unicode61 remove_diacritics 2')"


def _adopt_v1(conn) -> None:
    """Version 1: the tables the previous release's `create_all` made (a new index gets them here)."""
    metadata.create_all(conn)
    conn.exec_driver_sql(FTS_DDL)
    version = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    if version is None:
        conn.execute(insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
    elif not version.isdigit() or int(version) > SCHEMA_VERSION:
        raise errors.SchemaTooNew(f"index schema {version!r} is newer than this kbapp ({SCHEMA_VERSION}); "
                                  "upgrade kbapp")


def _embeddings_by_kind(conn) -> None:
    """Version 2: `load_vectors(kind)` reads one kind of vector; the key leads with photo_id."""
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS embeddings_by_kind ON embeddings (kind, photo_id)")


MIGRATIONS = (
    Step(1, "adopt the previous release's tables and FTS table", _adopt_v1),
    Step(2, "index embeddings by kind", _embeddings_by_kind),
    Step(3, "where a photo came from (a chat message): ml/origins.py", _origins.create),
)


@dataclass
class PhotoRow:
    id: int
    path: str
    folder: str
    sha256: str
    size: int
    mtime_ns: int
    width: int
    height: int
    taken: str | None
    nsfw: float | None
    indexed_at: int


@dataclass
class PhotoWrite:
    """One photo as indexing stores it (`PhotoDB.upsert_many`)."""

    path: Path
    sha256: str
    size: int
    mtime_ns: int
    width: int
    height: int
    taken: str | None
    nsfw: float | None
    tag_list: list[tuple[str, float]]
    vectors: dict[str, np.ndarray]
    ocr_text: str | None


_PHOTO_COLS = ("path", "folder", "sha256", "size", "mtime_ns", "width", "height", "taken", "nsfw", "indexed_at")
_CHUNK = 500   # ids per IN (...): SQLite caps bound parameters


# File names are bytes on POSIX; `os` hands the undecodable ones over as lone surrogates
# (surrogateescape), which SQLite's driver refuses to encode. Stored paths escape them
# (and the escape character itself) char by char, so that the stored text is valid
# UTF-8, round-trips exactly, and keeps prefixes (folder LIKE queries) intact. Plain
# names are stored as they are: indexes written before this need no migration.
_ESC = "\ufdd0"   # a Unicode noncharacter: reserved for a program's internal use


def db_path(path: str | Path) -> str:
    """A file system path as the index stores it."""
    s = str(path)
    if s.isascii():
        return s
    try:
        s.encode("utf-8")
        if _ESC not in s:
            return s
    except UnicodeEncodeError:
        pass
    return "".join(_ESC + _ESC if c == _ESC else _ESC + format(ord(c), "04x") if 0xD800 <= ord(c) <= 0xDFFF
                   else c for c in s)


def fs_path(stored: str) -> str:
    """The path `db_path` stored, back as `os` spells it."""
    if _ESC not in stored:
        return stored
    out, i = [], 0
    while i < len(stored):
        c = stored[i]
        if c != _ESC:
            out.append(c)
            i += 1
        elif stored[i + 1:i + 2] == _ESC:
            out.append(_ESC)
            i += 2
        else:
            try:
                out.append(chr(int(stored[i + 1:i + 5], 16)))
            except ValueError:
                raise errors.IndexCorrupt(f"bad escape in stored path {stored!r}") from None
            i += 5
    return "".join(out)


def _photo_row(row) -> "PhotoRow":
    m = dict(row._mapping)
    m["path"], m["folder"] = fs_path(m["path"]), fs_path(m["folder"])
    return PhotoRow(**m)


def _photo_values(it: PhotoWrite, now: int) -> dict:
    path = Path(it.path)
    return dict(path=db_path(path), folder=db_path(path.parent), sha256=it.sha256, size=int(it.size),
                mtime_ns=int(it.mtime_ns), width=int(it.width), height=int(it.height), taken=it.taken,
                nsfw=None if it.nsfw is None else float(it.nsfw), indexed_at=now)


def vec_to_blob(v: np.ndarray) -> bytes:
    return np.ascontiguousarray(v, dtype="<f4").tobytes()


def blob_to_vec(blob: bytes, dim: int) -> np.ndarray:
    """The stored vector, or `IndexCorrupt` if it is the wrong size or not finite."""
    if not isinstance(blob, (bytes, bytearray, memoryview)) or len(blob) != 4 * dim or dim <= 0:
        raise errors.IndexCorrupt(f"vector blob of {len(blob) if blob is not None else 0} bytes, expected {4 * dim}")
    v = np.frombuffer(bytes(blob), dtype="<f4").astype(np.float32)
    if not np.all(np.isfinite(v)):
        raise errors.IndexCorrupt("vector blob holds NaN or infinity")
    return v


class PhotoDB:
    """Typed access to the index file. Thread-safe: SQLite in WAL mode, one writer lock."""

    def __init__(self, path: Path):
        self.path = Path(path)
        private_file(self.path)
        self.engine = create_engine(f"sqlite:///{self.path}", connect_args={"check_same_thread": False,
                                                                          "timeout": 30})
        event.listen(self.engine, "connect", _on_connect)
        self.write_lock = threading.RLock()
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA schema_version").scalar()   # reads the header: "not a database"
            migrate(self.engine, MIGRATIONS, what=f"photo index {self.path}")
        except errors.SchemaTooNew as e:
            self.engine.dispose()
            raise errors.IndexCorrupt(f"{e}, or remove the index") from e
        except DatabaseError as e:
            self.engine.dispose()
            raise errors.IndexCorrupt(f"{self.path} is not a usable photo index ({e.orig}); move it away to "
                                      "start a fresh one") from e

    def close(self) -> None:
        self.engine.dispose()

    # -- meta --------------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()

    def set_meta(self, key: str, value: str, conn=None) -> None:
        def do(c):
            if c.execute(update(meta).where(meta.c.key == key).values(value=value)).rowcount == 0:
                c.execute(insert(meta).values(key=key, value=value))
        if conn is not None:
            do(conn)
        else:
            with self.write_lock, self.engine.begin() as c:
                do(c)

    # -- photos --------------------------------------------------------------------------------------

    def rows_under(self, roots: Iterable[Path]) -> dict[str, PhotoRow]:
        """Photos whose path is under one of `roots` (or is one of them), by path."""
        conds = []
        for r in roots:
            r = db_path(Path(r))
            conds += [photos.c.path == r, photos.c.path.like(_like_prefix(r.rstrip("/") + "/"), escape="\\")]
        if not conds:
            return {}
        with self.engine.connect() as conn:
            return {fs_path(row.path): _photo_row(row) for row in conn.execute(select(photos).where(or_(*conds)))}

    def photo_by_path(self, path: Path) -> PhotoRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(photos).where(photos.c.path == db_path(path))).first()
        return _photo_row(row) if row else None

    def photos_by_ids(self, ids: Iterable[int]) -> dict[int, PhotoRow]:
        ids = [int(i) for i in ids]
        out: dict[int, PhotoRow] = {}
        with self.engine.connect() as conn:
            for s in range(0, len(ids), 500):
                for row in conn.execute(select(photos).where(photos.c.id.in_(ids[s:s + 500]))):
                    out[row.id] = _photo_row(row)
        return out

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(photos)).scalar() or 0)

    def upsert_many(self, conn, items: list["PhotoWrite"]) -> list[int]:
        """Write (or replace) photos' rows, model tags, vectors and OCR text: a handful of
        statements per batch, not six per photo.

        Indexing writes every photo through here; building and compiling SQLAlchemy
        statements row by row cost about as much CPU as decoding the photo. A photo
        already in the index keeps its id (concept tags and live vectors refer to it);
        its model tags, vectors and OCR text are replaced. Returns ids in input order."""
        if not items:
            return []
        now = int(time.time())
        keys = [db_path(it.path) for it in items]
        latest = {k: it for k, it in zip(keys, items)}   # the same path twice: the last one wins
        ids = self._ids_of(conn, list(latest))
        old = [ids[k] for k in latest if k in ids]
        if old:
            self._clear_derived(conn, old, keep_concept_tags=True)
            conn.execute(update(photos).where(photos.c.id == bindparam("_id")).values(
                {c: bindparam(f"_{c}") for c in _PHOTO_COLS}),
                [{"_id": ids[k], **{f"_{c}": v for c, v in _photo_values(it, now).items()}}
                 for k, it in latest.items() if k in ids])
        new = [k for k in latest if k not in ids]
        if new:
            conn.execute(insert(photos), [_photo_values(latest[k], now) for k in new])
            ids.update(self._ids_of(conn, new))
        tag_rows, vec_rows, text_rows = [], [], []
        for k, it in latest.items():
            pid = ids[k]
            seen = set()
            for name, score in it.tag_list:
                name = str(name)[:MAX_TAG]
                if name.lower() not in seen:
                    seen.add(name.lower())
                    tag_rows.append(dict(photo_id=pid, tag=name, source="model", score=float(score)))
            for kind, v in it.vectors.items():
                vec_rows.append(dict(photo_id=pid, kind=kind, dim=int(v.shape[0]), vec=vec_to_blob(v)))
            if it.ocr_text and it.ocr_text.strip():
                text_rows.append((pid, it.ocr_text))
        if tag_rows:
            conn.execute(insert(tags), tag_rows)
        if vec_rows:
            conn.execute(insert(embeddings), vec_rows)
        if text_rows:
            conn.exec_driver_sql("INSERT INTO photo_text(rowid, body) VALUES (?, ?)", text_rows)
        return [int(ids[k]) for k in keys]

    def _ids_of(self, conn, paths: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in range(0, len(paths), _CHUNK):
            rows = conn.execute(select(photos.c.path, photos.c.id).where(photos.c.path.in_(paths[s:s + _CHUNK])))
            out.update((path, pid) for path, pid in rows)
        return out

    def _clear_derived(self, conn, pids: list[int], *, keep_concept_tags: bool) -> None:
        """Tags, vectors and OCR text of these photos (in chunks: SQLite caps bound parameters)."""
        for s in range(0, len(pids), _CHUNK):
            chunk = pids[s:s + _CHUNK]
            which = tags.c.photo_id.in_(chunk)
            conn.execute(delete(tags).where(and_(which, tags.c.source == "model") if keep_concept_tags else which))
            conn.execute(delete(embeddings).where(embeddings.c.photo_id.in_(chunk)))
            conn.exec_driver_sql(f"DELETE FROM photo_text WHERE rowid IN ({','.join('?' * len(chunk))})",
                                 tuple(chunk))

    def touch(self, conn, pid: int, size: int, mtime_ns: int) -> None:
        conn.execute(update(photos).where(photos.c.id == pid).values(size=int(size), mtime_ns=int(mtime_ns)))

    def remove_many(self, conn, pids: Iterable[int]) -> None:
        """Photos with their tags, vectors and OCR text."""
        pids = [int(p) for p in pids]
        self._clear_derived(conn, pids, keep_concept_tags=False)
        for s in range(0, len(pids), _CHUNK):
            conn.execute(delete(photos).where(photos.c.id.in_(pids[s:s + _CHUNK])))

    def mark_for_reindex(self, pid: int) -> None:
        """A damaged row: make the next `index` see the file as changed (size -1)."""
        with self.write_lock, self.engine.begin() as conn:
            conn.execute(update(photos).where(photos.c.id == pid).values(size=-1, sha256=""))
            conn.execute(delete(embeddings).where(embeddings.c.photo_id == pid))

    # -- vectors -------------------------------------------------------------------------------------

    def load_vectors(self, kind: str) -> tuple[np.ndarray, np.ndarray, list[tuple[int, str]]]:
        """(ids, matrix, problems): every stored vector of one kind; bad rows are skipped and listed."""
        ids, vecs, problems = [], [], []
        dim = None
        with self.engine.connect() as conn:
            res = conn.execute(select(embeddings.c.photo_id, embeddings.c.dim, embeddings.c.vec)
                               .where(embeddings.c.kind == kind).order_by(embeddings.c.photo_id))
            for pid, d, blob in res:
                try:
                    if dim is None:
                        dim = int(d)
                    if int(d) != dim:
                        raise errors.IndexCorrupt(f"vector of {d} dims among vectors of {dim}")
                    vecs.append(blob_to_vec(blob, dim))
                    ids.append(pid)
                except (errors.IndexCorrupt, TypeError, ValueError) as e:
                    problems.append((int(pid), str(e)))
        if not vecs:
            return np.zeros(0, np.int64), np.zeros((0, dim or 0), np.float32), problems
        return np.asarray(ids, np.int64), np.stack(vecs), problems

    def vector_of(self, pid: int, kind: str = "image") -> np.ndarray | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(embeddings.c.dim, embeddings.c.vec).where(
                and_(embeddings.c.photo_id == pid, embeddings.c.kind == kind))).first()
        return blob_to_vec(row.vec, row.dim) if row else None

    # -- tags, text, filters ---------------------------------------------------------------------------

    def tags_of(self, pid: int) -> list[tuple[str, float, str]]:
        with self.engine.connect() as conn:
            res = conn.execute(select(tags.c.tag, tags.c.score, tags.c.source).where(tags.c.photo_id == pid)
                               .order_by(tags.c.score.desc()))
            return [(r.tag, float(r.score), r.source) for r in res]

    def photos_with_tags(self, names: list[str]) -> dict[int, tuple[str, float]]:
        """photo id -> (best matching tag, its score), for tags named exactly (case-insensitive)."""
        out: dict[int, tuple[str, float]] = {}
        if not names:
            return out
        with self.engine.connect() as conn:
            res = conn.execute(select(tags.c.photo_id, tags.c.tag, tags.c.score).where(tags.c.tag.in_(names)))
            for pid, tag, score in res:
                if pid not in out or score > out[pid][1]:
                    out[pid] = (tag, float(score))
        return out

    def known_tags(self, like: str | None = None, limit: int = 50) -> list[tuple[str, int]]:
        q = select(tags.c.tag, func.count()).group_by(tags.c.tag).order_by(func.count().desc()).limit(limit)
        if like:
            q = q.where(tags.c.tag.like(f"%{_escape_like(like)}%", escape="\\"))
        with self.engine.connect() as conn:
            return [(r[0], int(r[1])) for r in conn.execute(q)]

    def search_text(self, query: str, limit: int = 1000) -> list[tuple[int, float]]:
        """Full-text search over OCR text: (photo id, bm25 score, higher is better). Every word must match."""
        words = [w for w in "".join(c if c.isalnum() else " " for c in query).split() if w]
        if not words:
            return []
        match = " ".join('"' + w.replace('"', '""') + '"' for w in words[:32])
        with self.engine.connect() as conn:
            try:
                res = conn.exec_driver_sql(
                    "SELECT rowid, -bm25(photo_text) FROM photo_text WHERE photo_text MATCH ? "
                    "ORDER BY bm25(photo_text) LIMIT ?", (match, int(limit)))
                return [(int(r[0]), float(r[1])) for r in res]
            except SQLAlchemyError as e:
                raise errors.PhotoIndexError(f"text search failed: {e}") from e

    def ocr_text_of(self, pid: int) -> str | None:
        with self.engine.connect() as conn:
            return conn.exec_driver_sql("SELECT body FROM photo_text WHERE rowid = ?", (pid,)).scalar()

    def filter_ids(self, *, folder: str | None = None, since: str | None = None, until: str | None = None,
                   nsfw: str = "include", nsfw_threshold: float = 0.7) -> np.ndarray | None:
        """Sorted photo ids passing the filters, or None when there is no filter (all photos)."""
        conds = []
        if folder:
            f = db_path(Path(folder))
            conds.append(or_(photos.c.folder == f, photos.c.folder.like(_like_prefix(f.rstrip("/") + "/"),
                                                                         escape="\\")))
        when = func.coalesce(photos.c.taken, func.strftime("%Y-%m-%dT%H:%M:%S", photos.c.mtime_ns / 1e9,
                                                           "unixepoch"))
        if since:
            conds.append(when >= since)
        if until:
            conds.append(when < until)
        if nsfw == "exclude":
            conds.append(or_(photos.c.nsfw.is_(None), photos.c.nsfw < nsfw_threshold))
        elif nsfw == "only":
            conds.append(photos.c.nsfw >= nsfw_threshold)
        elif nsfw != "include":
            raise errors.PhotoIndexError(f"nsfw must be include, exclude or only (not {nsfw!r})")
        if not conds:
            return None
        with self.engine.connect() as conn:
            ids = [r[0] for r in conn.execute(select(photos.c.id).where(and_(*conds)).order_by(photos.c.id))]
        return np.asarray(ids, dtype=np.int64)

    def all_ids(self) -> np.ndarray:
        with self.engine.connect() as conn:
            return np.asarray([r[0] for r in conn.execute(select(photos.c.id).order_by(photos.c.id))], np.int64)

    def recent_ids(self, allowed: np.ndarray | None, limit: int) -> list[int]:
        q = select(photos.c.id).order_by(func.coalesce(photos.c.taken, "").desc(), photos.c.mtime_ns.desc())
        if allowed is not None:
            q = q.where(photos.c.id.in_([int(i) for i in allowed[:50_000]]))
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(q.limit(limit))]

    # -- concepts ---------------------------------------------------------------------------------------

    def concept_row(self, name: str):
        with self.engine.connect() as conn:
            return conn.execute(select(concepts).where(concepts.c.name == name)).first()

    def concept_rows(self):
        with self.engine.connect() as conn:
            return list(conn.execute(select(concepts).order_by(concepts.c.name)))

    def ensure_concept(self, conn, name: str) -> None:
        if conn.execute(select(concepts.c.name).where(concepts.c.name == name)).first() is None:
            conn.execute(insert(concepts).values(name=name, created_at=int(time.time())))

    def add_example(self, conn, name: str, sha256: str, path: str, label: int, vec: np.ndarray) -> None:
        conn.execute(delete(concept_examples).where(and_(concept_examples.c.concept == name,
                                                         concept_examples.c.sha256 == sha256)))
        conn.execute(insert(concept_examples).values(concept=name, sha256=sha256, path=db_path(path), label=int(label),
                                                     vec=vec_to_blob(vec)))

    def examples(self, name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(X, y, problems) of a concept's labelled examples; damaged rows are skipped and listed."""
        X, y, problems = [], [], []
        with self.engine.connect() as conn:
            for r in conn.execute(select(concept_examples).where(concept_examples.c.concept == name)):
                try:
                    X.append(blob_to_vec(r.vec, len(r.vec) // 4 if r.vec else 0))
                    if r.label not in (0, 1):
                        raise errors.IndexCorrupt(f"label {r.label!r} is not 0 or 1")
                    y.append(int(r.label))
                except errors.IndexCorrupt as e:
                    if len(X) > len(y):
                        X.pop()
                    problems.append(f"{fs_path(r.path)}: {e}")
        if X and len({x.shape[0] for x in X}) != 1:
            raise errors.IndexCorrupt(f"concept {name!r}: examples of different dimensions")
        return (np.stack(X) if X else np.zeros((0, 0), np.float32)), np.asarray(y, np.int64), problems

    def example_counts(self, name: str) -> tuple[int, int]:
        with self.engine.connect() as conn:
            res = dict(conn.execute(select(concept_examples.c.label, func.count()).where(
                concept_examples.c.concept == name).group_by(concept_examples.c.label)).all())
        return int(res.get(1, 0)), int(res.get(0, 0))

    def save_model(self, conn, name: str, w: np.ndarray, b: float, threshold: float, metrics: dict) -> None:
        conn.execute(update(concepts).where(concepts.c.name == name).values(
            trained_at=int(time.time()), dim=int(w.shape[0]), weights=vec_to_blob(w), bias=float(b),
            threshold=float(threshold), metrics=json.dumps(metrics, sort_keys=True)))

    def set_concept_tags(self, conn, name: str, scores: dict[int, float]) -> None:
        conn.execute(delete(tags).where(and_(tags.c.tag == name, tags.c.source == "concept")))
        rows = [dict(photo_id=int(p), tag=name, source="concept", score=float(s)) for p, s in scores.items()]
        for s in range(0, len(rows), 1000):
            conn.execute(insert(tags), rows[s:s + 1000])

    def set_photo_concept_tag(self, conn, pid: int, name: str, score: float | None) -> None:
        conn.execute(delete(tags).where(and_(tags.c.photo_id == pid, tags.c.tag == name,
                                             tags.c.source == "concept")))
        if score is not None:
            conn.execute(insert(tags).values(photo_id=pid, tag=name, source="concept", score=float(score)))

    def delete_concept(self, name: str) -> bool:
        with self.write_lock, self.engine.begin() as conn:
            conn.execute(delete(tags).where(and_(tags.c.tag == name, tags.c.source == "concept")))
            conn.execute(delete(concept_examples).where(concept_examples.c.concept == name))
            return conn.execute(delete(concepts).where(concepts.c.name == name)).rowcount > 0


def _on_connect(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
    except Exception:  # not a database: reported as IndexCorrupt by the first real statement
        pass
    finally:
        cur.close()


def _escape_like(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like_prefix(prefix: str) -> str:
    return _escape_like(prefix) + "%"
