"""The photo pipeline: files in, `ImageAnalysis` (or `Skipped`) out, in batches.

Shape of the work: a thread pool decodes and preprocesses images (Pillow and
numpy release the GIL for the heavy parts) while the caller's thread runs the
models on full batches. At most `queue_depth` images are in flight, so memory
stays bounded however many paths are given, and the pool is always a batch
ahead of the model so the model is not starved. Results come out in input
order as each batch finishes. A bad file becomes a `Skipped` with the typed
error's code and a logged reason; the batch goes on.

This module is the API the index, the CLI and the GUI use (stable):
`Analyzer`, `ImageAnalysis`, `Skipped`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from kbapp.core import errors
from kbapp.ml import imaging
from kbapp.ml.registry import ModelManifest, Registry
from kbapp.ml.runtime import active_provider, choose_providers
from kbapp.ml.threads import lower_thread_priority
from kbapp.ml.tagger import Classifier

log = logging.getLogger(__name__)


@dataclass
class ImageAnalysis:
    path: Path
    sha256: str
    width: int
    height: int
    tags: list[tuple[str, float]]          # friendly + fine labels, best first
    embedding: np.ndarray                  # float32 (1280,), L2-normalised
    nsfw: float | None = None
    ocr_text: str | None = None
    clip_embedding: np.ndarray | None = None   # float32, L2-normalised, when a CLIP model is installed
    taken: str | None = None               # EXIF date taken, read while decoding


@dataclass
class Skipped:
    path: Path
    reason: str
    code: str


@dataclass
class _Prepared:
    """What a worker hands the model thread for one image."""

    decoded: imaging.Decoded
    pixels: dict[str, np.ndarray] = field(default_factory=dict)   # uint8 model input per model (imaging.pixels)
    ocr_text: str | None = None


class Analyzer:
    """Tags, embeddings, NSFW score, OCR text and CLIP embedding of photos."""

    def __init__(self, *, models_dir: Path | None = None, providers: list[str] | None = None,
                 batch_size: int = 16, workers: int | None = None, nsfw: bool = True, ocr: bool = False,
                 clip: bool = True, max_pixels: int = imaging.DEFAULT_MAX_PIXELS,
                 threads: int | None = None):
        if batch_size < 1:
            raise errors.MLError("batch_size must be at least 1")
        self.registry = Registry(Path(models_dir) if models_dir else None)
        self.providers = choose_providers(providers)
        self.batch_size = batch_size
        self.workers = workers or max(1, min(8, (os.cpu_count() or 2)))
        self.queue_depth = self.batch_size * 2 + self.workers
        self.max_pixels = max_pixels
        self.notes: list[str] = []     # why an optional part is off ("OCR: not installed ...")
        self._threads = threads

        manifest = self.registry.find("classify")
        if manifest is None:
            raise errors.ModelMissing("no tagging model found (resources/models/mobilenetv2 is missing)")
        self.classifier = Classifier(manifest, self.providers, threads)
        self._provider = active_provider(self.classifier.session)

        self.nsfw_model = None
        if nsfw:
            self.nsfw_model = self._optional("nsfw", "NSFW")
        self.clip = None
        if clip:
            m = self.registry.find("clip")
            if m is not None:
                from kbapp.ml.clip import ClipModel
                try:
                    self.clip = ClipModel(m, self.providers, threads, labels=self.classifier.labels.groups)
                except errors.MLError as e:
                    self._note(f"CLIP model {m.name!r} not used: {e}")
        self.ocr = None
        if ocr:
            from kbapp.ml.ocr import OcrEngine
            try:
                self.ocr = OcrEngine()
            except errors.ModelMissing as e:
                self._note(str(e))
        self._text = None
        self._pool: ThreadPoolExecutor | None = None
        self._buffers = threading.local()   # per thread: {model key: (uint8 batch, float32 batch)}
        self._preps = {"classify": self.classifier.prep}    # each active model's input recipe
        if self.nsfw_model:
            self._preps["nsfw"] = self.nsfw_model.prep
        if self.clip:
            self._preps["clip"] = self.clip.prep
        # JPEG DCT scaling may shrink a photo down to this, no further: the largest side any
        # active model resizes to (OCR, when on, wants full resolution)
        self._min_side = 0 if self.ocr is not None else max(max(p.resize, p.crop) for p in self._preps.values())

    def _note(self, msg: str) -> None:
        log.warning("%s", msg)
        self.notes.append(msg)

    def _optional(self, task: str, what: str):
        m = self.registry.find(task)
        if m is None:
            self._note(f"{what}: no model installed")
            return None
        try:
            from kbapp.ml.nsfw import NsfwModel
            return NsfwModel(m, self.providers, self._threads)
        except errors.MLError as e:
            self._note(f"{what} off: {e}")
            return None

    # -- facts ------------------------------------------------------------------

    @property
    def provider(self) -> str:
        """The execution provider the tagging session really uses (from onnxruntime)."""
        return self._provider

    @property
    def manifest(self) -> ModelManifest:
        return self.classifier.manifest

    @property
    def tag_vocabulary(self) -> list[str]:
        return self.classifier.labels.vocabulary()

    # -- the pipeline --------------------------------------------------------------

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="kbapp-ml",
                                            initializer=lower_thread_priority)
        return self._pool

    def prepare(self, path: Path) -> _Prepared:
        """Decode + preprocess one file for every active model (runs in a worker)."""
        d = imaging.load_image(Path(path), min_side=self._min_side, max_pixels=self.max_pixels)
        t = {"classify": imaging.pixels(d.image, self.classifier.prep)}
        if self.nsfw_model:
            t["nsfw"] = self.nsfw_model.pixels(d.image)
        if self.clip:
            t["clip"] = imaging.pixels(d.image, self.clip.prep)
        text = self.ocr.read(d.image) if self.ocr else None
        prepared = _Prepared(d, t, text)
        d.image = None  # pixels are no longer needed: keep the queue's memory small
        return prepared

    def _safe_prepare(self, path: Path) -> _Prepared | Skipped:
        try:
            return self.prepare(path)
        except errors.ImageError as e:
            log.info("skipped %s: %s (%s)", path, e, e.code)
            return Skipped(Path(path), str(e), e.code)
        except errors.KbappError as e:
            log.warning("skipped %s: %s (%s)", path, e, e.code)
            return Skipped(Path(path), str(e), e.code)
        except Exception as e:  # a decoder bug on a hostile file must not end the batch
            log.warning("skipped %s: unexpected %s: %s", path, type(e).__name__, e)
            return Skipped(Path(path), f"{type(e).__name__}: {e}", errors.ImageError.code)

    def batch(self, items: list[_Prepared], key: str) -> np.ndarray:
        """The normalised float32 input batch for one model (`key`: classify, nsfw or clip).

        Written into buffers kept per model and reused for every batch, so only the first
        batch pays for fresh memory; valid until this thread's next call with the same key.
        Per thread: the app may index in one thread while it tags a single photo in another."""
        shape = items[0].pixels[key].shape
        mine = self._buffers.__dict__
        bufs = mine.get(key)
        if bufs is None or bufs[0].shape[0] < len(items) or bufs[0].shape[1:] != shape:
            n = max(len(items), self.batch_size)
            bufs = mine[key] = (np.empty((n, *shape), np.uint8), np.empty((n, *shape), np.float32))
        pixels, out = bufs[0][:len(items)], bufs[1][:len(items)]
        np.stack([p.pixels[key] for p in items], out=pixels)
        return imaging.normalize(pixels, self._preps[key], out=out)

    def _infer(self, items: list[_Prepared]) -> list[ImageAnalysis]:
        probs, emb = self.classifier.run(self.batch(items, "classify"))
        nsfw = self.nsfw_model.run(self.batch(items, "nsfw")) if self.nsfw_model else None
        clip = self.clip.encode_images(self.batch(items, "clip")) if self.clip else None
        out = []
        for i, p in enumerate(items):
            tags = self.classifier.labels.tags(probs[i])
            if clip is not None:
                tags = self.clip.merge_zero_shot(tags, clip[i])
            d = p.decoded
            out.append(ImageAnalysis(
                path=d.path, sha256=d.sha256, width=d.width, height=d.height, tags=tags,
                embedding=emb[i].copy(), nsfw=float(nsfw[i]) if nsfw is not None else None,
                ocr_text=p.ocr_text, clip_embedding=clip[i].copy() if clip is not None else None,
                taken=d.taken))
        return out

    def analyze(self, paths: Iterable[Path],
                progress: Callable[[int, int], None] | None = None) -> Iterator[ImageAnalysis | Skipped]:
        """Stream one result per path, in order, as batches finish.

        `progress(done, total)` is called after each batch; `total` is 0 while the
        length of `paths` is unknown (a generator).
        """
        try:
            total = len(paths)  # type: ignore[arg-type]
        except TypeError:
            total = 0
        pool = self._executor()
        pending: deque[Future] = deque()
        it = iter(paths)
        exhausted = False
        done = 0
        ready: list[_Prepared | Skipped] = []

        def refill():
            nonlocal exhausted
            while not exhausted and len(pending) < self.queue_depth:
                try:
                    p = next(it)
                except StopIteration:
                    exhausted = True
                    return
                pending.append(pool.submit(self._safe_prepare, p))

        refill()
        while pending or ready:
            # Gather up to one batch of prepared images, keeping the pool busy meanwhile.
            while pending and sum(isinstance(r, _Prepared) for r in ready) < self.batch_size:
                ready.append(pending.popleft().result())
                refill()
            images = [r for r in ready if isinstance(r, _Prepared)]
            results = iter(self._infer(images)) if images else iter(())
            for r in ready:
                yield r if isinstance(r, Skipped) else next(results)
            done += len(ready)
            ready = []
            if progress:
                progress(done, total)

    def analyze_one(self, path: Path) -> ImageAnalysis | Skipped:
        return next(self.analyze([path]))

    def embed_image(self, path: Path) -> np.ndarray:
        """The 1280-d tag-model embedding of one image (query by example); typed error if unreadable."""
        d = imaging.load_image(Path(path), min_side=self.classifier.prep.resize, max_pixels=self.max_pixels)
        _, emb = self.classifier.run(imaging.preprocess(d.image, self.classifier.prep)[None])
        return emb[0]

    # -- text ------------------------------------------------------------------------

    def text_encoder(self):
        if self._text is None:
            from kbapp.ml.textenc import TagMatcher
            m = self.registry.find("text-embed")
            if m is None:
                raise errors.ModelMissing("no sentence encoder installed (resources/models/minilm)")
            self._text = TagMatcher(m, self.providers, self.tag_vocabulary, self._threads)
        return self._text

    def embed_text_to_tags(self, query: str, k: int = 5) -> list[tuple[str, float]]:
        """The k tags nearest in meaning to a free-text query, with cosine similarity."""
        return self.text_encoder().nearest(query, k)

    def clip_text_embedding(self, query: str) -> np.ndarray | None:
        """CLIP text embedding (same space as `ImageAnalysis.clip_embedding`), or None without CLIP."""
        if self.clip is None:
            return None
        return self.clip.encode_text([query])[0]

    @property
    def clip_name(self) -> str | None:
        return self.clip.manifest.name if self.clip else None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "Analyzer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
