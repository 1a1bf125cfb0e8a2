"""`kbapp bench ml`: the photo pipeline's accuracy and speed, each against a baseline
measured in the same run (DESIGN.md, "Tests and benchmarks").

1. Accuracy: top-1 / top-5 of our pipeline (our Pillow/numpy preprocessing +
   onnxruntime) on the 300 dev photos, against the original torch model's numbers
   that the conversion script measured once and wrote into the manifest. Goal:
   within 1 point.
2. Throughput: images/s end to end (`PhotoLibrary.index` of a folder of the photos
   into a fresh index: the worker pool's decode + preprocess, inference, and the
   index's own writes) against raw onnxruntime
   throughput of the same model, same batch size, on tensors decoded beforehand.
   Goal: ratio >= 0.8. A second row does the same with the NSFW model on.
3. Search rows (part B of the photo work): see `_search_rows` below.

Nothing here asserts timings; tests only check the report's shape.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from kbapp.core import errors
from kbapp.bench.kit import (RATIO_NOTE, Result, baselines, machine_info, rate_result, results_table,
                                   run_report, with_goal)

DEV = Path(__file__).resolve().parents[2] / "tests" / "data" / "imagenet-val-dev"
Log = Callable[[str], None]
E2E_GOAL = 0.8


def dev_set(data: Path | None = None) -> list[tuple[Path, int]]:
    data = Path(data) if data else DEV
    if not (data / "labels.txt").is_file():
        raise errors.NotFound(f"dev images not found at {data} (labels.txt + images/)")
    out = []
    for line in (data / "labels.txt").read_text().splitlines():
        if line.strip():
            name, idx = line.split()
            out.append((data / "images" / name, int(idx)))
    return out


# --- 1. accuracy ---------------------------------------------------------------------


def bench_accuracy(analyzer, items: list[tuple[Path, int]], log: Log) -> list[Result]:
    """Our preprocessing + onnxruntime, top-1 / top-5, vs the torch reference in the manifest."""
    top1 = top5 = 0
    for i in range(0, len(items), analyzer.batch_size):
        chunk = items[i:i + analyzer.batch_size]
        probs, _ = analyzer.classifier.run(analyzer.batch([analyzer.prepare(p) for p, _ in chunk], "classify"))
        order = np.argsort(-probs, axis=1)[:, :5]
        for (_, label), row in zip(chunk, order):
            top1 += int(row[0] == label)
            top5 += int(label in row)
    n = len(items)
    ref = analyzer.manifest.extra.get("accuracy", {})
    out = []
    for k, ours in (("top1", top1 / n), ("top5", top5 / n)):
        torch_v = float(ref.get(f"torch_{k}", 0.0))
        r = Result(f"ml.accuracy.{k}", round(ours, 4), "fraction", torch_v,
                   f"torch {k} recorded by packaging/models/convert_mobilenet.py on {ref.get('images', '?')} photos",
                   ours / torch_v if torch_v else 0.0, details={"images": n, "delta_points": round((ours - torch_v) * 100, 2)})
        r.goal = "within 1 point of torch"
        # Only comparable on the same photos (--quick uses a subset: no verdict then).
        same_set = bool(torch_v) and n == ref.get("images")
        r.passed = abs(ours - torch_v) <= 0.01 + 1e-9 if same_set else None
        out.append(r)
        log(f"accuracy {k}: ours {ours:.4f}, torch {torch_v:.4f}")
    return out


# --- 2. throughput ---------------------------------------------------------------------


def _e2e(analyzer, folder: Path, index: Path) -> tuple[float, int]:
    """Seconds for `PhotoLibrary.index` (what `kbapp photos index` and the Photos page run:
    walk, decode and preprocess, infer, write rows, tags and vectors) on a fresh index."""
    from kbapp.ml.library import PhotoLibrary
    from kbapp.ml.photodb import PhotoDB

    lib = PhotoLibrary(PhotoDB(index), analyzer=analyzer)
    try:
        t0 = time.perf_counter()
        summary = lib.index([folder])
        secs = time.perf_counter() - t0
    finally:
        lib.close()
    return secs, summary.indexed


def _raw(sessions: list[tuple[object, str, np.ndarray]], batch: int, n: int) -> float:
    """Seconds for onnxruntime alone to run `n` images through each (session, input, tensors)."""
    t0 = time.perf_counter()
    for sess, name, tensors in sessions:
        for i in range(0, n, batch):
            sess.run(None, {name: tensors[i:i + batch]})
    return time.perf_counter() - t0


def bench_throughput(paths: list[Path], batch: int, repeats: int, log: Log, *, nsfw: bool) -> Result:
    from kbapp.ml.imaging import normalize
    from kbapp.ml.pipeline import Analyzer

    a = Analyzer(nsfw=nsfw, batch_size=batch)
    try:
        prepared = [a.prepare(p) for p in paths]

        def tensors(key: str, prep) -> np.ndarray:
            return normalize(np.stack([p.pixels[key] for p in prepared]), prep)

        sessions = [(a.classifier.session, a.classifier.input_name, tensors("classify", a.classifier.prep))]
        if nsfw and a.nsfw_model:
            sessions.append((a.nsfw_model.session, a.nsfw_model.input_name, tensors("nsfw", a.nsfw_model.prep)))
        n = len(paths)
        _raw(sessions, batch, min(n, batch * 2))  # warm-up
        # Interleaved runs, best of each: on a shared machine, load that comes and goes
        # then hits both sides alike instead of biasing the ratio.
        raws, e2e = [], []
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "photos"
            folder.mkdir()
            for p in paths:
                shutil.copyfile(p, folder / p.name)
            for i in range(repeats):
                raws.append(_raw(sessions, batch, n))
                secs, indexed = _e2e(a, folder, Path(tmp) / f"index{i}.db")
                if indexed != n:
                    raise errors.MLError(f"bench: indexed {indexed} of {n} photos")
                e2e.append(secs)
        raw = min(raws)
        best = min(e2e)
        name = "ml.pipeline.e2e_nsfw" if nsfw else "ml.pipeline.e2e"
        what = "raw onnxruntime on pre-decoded tensors, same model(s) and batch size"
        r = rate_result(name, n / best, "images/s", n / raw, what,
                        details={"e2e": "PhotoLibrary.index of a folder of these photos into a fresh index",
                                 "images": n, "batch": batch, "workers": a.workers, "provider": a.provider,
                                 "models": [s[0].get_modelmeta().graph_name or "?" for s in sessions],
                                 "e2e_s": round(best, 3), "raw_s": round(raw, 3)})
        log(f"{name}: {n / best:.1f} images/s vs raw {n / raw:.1f} ({a.provider})")
        return with_goal(r, on="ratio", op=">=", target=E2E_GOAL, label=f"ratio >= {E2E_GOAL}") if not nsfw else r
    finally:
        a.close()


# --- 3. search (part B) ------------------------------------------------------------------


def _search_rows(quick: bool, log: Log) -> list[Result]:
    """Part B's rows (search latency / recall), from `kbapp/cli/bench_search.py` when it exists:
    it defines `bench_search(quick: bool, log) -> list[Result]` using the same benchkit rows."""
    try:
        from kbapp.bench import search as bench_search  # type: ignore[attr-defined]
    except ImportError:
        return []
    return list(bench_search.bench_search(quick, log))


# --- the report ---------------------------------------------------------------------------


def run_all(quick: bool, log: Log = lambda s: None, data: Path | None = None) -> dict:
    from kbapp.ml.pipeline import Analyzer
    from kbapp.ml.runtime import available_providers

    items = dev_set(data)
    results: list[Result] = []
    a = Analyzer(nsfw=False)
    try:
        provider = a.provider
        results += bench_accuracy(a, items[:32] if quick else items, log)
    finally:
        a.close()
    paths = [p for p, _ in items]
    results.append(bench_throughput(paths[:32] if quick else paths, 16, 1 if quick else 5, log, nsfw=False))
    results.append(bench_throughput(paths[:8] if quick else paths[:96], 8 if quick else 16, 1 if quick else 3, log,
                                    nsfw=True))
    results += _search_rows(quick, log)
    import onnxruntime

    info = machine_info()
    info.update({"onnxruntime": onnxruntime.__version__, "providers_available": available_providers(),
                 "provider": provider})
    return {"bench": "ml", "quick": quick, "machine": info, "provider": provider,
            "results": [r.__dict__ for r in results]}


def render_table(report: dict) -> str:
    m = report["machine"]
    out = [f"kbapp bench ml{' --quick' if report['quick'] else ''}: {m['cpu_count']} CPUs ({m['cpu_model']}), "
           f"onnxruntime {m['onnxruntime']}, provider {report['provider']} (available: "
           f"{', '.join(m['providers_available'])}); {report.get('elapsed_s', '?')} s", "",
           *results_table(report["results"]), "", RATIO_NOTE, *baselines(report["results"])]
    return "\n".join(out)


def run_ml_bench(args) -> int:
    return run_report(args, run_all, render_table)
