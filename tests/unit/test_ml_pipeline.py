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
