"""`kbapp bench photos-gui` runs end to end on a few photos and reports each number beside its
baseline (shape only: no timing asserts)."""

from __future__ import annotations

import argparse
import json

from PIL import Image

from kbapp.bench.photos_gui import gap_stats, make_photos, run_all, run_photos_gui_bench
from photo_support import DEV, need_model


def test_made_photos_are_distinct_altered_copies(tmp_path):
    paths = make_photos(tmp_path, 5)
    assert [p.name for p in paths] == [f"photo-{i:05d}.jpg" for i in range(5)]
    assert len({p.read_bytes() for p in paths}) == 5
    for p in paths:
        with Image.open(p) as im:
            assert im.format == "JPEG" and min(im.size) >= 64


def test_gap_stats():
    s = gap_stats([0.010, 0.011, 0.080, 0.010], [0.01, 0.021, 0.101, 0.111])
    assert s["ticks"] == 4 and s["max_stall_ms"] == 70.0 and s["over_50ms"] == 1 and s["over_16ms"] == 1
    assert s["worst_gaps"][0] == [80.0, 0.1]          # the worst gap, and when it ended


def test_bench_photos_gui_small_report_shape():
    need_model()
    report = run_all(quick=True, n=12)
    assert report["benchmark"] == "photos-gui" and report["photos"] == 12
    assert [r["name"] for r in report["results"]] == ["loop.max_stall_while_indexing", "loop.p99_gap_while_indexing",
                                                      "index.photos_per_second_in_gui"]
    for r in report["results"]:
        assert r["value"] >= 0 and r["baseline"] > 0 and r["ratio"] >= 0 and r["baseline_what"]
    stall = report["results"][0]
    assert stall["goal"] == "<= 50 ms" and stall["passed"] in (True, False)
    assert stall["details"]["ticks"] > 0
    rate = report["results"][2]["details"]
    assert rate["gui_indexed"] == 12 and rate["grid_rows"] == 12
    assert report["provider"].endswith("ExecutionProvider")


def test_run_photos_gui_bench_prints_json(monkeypatch, capsys):
    fake = {"benchmark": "photos-gui", "quick": True, "photos": 1, "results": []}
    monkeypatch.setattr("kbapp.bench.photos_gui.run_all", lambda quick, log=None: fake)
    assert run_photos_gui_bench(argparse.Namespace(quick=True, json=True)) == 0
    assert json.loads(capsys.readouterr().out) == fake
