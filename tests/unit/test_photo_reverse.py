"""Reverse image search with the real MobileNetV2: 50 dev photos and an altered copy of each
(80% crop, half size, mirrored, or JPEG quality 15) are indexed together; searching with an
original finds its copy first, and searching with a copy finds its original first."""

from pathlib import Path

import pytest
from photo_support import ALTERATIONS, altered_copy, copy_photos, dev_items

from kbapp.ml.library import PhotoLibrary


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, photo_analyzer):
    root = tmp_path_factory.mktemp("reverse")
    originals = copy_photos([p for p, _ in dev_items()[:50]], root / "originals")
    copies = {}
    for i, p in enumerate(originals):
        how = ALTERATIONS[i % len(ALTERATIONS)]
        copies[p.resolve()] = altered_copy(p, root / "copies" / f"{how}_{p.stem}.jpg", how).resolve()
    lib = PhotoLibrary.open(root / "home", analyzer=photo_analyzer)
    s = lib.index([root / "originals", root / "copies"])
    assert s.indexed == 100 and not s.skipped
    yield lib, copies
    lib.close()


def test_each_original_finds_its_altered_copy_first(indexed):
    lib, copies = indexed
    misses = []
    for orig, copy in copies.items():
        hits = lib.search(None, like=orig, limit=3)
        if Path(hits[0].path) != copy:
            misses.append((orig.name, [Path(h.path).name for h in hits]))
    assert misses == []


def test_each_copy_finds_its_original_first(indexed):
    lib, copies = indexed
    misses = [(c.name, lib.search(None, like=c, limit=1)[0].path) for o, c in copies.items()
              if Path(lib.search(None, like=c, limit=1)[0].path) != o]
    assert misses == []


def test_an_unindexed_copy_is_embedded_on_the_fly(indexed, tmp_path):
    lib, copies = indexed
    orig = next(iter(copies))
    q = altered_copy(orig, tmp_path / "fresh.jpg", "crop")
    assert Path(lib.search(None, like=q, limit=1)[0].path) in (orig, copies[orig])
    t = lib.tags(q)                       # not indexed: analysed on the fly, and not stored
    assert not t.indexed and t.tags and t.width > 0
    assert t.tags[0][0] in {tag for tag, _, _ in lib.tags(orig).tags}
    assert lib.db.photo_by_path(q.resolve()) is None


def test_copies_form_near_duplicate_groups(indexed):
    lib, copies = indexed
    groups = lib.dupes()
    pairs = {frozenset(Path(p) for p in g.paths) for g in groups}
    # every group is an original with its own copy, never two different photos
    assert pairs <= {frozenset(x) for x in copies.items()}
    # the mirrored and cropped copies are the closest: all of them are grouped
    for o, c in copies.items():
        if c.name.startswith(("flip_",)):
            assert frozenset((o, c)) in pairs, c.name
    assert len(groups) >= 25
