"""`kbapp bench search` (and the search rows of `kbapp bench ml`): vector search latency
and recall at 10k, 100k and 1M vectors, against exact search measured in the same run.

Data: synthetic 1280-d embeddings shaped like MobileNetV2's (kbapp/ml/synthetic.py:
common mean, clusters, low-rank spread, noise), because no photo set of 1M exists
here. Up to 100k the vectors are float32; above, float16 (1M x 1280 = 2.5 GB instead
of 5 GB): the exact baseline then pays the float16 -> float32 conversion, as the
index's rerank does for its ~100 candidates. Queries are fresh draws from the same
distribution (not members of the set). Per size:

- `search.<n>.ivf.p50|p95`: our IVF (PCA-256 + k-means lists + exact rerank) in ms,
  ratio against the exact scan's p50/p95 (= the speed-up). Goal at 1M: p50 < 10 ms.
- `search.<n>.ivf.recall@10`: overlap of the IVF's top 10 with the exact top 10.
  Goal >= 0.95.
- `search.<n>.faiss.p50` (when faiss-cpu is installed): faiss's PCA256,IVF,Flat with
  the same lists count, nprobe and rerank, ratio against ours (> 1: ours is slower).
- `search.<n>.exact.p50`: the exact scan (which the library uses below 100k).

Queries run one at a time on one thread (BLAS limited to 1 thread with threadpoolctl;
faiss: omp threads = 1); index builds use every core. `--sizes 2k,5k`
keeps it tiny for tests.
"""

from __future__ import annotations

import os
import time
from typing import Callable

import numpy as np

from kbapp.bench.kit import Result, pct, run_report, time_result, with_goal
from kbapp.core import errors

Log = Callable[[str], None]
DIM = 1280
RERANK = 100
K = 10
GOAL_MS = 10.0
GOAL_RECALL = 0.95
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (2_000, 10_000)


def parse_sizes(s: str | None) -> tuple[int, ...] | None:
    if not s:
        return None
    out = []
    for part in s.split(","):
        part = part.strip().lower()
        mult = 1
        if part.endswith("k"):
            mult, part = 1_000, part[:-1]
        elif part.endswith("m"):
            mult, part = 1_000_000, part[:-1]
        try:
            n = int(float(part) * mult)
        except ValueError:
            raise errors.KbappError(f"bad size {part!r} in --sizes (use e.g. 10k,100k,1m)") from None
        if not 100 <= n <= 5_000_000:
            raise errors.KbappError("each size must be between 100 and 5m vectors")
        out.append(n)
    return tuple(out)


