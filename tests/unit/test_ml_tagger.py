"""The tagger on real dev photos: breeds collapse into "dog", free text finds tags,
NSFW scores map onto bands, embeddings are unit vectors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kbapp.core import errors
from kbapp.ml.bands import band
from kbapp.ml.pipeline import Analyzer, ImageAnalysis
from kbapp.ml.registry import Registry

from photo_support import DEV
DOGS = ["ILSVRC2012_val_00000355.JPEG", "ILSVRC2012_val_00001872.JPEG", "ILSVRC2012_val_00002318.JPEG",
        "ILSVRC2012_val_00002393.JPEG"]
NOT_DOGS = ["ILSVRC2012_val_00000347.JPEG", "ILSVRC2012_val_00000796.JPEG", "ILSVRC2012_val_00000560.JPEG"]



@pytest.fixture(scope="module")
def analyzer(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:  # no pulled models of the developer's
        mp.setenv("KBAPP_MODELS_HOME", str(tmp_path_factory.mktemp("models")))
        a = Analyzer(batch_size=4, workers=2)
    yield a
    a.close()


@pytest.fixture(scope="module")
def results(analyzer):
    paths = [DEV / "images" / n for n in DOGS + NOT_DOGS]
    return {r.path.name: r for r in analyzer.analyze(paths)}


def test_every_breed_collapses_into_dog(results):
    for name in DOGS:
        r = results[name]
        assert isinstance(r, ImageAnalysis)
        tags = dict(r.tags)
        assert tags.get("dog", 0) >= 0.5, r.tags
        assert "animal" in tags and "mammal" in tags
        fine = [t for t in tags if t not in ("dog", "animal", "mammal")]
        assert fine, "the breed itself is kept too"
    for name in NOT_DOGS:
        assert "dog" not in dict(results[name].tags), results[name].tags
    assert "cat" in dict(results["ILSVRC2012_val_00000796.JPEG"].tags)


def test_analysis_fields(results):
    r = results[DOGS[0]]
    assert len(r.sha256) == 64 and r.width > 0 and r.height > 0
    assert r.embedding.dtype == np.float32 and r.embedding.shape == (1280,)
    assert abs(float(np.linalg.norm(r.embedding)) - 1.0) < 1e-4
    assert r.nsfw is not None and 0.0 <= r.nsfw <= 1.0
    assert band(r.nsfw) == "safe"
    assert r.ocr_text is None and r.clip_embedding is None
    scores = [s for _, s in r.tags]
    assert scores == sorted(scores, reverse=True)
    # Two dogs are closer to each other than a dog is to a canoe.
    d1, d2, boat = results[DOGS[0]].embedding, results[DOGS[1]].embedding, results[NOT_DOGS[0]].embedding
    assert float(d1 @ d2) > float(d1 @ boat)


def test_hierarchy_covers_all_breeds():
    m = Registry().get("mobilenetv2")
    h = json.loads(m.file("hierarchy").read_text())
    for i in range(151, 269):
        assert "dog" in h["classes"][str(i)] and "animal" in h["classes"][str(i)]
    for i in range(281, 286):
        assert "cat" in h["classes"][str(i)]
    assert "dog" not in h["classes"].get("472", [])


def test_free_text_maps_to_tags(analyzer):
    assert "dog" in [t for t, _ in analyzer.embed_text_to_tags("puppy", k=3)]
    assert "cat" in [t for t, _ in analyzer.embed_text_to_tags("kitten", k=3)]
    top = analyzer.embed_text_to_tags("boat", k=5)
    assert top[0] == ("boat", 1.0) and len(top) == 5
    with pytest.raises(errors.MLError):
        analyzer.embed_text_to_tags("   ")
    assert analyzer.clip_text_embedding("a dog") is None  # no CLIP model installed here


@pytest.mark.parametrize("score,expect", [(0.0, "safe"), (0.19, "safe"), (0.2, "review"), (0.79, "review"),
                                          (0.8, "nsfw"), (1.0, "nsfw"), (None, None)])
def test_nsfw_bands(score, expect):
    assert band(score) == expect


def test_nsfw_bands_from_manifest_are_checked():
    assert band(0.5, {"review": 0.1, "nsfw": 0.4}) == "nsfw"
    with pytest.raises(errors.BadManifest):
        band(0.5, {"review": 0.9, "nsfw": 0.1})
