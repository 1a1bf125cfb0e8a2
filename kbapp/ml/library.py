"""`PhotoLibrary`: the one facade the CLI and the GUI use for the photo index.

Index folders (incrementally: new, changed and deleted files), search by tag, by
free text, by example image, combined with folder / date / NSFW filters; list
near-duplicate groups (ml/dupes.py); train custom concepts (ml/concept_store.py);
watch folders (ml/watching.py). Every method is synchronous and thread-safe; the
`a*` variants run them in a worker thread for asyncio callers (the GUI under
qasync), and long jobs take a `progress` callback and a `cancel` event.

Change detection: a file whose size and mtime match its row is unchanged; when
they differ its sha256 is computed and only a different hash means re-analysis
(a `touch` costs a hash, not a model run). Files gone from an indexed folder are
removed. `watch` re-indexes on file-system events (ml/watching.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from sqlalchemy.exc import DatabaseError

from kbapp.core import errors
from kbapp.ml import concepts as concept_ml
from kbapp.ml import multiword
from kbapp.ml import origins
from kbapp.ml.concept_store import ConceptStore
from kbapp.ml.dupes import DupeFinder
from kbapp.ml.files import MAX_FILE_BYTES, scan_images, sha256_regular
from kbapp.ml.library_types import (ConceptInfo, ConceptReport, DupeGroup, Hit, IndexProgress,  # noqa: F401
                                    IndexSummary, PhotoTags, parse_date)   # (re-exported: callers import them here)
from kbapp.ml.photodb import PhotoDB, PhotoWrite
from kbapp.ml.vectors import IVFIndex, VectorSet
from kbapp.ml.watching import Watching

log = logging.getLogger(__name__)

NSFW_THRESHOLD = 0.7
TEXT_TAG_MIN_SIM = 0.45     # a free-text query's nearest tags below this cosine are not used
RRF_K = 60
KINDS = ("image", "clip")


# --- the facade ------------------------------------------------------------------------------


class PhotoLibrary(DupeFinder, ConceptStore, Watching):
    """The photo index of one profile (`<home>/photos/index.db`)."""

    def __init__(self, db: PhotoDB, *, analyzer=None, analyzer_factory: Callable[[], object] | None = None):
        self.db = db
        self.dir = db.path.parent
        self._analyzer = analyzer
        self._own_analyzer = analyzer is None
        self._factory = analyzer_factory
        self._lock = threading.RLock()
        self.vectors: dict[str, VectorSet] = {}
        self.problems: list[tuple[int, str]] = []   # damaged rows found at open (queued for re-index)
        self._concepts: dict[str, tuple[concept_ml.LogisticModel, float]] = {}
        self._ivf_thread: threading.Thread | None = None
        self._ivf_cancel = threading.Event()
        try:
            self._load()
        except DatabaseError as e:  # a damaged page found while reading everything back
            db.close()
            raise errors.IndexCorrupt(f"{db.path} is damaged ({e.orig}); move it away to start a fresh one") from e

    @classmethod
    def open(cls, home: Path, **kw) -> "PhotoLibrary":
        """Open (creating if needed) the index of the profile directory `home`
        (the CLI and GUI pass `kbapp.client.paths.default_home()` or `--home`)."""
        return cls.open_at(index_path(home), **kw)

    @classmethod
    def open_at(cls, index_path: Path, *, analyzer=None, models_dir: Path | None = None,
                ocr: bool = False) -> "PhotoLibrary":
        def factory():
            from kbapp.ml.pipeline import Analyzer
            return Analyzer(models_dir=models_dir, ocr=ocr)
        return cls(PhotoDB(index_path), analyzer=analyzer, analyzer_factory=factory)

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def analyzer(self):
        with self._lock:
            if self._analyzer is None:
                if self._factory is None:
                    raise errors.ModelMissing("no analyzer configured for this photo library")
                self._analyzer = self._factory()
            return self._analyzer

    def close(self) -> None:
        self._ivf_cancel.set()
        t = self._ivf_thread
        if t is not None:
            t.join(timeout=30)
        if self._analyzer is not None and self._own_analyzer:
            self._analyzer.close()
        self.db.close()

    def __enter__(self) -> "PhotoLibrary":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _ivf_path(self, kind: str) -> Path:
        return self.dir / f"ivf-{kind}.npz"

    def _load(self) -> None:
        for kind in KINDS:
            ids, mat, problems = self.db.load_vectors(kind)
            for pid, why in problems:
                log.warning("photo index: damaged %s vector of photo %d (%s): queued for re-indexing", kind, pid, why)
                self.db.mark_for_reindex(pid)
            self.problems += problems
            if len(ids):
                vs = VectorSet(mat.shape[1])
                vs.replace_all(ids, mat)
                self.vectors[kind] = vs
                p = self._ivf_path(kind)
                if p.exists():
                    try:
                        ivf = IVFIndex.load(p)
                        if ivf.stats.full_dim == vs.dim:
                            vs.set_ivf(ivf)
                    except errors.IndexCorrupt as e:
                        log.warning("%s; it will be rebuilt", e)
        for row in self.db.concept_rows():
            if row.weights is not None and row.dim:
                try:
                    from kbapp.ml.photodb import blob_to_vec
                    self._concepts[row.name] = (concept_ml.LogisticModel(blob_to_vec(row.weights, row.dim),
                                                                         float(row.bias)), float(row.threshold))
                except errors.IndexCorrupt as e:
                    log.warning("concept %r: damaged model (%s): train it again", row.name, e)
                    self.problems.append((0, f"concept {row.name}: {e}"))
        self.maybe_build_ivf()

    # -- IVF upkeep -----------------------------------------------------------------------------

    def maybe_build_ivf(self, *, wait: bool = False, force: bool = False) -> bool:
        """(Re)build a stale IVF index in a background thread; True if a build was started."""
        with self._lock:
            if self._ivf_thread is not None and self._ivf_thread.is_alive():
                if wait:
                    self._ivf_thread.join()
                return False
            todo = [k for k, vs in self.vectors.items() if force or vs.stale()]
            if not todo:
                return False
            self._ivf_cancel.clear()
            t = threading.Thread(target=self._build_ivf, args=(todo,), name="kbapp-ivf", daemon=True)
            self._ivf_thread = t
            t.start()
        if wait:
            t.join()
        return True

    def _build_ivf(self, kinds: list[str]) -> None:
        for kind in kinds:
            vs = self.vectors[kind]
            with vs._lock:
                ids, mat = vs.ids.copy(), vs.matrix.copy()
            try:
                ivf = IVFIndex.build(mat, ids, cancel=self._ivf_cancel, meta={"kind": kind})
                ivf.save(self._ivf_path(kind))
                vs.set_ivf(ivf)
                log.info("photo index: IVF for %s built over %d vectors", kind, len(ids))
            except errors.Cancelled:
                return
            except Exception as e:  # a failed build leaves exact search in place
                log.warning("photo index: IVF build failed: %s", e)

    # -- indexing -------------------------------------------------------------------------------

    def index(self, roots: Iterable[Path], *, progress: Callable[[IndexProgress], None] | None = None,
              cancel: threading.Event | None = None, follow_symlinks: bool = False) -> IndexSummary:
        """Bring the index up to date with the image files under `roots` (recursively).

        Only regular files are read; symlinks out of `roots` are left out unless
        `follow_symlinks` (files.py); what is left out is in the summary's `skipped`."""
        t0 = time.perf_counter()
        roots = [Path(r).resolve() for r in roots]
        for r in roots:
            if not r.exists():
                raise errors.NotFound(f"{r} does not exist")
        say = progress or (lambda p: None)
        summary = IndexSummary()
        say(IndexProgress("scan", 0, 0))
        scan = scan_images(roots, follow_symlinks=follow_symlinks)
        files = scan.files
        for path, code, why in scan.skipped:
            self._skipped(summary, path, code, why)
        known = self.db.rows_under(roots)
        # deleted
        gone = [row for p, row in known.items() if p not in files]
        if gone:
            self._remove_ids([row.id for row in gone])
            summary.removed = len(gone)
        # new or changed
        todo: list[str] = []
        touched: list[tuple[int, int, int]] = []
        for i, (p, st) in enumerate(sorted(files.items())):
            row = known.get(p)
            if row is not None and row.size == st.st_size and row.mtime_ns == st.st_mtime_ns:
                summary.unchanged += 1
                continue
            if row is not None and row.sha256 and row.size >= 0:
                try:
                    same = sha256_regular(p, MAX_FILE_BYTES) == row.sha256
                except (OSError, errors.ImageError):
                    same = False
                if same:
                    touched.append((row.id, st.st_size, st.st_mtime_ns))
                    summary.unchanged += 1
                    continue
            todo.append(p)
            if cancel is not None and cancel.is_set():
                summary.cancelled = True
                break
        if touched:
            with self.db.write_lock, self.db.engine.begin() as conn:
                for pid, size, mtime in touched:
                    self.db.touch(conn, pid, size, mtime)
        if todo and not summary.cancelled:
            self._analyze_into(todo, files, summary, say, cancel)
        summary.seconds = round(time.perf_counter() - t0, 3)
        say(IndexProgress("done", summary.indexed, len(todo)))
        self.maybe_build_ivf()
        return summary

    def _analyze_into(self, todo: list[str], stats: dict[str, os.stat_result], summary: IndexSummary,
                      say: Callable[[IndexProgress], None], cancel: threading.Event | None) -> None:
        from kbapp.ml.pipeline import Skipped

        an = self.analyzer
        summary.provider = an.provider
        total = len(todo)
        done = 0
        pending = []

        def flush():
            if not pending:
                return
            self.add_analyses(pending, stats=stats)
            pending.clear()

        say(IndexProgress("analyze", 0, total))
        for res in an.analyze([Path(p) for p in todo]):
            done += 1
            if isinstance(res, Skipped):
                self._skipped(summary, str(res.path), res.code, res.reason)
                self._forget(Path(res.path))   # an indexed file that became unreadable leaves the index
            else:
                pending.append(res)
                summary.indexed += 1
            # small batches first, so a first pass shows photos while it runs (the window's grid)
            if len(pending) >= 64 or (done <= 64 and len(pending) >= 8):
                flush()
            say(IndexProgress("analyze", done, total, str(res.path)))
            if cancel is not None and cancel.is_set():
                summary.cancelled = True
                break
        flush()

    @staticmethod
    def _skipped(summary: IndexSummary, path: str, code: str, why: str) -> None:
        summary.skipped[code] = summary.skipped.get(code, 0) + 1
        if len(summary.skipped_files) < 100:
            summary.skipped_files.append((path, why))

    def _forget(self, path: Path) -> None:
        row = self.db.photo_by_path(path)
        if row is not None:
            self._remove_ids([row.id])

    def _remove_ids(self, pids: list[int]) -> None:
        """Rows, tags, vectors and OCR text of these photos in one transaction, then the live vectors."""
        with self.db.write_lock, self.db.engine.begin() as conn:
            self.db.remove_many(conn, pids)
        for vs in self.vectors.values():
            vs.remove_many(pids)   # the IVF still holds them: they count as dead until a rebuild

    def forget_folder(self, root: Path, *, keep: Iterable[Path] = ()) -> int:
        """Remove every photo under `root` from the index (the files are not touched); returns how many.

        For a folder the user stops watching. Photos that are also under a folder of `keep`
        (another watched folder, nested in or around `root`) stay. Rows, tags (concept tags
        included), vectors and OCR text go in one transaction; the live vector sets drop them
        at once, and an IVF that now holds too many dead entries is rebuilt in the background.
        A concept's labelled examples stay: they are the user's labels, stored with their own
        embeddings, not part of a folder's index.
        """
        if root is None or not str(root).strip():
            raise errors.PhotoIndexError("which folder? (an empty path)")
        root = Path(root).expanduser().resolve()
        rows = self.db.rows_under([root])
        kept = self.db.rows_under([Path(k).expanduser().resolve() for k in keep])
        pids = [row.id for p, row in rows.items() if p not in kept]
        if pids:
            self._remove_ids(pids)
            self.maybe_build_ivf()
        return len(pids)

    def add_analyses(self, results: Iterable, *, stats: dict[str, os.stat_result] | None = None) -> list[int]:
        """Store `ImageAnalysis` results (the pipeline's, or built by hand); apply concepts. Returns ids."""
        writes: list[PhotoWrite] = []
        for a in results:
            p = Path(a.path)
            st = (stats or {}).get(str(p))
            if st is None:
                try:
                    st = p.stat()
                except OSError:
                    st = None
            vecs = {"image": _unit(a.embedding)}
            if getattr(a, "clip_embedding", None) is not None:
                vecs["clip"] = _unit(a.clip_embedding)
            writes.append(PhotoWrite(p, a.sha256, st.st_size if st else 0, st.st_mtime_ns if st else 0, a.width,
                                     a.height, getattr(a, "taken", None), a.nsfw, list(a.tags), vecs, a.ocr_text))
        if not writes:
            return []
        with self.db.write_lock, self.db.engine.begin() as conn:
            ids = self.db.upsert_many(conn, writes)
            if self._concepts:
                images = np.stack([w.vectors["image"] for w in writes])
                for name, (model, thr) in self._concepts.items():
                    for pid, s in zip(ids, model.predict_proba(images)):
                        self.db.set_photo_concept_tag(conn, pid, name, float(s) if s >= thr else None)
        by_kind: dict[str, tuple[list[int], list[np.ndarray]]] = {}
        for pid, w in zip(ids, writes):
            for kind, v in w.vectors.items():
                by_kind.setdefault(kind, ([], []))[0].append(pid)
                by_kind[kind][1].append(v)
        for kind, (pids, vs_) in by_kind.items():
            if kind not in self.vectors:
                self.vectors[kind] = VectorSet(vs_[0].shape[0])
            self.vectors[kind].upsert_many(np.asarray(pids), np.stack(vs_))
        return ids

    # -- search ---------------------------------------------------------------------------------

    def search(self, text: str | None = None, *, like: Path | None = None, nsfw: str = "include",
               folder: Path | None = None, since: str | None = None, until: str | None = None,
               limit: int = 20, nsfw_threshold: float = NSFW_THRESHOLD) -> list[Hit]:
        """Tags / free text / OCR text / CLIP, and-ed with "similar to `like`", within the filters.

        `last_total` is then how many photos matched before `limit` cut the list (None for "similar
        to" alone, which ranks every photo): the CLI says "20 of 37"."""
        self.last_total: int | None = None
        self.last_note: str | None = None     # how a multi-word query was read (multiword.py)
        if limit < 1 or limit > 10_000:
            raise errors.PhotoIndexError("limit must be between 1 and 10000")
        text = (text or "").strip()
        if len(text) > 1000:
            raise errors.PhotoIndexError("query longer than 1000 characters")
        allowed = self.db.filter_ids(folder=str(Path(folder).resolve()) if folder else None, since=parse_date(since),
                                     until=parse_date(until), nsfw=nsfw, nsfw_threshold=nsfw_threshold)
        why: dict[int, list[str]] = {}
        if text:
            fused = self._multiword(text, allowed, why)
            if fused is None:
                fused = self._text_scores(text, allowed, why)
            self.last_total = len(fused)
            if like is None:
                ranked = sorted(fused.items(), key=lambda t: -t[1])[:limit]
                return self._hits(ranked, why)
            allowed = np.asarray(sorted(fused), dtype=np.int64)
            if allowed.size == 0:
                return []
        if like is not None:
            q, self_id = self._example_vector(Path(like))
            vs = self.vectors.get("image")
            if vs is None or len(vs) == 0:
                return []
            if self_id is not None and allowed is not None:
                if self.last_total is not None and bool((allowed == self_id).any()):
                    self.last_total -= 1     # the example itself is not a result
                allowed = allowed[allowed != self_id]
            ids, scores = vs.search(q, limit + 1, allowed=allowed)
            ranked = [(int(i), float(s)) for i, s in zip(ids, scores) if int(i) != self_id][:limit]
            for pid, s in ranked:
                why.setdefault(pid, []).append(f"similar {s:.3f}")
            return self._hits(ranked, why)
        # no query: the newest photos that pass the filters
        self.last_total = len(allowed) if allowed is not None else self.db.count()
        return self._hits([(pid, 0.0) for pid in self.db.recent_ids(allowed, limit)], why)

    def _multiword(self, text: str, allowed: np.ndarray | None, why: dict[int, list[str]]) -> dict[int, float] | None:
        """Words and-ed (multiword.py) when the query has several and no CLIP model reads phrases."""
        words = multiword.content_words(text)
        clip = self.vectors.get("clip")
        if clip is not None and len(clip):
            return None
        if self.db.photos_with_tags([text]):   # a tag or a concept by that very name ("my dog")
            return None
        if len(words) < 2:
            if len(words) == 1 and words[0] != text.strip().lower():   # "a dog": the stop words go
                return self._text_scores(words[0], allowed, why)
            return None
        fused, note = multiword.combined_scores(self, words, allowed, why)
        self.last_note = f"{note} {multiword.CLIP_ADVICE}"
        return fused

    def _text_scores(self, text: str, allowed: np.ndarray | None, why: dict[int, list[str]]) -> dict[int, float]:
        """Each source ranks photos; reciprocal-rank fusion merges them (robust to unlike score scales)."""
        sources: list[list[tuple[int, float]]] = []
        exact = self.db.photos_with_tags([text])
        tag_names = [text] if exact else []
        if not exact:
            try:
                near = [(t, s) for t, s in self.analyzer.embed_text_to_tags(text, k=5) if s >= TEXT_TAG_MIN_SIM]
            except errors.ModelMissing as e:
                log.info("free-text to tags off: %s", e)
                near = [(t, 1.0) for t, _ in self.db.known_tags(like=text, limit=5)]
            tag_names = [t for t, _ in near]
            sims = dict(near)
            hits = self.db.photos_with_tags(tag_names)
            scored = [(pid, sims.get(tag, 0.0) * s, tag) for pid, (tag, s) in hits.items()]
        else:
            scored = [(pid, s, tag) for pid, (tag, s) in exact.items()]
        tag_rank = sorted(scored, key=lambda t: -t[1])
        sources.append([(pid, s) for pid, s, _ in tag_rank])
        for pid, s, tag in tag_rank:
            why.setdefault(pid, []).append(f"tag {tag} {s:.2f}")
        ocr = self.db.search_text(text)
        sources.append(ocr)
        for pid, _ in ocr:
            why.setdefault(pid, []).append("text in photo")
        clip = self.vectors.get("clip")
        if clip is not None and len(clip):
            try:
                q = self.analyzer.clip_text_embedding(text)
            except errors.ModelMissing:
                q = None
            if q is not None and q.shape[0] == clip.dim:
                ids, scores = clip.search(q, 200, allowed=allowed)
                sources.append([(int(i), float(s)) for i, s in zip(ids, scores)])
                for i, s in zip(ids[:50], scores[:50]):
                    why.setdefault(int(i), []).append(f"clip {s:.3f}")
        ok = None if allowed is None else set(allowed.tolist())
        fused: dict[int, float] = {}
        for src in sources:
            rank = 0
            for pid, _ in src:
                if ok is not None and pid not in ok:
                    continue
                fused[pid] = fused.get(pid, 0.0) + 1.0 / (RRF_K + rank + 1)
                rank += 1
        return fused

    def _example_vector(self, path: Path) -> tuple[np.ndarray, int | None]:
        row = self.db.photo_by_path(path.resolve())
        if row is not None:
            v = self.vectors.get("image").get(row.id) if "image" in self.vectors else None
            if v is not None:
                return v, row.id
        if not path.exists():
            raise errors.NotFound(f"{path} does not exist")
        return _unit(self.analyzer.embed_image(path)), (row.id if row else None)

    def similar(self, path: Path, *, limit: int = 20, include_self: bool = False, **filters) -> list[Hit]:
        """Photos most like `path`, within the `search` filters.

        The photo itself is left out by default: it would always be the top hit (cosine 1.0)
        and tells the caller nothing. `include_self=True` puts it first (score 1.0, why
        "this photo") when it is indexed and passes the filters, as an anchor for a view
        like the GUI's "More like this"; `limit` counts it.
        """
        if limit < 1 or limit > 10_000:
            raise errors.PhotoIndexError("limit must be between 1 and 10000")
        me = self.photo(path) if include_self else None
        if me is not None:
            allowed = self.db.filter_ids(
                folder=str(Path(filters["folder"]).resolve()) if filters.get("folder") else None,
                since=parse_date(filters.get("since")), until=parse_date(filters.get("until")),
                nsfw=filters.get("nsfw", "include"), nsfw_threshold=filters.get("nsfw_threshold", NSFW_THRESHOLD))
            if allowed is not None and me.photo_id not in set(allowed.tolist()):
                me = None
        if me is None:
            return self.search(None, like=path, limit=limit, **filters)
        me.score, me.why = 1.0, ["this photo"]
        rest = self.search(None, like=path, limit=limit - 1, **filters) if limit > 1 else []
        return [me] + [h for h in rest if h.photo_id != me.photo_id]

    def _hits(self, ranked: list[tuple[int, float]], why: dict[int, list[str]]) -> list[Hit]:
        rows = self.db.photos_by_ids([p for p, _ in ranked])
        out = []
        for pid, score in ranked:
            row = rows.get(pid)
            if row is None:
                continue
            tg = [t for t, _, _ in self.db.tags_of(pid)[:5]]
            out.append(Hit(path=row.path, score=round(score, 6), photo_id=pid, tags=tg, nsfw=row.nsfw,
                           sha256=row.sha256 or None,
                           taken=row.taken, why=why.get(pid, [])))
        return origins.attach(self.db, out)

    # -- one photo -------------------------------------------------------------------------------

    def photo(self, path: Path) -> Hit | None:
        """An indexed photo as a `Hit` (score 0, its top five tags), or None if it is not indexed."""
        row = self.db.photo_by_path(Path(path).expanduser().resolve())
        if row is None:
            return None
        return origins.attach(self.db, [Hit(path=row.path, score=0.0, photo_id=row.id,
                                       tags=[t for t, _, _ in self.db.tags_of(row.id)[:5]],
                                       nsfw=row.nsfw, taken=row.taken, why=[], sha256=row.sha256 or None)])[0]

    def count(self) -> int:
        """How many photos the index holds."""
        return self.db.count()

    def known_tags(self, *, like: str | None = None, limit: int = 50) -> list[tuple[str, int]]:
        """The index's tags (model and concept), most used first, with how many photos carry each;
        `like` keeps those containing it (case-insensitive)."""
        if limit < 1 or limit > 100_000:
            raise errors.PhotoIndexError("limit must be between 1 and 100000")
        return self.db.known_tags(like=like or None, limit=limit)

    def tags(self, path: Path) -> PhotoTags:
        """Stored tags of an indexed photo; an unindexed one is analysed on the fly (not stored)."""
        path = Path(path).resolve()
        row = self.db.photo_by_path(path)
        if row is not None and row.size >= 0:
            return PhotoTags(str(path), True, row.width, row.height, self.db.tags_of(row.id), row.nsfw,
                             self.db.ocr_text_of(row.id), row.taken)
        if not path.exists():
            raise errors.NotFound(f"{path} does not exist")
        from kbapp.ml.pipeline import Skipped

        res = self.analyzer.analyze_one(path)
        if isinstance(res, Skipped):
            raise errors.ImageError(f"{path}: {res.reason}")
        tg = [(t, s, "model") for t, s in res.tags]
        v = _unit(res.embedding)
        for name, (model, thr) in self._concepts.items():
            s = float(model.predict_proba(v[None])[0])
            if s >= thr:
                tg.append((name, round(s, 4), "concept"))
        return PhotoTags(str(path), False, res.width, res.height, sorted(tg, key=lambda t: -t[1]), res.nsfw,
                         res.ocr_text, res.taken)

    # -- asyncio ------------------------------------------------------------------------------------

    async def aindex(self, roots, **kw) -> IndexSummary:
        return await asyncio.to_thread(self.index, roots, **kw)

    async def asearch(self, text=None, **kw) -> list[Hit]:
        return await asyncio.to_thread(self.search, text, **kw)

    async def atags(self, path) -> PhotoTags:
        return await asyncio.to_thread(self.tags, path)

    async def adupes(self, **kw) -> list[DupeGroup]:
        return await asyncio.to_thread(self.dupes, **kw)

    async def aconcept_add(self, name, positives=(), negatives=()) -> ConceptInfo:
        return await asyncio.to_thread(self.concept_add, name, positives, negatives)

    async def aconcept_train(self, name) -> ConceptReport:
        return await asyncio.to_thread(self.concept_train, name)

    async def aconcepts(self) -> list[ConceptInfo]:
        return await asyncio.to_thread(self.concepts)


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32).reshape(-1)
    if not np.all(np.isfinite(v)):
        raise errors.MLError("embedding holds NaN or infinity")
    return v / max(float(np.linalg.norm(v)), 1e-12)


def index_path(home: Path) -> Path:
    """Where a profile keeps its photo index."""
    return Path(home) / "photos" / "index.db"
