"""The photo index and its facade (PhotoLibrary): incremental re-index, watcher, OCR full-text
search, combined filters, NSFW modes, near-duplicates, damaged rows and files.

Most tests store hand-made `ImageAnalysis` objects (the index alone, no OCR or NSFW model
needed); the incremental and watcher tests run the real tagging model on dev photos."""

import os
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from photo_support import copy_photos, dev_items, fake_analysis, write_png

from kbapp.core import errors
from kbapp.ml.library import PhotoLibrary, index_path, parse_date
from kbapp.ml.photodb import PhotoDB


def unit(seed: int, dim: int = 1280) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def lib(tmp_path, photo_analyzer):
    lib = PhotoLibrary.open(tmp_path / "home", analyzer=photo_analyzer)  # its text encoder maps words to tags
    yield lib
    lib.close()


# --- the index alone ----------------------------------------------------------------------


def test_ocr_text_is_searchable_with_fts(lib, tmp_path):
    a = fake_analysis(tmp_path / "receipt.jpg", unit(1), tags=[("receipt", 0.9)],
                      ocr_text="GROCERY STORE\nTotal 12.50 EUR\nThank you")
    b = fake_analysis(tmp_path / "sign.jpg", unit(2), tags=[("street sign", 0.8)], ocr_text="Rue de la Paix")
    c = fake_analysis(tmp_path / "cat.jpg", unit(3), tags=[("cat", 0.95)])
    lib.add_analyses([a, b, c])
    hits = lib.search("grocery total")
    assert [Path(h.path).name for h in hits] == ["receipt.jpg"]
    assert "text in photo" in hits[0].why
    assert [Path(h.path).name for h in lib.search("paix")] == ["sign.jpg"]
    # FTS syntax in a query is taken literally, never as an operator or an error
    assert lib.search('paix" OR "grocery') == []      # all three words must match: none does
    assert lib.search("NEAR(") == []
    assert lib.tags(tmp_path / "receipt.jpg").ocr_text.startswith("GROCERY")


def test_tag_search_is_case_insensitive_and_ranked_by_score(lib, tmp_path):
    lib.add_analyses([fake_analysis(tmp_path / f"{i}.jpg", unit(i), tags=[("dog", s), ("beagle", s)])
                      for i, s in enumerate([0.4, 0.99, 0.7])])
    lib.add_analyses([fake_analysis(tmp_path / "x.jpg", unit(9), tags=[("cat", 0.9)])])
    hits = lib.search("Dog")
    assert [Path(h.path).name for h in hits] == ["1.jpg", "2.jpg", "0.jpg"]


def test_combined_search_with_folder_date_and_similarity(lib, tmp_path):
    base = unit(100)
    near = base + 0.05 * unit(101)
    rows = [
        fake_analysis(tmp_path / "trip" / "dog_near.jpg", near, tags=[("dog", 0.9)]),
        fake_analysis(tmp_path / "trip" / "dog_far.jpg", unit(102), tags=[("dog", 0.95)]),
        fake_analysis(tmp_path / "home" / "dog_near_home.jpg", near + 0.01 * unit(103), tags=[("dog", 0.9)]),
        fake_analysis(tmp_path / "trip" / "cat_near.jpg", near + 0.01 * unit(104), tags=[("cat", 0.9)]),
    ]
    for r in rows:
        write_png(r.path)
    lib.add_analyses(rows)
    example = tmp_path / "example.png"
    write_png(example, color=(1, 2, 3))
    lib.add_analyses([fake_analysis(example, base)])
    # dog AND similar-to-example: the cat is excluded, the near dog ranks first
    hits = lib.search("dog", like=example)
    names = [Path(h.path).name for h in hits]
    assert "cat_near.jpg" not in names and names[0] in ("dog_near.jpg", "dog_near_home.jpg")
    assert names[-1] == "dog_far.jpg"
    assert all("similar" in " ".join(h.why) for h in hits)
    # ... and only under trip/
    hits = lib.search("dog", like=example, folder=tmp_path / "trip")
    assert [Path(h.path).name for h in hits] == ["dog_near.jpg", "dog_far.jpg"]
    # the example itself is never its own hit
    assert all(Path(h.path).name != "example.png" for h in lib.search(None, like=example))
    # dates: files modified now; nothing "until" 2000, everything "since" 2000
    assert lib.search("dog", since="2000") and lib.search("dog", until="2000-01-01") == []
    # an old mtime moves a photo out of --since
    old = time.mktime((2001, 6, 1, 12, 0, 0, 0, 0, -1))
    os.utime(rows[1].path, (old, old))
    lib.add_analyses([rows[1]])
    assert "dog_far.jpg" not in [Path(h.path).name for h in lib.search("dog", since="2010")]
    assert [Path(h.path).name for h in lib.search("dog", until="2002")] == ["dog_far.jpg"]
    with pytest.raises(errors.PhotoIndexError):
        lib.search("dog", since="last tuesday")
    with pytest.raises(errors.PhotoIndexError):
        lib.search("dog", limit=0)


