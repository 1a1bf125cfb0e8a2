"""`app.photos` (kbapp/client/photos.py): the watched folders and forgetting them, Qt-free.

The real index (hand-made analyses, no model) and the real profile preferences of an `App`
opened without an account: what the CLI and the GUI both go through."""

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
from photo_support import fake_analysis

from kbapp.client.app import App
from kbapp.client.photos import PREF_PHOTO_FOLDERS, DictPrefs, PhotoService
from kbapp.core import errors


def unit(seed: int, dim: int = 64) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def test_folders_are_resolved_deduplicated_and_checked(tmp_path, monkeypatch):
    (tmp_path / "pics" / "inner").mkdir(parents=True)
    (tmp_path / "file.jpg").write_bytes(b"x")
    photos = PhotoService(tmp_path / "home", DictPrefs())
    monkeypatch.chdir(tmp_path)
    assert photos.add_folder("pics") == [str((tmp_path / "pics").resolve())]
    assert photos.add_folder(tmp_path / "pics" / "inner" / "..") == [str((tmp_path / "pics").resolve())]
    for bad in (tmp_path / "missing", tmp_path / "file.jpg"):
        with pytest.raises(errors.NotFound):
            photos.add_folder(bad)
    assert photos.folders() == [str((tmp_path / "pics").resolve())]
    assert photos.unwatch(tmp_path / "elsewhere") is None and len(photos.folders()) == 1
    assert photos.unwatch("pics") == str((tmp_path / "pics").resolve()) and photos.folders() == []


@pytest.mark.parametrize("raw", ["not json", '{"a": 1}', '"/x"', "[1, null, \"\", [\"/y\"]]"])
def test_a_damaged_preference_reads_as_no_folders(raw):
    prefs = DictPrefs()
    prefs.set_preference(PREF_PHOTO_FOLDERS, raw)
    assert PhotoService(Path("/nonexistent"), prefs).folders() == []


def test_remove_folder_forgets_its_photos_only(tmp_path):
    trip, best, other = tmp_path / "trip", tmp_path / "trip" / "best", tmp_path / "other"
    for d in (trip, best, other):
        d.mkdir(parents=True, exist_ok=True)
    photos = PhotoService(tmp_path / "home", DictPrefs())

    async def scenario():
        photos.library().add_analyses([fake_analysis(trip / "a.jpg", unit(1), tags=[("beach", 0.9)]),
                          fake_analysis(best / "b.jpg", unit(2), tags=[("beach", 0.8)]),
                          fake_analysis(other / "c.jpg", unit(3), tags=[("cat", 0.9)])])
        photos.set_folders([trip, best, other])
        with pytest.raises(errors.NotFound):             # not watched: nothing is forgotten
            await photos.remove_folder(tmp_path / "elsewhere", forget=True)
        assert await photos.count() == 3
        assert await photos.remove_folder(other) == 0    # kept: only the list changes
        assert await photos.count() == 3
        assert await photos.remove_folder(trip, forget=True) == 1   # best/ is still watched
        assert photos.folders() == [str(best.resolve())]
        assert sorted(Path(h.path).name for h in await photos.search(None, limit=10)) == ["b.jpg", "c.jpg"]
        await photos.close()
        with pytest.raises(errors.Cancelled):
            await photos.count()
    asyncio.run(scenario())


def test_app_photos_need_no_account_and_keep_the_list_in_the_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("KBAPP_KEYSTORE", "memory")
    folder = tmp_path / "pics"
    folder.mkdir()

    async def scenario():
        async with App(tmp_path / "home") as app:
            assert not (await app.status()).logged_in
            app.photos.add_folder(folder)
        async with App(tmp_path / "home") as again:    # another process: the CLI after the app
            assert again.photos.folders() == [str(folder.resolve())]
            assert json.loads(again.preference(PREF_PHOTO_FOLDERS)) == [str(folder.resolve())]
    asyncio.run(scenario())
