"""`kbapp bench gui --quick` runs and reports every number beside its baseline (no timing asserts)."""

from __future__ import annotations

import argparse
import json

from kbapp.bench.gui import run_all, run_gui_bench


def test_bench_gui_quick_report_shape(capsys):
    report = run_all(quick=True)
    assert report["benchmark"] == "gui" and report["lookups"] == 200
    names = [r["name"] for r in report["results"]]
    assert names == ["startup.window_shown", "startup.shell_ready", "loop.max_stall_during_lookups",
                     "lookups.per_second_in_gui"]
    for r in report["results"]:
        assert r["value"] >= 0 and r["baseline"] > 0 and r["ratio"] >= 0 and r["baseline_what"]
    stall = report["results"][2]["details"]
    assert stall["ticks"] > 0


def test_run_gui_bench_prints_json(monkeypatch, capsys):
    fake = {"benchmark": "gui", "quick": True, "lookups": 1, "platform": "offscreen", "elapsed_s": 0,
            "machine": {"cpu_count": 1, "python": "3", "qt": "6", "pyside6": "6"}, "results": []}
    monkeypatch.setattr("kbapp.bench.gui.run_all", lambda quick, log=None: fake)
    assert run_gui_bench(argparse.Namespace(quick=True, json=True)) == 0
    assert json.loads(capsys.readouterr().out) == fake