def test_nsfw_include_exclude_only(lib, tmp_path):
    lib.add_analyses([
        fake_analysis(tmp_path / "beach.jpg", unit(1), tags=[("person", 0.9)], nsfw=0.95),
        fake_analysis(tmp_path / "office.jpg", unit(2), tags=[("person", 0.9)], nsfw=0.02),
        fake_analysis(tmp_path / "unscored.jpg", unit(3), tags=[("person", 0.9)], nsfw=None),
    ])
    names = lambda mode: sorted(Path(h.path).name for h in lib.search("person", nsfw=mode))  # noqa: E731
    assert names("include") == ["beach.jpg", "office.jpg", "unscored.jpg"]
    assert names("exclude") == ["office.jpg", "unscored.jpg"]   # unknown score (no model) is kept
    assert names("only") == ["beach.jpg"]
    with pytest.raises(errors.PhotoIndexError):
        lib.search("person", nsfw="maybe")


def test_near_duplicate_groups(lib, tmp_path):
    a, b = unit(10), unit(20)
    rows = [fake_analysis(tmp_path / "a1.jpg", a), fake_analysis(tmp_path / "a2.jpg", a + 0.1 * unit(11)),
            fake_analysis(tmp_path / "a3.jpg", a + 0.1 * unit(12)),
            fake_analysis(tmp_path / "b1.jpg", b), fake_analysis(tmp_path / "b2.jpg", b + 0.1 * unit(21)),
            fake_analysis(tmp_path / "lone.jpg", unit(30))]
    lib.add_analyses(rows)
    groups = lib.dupes()
    got = [[Path(p).name for p in g.paths] for g in groups]
    assert got == [["a1.jpg", "a2.jpg", "a3.jpg"], ["b1.jpg", "b2.jpg"]]
    assert all(0.9 <= g.similarity <= 1.0 for g in groups)
    assert lib.dupes(threshold=0.9999) == []


def test_near_duplicates_above_the_exact_limit_use_an_ivf(lib, tmp_path, monkeypatch):
    from kbapp.ml import dupes
    from kbapp.ml.synthetic import ClusteredVectors

    gen = ClusteredVectors(1280, clusters=20, seed=4)
    X = gen.draw(1500, np.random.default_rng(5))
    twins = [(i, X[i] + 0.1 * unit(1000 + i)) for i in range(0, 40, 2)]     # cosine ~0.995 to their original
    rows = [fake_analysis(tmp_path / f"p{i:04d}.jpg", x) for i, x in enumerate(X)]
    rows += [fake_analysis(tmp_path / f"p{i:04d}_twin.jpg", x) for i, x in twins]
    lib.add_analyses(rows)
    exact = lib.dupes(threshold=0.97)
    monkeypatch.setattr(dupes, "DUPES_EXACT_MAX", 100)
    approx = lib.dupes(threshold=0.97)
    assert len(exact) == 20 and all(len(g.paths) == 2 for g in exact)
    assert {tuple(g.paths) for g in approx} == {tuple(g.paths) for g in exact}


def test_not_a_database_is_refused_with_a_typed_error(tmp_path):
    p = index_path(tmp_path)
    p.parent.mkdir(parents=True)
    p.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(errors.IndexCorrupt):
        PhotoLibrary.open(tmp_path)


