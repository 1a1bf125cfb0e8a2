"""`kbapp bench chat-gui --quick --json` runs and reports its numbers (no timing asserts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_bench_chat_gui_quick_report_shape():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("DISPLAY", None)
    out = subprocess.run([sys.executable, "-m", "kbapp.main", "bench", "chat-gui", "--quick", "--json"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1])
    assert report["benchmark"] == "chat-gui" and report["quick"] is True
    a, s = report["arrivals"], report["scroll"]
    assert a["messages"] >= 400 and a["reloads"] > 0 and a["ticks"] > 0 and a["max_ms"] > 0
    assert s["rows"] == 2000 and s["frames"] > 50 and s["max_frame_ms"] > 0
    assert s["memory_growth_mb"] >= 0