def label(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def _timed(fn, queries) -> tuple[list[float], list]:
    from kbapp.ml.vectors import one_blas_thread

    times, outs = [], []
    with one_blas_thread():
        for q in queries:
            t0 = time.perf_counter_ns()
            outs.append(fn(q))
            times.append((time.perf_counter_ns() - t0) / 1e6)
    times.sort()
    return times, outs


def _recall(found: list[np.ndarray], truth: np.ndarray) -> float:
    return float(np.mean([len(set(map(int, f[:K])) & set(map(int, t))) / K for f, t in zip(found, truth)]))


def bench_size(n: int, log: Log, *, queries: int = 100, exact_queries: int | None = None) -> list[Result]:
    from kbapp.ml.synthetic import ClusteredVectors
    from kbapp.ml.vectors import IVFIndex, default_nprobe, exact_search, exact_search_many, top_k

    lab = label(n)
    dtype = np.float16 if n > 200_000 else np.float32
    gen = ClusteredVectors(DIM, clusters=int(min(4000, max(50, n // 250))), seed=7)
    log(f"search {lab}: generating {n} x {DIM} {np.dtype(dtype).name} vectors")
    t0 = time.perf_counter()
    X = gen.fill(np.empty((n, DIM), dtype=dtype), seed=11)
    Q = gen.draw(queries, np.random.default_rng(12345))
    gen_s = time.perf_counter() - t0
    log(f"search {lab}: ground truth for {queries} queries")
    truth = exact_search_many(X, Q, K)
    t0 = time.perf_counter()
    ivf = IVFIndex.build(X, progress=lambda s: log(f"search {lab}: {s}"))
    build_s = time.perf_counter() - t0
    st = ivf.stats
    nprobe = default_nprobe(st.nlist)

    def ours(q):
        cand = ivf.candidates(q, nprobe=nprobe, rerank=RERANK)
        sc = X[cand].astype(np.float32) @ q
        return cand[top_k(sc, K)]

    ours(Q[0])  # warm-up
    ivf_t, ivf_out = _timed(ours, Q)
    recall = _recall(ivf_out, truth)
    nq_exact = exact_queries or (min(queries, 20) if n > 200_000 else queries)
    ex_t, ex_out = _timed(lambda q: exact_search(X, q, K)[0], Q[:nq_exact])
    log(f"search {lab}: ivf p50 {pct(ivf_t, .5):.2f} ms, recall@10 {recall:.3f}; exact p50 {pct(ex_t, .5):.2f} ms")
    details = {"vectors": n, "dim": DIM, "storage": np.dtype(dtype).name, "queries": queries,
               "exact_queries": nq_exact, "nlist": st.nlist, "pca_dim": st.dim, "pca_explained": round(st.explained, 4),
               "nprobe": nprobe, "rerank": RERANK, "build_s": round(build_s, 2), "generate_s": round(gen_s, 2),
               "library_uses": "ivf" if n >= 100_000 else "exact"}
    ex_what = f"exact scan (numpy matmul over all {n} {np.dtype(dtype).name} vectors), same queries"
    goal = n >= 1_000_000
    rows = []
    for q, name in ((0.5, "p50"), (0.95, "p95")):
        r = time_result(f"search.{lab}.ivf.{name}", round(pct(ivf_t, q), 3), round(pct(ex_t, q), 3), ex_what,
                        unit="ms", details=details)
        if goal and name == "p50":
            with_goal(r, on="value", op="<", target=GOAL_MS, label=f"p50 < {GOAL_MS:g} ms at 1M")
        rows.append(r)
    r = Result(f"search.{lab}.ivf.recall@10", round(recall, 4), "fraction", 1.0, "exact search's top 10 (recall 1)",
               recall, details=details)
    with_goal(r, on="value", op=">=", target=GOAL_RECALL, label=f"recall@10 >= {GOAL_RECALL}")
    rows.append(r)
    rows.append(time_result(f"search.{lab}.exact.p50", round(pct(ex_t, .5), 3), round(pct(ex_t, .5), 3),
                            "itself (the reference for the rows above)", unit="ms", details=details))
    rows += _faiss_rows(X, Q, truth, lab, st.nlist, nprobe, pct(ivf_t, .5), log)
    return rows


def _faiss_rows(X, Q, truth, lab: str, nlist: int, nprobe: int, ours_p50: float, log: Log) -> list[Result]:
    try:
        import faiss  # optional: only to compare with our own IVF
    except ImportError:
        log("faiss-cpu not installed: no faiss comparison row")
        return []
    from kbapp.ml.vectors import CHUNK, top_k

    n = X.shape[0]
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(n, size=min(n, max(nlist * 40, 20_000)), replace=False))
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    t0 = time.perf_counter()
    index = faiss.index_factory(X.shape[1], f"PCA256,IVF{nlist},Flat", faiss.METRIC_INNER_PRODUCT)
    index.train(np.ascontiguousarray(X[sample], dtype=np.float32))
    for s in range(0, n, CHUNK):
        index.add(np.ascontiguousarray(X[s:s + CHUNK], dtype=np.float32))
    build_s = time.perf_counter() - t0
    faiss.extract_index_ivf(index).nprobe = nprobe
    faiss.omp_set_num_threads(1)

    def run(q):
        _, cand = index.search(q[None], RERANK)
        cand = cand[0][cand[0] >= 0]
        sc = X[cand].astype(np.float32) @ q
        return cand[top_k(sc, K)]

    run(Q[0])
    t, out = _timed(run, Q)
    recall = _recall(out, truth)
    log(f"search {lab}: faiss p50 {pct(t, .5):.2f} ms, recall@10 {recall:.3f}")
    return [time_result(f"search.{lab}.faiss.p50", round(pct(t, .5), 3), round(ours_p50, 3),
                        f"our numpy IVF p50 (same nlist {nlist}, nprobe {nprobe}, rerank {RERANK})", unit="ms",
                        details={"faiss": faiss.__version__, "recall@10": round(recall, 4), "build_s": round(build_s, 2),
                                 "index": f"PCA256,IVF{nlist},Flat + our rerank"})]


def bench_search(quick: bool, log: Log = lambda s: None, sizes=None) -> list[Result]:
    """The rows for `kbapp bench ml` / `kbapp bench search`. Sizes: argument, else
    $KBAPP_BENCH_SEARCH_SIZES, else 2k,10k with --quick and 10k,100k,1m without."""
    sizes = sizes or parse_sizes(os.environ.get("KBAPP_BENCH_SEARCH_SIZES")) or (QUICK_SIZES if quick else DEFAULT_SIZES)
    rows: list[Result] = []
    for n in sizes:
        rows += bench_size(n, log, queries=20 if quick else 100)
    return rows


def run_search_bench(args) -> int:
    from kbapp.bench.kit import RATIO_NOTE, baselines, machine_info, results_table

    sizes = parse_sizes(getattr(args, "sizes", None))

    def produce(quick: bool, log: Log) -> dict:
        rows = bench_search(quick, log, sizes)
        return {"bench": "search", "quick": quick, "machine": machine_info(), "results": [r.__dict__ for r in rows]}

    def render(report: dict) -> str:
        m = report["machine"]
        return "\n".join([f"kbapp bench search: {m['cpu_count']} CPUs ({m['cpu_model']}); "
                          f"{report.get('elapsed_s', '?')} s", "", *results_table(report["results"]), "",
                          RATIO_NOTE, *baselines(report["results"])])

    return run_report(args, produce, render)
