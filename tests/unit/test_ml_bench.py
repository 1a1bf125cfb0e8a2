"""`kbapp bench ml --quick --json`: the report's shape, never its timings."""

from __future__ import annotations

import contextlib
import io
import json
import math

import pytest

from kbapp.cli.main import main

from photo_support import DEV


def test_bench_ml_quick_json(monkeypatch):
    # The search rows (part B) have their own test; here only that this report asks for them.
    from kbapp.bench import search as bench_search
    from kbapp.bench.kit import rate_result

    asked = []
    monkeypatch.setattr(bench_search, "bench_search", lambda quick, log: asked.append(quick) or [
        rate_result("search.marker", 1.0, "x", 1.0, "marker row")])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["bench", "ml", "--quick", "--json"]) == 0
    report = json.loads(out.getvalue())
    assert report["bench"] == "ml" and report["quick"] is True
    assert report["provider"] in report["machine"]["providers_available"]
    rows = {r["name"]: r for r in report["results"]}
    assert {"ml.accuracy.top1", "ml.accuracy.top5", "ml.pipeline.e2e", "ml.pipeline.e2e_nsfw"} <= rows.keys()
    for r in rows.values():
        for k in ("value", "baseline", "ratio"):
            assert isinstance(r[k], (int, float)) and math.isfinite(r[k]) and r[k] > 0, (r["name"], k)
        assert r["baseline_what"]
    assert 0 < rows["ml.accuracy.top1"]["value"] <= rows["ml.accuracy.top5"]["value"] <= 1
    assert rows["ml.pipeline.e2e"]["goal"] == "ratio >= 0.8"
    assert rows["ml.pipeline.e2e"]["details"]["provider"] == report["provider"]
    assert asked == [True] and "search.marker" in rows  # part B's rows join this report
