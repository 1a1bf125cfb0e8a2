"""The pipeline's shape: bounded read-ahead, results in order as batches finish,
progress, and the stable API the index uses."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from kbapp.ml.pipeline import Analyzer, ImageAnalysis, Skipped


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    d = tmp_path_factory.mktemp("photos")
    out = []
    for i in range(40):
        p = d / f"p{i:03d}.jpg"
        Image.new("RGB", (96, 64), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256)).save(p)
        out.append(p)
    (d / "bad.jpg").write_bytes(b"nope")
    return out, d / "bad.jpg"


def test_read_ahead_is_bounded_and_results_stream(photos):
    paths, bad = photos
    consumed = []

    def source():
        for p in paths:
            consumed.append(p)
            yield p

    a = Analyzer(nsfw=False, batch_size=4, workers=2)
    try:
        it = a.analyze(source())
        first = next(it)
        # The first batch came out before the whole input was read: at most the queue was.
        assert len(consumed) <= a.queue_depth + a.batch_size
        assert len(consumed) < len(paths)
        rest = list(it)
    finally:
        a.close()
    results = [first] + rest
    assert [r.path for r in results] == paths
    assert all(isinstance(r, ImageAnalysis) for r in results)
    # Identical pixels give identical embeddings; different colours differ.
    assert len({r.sha256 for r in results}) == len(paths)


def test_progress_and_mixed_batches(photos):
    paths, bad = photos
    order = paths[:5] + [bad] + paths[5:9]
    calls = []
    with Analyzer(nsfw=False, batch_size=3, workers=2) as a:
        results = list(a.analyze(order, progress=lambda d, t: calls.append((d, t))))
        again = a.embed_image(paths[0])
    assert [type(r) for r in results] == [ImageAnalysis] * 5 + [Skipped] + [ImageAnalysis] * 4
    assert calls[-1] == (len(order), len(order))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert np.allclose(again, results[0].embedding, atol=1e-5)


def test_reused_batch_buffer_holds_each_batchs_own_images(tmp_path):
    # Batches of 3 over 7 photos (the last one short) through one reused input buffer: every
    # embedding must equal the one computed alone, so nothing stale survives between batches.
    rng = np.random.default_rng(5)
    paths = []
    for i, (w, h) in enumerate([(300, 220), (150, 150), (640, 480), (227, 227), (90, 200), (400, 260), (64, 64)]):
        p = tmp_path / f"v{i}.png"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    with Analyzer(nsfw=False, batch_size=3, workers=2) as a:
        results = list(a.analyze(paths))
        pixels, buffer = a._buffers.classify
        alone = [a.embed_image(p) for p in paths]
    assert buffer.shape == pixels.shape == (3, 3, 224, 224)
    for r, e in zip(results, alone):
        assert np.allclose(r.embedding, e, atol=1e-5)
    assert min(float(results[i].embedding @ results[i + 1].embedding) for i in range(6)) < 0.999


def test_two_threads_analysing_at_once_get_their_own_results(tmp_path):
    # The app tags a single photo (PhotoLibrary.tags) while indexing runs in another thread:
    # the reused batch buffers are per thread, so neither sees the other's pixels.
    import threading

    rng = np.random.default_rng(11)
    paths = []
    for i in range(12):
        p = tmp_path / f"t{i}.png"
        Image.fromarray(rng.integers(0, 256, (120 + i, 160, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    with Analyzer(nsfw=False, batch_size=2, workers=2) as a:
        alone = {p: a.embed_image(p) for p in paths}
        got: dict = {}
        start = threading.Barrier(2)

        def run(part):
            start.wait()
            for _ in range(3):
                for r in a.analyze(part):
                    got.setdefault(r.path, []).append(r.embedding)

        threads = [threading.Thread(target=run, args=(paths[k::2],)) for k in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert sorted(got) == sorted(paths) and all(len(v) == 3 for v in got.values())
    for p, embs in got.items():
        for e in embs:
            assert np.allclose(e, alone[p], atol=1e-5)
