"""What every `kbapp bench ...` shares: result rows with a same-run baseline, percentiles,
machine facts, the results table and the --json/--quick plumbing.

It lives in kbapp/bench, the one layer that may import every other, with the benches.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import platform
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

Log = Callable[[str], None]


@dataclass
class Result:
    name: str
    value: float
    unit: str
    baseline: float          # same unit as value
    baseline_what: str       # what the baseline measured
    ratio: float             # fraction of the baseline's speed (1.0: as fast)
    goal: str | None = None
    passed: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)


def rate_result(name: str, value: float, unit: str, baseline: float, what: str, **kw) -> Result:
    """Higher is better (items/s): ratio = value / baseline."""
    return Result(name, value, unit, baseline, what, value / baseline if baseline else 0.0, **kw)


def time_result(name: str, value: float, baseline: float, what: str, *, unit: str = "us", **kw) -> Result:
    """Lower is better (a duration): ratio = baseline / value."""
    return Result(name, value, unit, baseline, what, baseline / value if value else 0.0, **kw)


def with_goal(r: Result, *, on: str, op: str, target: float, label: str) -> Result:
    """Mark a row PASS/FAIL against a goal on its ratio or its value (op '>=' or '<')."""
    x = r.ratio if on == "ratio" else r.value
    r.goal = label
    r.passed = bool(x >= target) if op == ">=" else bool(x < target)
    return r


def pct(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    n = len(sorted_values)
    return sorted_values[min(n - 1, max(0, math.ceil(q * n) - 1))]


def timed_each(fn: Callable[[Any], Any], items: list) -> list[float]:
    """Per-call times in microseconds, ascending."""
    clock = time.perf_counter_ns
    out = []
    for it in items:
        t0 = clock()
        fn(it)
        out.append((clock() - t0) / 1000.0)
    out.sort()
    return out


def best_of(repeats: int, fn: Callable[[], Any]) -> float:
    """Fastest of `repeats` runs, in seconds (a fresh GC state before each)."""
    best = math.inf
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def gap_stats(gaps_s: list[float], interval_ms: float, at_s: list[float] | None = None, *,
              stall_goal_ms: float = 50.0) -> dict:
    """An event-loop timer's tick gaps -> longest stall (gap minus the interval), percentiles
    and counts of gaps over one frame (16 ms) and over the goal; `at_s` (when each gap
    ended) locates the five worst."""
    ms = sorted(g * 1000 for g in gaps_s) or [0.0]
    worst = sorted(zip(gaps_s, at_s or []), reverse=True)[:5]
    return {"worst_gaps": [[round(g * 1000, 1), round(t, 2)] for g, t in worst],
            "ticks": len(gaps_s), "max_stall_ms": round(max(0.0, ms[-1] - interval_ms), 2),
            "max_gap_ms": round(ms[-1], 2), "p50_gap_ms": round(pct(ms, 0.50), 2),
            "p99_gap_ms": round(pct(ms, 0.99), 2),
            "over_16ms": sum(1 for g in ms if g > 16 + interval_ms),
            "over_50ms": sum(1 for g in ms if g > stall_goal_ms + interval_ms)}


def machine_info() -> dict:
    import nacl
    import sqlalchemy

    model = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpu_count": os.cpu_count(), "cpu_model": model, "machine": platform.machine(),
            "system": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "python_implementation": platform.python_implementation(),
            "pynacl": getattr(nacl, "__version__", "?"), "sqlite": sqlite3.sqlite_version,
            "sqlalchemy": sqlalchemy.__version__}


def fmt(v: float) -> str:
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def results_table(results: list[dict]) -> list[str]:
    """The aligned name/value/baseline/ratio/goal table, as lines."""
    head = ("name", "value", "unit", "baseline", "ratio", "goal", "pass")
    rows = [head]
    for r in results:
        passed = r.get("passed")
        rows.append((r["name"], fmt(r["value"]), r["unit"], fmt(r["baseline"]), f"{r['ratio']:.3g}",
                     r.get("goal") or "-", "-" if passed is None else ("PASS" if passed else "FAIL")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    right = {1, 3, 4}
    lines = []
    for j, row in enumerate(rows):
        lines.append("  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i])
                               for i, c in enumerate(row)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def baselines(results: list[dict]) -> list[str]:
    """One line per distinct baseline (p50/p95 rows of one measurement share theirs)."""
    out, seen = ["baselines:"], set()
    for r in results:
        key = r["name"].rsplit(".", 1)[0] if r["name"].endswith((".p50", ".p95")) else r["name"]
        if key not in seen:
            seen.add(key)
            out.append(f"  {key}: {r['baseline_what']}")
    return out


RATIO_NOTE = "ratio = fraction of the baseline's speed (value/baseline for rates, baseline/value for times)."


def run_report(args, produce: Callable[[bool, Log], dict], render: Callable[[dict], str]) -> int:
    """Drive one benchmark from argparse args (--json, --quick): progress on stderr, the report
    on stdout as JSON or a table. Anything a library prints while measuring goes to stderr so
    it cannot corrupt the JSON."""
    as_json = bool(getattr(args, "json", False))
    quick = bool(getattr(args, "quick", False))
    real_stdout = sys.stdout

    def log(msg: str) -> None:
        if not as_json:
            print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        report = produce(quick, log)
    report.setdefault("elapsed_s", round(time.perf_counter() - t0, 2))
    print(json.dumps(report, indent=2, sort_keys=True, default=_jsonable) if as_json else render(report),
          file=real_stdout)
    return 0


def _jsonable(o: Any) -> Any:
    if hasattr(o, "__dataclass_fields__"):
        return asdict(o)
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


class ServerChild:
    """`python -m kbapp server` on a free loopback port, unthrottled (`--rate 0`), for the
    benches that measure through a real server process: `with ServerChild(tmp) as server:`
    starts it (data in `tmp/server`, log in `tmp/server.log`), waits until it answers, and
    stops it on the way out."""

    def __init__(self, tmp: Path, db: str | None = None, *, timeout: float = 60.0):
        self.tmp, self.db, self.timeout = Path(tmp), db, timeout
        self.url = ""
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "ServerChild":
        import httpx

        from kbapp.server.main import free_port  # here, not at import: GUI bench children never pay for it

        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        log_path = self.tmp / "server.log"
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kbapp", "server", "--listen", f"127.0.0.1:{port}",
                 "--data-dir", str(self.tmp / "server"), "--rate", "0", *(["--db", self.db] if self.db else [])],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the bench server exited: {log_path.read_text(errors='replace')[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/v1/server", timeout=1.0).status_code == 200:
                    return self
            time.sleep(0.05)
        self.__exit__()
        raise RuntimeError("the bench server did not start")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far (Linux; 0.0 elsewhere)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, AttributeError, IndexError):
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