def test_damaged_pages_are_refused_with_a_typed_error(tmp_path):
    lib = PhotoLibrary.open(tmp_path)
    lib.add_analyses([fake_analysis(tmp_path / f"{i}.jpg", unit(i), tags=[("cat", 0.5)]) for i in range(200)])
    lib.close()
    p = index_path(tmp_path)
    data = bytearray(p.read_bytes())
    assert len(data) > 100_000
    data[8192:len(data) - 4096] = bytes(range(256)) * ((len(data) - 12288) // 256) + b"\0" * ((len(data) - 12288) % 256)
    p.write_bytes(bytes(data))
    with pytest.raises(errors.IndexCorrupt):
        PhotoLibrary.open(tmp_path)


def test_newer_schema_is_refused(tmp_path):
    """Migrated by a newer kbapp (user_version), or, before migrations, a newer meta row."""
    PhotoDB(index_path(tmp_path)).close()
    c = sqlite3.connect(index_path(tmp_path))
    c.execute("PRAGMA user_version = 99")
    c.close()
    with pytest.raises(errors.IndexCorrupt, match="newer"):
        PhotoLibrary.open(tmp_path)
    c = sqlite3.connect(index_path(tmp_path))
    c.execute("PRAGMA user_version = 0")
    with c:
        c.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    c.close()
    with pytest.raises(errors.IndexCorrupt, match="newer"):
        PhotoLibrary.open(tmp_path)


def test_damaged_vector_row_is_reported_and_queued_for_reindex(tmp_path):
    lib = PhotoLibrary.open(tmp_path)
    ids = lib.add_analyses([fake_analysis(tmp_path / "ok.jpg", unit(1), tags=[("cat", 0.9)]),
                            fake_analysis(tmp_path / "bad.jpg", unit(2), tags=[("cat", 0.8)])])
    lib.close()
    with sqlite3.connect(index_path(tmp_path)) as c:
        c.execute("UPDATE embeddings SET vec = ? WHERE photo_id = ?", (b"\x00" * 17, ids[1]))
    lib = PhotoLibrary.open(tmp_path)
    try:
        assert [pid for pid, _ in lib.problems] == [ids[1]]
        assert len(lib.vectors["image"]) == 1
        row = lib.db.photo_by_path(tmp_path / "bad.jpg")
        assert row.size == -1            # the next `index` sees it as changed
        assert lib.search(None, like=tmp_path / "ok.jpg") == []   # still searchable, no crash
        assert [Path(h.path).name for h in lib.search("cat")] == ["ok.jpg", "bad.jpg"]
    finally:
        lib.close()


def test_damaged_ivf_side_file_is_ignored(tmp_path):
    lib = PhotoLibrary.open(tmp_path)
    lib.add_analyses([fake_analysis(tmp_path / "a.jpg", unit(1))])
    lib.close()
    (index_path(tmp_path).parent / "ivf-image.npz").write_bytes(b"garbage")
    lib = PhotoLibrary.open(tmp_path)
    try:
        assert lib.vectors["image"].ivf is None and len(lib.vectors["image"]) == 1
    finally:
        lib.close()


def _rows_of(db_file: Path, pids: list[int]) -> dict[str, int]:
    """How many rows each table still holds for these photo ids (read with plain sqlite3)."""
    marks = ",".join("?" * len(pids))
    with sqlite3.connect(db_file) as c:
        return {t: c.execute(f"SELECT count(*) FROM {t} WHERE {col} IN ({marks})", pids).fetchone()[0]
                for t, col in (("photos", "id"), ("tags", "photo_id"), ("embeddings", "photo_id"),
                               ("photo_text", "rowid"))}


def test_forget_folder_removes_photos_tags_vectors_and_text(lib, tmp_path):
    trip, kept, other = tmp_path / "trip", tmp_path / "trip" / "best", tmp_path / "tripod"
    gone_ids = lib.add_analyses([
        fake_analysis(trip / "a.jpg", unit(1), tags=[("beach", 0.9)], ocr_text="HOTEL DE LA PLAGE"),
        fake_analysis(trip / "day2" / "b.jpg", unit(2), tags=[("beach", 0.8), ("dog", 0.5)],
                      clip=unit(12, 64))])
    kept_ids = lib.add_analyses([fake_analysis(kept / "c.jpg", unit(3), tags=[("beach", 0.7)], ocr_text="PLAGE")])
    other_ids = lib.add_analyses([fake_analysis(other / "d.jpg", unit(4), tags=[("beach", 0.6)])])  # a name prefix only
    db_file = index_path(tmp_path / "home")
    assert _rows_of(db_file, gone_ids) == {"photos": 2, "tags": 3, "embeddings": 3, "photo_text": 1}
    # the nested folder that is still watched keeps its photos; "tripod" is not under "trip"
    assert lib.forget_folder(trip, keep=[kept]) == 2
    assert _rows_of(db_file, gone_ids) == {"photos": 0, "tags": 0, "embeddings": 0, "photo_text": 0}
    assert _rows_of(db_file, kept_ids + other_ids)["photos"] == 2
    assert lib.count() == 2
    assert sorted(Path(h.path).name for h in lib.search("beach")) == ["c.jpg", "d.jpg"]
    assert [Path(h.path).name for h in lib.search("plage")] == ["c.jpg"]       # OCR text of a.jpg is gone
    assert ("dog", 1) not in lib.known_tags() and dict(lib.known_tags())["beach"] == 2
    assert all(lib.vectors["image"].get(i) is None for i in gone_ids) and len(lib.vectors["image"]) == 2
    assert len(lib.vectors["clip"]) == 0
    assert lib.photo(trip / "a.jpg") is None and lib.photo(kept / "c.jpg").tags == ["beach"]
    # again, or a folder never indexed: nothing to do; no path at all: a typed error
    assert lib.forget_folder(trip, keep=[kept]) == 0 and lib.forget_folder(tmp_path / "nowhere") == 0
    with pytest.raises(errors.PhotoIndexError):
        lib.forget_folder("  ")
    lib.close()
    with PhotoLibrary.open(tmp_path / "home") as again:     # it was written, not just dropped from memory
        assert again.count() == 2 and len(again.vectors["image"]) == 2


def test_forget_folder_is_one_transaction(lib, tmp_path, monkeypatch):
    ids = lib.add_analyses([fake_analysis(tmp_path / "f" / f"{i}.jpg", unit(i), tags=[("cat", 0.9)], ocr_text="MEOW")
                            for i in range(3)])
    real = lib.db.remove_many

    def dies_half_way(conn, pids):
        real(conn, pids[:1])               # one photo's rows deleted in the transaction ...
        raise OSError("disk unplugged")    # ... then it fails

    monkeypatch.setattr(lib.db, "remove_many", dies_half_way)
    with pytest.raises(OSError):
        lib.forget_folder(tmp_path / "f")
    assert _rows_of(index_path(tmp_path / "home"), ids) == {"photos": 3, "tags": 3, "embeddings": 3, "photo_text": 3}
    assert len(lib.vectors["image"]) == 3 and len(lib.search("meow")) == 3


def test_forget_folder_counts_against_the_ivf_and_rebuilds_it(tmp_path, monkeypatch):
    from kbapp.ml import vectors

    monkeypatch.setattr(vectors, "IVF_THRESHOLD", 500)
    lib = PhotoLibrary.open(tmp_path)
    try:
        pids = lib.add_analyses([fake_analysis(tmp_path / ("old" if i < 300 else "new") / f"{i}.jpg", unit(i, 64))
                                 for i in range(1200)])
        assert lib.maybe_build_ivf(wait=True)
        vs = lib.vectors["image"]
        assert vs.ivf.stats.n == 1200 and not vs.stale()
        assert lib.forget_folder(tmp_path / "old") == 300
        lib.maybe_build_ivf(wait=True)          # 300 of 900 live ones dead in the IVF: stale, so it was rebuilt
        assert vs.ivf.stats.n == 900 and not vs.stale()
        ids, _ = vs.search(unit(5, 64), 5)          # the query is a forgotten photo's own vector
        assert pids[5] not in ids.tolist() and set(ids.tolist()) <= set(pids[300:])
        assert vs.search(unit(700, 64), 1)[0].tolist() == [pids[700]]
    finally:
        lib.close()


def test_similar_leaves_the_photo_out_unless_asked(lib, tmp_path):
    base = unit(50)
    rows = [fake_analysis(tmp_path / "me.jpg", base, tags=[("dog", 0.9)], nsfw=0.9),
            fake_analysis(tmp_path / "twin.jpg", base + 0.1 * unit(51), nsfw=0.1),
            fake_analysis(tmp_path / "far.jpg", unit(52), nsfw=0.1)]
    lib.add_analyses(rows)
    assert [Path(h.path).name for h in lib.similar(tmp_path / "me.jpg")] == ["twin.jpg", "far.jpg"]
    hits = lib.similar(tmp_path / "me.jpg", include_self=True)
    assert [Path(h.path).name for h in hits] == ["me.jpg", "twin.jpg", "far.jpg"]
    assert hits[0].why == ["this photo"] and hits[0].score == 1.0 and hits[0].tags == ["dog"]
    assert [Path(h.path).name for h in lib.similar(tmp_path / "me.jpg", include_self=True, limit=2)] == \
        ["me.jpg", "twin.jpg"]
    # a filter that hides the photo hides it as the anchor too
    hidden = lib.similar(tmp_path / "me.jpg", include_self=True, nsfw="exclude")
    assert [Path(h.path).name for h in hidden] == ["twin.jpg", "far.jpg"]


def test_parse_date():
    assert parse_date("2024") == "2024-01-01T00:00:00"
    assert parse_date("2024-05-07") == "2024-05-07T00:00:00"
    assert parse_date("2024-05-07T10:30") == "2024-05-07T10:30:00"
    for bad in ("2024-13", "yesterday", "2024/05/01"):
        with pytest.raises(errors.PhotoIndexError):
            parse_date(bad)


# --- with the real model -------------------------------------------------------------------


def test_incremental_index_add_modify_delete(tmp_path, photo_analyzer):
    items = dev_items()
    src = [p for p, _ in items[:6]]
    folder = tmp_path / "photos"
    files = copy_photos(src[:4], folder)
    (folder / "notes.txt").write_text("not a photo")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    lib = PhotoLibrary.open(tmp_path / "home", analyzer=photo_analyzer)
    try:
        s = lib.index([folder])
        assert (s.indexed, s.unchanged, s.removed) == (4, 0, 0)
        assert sum(s.skipped.values()) == 1 and s.skipped_files[0][0].endswith("broken.jpg")
        s = lib.index([folder])
        assert (s.indexed, s.unchanged, s.removed) == (0, 4, 0)
        # add one, modify one (new content), touch one (same content), delete one
        copy_photos(src[4:5], folder)
        files[0].write_bytes(src[5].read_bytes())
        t = time.time() + 5
        os.utime(files[1], (t, t))
        files[2].unlink()
        s = lib.index([folder])
        assert (s.indexed, s.unchanged, s.removed) == (2, 2, 1)
        assert lib.db.count() == 4
        assert lib.db.photo_by_path(files[2].resolve()) is None
        # the modified file now carries the new photo's content (its hash and vector)
        row = lib.db.photo_by_path(files[0].resolve())
        new = lib.db.photo_by_path((folder / src[4].name).resolve())
        import hashlib
        assert row.sha256 == hashlib.sha256(src[5].read_bytes()).hexdigest()
        assert len(lib.vectors["image"]) == 4 and lib.vectors["image"].get(new.id) is not None
        # progress reports the phases
        seen = []
        lib.index([folder], progress=seen.append)
        assert seen[0].phase == "scan" and seen[-1].phase == "done"
    finally:
        lib.close()


def test_watcher_picks_up_new_and_deleted_files(tmp_path, photo_analyzer):
    src = [p for p, _ in dev_items()[:3]]
    folder = tmp_path / "watched"
    copy_photos(src[:1], folder)
    lib = PhotoLibrary.open(tmp_path / "home", analyzer=photo_analyzer)
    stop = threading.Event()
    updates = []
    t = threading.Thread(target=lib.watch, args=([folder],), kwargs=dict(interval=0.2, stop=stop,
                                                                          on_update=updates.append))
    t.start()
    try:
        deadline = time.time() + 30
        while not updates and time.time() < deadline:
            time.sleep(0.05)
        assert updates and updates[0].indexed == 1
        copy_photos(src[1:2], folder)
        while lib.db.count() < 2 and time.time() < deadline:
            time.sleep(0.1)
        assert lib.db.count() == 2
        (folder / src[0].name).unlink()
        while lib.db.count() > 1 and time.time() < deadline:
            time.sleep(0.1)
        assert lib.db.count() == 1
        assert any(u.removed == 1 for u in updates)
    finally:
        stop.set()
        t.join(timeout=30)
        lib.close()
    assert not t.is_alive()


def test_cancelled_index_stops_early_and_resumes(tmp_path, photo_analyzer):
    src = [p for p, _ in dev_items()[:40]]
    folder = tmp_path / "many"
    copy_photos(src, folder)
    lib = PhotoLibrary.open(tmp_path / "home", analyzer=photo_analyzer)
    try:
        cancel = threading.Event()

        def progress(p):
            if p.phase == "analyze" and p.done >= 1:
                cancel.set()
        s = lib.index([folder], progress=progress, cancel=cancel)
        assert s.cancelled and 1 <= s.indexed < 40
        s2 = lib.index([folder])
        assert not s2.cancelled and s2.indexed + s2.unchanged == 40 and s2.unchanged == s.indexed
    finally:
        lib.close()


def test_cancel_ends_the_pass_but_the_watcher_goes_on(tmp_path, photo_analyzer):
    src = [p for p, _ in dev_items()[:12]]
    folder = tmp_path / "watched"
    copy_photos(src[:10], folder)
    lib = PhotoLibrary.open(tmp_path / "home", analyzer=photo_analyzer)
    stop, cancel = threading.Event(), threading.Event()
    updates = []

    def progress(p):
        if p.phase == "analyze" and p.done >= 1 and not updates:   # Cancel, in the first pass only
            cancel.set()
    t = threading.Thread(target=lib.watch, args=([folder],), kwargs=dict(
        interval=0.2, stop=stop, cancel=cancel, on_update=updates.append, progress=progress))
    t.start()
    try:
        deadline = time.time() + 60
        while not updates and time.time() < deadline:
            time.sleep(0.05)
        assert updates and updates[0].cancelled and updates[0].indexed < 10
        time.sleep(0.5)
        assert t.is_alive() and not stop.is_set()          # still watching
        # a new photo starts a new pass, which also finishes what the cancelled one left
        copy_photos(src[10:11], folder)
        while len(updates) < 2 and time.time() < deadline:
            time.sleep(0.05)
        assert len(updates) == 2 and not updates[1].cancelled
        assert updates[1].indexed == 11 - updates[0].indexed and lib.count() == 11
    finally:
        stop.set()
        t.join(timeout=30)
        lib.close()
    assert not t.is_alive()


def test_ivf_is_built_in_the_background_persisted_and_reused(tmp_path, monkeypatch):
    from kbapp.ml import vectors
    from kbapp.ml.synthetic import ClusteredVectors

    monkeypatch.setattr(vectors, "IVF_THRESHOLD", 1000)
    gen = ClusteredVectors(1280, clusters=30, seed=1)
    X = gen.draw(2500, np.random.default_rng(2))
    lib = PhotoLibrary.open(tmp_path)
    try:
        lib.add_analyses([fake_analysis(tmp_path / f"p{i}.jpg", x) for i, x in enumerate(X)])
        assert lib.vectors["image"].ivf is None
        assert lib.maybe_build_ivf(wait=True)          # stale (no IVF above the threshold): built
        assert lib.vectors["image"].ivf is not None and not lib.vectors["image"].stale()
        assert not lib.maybe_build_ivf()                 # fresh: nothing to do
    finally:
        lib.close()
    ivf_file = index_path(tmp_path).parent / "ivf-image.npz"
    assert ivf_file.is_file()
    stamp = ivf_file.stat().st_mtime_ns
    lib = PhotoLibrary.open(tmp_path)                    # loaded from the side file, not rebuilt
    try:
        vs = lib.vectors["image"]
        assert vs.ivf is not None and not lib.maybe_build_ivf() and ivf_file.stat().st_mtime_ns == stamp
        q = gen.draw(1, np.random.default_rng(3))[0]
        approx, _ = vs.search(q, 10)
        exact, _ = vs.search(q, 10, exact=True)
        assert len(set(approx.tolist()) & set(exact.tolist())) >= 9
        # a photo added after the build is found at once (tail), before any rebuild
        new = fake_analysis(tmp_path / "new.jpg", q)
        (pid,) = lib.add_analyses([new])
        assert vs.search(q, 1)[0].tolist() == [pid]
    finally:
        lib.close()
