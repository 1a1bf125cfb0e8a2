"""A "not sensitive" correction follows the photo's content: a copy of the same photo in
another folder (or moved there later) is shown unblurred too, in this session and the next.
Real photos (tests/data) and the real NSFW model; no score is injected."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from gui_support import TIMEOUT_MS
from photo_support import DEV, need_model

DOLL = "ILSVRC2012_val_00006236.JPEG"     # open_nsfw 0.735: a person in a bonnet, a false positive


@pytest.fixture(scope="module")
def two_copies(tmp_path_factory):
    """The doll twice (two folders, two names) and a dog, indexed with NSFW on."""
    from kbapp.ml.library import PhotoLibrary

    need_model()
    root = tmp_path_factory.mktemp("copies")
    (root / "Pictures").mkdir()
    (root / "Downloads").mkdir()
    shutil.copyfile(DEV / "images" / DOLL, root / "Pictures" / "doll.jpg")
    shutil.copyfile(DEV / "images" / DOLL, root / "Downloads" / "IMG_0001.jpg")
    shutil.copyfile(DEV / "images" / "ILSVRC2012_val_00000355.JPEG", root / "Pictures" / "dog.jpg")
    home = root / "home"
    with PhotoLibrary.open(home) as lib:
        s = lib.index([root / "Pictures", root / "Downloads"])
    assert s.indexed == 3
    return home, root


def test_not_sensitive_is_remembered_by_content(qtbot, two_copies, run):
    from kbapp.gui.pages.photos import PhotosPage
    from kbapp.gui.photo_models import BlurredRole
    from kbapp.gui.photo_service import PREF_NOT_SENSITIVE, DictPrefs, PhotoService

    home, root = two_copies
    sha = hashlib.sha256((root / "Pictures" / "doll.jpg").read_bytes()).hexdigest()
    prefs = DictPrefs()

    def open_page():
        service = PhotoService(home, prefs, watch_interval=0.5)
        page = PhotosPage(service)
        qtbot.addWidget(page)
        page.resize(1100, 760)
        page.show()
        with qtbot.waitSignal(page.searched, timeout=TIMEOUT_MS):
            page.shown()
        return page, service

    def blurred(page) -> dict[str, bool]:
        return {Path(it.path).name: page.model.index(i).data(BlurredRole) for i, it in enumerate(page.model.items)}

    page, service = open_page()
    try:
        assert blurred(page) == {"doll.jpg": True, "IMG_0001.jpg": True, "dog.jpg": False}
        page.set_not_sensitive(str((root / "Pictures" / "doll.jpg").resolve()))
        assert blurred(page) == {"doll.jpg": False, "IMG_0001.jpg": False, "dog.jpg": False}   # the copy too
        assert prefs.preference(PREF_NOT_SENSITIVE) == f'["sha256:{sha}"]'    # no path is kept
    finally:
        run(page.shutdown())
        run(service.close())

    page, service = open_page()     # the next session: both copies still clear
    try:
        assert blurred(page) == {"doll.jpg": False, "IMG_0001.jpg": False, "dog.jpg": False}
        page.set_not_sensitive(str((root / "Downloads" / "IMG_0001.jpg").resolve()), False)   # undone from the copy
        assert blurred(page) == {"doll.jpg": True, "IMG_0001.jpg": True, "dog.jpg": False}
        assert prefs.preference(PREF_NOT_SENSITIVE) == "[]"
    finally:
        run(page.shutdown())
        run(service.close())
