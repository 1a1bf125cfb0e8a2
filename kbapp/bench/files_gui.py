"""`kbapp bench files-gui [--quick] [--json]`: what the Files page costs the GUI thread.

End to end, against a `kbapp server` process on loopback: the parent signs a profile up
and writes a folder with 10,000 entries (1,000 with --quick) through the engine; a child
process (kbapp/gui/benchprobe/files.py) opens the real window on that profile and, on the Files page,

1. drops a directory of 1,000 small files (100 with --quick) onto the open folder: the
   page plans the copy, the engine seals and journals each file and its background
   uploader sends them, until the status line says everything is uploaded. A 5 ms
   precise QTimer records the event loop's gaps all along (goal: longest stall < 50 ms).
   Baseline: the same timer on the idle window.
2. opens the 10,000-entry directory: from the click to the first paint of the list with
   every row in it (goal < 200 ms). Baseline: the same list view handed the same rows
   directly (the page's own model and view, no engine).

Ratios are "fraction of the baseline's speed"; nothing asserts timings.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from kbapp.bench.kit import ServerChild, gap_stats, results_table, time_result, with_goal

from kbapp.gui.benchprobe.files import TIMER_MS

ME = "benchfiles"
PASSPHRASE = "files-gui bench, a throwaway profile"   # the file keystore: the child opens what the parent made
FOLDER = f"/private/{ME}"


async def _populate(home: Path, url: str, entries: int) -> float:
    """The profile, and FOLDER/big with `entries` files (uploaded); seconds it took."""
    from kbapp.client.app import App
    from kbapp.client.keystore import open_keystore

    t = time.perf_counter()
    app = App(home, keystore=open_keystore(home, backend="file", passphrase=PASSPHRASE))
    await app.open()
    try:
        await app.signup(ME, device_name="bench-pc", server_url=url)
        for i in range(entries):
            await app.files.write(f"{FOLDER}/big/file-{i:05d}.txt", f"entry {i}\n".encode(), upload=False)
        await app.files.sync(timeout=3600)
    finally:
        await app.close()
    return time.perf_counter() - t


def _spawn(cfg: dict) -> dict:
    env = dict(os.environ)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    env["KBAPP_KEYSTORE"] = "file"
    env["KBAPP_PASSPHRASE"] = PASSPHRASE
    proc = subprocess.run([sys.executable, "-m", "kbapp.gui.benchprobe.files", json.dumps(cfg)],
                          stdout=subprocess.PIPE, stderr=None, text=True, env=env, timeout=3600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"files-gui bench child failed (rc {proc.returncode}):\n{proc.stdout[-2000:]}")
    return json.loads(lines[-1])


def run_all(quick: bool, log=lambda s: None) -> dict:
    drop_n, entries = (100, 1000) if quick else (1000, 10_000)
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kbapp-bench-files-gui-") as d:
        tmp = Path(d)
        src = tmp / "dropped"
        src.mkdir()
        for i in range(drop_n):
            (src / f"photo-{i:04d}.txt").write_bytes(os.urandom(512 + (i % 7) * 1024))
        with ServerChild(tmp) as server:
            log(f"signing up and writing a {entries:,}-entry directory …")
            setup_s = asyncio.run(_populate(tmp / "profile", server.url, entries))
            log(f"the window: dropping {drop_n:,} files, then opening the big directory …")
            child = _spawn({"home": str(tmp / "profile"), "src": str(src), "drop": drop_n, "entries": entries,
                            "folder": FOLDER})
    (gaps, at), idle = child["drop"], gap_stats(child["idle"], TIMER_MS)
    drop = gap_stats(gaps, TIMER_MS, at)
    results = [
        asdict(with_goal(time_result("loop.max_stall_while_dropping", drop["max_stall_ms"], idle["max_stall_ms"],
                           f"the same {TIMER_MS} ms timer on the idle window", unit="ms",
                           details={"p99_gap_ms": drop["p99_gap_ms"], "ticks": drop["ticks"],
                                    "stalls_over_50ms": drop["over_50ms"], "files": drop_n,
                                    "seconds": child["drop_s"], "goal_ms": 50,
                                    "worst_gaps_ms_at_s": drop["worst_gaps"]}),
                         on="value", op="<", target=50, label="< 50 ms")),
        asdict(with_goal(time_result("open.first_paint", child["open_ms"], child["open_base_ms"],
                                     "the page's own model and view handed the same rows directly", unit="ms",
                                     details={"rows": child["rows"]}),
                         on="value", op="<", target=200, label="< 200 ms")),
    ]
    return {"benchmark": "files-gui", "quick": quick, "platform": child["platform"], "setup_s": round(setup_s, 1),
            "elapsed_s": round(time.perf_counter() - t_all, 1), "results": results}


def run_files_gui_bench(args) -> int:
    report = run_all(bool(getattr(args, "quick", False)), log=lambda s: print(s, file=sys.stderr))
    if getattr(args, "json", False):
        print(json.dumps(report))
    else:
        print("\n".join(results_table(report["results"])))
    return 0
