"""`kbapp bench identify --quick --json`: the report's shape, never its timings."""

from __future__ import annotations

import contextlib
import io
import json
import math

from kbapp.cli.main import main


def test_bench_identify_report_shape():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["bench", "identify", "--quick", "--json"]) == 0
    report = json.loads(out.getvalue())
    assert report["benchmark"] == "identify"
    (r,) = report["results"]
    assert r["name"] == "identify.proofs_concurrent" and r["details"]["proofs"] == 10
    for k in ("value", "baseline", "ratio"):
        assert math.isfinite(r[k]) and r[k] > 0


def test_bench_identify_table_renders_the_same_report():
    from kbapp.bench.identify import render_table

    report = {"quick": True, "elapsed_s": 1.0, "machine": {"cpu_count": 2, "python": "3.11"},
              "results": [{"name": "identify.proofs_concurrent", "value": 50_000.0, "unit": "us",
                           "baseline": 200_000.0, "baseline_what": "one by one", "ratio": 4.0,
                           "goal": "ratio >= 3", "passed": True,
                           "details": {"proofs": 10, "latency_ms": 20.0, "runs": 3,
                                       "chain_only_us": 9_000.0, "sequential_fetch_us": 190_000.0}}]}
    text = render_table(report)
    assert "identify.proofs_concurrent" in text and "PASS" in text and "10 proofs at 20 ms" in text
