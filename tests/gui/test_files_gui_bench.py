"""`kbapp bench files-gui --quick --json` runs end to end and reports its rows (no timing asserts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.timeout(600)
def test_bench_files_gui_quick_report_shape():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("DISPLAY", None)
    out = subprocess.run([sys.executable, "-m", "kbapp.main", "--json", "bench", "files-gui", "--quick"],
                         capture_output=True, text=True, env=env, timeout=560)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1])
    assert report["benchmark"] == "files-gui" and report["quick"] is True
    rows = {r["name"]: r for r in report["results"]}
    stall, opened = rows["loop.max_stall_while_dropping"], rows["open.first_paint"]
    assert stall["details"]["files"] == 100 and stall["details"]["ticks"] > 0 and stall["value"] >= 0
    assert opened["details"]["rows"] == 1000 and opened["value"] > 0 and opened["baseline"] > 0
    assert stall["goal"] and opened["goal"] and isinstance(stall["passed"], bool)
