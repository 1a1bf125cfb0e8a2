"""Multi-word text queries combine their words (kbapp/ml/multiword.py), on the real dev photos
and the real tag model: "puppy in the snow" finds the dog sled, not the dogs indoors."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbapp.ml import multiword
from kbapp.ml.library import PhotoLibrary

from photo_support import copy_photos, dev_items

SLED = "ILSVRC2012_val_00011006.JPEG"      # ImageNet class 537, dogsled: dogs in the snow


def test_content_words_drop_stop_words():
    assert multiword.content_words("A puppy in the snow") == ["puppy", "snow"]
    assert multiword.content_words("photos of my dog, dog and the beach!") == ["dog", "beach"]
    assert multiword.content_words("the of in") == []


@pytest.fixture(scope="module")
def dev_lib(tmp_path_factory, photo_analyzer):
    """The 300 dev photos, indexed once for this module."""
    tmp = tmp_path_factory.mktemp("multiword")
    copy_photos([p for p, _ in dev_items()], tmp / "photos")
    lib = PhotoLibrary.open(tmp / "home", analyzer=photo_analyzer)
    lib.index([tmp / "photos"])
    yield lib
    lib.close()


def names(hits) -> list[str]:
    return [Path(h.path).name for h in hits]


def test_puppy_in_the_snow_is_dog_and_snow(dev_lib):
    dogs = names(dev_lib.search("puppy", limit=100))
    assert len(dogs) > 5 and dogs[0] != SLED             # alone, "puppy" is every dog, the sled far down
    hits = dev_lib.search("puppy in the snow", limit=50)
    assert hits and names(hits)[0] == SLED               # the one photo with a dog and snow comes first
    for h in hits:                                       # each result matched both words
        assert any(w.startswith("puppy:") for w in h.why) and any(w.startswith("snow:") for w in h.why), h.why
    assert len(hits) < len(dogs)                         # the dogs indoors are not "in the snow"
    note = dev_lib.last_note
    assert "puppy and snow" in note and "CLIP" in note and "docs/ml.md" in note
    assert dev_lib.last_total == len(hits)


def test_every_word_must_match_and_ranking_follows_the_combination(dev_lib):
    hits = dev_lib.search("puppy in the snow", limit=50)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    assert dev_lib.search("puppy on the spaceship", limit=50) == []    # no word "spaceship" matches
    assert dev_lib.last_note.startswith("No photo shows puppy and spaceship together")
    # stop words alone do not make a multi-word query: "a dog" is "dog"
    assert names(dev_lib.search("a dog", limit=30)) == names(dev_lib.search("dog", limit=30))
    assert dev_lib.last_note is None


def test_cli_says_how_the_words_were_read(tmp_path):
    """`kbapp photos search "puppy in the snow"`, in its own process: the sled, and the note on
    stderr (how the words were combined, and how to add a CLIP model)."""
    import json
    import os
    import shutil
    import subprocess
    import sys

    from photo_support import DEV, need_model

    need_model()
    (tmp_path / "p").mkdir()
    for n in (SLED, "ILSVRC2012_val_00000355.JPEG"):
        shutil.copyfile(DEV / "images" / n, tmp_path / "p" / n)
    env = {**os.environ, "KBAPP_KEYSTORE": "memory"}
    kb = [sys.executable, "-m", "kbapp", "--home", str(tmp_path / "h"), "photos"]
    subprocess.run(kb + ["index", str(tmp_path / "p")], env=env, check=True, capture_output=True, timeout=120)
    out = subprocess.run(kb + ["search", "puppy in the snow"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert SLED in out.stdout and "ILSVRC2012_val_00000355" not in out.stdout
    assert "puppy and snow" in out.stderr and "kbapp photos models pull" in out.stderr
    js = subprocess.run(kb + ["search", "puppy in the snow", "--json"], env=env, capture_output=True, text=True,
                        timeout=120)
    body = json.loads(js.stdout)
    assert [os.path.basename(h["path"]) for h in body["hits"]] == [SLED] and "CLIP" in body["note"]
