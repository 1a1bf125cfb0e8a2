"""`kbapp photos ...` end to end, as a user runs it: a real process, the real models, a
profile in a temporary --home; every command's --json output is parsed and checked."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from photo_support import altered_copy, copy_photos, dev_items, need_model

ROOT = Path(__file__).resolve().parents[2]


def kbapp(home: Path, *args, ok: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "kbapp", "--home", str(home), *args], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    if ok:
        assert p.returncode == 0, p.stderr
    return p


def js(home: Path, *args) -> dict | list:
    return json.loads(kbapp(home, *args, "--json").stdout)


@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    need_model()
    root = tmp_path_factory.mktemp("photos-cli")
    items = dev_items()
    dogs = [p for p, c in items if 151 <= c <= 268][:8]
    others = [p for p, c in items if not (151 <= c <= 268)][:10]
    folder = root / "pics"
    photos = copy_photos(dogs + others, folder)
    altered_copy(photos[0], folder / "copy_of_first.jpg", "flip")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    return root / "home", folder, photos


def test_index_search_tags_dupes_json(profile):
    home, folder, photos = profile
    s = js(home, "photos", "index", str(folder))
    assert s["indexed"] == 19 and s["unchanged"] == 0 and s["removed"] == 0
    assert sum(s["skipped"].values()) == 1 and s["provider"].endswith("ExecutionProvider")
    again = js(home, "photos", "index", str(folder))
    assert (again["indexed"], again["unchanged"]) == (0, 19)

    res = js(home, "photos", "search", "dog")
    names = {Path(h["path"]).name for h in res["hits"]}
    assert len(names & {p.name for p in photos[:8]}) >= 6       # "dog" finds the breeds
    assert not names & {p.name for p in photos[8:]}
    assert all("dog" in h["tags"] for h in res["hits"])
    assert all(set(h) >= {"path", "score", "tags", "why", "nsfw", "taken", "photo_id"} for h in res["hits"])

    like = js(home, "photos", "search", "--like", str(photos[0]), "--limit", "3")
    assert Path(like["hits"][0]["path"]).name == "copy_of_first.jpg"
    combined = js(home, "photos", "search", "dog", "--like", str(photos[0]), "--nsfw", "exclude",
                  "--folder", str(folder), "--since", "2000-01-01", "--limit", "5")
    assert combined["hits"] and all("dog" in h["tags"] for h in combined["hits"])

    t = js(home, "photos", "tags", str(photos[0]))
    assert t["indexed"] and t["tags"] and t["width"] > 0 and t["nsfw"] is not None
    assert any(tag == "dog" for tag, _, _ in t["tags"])

    d = js(home, "photos", "dupes")
    assert any({Path(p).name for p in g["paths"]} == {photos[0].name, "copy_of_first.jpg"} for g in d["groups"])


def test_concept_commands_json(profile):
    home, folder, photos = profile
    js(home, "photos", "index", str(folder))
    info = js(home, "photos", "concept", "add", "good boy", "--positive", *map(str, photos[:6]),
              "--negative", *map(str, photos[8:16]))
    assert (info["positives"], info["negatives"], info["trained"]) == (6, 8, False)
    r = js(home, "photos", "concept", "train", "good boy")
    assert set(r) >= {"precision", "recall", "f1", "roc_auc", "threshold", "folds", "tagged"}
    assert r["folds"] == 5 and 0.0 <= r["roc_auc"] <= 1.0 and r["tagged"] >= 1
    listed = js(home, "photos", "concept", "list")
    assert [c["name"] for c in listed["concepts"]] == ["good boy"] and listed["concepts"][0]["trained"]
    text = kbapp(home, "photos", "concept", "train", "good boy").stdout
    assert "precision" in text and "ROC-AUC" in text


def test_errors_are_typed_json(profile, tmp_path):
    home, folder, photos = profile
    p = kbapp(home, "photos", "search", "dog", "--since", "someday", "--json", ok=False)
    assert p.returncode == 1 and json.loads(p.stdout)["error"]["code"] == "PHOTO_INDEX"
    p = kbapp(home, "photos", "concept", "train", "nobody", "--json", ok=False)
    assert json.loads(p.stdout)["error"]["code"] == "CONCEPT"
    bad = tmp_path / "bad-home"
    (bad / "photos").mkdir(parents=True)
    (bad / "photos" / "index.db").write_bytes(b"garbage" * 1000)
    p = kbapp(bad, "photos", "search", "dog", "--json", ok=False)
    assert p.returncode == 1 and json.loads(p.stdout)["error"]["code"] == "INDEX_CORRUPT"
    p = kbapp(home, "photos", "index", str(tmp_path / "missing"), "--json", ok=False)
    assert json.loads(p.stdout)["error"]["code"] == "NOT_FOUND"


def test_text_output_and_progress_on_stderr(profile):
    home, folder, photos = profile
    p = kbapp(home, "photos", "index", str(folder))
    assert p.stdout.startswith("indexed ") and "unchanged 19" in p.stdout
    p = kbapp(home, "photos", "search", "dog", "--limit", "2")
    assert len(p.stdout.strip().splitlines()) == 2


def test_bench_search_json_tiny():
    p = subprocess.run([sys.executable, "-m", "kbapp", "bench", "search", "--sizes", "2k", "--json"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    names = {r["name"] for r in rep["results"]}
    assert {"search.2k.ivf.p50", "search.2k.ivf.p95", "search.2k.ivf.recall@10", "search.2k.exact.p50"} <= names
    rec = next(r for r in rep["results"] if r["name"] == "search.2k.ivf.recall@10")
    assert 0.0 <= rec["value"] <= 1.0 and rec["goal"] and rec["details"]["vectors"] == 2000


def test_clip_text_search_with_an_installed_clip_model(tmp_path):
    """With a CLIP pair installed (the tiny one the model-pull test builds, in Immich's layout),
    indexing stores CLIP embeddings and a text query ranks photos by CLIP text-image cosine."""
    import hashlib

    import numpy as np
    from test_ml_models_pull import manifest_for, tiny_clip_files

    from kbapp.ml.library import PhotoLibrary
    from kbapp.ml.pipeline import Analyzer

    need_model()
    files = tiny_clip_files()
    model_dir = tmp_path / "models" / "tiny-clip"
    for rel, data in files.items():
        (model_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (model_dir / rel).write_bytes(data)
    (model_dir / "manifest.json").write_text(json.dumps(manifest_for("tiny-clip", files)))
    photos = copy_photos([p for p, _ in dev_items()[:12]], tmp_path / "pics")
    a = Analyzer(models_dir=tmp_path / "models", nsfw=False)
    assert a.clip_name == "tiny-clip"
    lib = PhotoLibrary.open(tmp_path / "home", analyzer=a)
    try:
        assert lib.index([tmp_path / "pics"]).indexed == 12
        clip = lib.vectors["clip"]
        assert len(clip) == 12 and clip.dim == 8
        q = a.clip_text_embedding("red dog")
        best_id = int(clip.ids[np.argmax(clip.matrix @ q)])
        hits = lib.search("red dog", limit=12)
        by_id = {h.photo_id: h for h in hits}
        assert best_id in by_id
        clip_why = [w for w in by_id[best_id].why if w.startswith("clip ")]
        assert clip_why and abs(float(clip_why[0].split()[1]) - float(np.max(clip.matrix @ q))) < 1e-3
        assert all(any(w.startswith("clip ") for w in h.why) for h in hits)
        assert hashlib.sha256(photos[0].read_bytes()).hexdigest() == lib.db.photo_by_path(photos[0].resolve()).sha256
    finally:
        lib.close()
        a.close()


def test_watch_reports_new_files_and_stops_on_ctrl_c(tmp_path):
    import signal

    need_model()
    src = [p for p, _ in dev_items()[:2]]
    folder = tmp_path / "w"
    copy_photos(src[:1], folder)
    proc = subprocess.Popen([sys.executable, "-m", "kbapp", "--home", str(tmp_path / "home"), "photos", "watch",
                             str(folder), "--interval", "0.2", "--json"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(proc.stdout.readline())
        assert first["event"] == "indexed" and first["indexed"] == 1
        copy_photos(src[1:], folder)
        second = json.loads(proc.stdout.readline())
        assert second["indexed"] == 1 and second["unchanged"] == 1
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
