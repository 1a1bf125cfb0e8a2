"""Batched index writes (`PhotoDB.upsert_many`) and the EXIF date read while decoding.

Indexing stores each batch of photos in a few statements; these check that a
re-indexed photo keeps its id and the user's concept tags while its model tags,
vectors and OCR text are replaced, that the last of two writes to one path wins,
and that batches past SQLite's bound-parameter cap are split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sqlalchemy import select

from kbapp.ml.photodb import PhotoDB, PhotoWrite, blob_to_vec, embeddings


def _vec(seed: int, dim: int = 8) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def _write(path: Path, seed: int, *, tags=(("dog", 0.9),), text: str | None = None, nsfw=None) -> PhotoWrite:
    return PhotoWrite(path, f"{seed:064x}", 100 + seed, 10**9 + seed, 40, 30, "2021-06-01T10:00:00", nsfw,
                      list(tags), {"image": _vec(seed)}, text)


@pytest.fixture
def db(tmp_path):
    d = PhotoDB(tmp_path / "index.db")
    yield d
    d.close()


def _vectors(db: PhotoDB, pid: int) -> dict[str, np.ndarray]:
    with db.engine.connect() as c:
        return {r.kind: blob_to_vec(r.vec, r.dim) for r in c.execute(select(embeddings).where(
            embeddings.c.photo_id == pid))}


def test_reindexing_keeps_ids_and_concept_tags_and_replaces_the_rest(db, tmp_path):
    paths = [tmp_path / f"p{i}.jpg" for i in range(5)]
    with db.engine.begin() as c:
        ids = db.upsert_many(c, [_write(p, i, text="OLD RECEIPT" if i == 2 else None) for i, p in enumerate(paths)])
        db.set_photo_concept_tag(c, ids[2], "my dog", 0.8)
    assert len(set(ids)) == 5 and db.count() == 5
    assert [pid for pid, _ in db.search_text("receipt")] == [ids[2]]

    # p2 and p4 change; a new p5 comes in the same batch, between them
    new5 = tmp_path / "p5.jpg"
    with db.engine.begin() as c:
        again = db.upsert_many(c, [_write(paths[2], 20, tags=[("cat", 0.7), ("CAT", 0.6)], text="NEW TICKET"),
                                   _write(new5, 5), _write(paths[4], 40, tags=[])])
    assert again[0] == ids[2] and again[2] == ids[4] and again[1] not in ids
    assert db.count() == 6
    assert db.tags_of(ids[2]) == [("my dog", 0.8, "concept"), ("cat", 0.7, "model")]   # one "cat"; dog gone
    assert db.tags_of(ids[4]) == []
    assert np.allclose(_vectors(db, ids[2])["image"], _vec(20)) and list(_vectors(db, ids[2])) == ["image"]
    assert db.search_text("receipt") == [] and [p for p, _ in db.search_text("ticket")] == [ids[2]]
    row = db.photo_by_path(paths[2])
    assert (row.sha256, row.size, row.taken) == (f"{20:064x}", 120, "2021-06-01T10:00:00")
    assert db.tags_of(ids[0]) == [("dog", 0.9, "model")]        # untouched rows stay as they were


def test_same_path_twice_in_a_batch_last_wins(db, tmp_path):
    p = tmp_path / "twice.jpg"
    with db.engine.begin() as c:
        ids = db.upsert_many(c, [_write(p, 1, tags=[("dog", 0.9)]), _write(p, 2, tags=[("cat", 0.8)])])
    assert ids[0] == ids[1] and db.count() == 1
    assert db.tags_of(ids[0]) == [("cat", 0.8, "model")]
    assert np.allclose(_vectors(db, ids[0])["image"], _vec(2))


def test_batches_larger_than_sqlites_parameter_cap(db, tmp_path):
    paths = [tmp_path / "many" / f"{i:05d}.jpg" for i in range(1203)]
    with db.engine.begin() as c:
        ids = db.upsert_many(c, [_write(p, i) for i, p in enumerate(paths)])
    with db.engine.begin() as c:
        again = db.upsert_many(c, [_write(p, i + 1) for i, p in enumerate(paths)])
    assert again == ids and len(set(ids)) == 1203 and db.count() == 1203
    assert np.allclose(_vectors(db, ids[-1])["image"], _vec(1203))
    with db.engine.begin() as c:
        db.remove_many(c, ids[:700])
    assert db.count() == 503 and db.tags_of(ids[0]) == [] and _vectors(db, ids[0]) == {}


def _jpeg_with_date(path: Path, date: str | None, orientation: int | None = None) -> Path:
    im = Image.new("RGB", (60, 40), (200, 30, 30))
    im.paste((30, 30, 200), (0, 0, 30, 40))         # left half blue: shows a rotation
    ex = Image.Exif()
    if date is not None:
        ex.get_ifd(0x8769)[36867] = date
    if orientation is not None:
        ex[0x0112] = orientation
    im.save(path, "JPEG", exif=ex.tobytes(), quality=95)
    return path


def test_exif_date_is_read_while_decoding(tmp_path):
    from kbapp.ml import imaging

    d = imaging.load_image(_jpeg_with_date(tmp_path / "a.jpg", "2019:07:14 18:30:05"))
    assert d.taken == "2019-07-14T18:30:05"
    assert imaging.load_image(_jpeg_with_date(tmp_path / "b.jpg", None)).taken is None
    assert imaging.load_image(_jpeg_with_date(tmp_path / "c.jpg", "0000:00:00 00:00:00")).taken is None
    assert imaging.load_image(_jpeg_with_date(tmp_path / "d.jpg", "yesterday")).taken is None
    rot = imaging.load_image(_jpeg_with_date(tmp_path / "e.jpg", "2020:01:02 03:04:05", orientation=6))
    assert (rot.width, rot.height, rot.taken) == (40, 60, "2020-01-02T03:04:05")
    # orientation 6 turns the photo a quarter clockwise: the blue left half ends on top
    top, bottom = rot.image.getpixel((20, 5)), rot.image.getpixel((20, 55))
    assert top[2] > 150 and bottom[0] > 150


def test_index_stores_and_filters_by_the_exif_date(tmp_path, photo_analyzer):
    from kbapp.ml.library import PhotoLibrary

    folder = tmp_path / "pics"
    folder.mkdir()
    _jpeg_with_date(folder / "old.jpg", "2012:03:04 05:06:07")
    _jpeg_with_date(folder / "new.jpg", "2024:08:09 10:11:12")
    lib = PhotoLibrary.open(tmp_path / "home", analyzer=photo_analyzer)
    try:
        lib.index([folder])
        assert lib.db.photo_by_path((folder / "old.jpg").resolve()).taken == "2012-03-04T05:06:07"
        names = {Path(h.path).name for h in lib.search(like=folder / "old.jpg", since="2020", limit=10)}
        assert names == {"new.jpg"}
        assert lib.tags(folder / "old.jpg").taken == "2012-03-04T05:06:07"
        elsewhere = _jpeg_with_date(tmp_path / "not-indexed.jpg", "2001:02:03 04:05:06")
        unindexed = lib.tags(elsewhere)
        assert (unindexed.indexed, unindexed.taken) == (False, "2001-02-03T04:05:06")
    finally:
        lib.close()
