"""`kbapp bench chat-attach --quick --json`: the report's shape and what it measured, never timings."""

from __future__ import annotations

import contextlib
import io
import json
import math

import pytest

from kbapp.bench.chat_attach import render_table
from kbapp.cli.main import main

pytestmark = pytest.mark.timeout(300)


def test_bench_chat_attach_quick_json():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["--json", "bench", "chat-attach", "--quick"])
    assert rc == 0
    report = json.loads(buf.getvalue())
    assert report["benchmark"] == "chat-attach" and report["quick"] is True
    names = [r["name"] for r in report["results"]]
    assert names == ["chat_attach.upload", "chat_attach.download", "chat_attach.round_trip",
                     "chat_attach.peak_memory"]
    for r in report["results"]:
        for k in ("value", "baseline", "ratio"):
            assert isinstance(r[k], float) and math.isfinite(r[k]) and r[k] > 0
    for r in report["results"][:3]:
        assert "secretbox" in r["baseline_what"]
        assert math.isclose(r["ratio"], r["baseline"] / r["value"], rel_tol=1e-9)
    d = report["results"][0]["details"]
    assert d["file_bytes"] == 32 << 20 and d["blob_bytes"] == (32 << 20) + 33 * 80
    mem = report["results"][3]["details"]
    assert mem["client_peak_rss_mb"] > 0 and mem["server_peak_rss_mb"] > 0
    assert "chat_attach.round_trip" in render_table(report)
