"""`kbapp bench gui`: how the desktop app starts and how smooth it stays under load.

Measured in child processes (kbapp/gui/benchprobe/startup.py), against a `kbapp server` process on loopback (so the
server's work never competes with the GUI for the GIL), each number beside a
baseline from the same run:

1. Start-up: from process start (the parent's clock just before spawning) to the
   first paint of the main window, and to the shell being ready (profile opened,
   status read). Baseline: a bare PySide6 process that shows an empty
   QMainWindow (interpreter + Qt, nothing of kbapp).
2. Event-loop stall: a 5 ms precise QTimer on the GUI thread records the gaps
   between its ticks while N `App.identify` lookups (2,000; 200 with --quick) run
   in the background on the same qasync loop, 8 at a time: the longest gap minus
   the interval is the longest stall a user could feel. Baseline: the same timer
   on the idle window.
3. Lookup throughput under the GUI: lookups/s on the qasync loop against the same
   lookups on a plain asyncio loop (no Qt) in the parent.

Ratios are "fraction of the baseline's speed": baseline/value for times,
value/baseline for rates. Nothing asserts timings.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from kbapp.bench.kit import (RATIO_NOTE, ServerChild, baselines, gap_stats, rate_result, results_table, run_report,
                             time_result)

from kbapp.gui.benchprobe.startup import CONCURRENCY, TIMER_MS, lookups as _lookups

USERS = 20


# --- parent: set-up, baselines, report ---------------------------------------------------


async def _populate(tmp: Path, url: str, names: list[str]) -> None:
    """The GUI's own profile ("benchme") and the users it will look up."""
    from kbapp.client.app import App
    from kbapp.client.keystore import open_keystore

    for name in ["benchme", *names]:
        home = tmp / ("gui-profile" if name == "benchme" else f"user-{name}")
        app = App(home, keystore=open_keystore(home, backend="memory"))
        await app.open()
        try:
            await app.signup(name, device_name=f"{name}-pc", server_url=url)
        finally:
            await app.close()


async def _baseline_lookups(tmp: Path, url: str, names: list[str], n: int) -> float:
    from kbapp.client.app import App
    from kbapp.client.keystore import open_keystore

    home = tmp / "baseline-profile"
    app = App(home, keystore=open_keystore(home, backend="memory"))
    await app.open()
    try:
        await app.connect(url)
        for name in names:  # warm: first sight of each chain, as the GUI's profile has
            await app.identify(name)
        return await _lookups(app, names, n)
    finally:
        await app.close()


def _spawn(mode: str, cfg: dict) -> dict:
    env = dict(os.environ)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    env["KBAPP_KEYSTORE"] = "memory"
    env["KBAPP_THROWAWAY"] = "1"   # accounts that die with the bench process, on purpose
    cfg = dict(cfg, t0=time.time())
    proc = subprocess.run([sys.executable, "-m", "kbapp.gui.benchprobe.startup", mode, json.dumps(cfg)],
                          capture_output=True, text=True, env=env, timeout=1800)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"gui bench child ({mode}) failed (rc {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def _result(name: str, value: float, unit: str, baseline: float, what: str, *, lower_is_better: bool,
            **details) -> dict:
    r = (time_result(name, value, baseline, what, unit=unit, details=details) if lower_is_better
         else rate_result(name, value, unit, baseline, what, details=details))
    return asdict(r)


def run_all(quick: bool, log=lambda s: None) -> dict:
    n = 200 if quick else 2000
    names = [f"user{i:02d}" for i in range(USERS if not quick else 5)]
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kbapp-bench-gui-") as d:
        tmp = Path(d)
        log("starting a kbapp server process …")
        with ServerChild(tmp) as server:
            url = server.url
            log(f"signing up {len(names) + 1} users …")
            asyncio.run(_populate(tmp, url, names))
            log(f"baseline: {n} lookups on a plain asyncio loop …")
            base_s = asyncio.run(_baseline_lookups(tmp, url, names, n))
            log("baseline: a bare Qt window's start-up …")
            bare = min((_spawn("--bare", {}) for _ in range(2 if quick else 3)), key=lambda r: r["shown_s"])
            log(f"the app: start-up, then {n} lookups in the background …")
            runs = [_spawn("--child", {"home": str(tmp / "gui-profile"), "names": names, "lookups": n,
                                       "idle_s": 1.0 if quick else 2.0})]
            runs.append(_spawn("--child", {"home": str(tmp / "gui-profile"), "names": names, "lookups": 0,
                                           "idle_s": 0.2}))
    gui = runs[0]
    gui["idle"], gui["busy"] = gap_stats(gui.pop("idle_gaps"), TIMER_MS), gap_stats(gui.pop("busy_gaps"), TIMER_MS)
    shown = min(r["shown_s"] for r in runs)
    ready = min(r["ready_s"] for r in runs)
    results = [
        _result("startup.window_shown", shown, "s", bare["shown_s"],
                "a bare PySide6 process showing an empty QMainWindow (best of runs)", lower_is_better=True,
                imports_s=gui["imports_s"], runs=[r["shown_s"] for r in runs]),
        _result("startup.shell_ready", ready, "s", bare["shown_s"],
                "the same bare window; the app has also opened its profile and read its status",
                lower_is_better=True, runs=[r["ready_s"] for r in runs]),
        _result("loop.max_stall_during_lookups", gui["busy"]["max_stall_ms"], "ms", gui["idle"]["max_stall_ms"],
                f"the same {TIMER_MS} ms timer on the idle window", lower_is_better=True,
                p99_gap_ms=gui["busy"]["p99_gap_ms"], p50_gap_ms=gui["busy"]["p50_gap_ms"],
                ticks=gui["busy"]["ticks"], idle_p99_gap_ms=gui["idle"]["p99_gap_ms"],
                stalls_over_50ms=gui["busy"]["over_50ms"], stalls_over_16ms=gui["busy"]["over_16ms"]),
        _result("lookups.per_second_in_gui", n / gui["lookups_s"], "lookups/s", n / base_s,
                f"the same {n} lookups, {CONCURRENCY} at a time, on a plain asyncio loop without Qt",
                lower_is_better=False, lookups=n, concurrency=CONCURRENCY, users=len(names)),
    ]
    return {"benchmark": "gui", "quick": quick, "lookups": n, "platform": gui["platform"],
            "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                        "qt": gui["qt"], "pyside6": gui["pyside6"]},
            "elapsed_s": round(time.perf_counter() - t_all, 2), "results": results}


def render_table(report: dict) -> str:
    lines = results_table(report["results"])
    m = report["machine"]
    out = [f"kbapp bench gui{' --quick' if report['quick'] else ''}: {m['cpu_count']} CPUs, Python {m['python']}, "
           f"Qt {m['qt']} ({report['platform']}); {report['elapsed_s']} s", "", *lines, "",
           RATIO_NOTE, *baselines(report["results"])]
    stall = report["results"][2]["details"]
    out.append(f"\nduring {report['lookups']} lookups: {stall['ticks']} timer ticks, gap p50 "
               f"{stall['p50_gap_ms']} ms, p99 {stall['p99_gap_ms']} ms, {stall['stalls_over_16ms']} gaps over "
               f"16 ms (one frame), {stall['stalls_over_50ms']} over 50 ms")
    return "\n".join(out)


def run_gui_bench(args) -> int:
    """Entry point for `kbapp bench gui [--quick] [--json]` (args: argparse namespace)."""
    return run_report(args, run_all, render_table)
