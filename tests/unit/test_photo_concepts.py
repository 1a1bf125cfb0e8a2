"""Custom concepts: the logistic regression and its cross-validated metrics on synthetic
embeddings, then a real concept ("dog" photos vs others) on dev photos with the real model."""

from pathlib import Path

import numpy as np
import pytest
from photo_support import copy_photos, dev_items

from kbapp.core import errors
from kbapp.ml import concepts
from kbapp.ml.library import PhotoLibrary


def blobs(n_pos, n_neg, gap, dim=64, seed=0):
    rng = np.random.default_rng(seed)
    d = rng.standard_normal(dim)
    d /= np.linalg.norm(d)
    X = rng.standard_normal((n_pos + n_neg, dim)) * 0.3
    X[:n_pos] += gap * d
    y = np.r_[np.ones(n_pos), np.zeros(n_neg)].astype(int)
    return X.astype(np.float32), y


def test_roc_auc_and_prf_on_known_values():
    y = np.array([1, 1, 0, 0])
    assert concepts.roc_auc(y, np.array([0.9, 0.8, 0.1, 0.2])) == 1.0
    assert concepts.roc_auc(y, np.array([0.1, 0.2, 0.9, 0.8])) == 0.0
    assert concepts.roc_auc(y, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert concepts.roc_auc(np.array([1, 0, 1, 0]), np.array([0.9, 0.7, 0.6, 0.2])) == 0.75
    p, r, f = concepts.prf_at(y, np.array([0.9, 0.3, 0.6, 0.1]), 0.5)
    assert (p, r, f) == (0.5, 0.5, 0.5)


def test_stratified_folds_spread_each_class():
    y = np.array([1] * 6 + [0] * 14)
    folds = concepts.stratified_folds(y, 3)
    assert sorted(np.concatenate(folds).tolist()) == list(range(20))
    assert [int(y[f].sum()) for f in folds] == [2, 2, 2]


def test_separable_concept_scores_high_and_fit_separates():
    X, y = blobs(12, 30, gap=3.0)
    model, m = concepts.train_concept(X, y)
    assert m.folds == 5 and (m.positives, m.negatives) == (12, 30)
    assert m.roc_auc >= 0.99 and m.f1 >= 0.95 and m.precision >= 0.9 and m.recall >= 0.9
    p = model.predict_proba(X)
    assert (p[y == 1] >= m.threshold).all() and (p[y == 0] < m.threshold).mean() > 0.95


def test_unlearnable_concept_scores_low():
    X, _ = blobs(20, 20, gap=0.0, seed=1)
    y = np.random.default_rng(2).permutation(np.r_[np.ones(20), np.zeros(20)]).astype(int)
    _, m = concepts.train_concept(X, y)
    assert m.roc_auc < 0.75        # random labels: no skill (honest metrics, not training fit)


def test_too_few_examples_is_a_typed_error():
    X, y = blobs(1, 5, gap=3.0)
    with pytest.raises(errors.ConceptError):
        concepts.train_concept(X, y)
    with pytest.raises(errors.ConceptError):
        concepts.train_concept(X[:3], y[:2])


def test_real_dog_concept_on_dev_photos(tmp_path, photo_analyzer):
    """ImageNet classes 151-268 are dog breeds: label a few as "my dog", others not."""
    items = dev_items()
    dogs = [p for p, c in items if 151 <= c <= 268]
    others = [p for p, c in items if not (151 <= c <= 268)]
    assert len(dogs) >= 30
    folder = tmp_path / "photos"
    pool = copy_photos(dogs[:30] + others[:60], folder)
    lib = PhotoLibrary.open(tmp_path / "home", analyzer=photo_analyzer)
    try:
        lib.index([folder])
        pos, neg = pool[:10], pool[30:50]
        info = lib.concept_add("my dog", positives=pos, negatives=neg)
        assert (info.positives, info.negatives, info.trained) == (10, 20, False)
        r = lib.concept_train("my dog")
        assert r.folds == 5 and r.roc_auc >= 0.9 and r.f1 >= 0.8
        # applied to every indexed photo: the held-out dogs are mostly tagged, the others mostly not
        tagged = {Path(h.path).name for h in lib.search("my dog", limit=200)}
        held_dogs = {p.name for p in pool[10:30]}
        held_other = {p.name for p in pool[50:]}
        assert len(tagged & held_dogs) >= 14
        assert len(tagged & held_other) <= 4
        concept_tags = {t for t, _, src in lib.tags(pool[12]).tags if src == "concept"}
        assert (concept_tags == {"my dog"}) == (pool[12].name in tagged)
        listed = lib.concepts()
        assert [c.name for c in listed] == ["my dog"] and listed[0].trained and listed[0].metrics["f1"] == r.f1
        assert listed[0].tagged == len(tagged)
        # a photo indexed later is scored too: a copy of a positive example is tagged on arrival
        later = copy_photos(pool[:1], tmp_path / "later")[0]
        lib.index([tmp_path / "later"])
        assert ("my dog", "concept") in {(t, src) for t, _, src in lib.tags(later).tags}
        with pytest.raises(errors.ConceptError):
            lib.concept_train("never added")
        with pytest.raises(errors.ConceptError):
            lib.concept_add("", positives=pos)
        assert lib.concept_remove("my dog")
        assert lib.concepts() == [] and lib.db.photos_with_tags(["my dog"]) == {}
    finally:
        lib.close()
