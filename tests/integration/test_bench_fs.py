"""`kbapp bench fs --json` (small sizes): the report's shape and what it measured, never timings."""

from __future__ import annotations

import contextlib
import io
import json
import math

import pytest

from kbapp.bench.fs import parse_size, render_table
from kbapp.cli.main import main

pytestmark = pytest.mark.timeout(300)


def test_parse_size():
    assert parse_size("1G", 0) == 1 << 30 and parse_size("64M", 0) == 64 << 20 and parse_size("64MiB", 0) == 64 << 20
    assert parse_size("1000", 0) == 1000 and parse_size(None, 7) == 7


def test_bench_fs_small_json():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["--json", "bench", "fs", "--size", "3M", "--files", "20"])
    assert rc == 0
    report = json.loads(buf.getvalue())
    assert report["benchmark"] == "fs" and report["size_bytes"] == 3 << 20 and report["files"] == 20
    by = {r["name"]: r for r in report["results"]}
    assert list(by) == ["fs.write_upload", "fs.download_read", "fs.small_files", "fs.list_cached", "fs.peak_memory"]
    for name in ("fs.write_upload", "fs.download_read"):
        r = by[name]
        assert "secretbox" in r["baseline_what"] and r["value"] > 0 and math.isfinite(r["ratio"])
        assert math.isclose(r["ratio"], r["value"] / r["baseline"], rel_tol=1e-9)
        assert r["details"]["vs_sha256"] > 0
    assert by["fs.write_upload"]["details"]["journal_MBps"] > 0 and by["fs.write_upload"]["details"]["upload_MBps"] > 0
    assert by["fs.download_read"]["details"]["cold_MBps"] > 0 and by["fs.download_read"]["details"]["cold_ratio"] > 0
    assert by["fs.small_files"]["details"]["files"] == 20 and by["fs.small_files"]["value"] > 0
    assert by["fs.list_cached"]["details"]["entries"] == 20
    assert by["fs.peak_memory"]["details"]["rss_peak_mb"] > 0
    assert "fs.write_upload" in render_table(report)
