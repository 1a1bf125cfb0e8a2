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
