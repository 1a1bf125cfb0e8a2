"""`kbapp bench identity`: how fast the identity machinery is, each number
against a baseline measured in the same run (DESIGN.md, "Tests and benchmarks").

Measurements (sizes for a full run; `--quick` shrinks them for tests):

1. Sigchain playback: `verify_chain` over a 10,000-link chain built with our
   own builders (devices, revokes, PUK rotations, track / web_service_binding
   / device statements, every link signed, merkle roots embedded). Baseline:
   raw PyNaCl `VerifyKey.verify` over exactly the outer-link signatures of
   that chain (same messages, same number). Goal: ratio >= 0.5. When it is
   missed, verify_chain is profiled (cProfile) and the report says where the
   time goes.
2. Log writes on SQLite: `Service.write_raw_epoch` (the server's one write path, without
   link verification), one map update and one transaction per epoch, against
   raw in-memory `MerkleLog.append`. Goal: >= 5,000 epochs/s.
3. Proofs at 1M leaves: inclusion and consistency proof generation and
   verification (p50 / p95 of random queries) against the unavoidable
   hashing, ceil(log2 n) SHA-256 of 64 bytes. Goal: < 1 ms. Merkle map
   prove / set / verify at 100k keys, same baseline.
4. End to end: `App.identify` of a ~200-link user on a real embedded server
   (HTTP, SQLite, checkpoints, proofs) against `verify_chain` alone.

Ratios are "fraction of the baseline's speed": value / baseline for rates,
baseline / value for times; 1.0 means as fast as the baseline. Nothing here
asserts timings; tests only check the report's shape.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import hashlib
import io
import math
import os
import pstats
import random
import sqlite3
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from kbapp.bench.chains import _ChainWriter, build_bench_chain
from kbapp.bench.kit import (RATIO_NOTE, Result, baselines, best_of, machine_info, pct, rate_result,
                                   results_table, run_report, time_result, timed_each, with_goal)

# --- sizes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    chain_links: int
    chain_repeats: int
    epochs: int
    log_leaves: int
    proof_queries: int
    map_keys: int
    map_queries: int
    e2e_links: int
    e2e_runs: int


FULL = Sizes(chain_links=10_000, chain_repeats=5, epochs=3_000,
             log_leaves=1_000_000, proof_queries=1_000, map_keys=100_000, map_queries=1_000,
             e2e_links=200, e2e_runs=10)
QUICK = Sizes(chain_links=300, chain_repeats=2, epochs=150,
              log_leaves=50_000, proof_queries=200, map_keys=10_000, map_queries=200,
              e2e_links=40, e2e_runs=2)

CHAIN_RATIO_GOAL = 0.5
EPOCH_RATE_GOAL = 5_000.0
PROOF_GOAL_US = 1_000.0


# --- results ----------------------------------------------------------------------

def _sha256_64_us() -> float:
    """One SHA-256 of 64 bytes (the cost of one Merkle node), in microseconds."""
    block = os.urandom(64)
    sha = hashlib.sha256
    n = 100_000

    def loop():
        for _ in range(n):
            sha(block).digest()

    return best_of(3, loop) / n * 1e6


# --- 1. sigchain playback ------------------------------------------------------------


def _profile_top(fn: Callable[[], Any], limit: int = 15) -> list[dict]:
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    st = pstats.Stats(prof, stream=io.StringIO())
    total = st.total_tt or 1e-9
    rows = []
    for (file, line, func), (cc, nc, tt, ct, _callers) in st.stats.items():
        short = file if file.startswith("~") or file.startswith("<") else "/".join(Path(file).parts[-3:])
        rows.append({"function": f"{short}:{line}({func})", "ncalls": nc, "tottime_s": round(tt, 4),
                     "cumtime_s": round(ct, 4), "self_share": round(tt / total, 3)})
    rows.sort(key=lambda r: r["tottime_s"], reverse=True)
    return rows[:limit]


def _parse_parts_us(links: list[dict], payloads: list[dict]) -> dict[str, float]:
    """What the main steps inside parse_link cost, each alone, in us per link."""
    from kbapp.core.encoding import canonical_json
    from kbapp.core.keys import decode_sig_packet_raw
    from kbapp.core.sigchain import parse_outer
    from kbapp.core.sigchain.links import load_inner

    n = len(links)
    sigs = [w["sig"] for w in links]
    pjs = [w["payload_json"].encode() for w in links]
    outers = [decode_sig_packet_raw(s)[1]["body"]["payload"] for s in sigs]
    sha = hashlib.sha256

    def each(fn, items):
        def loop():
            for x in items:
                fn(x)
        return round(best_of(2, loop) / n * 1e6, 2)

    return {"decode_sig_packet_raw (base64, msgpack, depth walk)": each(decode_sig_packet_raw, sigs),
            "parse_outer": each(parse_outer, outers),
            "load_inner (json.loads of payload_json)": each(load_inner, pjs),
            "canonical_json(payload) (the canonical-form check)": each(canonical_json, payloads),
            "sha256(payload_json) (curr)": each(lambda p: sha(p).digest(), pjs)}


def bench_chain(sz: Sizes, log: Callable[[str], None]) -> list[Result]:
    import nacl.signing

    from kbapp.core.sigchain import parse_link, verify_chain

    n = sz.chain_links
    log(f"chain: building {n} links ...")
    t0 = time.perf_counter()
    writer, links = build_bench_chain(n)
    build_s = time.perf_counter() - t0
    uid, username = writer.uid, writer.username

    state = verify_chain(links, uid=uid, username=username)     # warm-up, and a sanity check
    if state.tail_seqno != n:
        raise RuntimeError(f"bench chain verified to {state.tail_seqno} links, not {n}")

    parsed = [parse_link(w) for w in links]
    vks: dict[bytes, nacl.signing.VerifyKey] = {}
    triples = []
    for lk in parsed:
        vk = vks.get(lk.signer) or vks.setdefault(lk.signer, nacl.signing.VerifyKey(lk.signer[2:34]))
        triples.append((vk, lk.signed_message, lk.signature))
    msg_len = sum(len(m) for _, m, _ in triples) / n
    pj_len = sum(len(w["payload_json"]) for w in links) / n
    parts = _parse_parts_us(links, [lk.payload for lk in parsed])
    del parsed, state    # keep the heap (and so the GC's work) as verify_chain alone would see it

    log(f"chain: timing verify_chain and raw Ed25519 ({sz.chain_repeats} rounds) ...")

    def raw():
        for vk, m, s in triples:
            vk.verify(m, s)

    # Alternate baseline and chain, best of each: a burst of load from elsewhere on the
    # machine then slows one round of both, not all rounds of one side only.
    raw_s = chain_s = math.inf
    for _ in range(sz.chain_repeats):
        raw_s = min(raw_s, best_of(1, raw))
        chain_s = min(chain_s, best_of(1, lambda: verify_chain(links, uid=uid, username=username)))
    extra = min(3, sz.chain_repeats)     # the breakdown needs less precision
    parse_s = best_of(extra, lambda: [parse_link(w) for w in links])
    gc.disable()
    try:
        chain_nogc_s = best_of(extra, lambda: verify_chain(links, uid=uid, username=username))
    finally:
        gc.enable()

    raw_rate = n / raw_s
    chain_rate = n / chain_s
    per_sig_raw = raw_s / n
    reverse = writer.verifies - n
    breakdown = {
        "verify_chain_s": round(chain_s, 4),
        "parse_link_s": round(parse_s, 4),
        "outer_signatures_s": round(raw_s, 4),
        "reverse_signatures_s_est": round(reverse * per_sig_raw, 4),
        "playback_rest_s_est": round(chain_s - parse_s - raw_s - reverse * per_sig_raw, 4),
        "verify_chain_gc_disabled_s": round(chain_nogc_s, 4),
    }
    details = {"links": n, "mix": dict(sorted(writer.counts.items())), "ed25519_verifies": writer.verifies,
               "verifies_per_link": round(writer.verifies / n, 3), "avg_signed_message_bytes": round(msg_len, 1),
               "avg_payload_json_bytes": round(pj_len, 1), "build_s": round(build_s, 2),
               "breakdown": breakdown, "parse_link_parts_us_per_link": parts,
               "ed25519_verify_us": round(per_sig_raw * 1e6, 2),
               "rounds": sz.chain_repeats, "rounds_note": "baseline and verify_chain alternate; best of each"}
    main = with_goal(rate_result("chain.verify_chain", chain_rate, "links/s", raw_rate,
                              f"raw PyNaCl VerifyKey.verify of the chain's {n} outer-link signatures",
                              details=details),
                 on="ratio", op=">=", target=CHAIN_RATIO_GOAL, label=f"ratio >= {CHAIN_RATIO_GOAL}")
    per_sig = rate_result("chain.verify_chain_per_signature", writer.verifies / chain_s, "sigs/s", raw_rate,
                           "raw PyNaCl VerifyKey.verify (same as above)",
                           details={"note": "Ed25519 checks the chain needs (reverse sigs included) per second "
                                            "of verify_chain: 1.0 would mean zero non-crypto overhead"})
    if not main.passed:
        log("chain: below goal, profiling verify_chain ...")
        main.details["profile_top_by_self_time"] = _profile_top(
            lambda: verify_chain(links, uid=uid, username=username))
    return [main, per_sig]


# --- 2. log appends on SQLite -----------------------------------------------------------


def _sqlite_service(tmp: Path):
    import nacl.signing

    from kbapp.server.db import make_engine, normalise_url, upgrade
    from kbapp.server.service import Service

    engine = make_engine(normalise_url(None, tmp))
    upgrade(engine)
    key = nacl.signing.SigningKey(hashlib.sha256(b"kbapp bench server key").digest())
    return engine, key, Service(engine, key, "bench.kbapp.local/log")


def _fake_updates(n: int, start: int = 0) -> list[tuple[bytes, bytes]]:
    from kbapp.core.transparency import ChainTail, map_key

    out = []
    for i in range(start, start + n):
        h = hashlib.sha256(i.to_bytes(8, "big")).hexdigest()
        tail = ChainTail(3 + i % 50, h, "0120" + h + "0a").encode()
        out.append((map_key("user", h[:30] + "19"), tail))
    return out


def bench_log_append(sz: Sizes, log: Callable[[str], None]) -> list[Result]:
    from kbapp.core.merkle.log import MerkleLog
    from kbapp.core.merkle.note import sign_checkpoint
    from kbapp.core.merkle.smt import MerkleMap
    from kbapp.core.transparency import LogLeaf

    n = sz.epochs
    updates = _fake_updates(n)
    results = []

    # baseline: raw in-memory appends of leaves the size of the real ones
    leaf = LogLeaf(123_456, hashlib.sha256(b"root").digest(), 1_700_000_000).encode()
    n_raw = max(100_000, n)

    def raw():
        lg = MerkleLog()
        for _ in range(n_raw):
            lg.append(leaf)

    raw_rate = n_raw / best_of(3, raw)

    # the real path: Service.write_raw_epoch (the epoch of every post), one transaction and one map update per epoch
    log(f"log: {n} epochs through Service.write_raw_epoch on SQLite ...")
    with tempfile.TemporaryDirectory(prefix="kbapp-bench-") as tmp:
        engine, key, svc = _sqlite_service(Path(tmp))
        try:
            for k, v in _fake_updates(20, start=10 * n):          # warm-up (not counted)
                svc.write_raw_epoch([(k, v)])
            gc.collect()
            t0 = time.perf_counter()
            for k, v in updates:                    # a connection and an epoch each, as a post
                svc.write_raw_epoch([(k, v)])
            svc_s = time.perf_counter() - t0
            size = svc.log.size
            origin = svc.origin

            # what the non-SQL part of an epoch costs (same operations, in memory)
            m = MerkleMap.from_items(updates[: n // 2])
            extra = _fake_updates(n, start=20 * n)
            t0 = time.perf_counter()
            for k, v in extra:
                m.set(k, v)
                m.root()
            map_s = time.perf_counter() - t0
            lg = MerkleLog.from_leaf_hashes(svc.log.leaf_hash_at(i) for i in range(size))
            t0 = time.perf_counter()
            for i in range(n):
                lg.append(LogLeaf(size + i, m.root(), 1_700_000_000).encode())
                sign_checkpoint(origin, lg.size, lg.root(), origin, key)
            sign_s = time.perf_counter() - t0
        finally:
            engine.dispose()

    svc_rate = n / svc_s
    per_epoch_us = svc_s / n * 1e6
    results.append(with_goal(
        rate_result("log.epoch_sqlite", svc_rate, "epochs/s", raw_rate,
                     "raw in-memory MerkleLog.append of a leaf-sized record",
                     details={"epochs": n, "epochs_per_transaction": 1, "map_updates_per_epoch": 1,
                              "per_epoch_us": round(per_epoch_us, 1),
                              "breakdown_us_per_epoch": {
                                  "map_set_and_root": round(map_s / n * 1e6, 1),
                                  "leaf_append_root_and_checkpoint_signature": round(sign_s / n * 1e6, 1),
                                  "sql_and_transaction_rest": round((svc_s - map_s - sign_s) / n * 1e6, 1)},
                              "sqlite": sqlite3.sqlite_version,
                              "pragmas": "journal_mode=WAL, synchronous=NORMAL (kbapp.server.db)"}),
        on="value", op=">=", target=EPOCH_RATE_GOAL, label=f">= {EPOCH_RATE_GOAL:,.0f} epochs/s"))

    return results


# --- 3. proofs ------------------------------------------------------------------------


def bench_proofs(sz: Sizes, sha_us: float, log: Callable[[str], None]) -> list[Result]:
    from kbapp.core.merkle.log import MerkleLog, verify_consistency, verify_inclusion
    from kbapp.core.merkle.smt import MerkleMap, verify_map_proof

    rng = random.Random(3)
    results = []

    def rows(prefix: str, times_us: list[float], depth: int, what_n: str, goal: bool, extra: dict) -> None:
        base = depth * sha_us
        what = f"{depth} x SHA-256 of 64 bytes (ceil(log2 {what_n}))"
        for q in ("p50", "p95"):
            v = pct(times_us, 0.5 if q == "p50" else 0.95)
            r = time_result(f"{prefix}.{q}", v, base, what, details=dict(extra, queries=len(times_us)))
            if goal:
                with_goal(r, on="value", op="<", target=PROOF_GOAL_US, label=f"< {PROOF_GOAL_US:,.0f} us")
            results.append(r)

    # the log
    n = sz.log_leaves
    log(f"proofs: building a log of {n:,} leaves ...")
    raw = rng.randbytes(32 * n)
    t0 = time.perf_counter()
    lg = MerkleLog.from_leaf_hashes(raw[i:i + 32] for i in range(0, 32 * n, 32))
    build_s = time.perf_counter() - t0
    depth = math.ceil(math.log2(n))
    q = sz.proof_queries
    # sizes of recent checkpoints (a client's view), leaves anywhere below them
    sizes = [rng.randint(n // 2, n) for _ in range(q)]
    incl = [(rng.randrange(s), s) for s in sizes]
    cons = [(rng.randint(1, s - 1), s) for s in sizes]
    log(f"proofs: {q} inclusion and consistency proofs ...")
    incl_t = timed_each(lambda a: lg.inclusion_proof(a[0], a[1]), incl)
    cons_t = timed_each(lambda a: lg.consistency_proof(a[0], a[1]), cons)
    roots = {s: lg.root(s) for pair in (incl, cons) for a in pair for s in a if s > 0}
    incl_v = [(lg.leaf_hash_at(i), i, s, lg.inclusion_proof(i, s), roots[s]) for i, s in incl]
    cons_v = [(m, s, lg.consistency_proof(m, s), roots[m], roots[s]) for m, s in cons]
    vin_t = timed_each(lambda a: verify_inclusion(*a), incl_v)
    vco_t = timed_each(lambda a: verify_consistency(*a), cons_v)
    common = {"leaves": n, "build_s": round(build_s, 2)}
    rows("log.inclusion_proof", incl_t, depth, f"{n:,}", True, common)
    rows("log.consistency_proof", cons_t, depth, f"{n:,}", True, common)
    rows("log.verify_inclusion", vin_t, depth, f"{n:,}", True, common)
    rows("log.verify_consistency", vco_t, depth, f"{n:,}", True, common)
    del lg, raw, incl_v, cons_v, roots
    gc.collect()

    # the map
    k = sz.map_keys
    log(f"proofs: building a map of {k:,} keys ...")
    items = [(rng.randbytes(32), rng.randbytes(80)) for _ in range(k)]
    t0 = time.perf_counter()
    m = MerkleMap.from_items(items)
    build_s = time.perf_counter() - t0
    mdepth = math.ceil(math.log2(k))
    q = sz.map_queries
    present = [items[rng.randrange(k)][0] for _ in range(q // 2)]
    absent = [rng.randbytes(32) for _ in range(q - q // 2)]
    keys = present + absent
    rng.shuffle(keys)
    prove_t = timed_each(m.prove, keys)
    root = m.root()
    checks = [(root, key, m.get(key), m.prove(key)) for key in keys]
    verify_t = timed_each(lambda a: verify_map_proof(*a), checks)
    path_len = sum(len(c[3].siblings) for c in checks) / len(checks)
    upd = [(items[rng.randrange(k)][0], rng.randbytes(80)) for _ in range(q)]
    set_t = timed_each(lambda a: m.set(*a), upd)
    new = [(rng.randbytes(32), rng.randbytes(80)) for _ in range(q)]
    ins_t = timed_each(lambda a: m.set(*a), new)
    common = {"keys": k, "build_s": round(build_s, 2), "avg_path_len": round(path_len, 1),
              "queries_present_absent": [len(present), len(absent)]}
    rows("map.prove", prove_t, mdepth, f"{k:,}", True, common)
    rows("map.verify", verify_t, mdepth, f"{k:,}", True, common)
    rows("map.set_update", set_t, mdepth, f"{k:,}", False, common)
    rows("map.set_insert", ins_t, mdepth, f"{k:,}", False, common)
    return results


# --- 4. end to end ------------------------------------------------------------------


async def _e2e(sz: Sizes, tmp: Path, log: Callable[[str], None]) -> Result:
    from kbapp.client.api import ServerAPI
    from kbapp.client.app import App
    from kbapp.client.keystore import open_keystore
    from kbapp.core.sigchain import verify_chain
    from kbapp.server.main import EmbeddedServer, ServerConfig

    srv = EmbeddedServer(ServerConfig(data_dir=tmp / "server", port=0, rate=0))
    url = await asyncio.get_running_loop().run_in_executor(None, srv.start)
    try:
        service = srv.service

        def root() -> dict:      # the checkpoint the author last saw (real, so identify can check it)
            size = service.log.size
            return {"size": size, "hash": service.log.root(size).hex()}

        writer = _ChainWriter(random.Random(4), "benchuser", root)
        api = ServerAPI(url)
        try:
            log(f"identify: posting a chain of {sz.e2e_links} links ...")
            posted, first = 0, True
            while posted < sz.e2e_links:
                batch = writer.take(min(48, sz.e2e_links - posted))
                if first:
                    await api.signup({"uid": writer.uid, "username": writer.username, "links": batch})
                    first = False
                else:
                    await api.post_links(writer.uid, {"links": batch})
                posted += len(batch)
            links = (await api.chain(writer.uid))["links"]
        finally:
            await api.aclose()

        home = tmp / "client"
        app = App(home, keystore=open_keystore(home, backend="memory"))
        await app.open()
        try:
            await app.connect(url)
            t0 = time.perf_counter()
            ident = await app.identify(writer.username)
            cold_s = time.perf_counter() - t0
            if ident.chain_length != sz.e2e_links:
                raise RuntimeError(f"identify saw {ident.chain_length} links, not {sz.e2e_links}")
            log(f"identify: {sz.e2e_runs} identifies ...")
            warm = []
            for _ in range(sz.e2e_runs):
                gc.collect()
                t0 = time.perf_counter()
                await app.identify(writer.username)
                warm.append((time.perf_counter() - t0) * 1e6)
        finally:
            await app.close()
        alone = []
        for _ in range(sz.e2e_runs):
            gc.collect()
            t0 = time.perf_counter()
            verify_chain(links, uid=writer.uid, username=writer.username)
            alone.append((time.perf_counter() - t0) * 1e6)
    finally:
        srv.stop()
    warm.sort()
    alone.sort()
    v, base = pct(warm, 0.5), pct(alone, 0.5)
    return time_result(
        "identify.app_identify.p50", v, base,
        f"verify_chain alone on the same {sz.e2e_links}-link chain (p50)",
        details={"links": sz.e2e_links, "runs": sz.e2e_runs, "cold_first_identify_us": round(cold_s * 1e6, 1),
                 "warm_p95_us": round(pct(warm, 0.95), 1), "verify_chain_p95_us": round(pct(alone, 0.95), 1),
                 "mix": dict(sorted(writer.counts.items())),
                 "note": "real EmbeddedServer on 127.0.0.1 (SQLite), App with a fresh profile; "
                         "the server runs in a thread of this process"})


def bench_identify(sz: Sizes, log: Callable[[str], None]) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="kbapp-bench-") as tmp:
        return [asyncio.run(_e2e(sz, Path(tmp), log))]


# --- driver ------------------------------------------------------------------------


def run_all(quick: bool, log: Callable[[str], None] = lambda s: None) -> dict:
    sz = QUICK if quick else FULL
    t0 = time.perf_counter()
    sha_us = _sha256_64_us()
    results: list[Result] = []
    results += bench_chain(sz, log)
    results += bench_log_append(sz, log)
    results += bench_proofs(sz, sha_us, log)
    results += bench_identify(sz, log)
    return {"benchmark": "identity", "quick": quick, "sizes": asdict(sz), "machine": machine_info(),
            "sha256_64B_us": sha_us, "elapsed_s": round(time.perf_counter() - t0, 2),
            "results": [asdict(r) for r in results]}


def render_table(report: dict) -> str:
    lines = results_table(report["results"])
    m = report["machine"]
    out = [f"kbapp bench identity{' --quick' if report['quick'] else ''}: "
           f"{m['cpu_count']} CPUs ({m['cpu_model']}), Python {m['python']}, PyNaCl {m['pynacl']}, "
           f"SQLite {m['sqlite']}; {report['elapsed_s']} s", "", *lines, "",
           RATIO_NOTE, *baselines(report["results"])]
    for r in report["results"]:
        d = r["details"]
        if r["name"] == "chain.verify_chain":
            out.append("")
            out.append(f"chain: {d['links']} links {d['mix']}, {d['ed25519_verifies']} Ed25519 checks "
                       f"({d['verifies_per_link']}/link), signed message {d['avg_signed_message_bytes']} B, "
                       f"payload_json {d['avg_payload_json_bytes']} B")
            out.append("chain time breakdown (s): " + ", ".join(f"{k}={v}" for k, v in d["breakdown"].items()))
            out.append(f"one Ed25519 verify: {d['ed25519_verify_us']} us; inside parse_link (us/link): "
                       + ", ".join(f"{k}={v}" for k, v in d["parse_link_parts_us_per_link"].items()))
            if d.get("profile_top_by_self_time"):
                out.append("verify_chain profile (cProfile, top functions by self time):")
                for p in d["profile_top_by_self_time"]:
                    out.append(f"  {p['self_share']:6.1%}  {p['tottime_s']:8.4f}s  {p['ncalls']:>8}  {p['function']}")
        elif r["name"] == "log.epoch_sqlite":
            out.append("")
            out.append(f"log epoch: {d['per_epoch_us']} us/epoch; breakdown (us/epoch): "
                       + ", ".join(f"{k}={v}" for k, v in d["breakdown_us_per_epoch"].items()))
        elif r["name"].startswith("identify."):
            out.append(f"identify: {d['links']} links, cold first identify {d['cold_first_identify_us'] / 1000:.1f} ms, "
                       f"warm p95 {d['warm_p95_us'] / 1000:.1f} ms, verify_chain p95 "
                       f"{d['verify_chain_p95_us'] / 1000:.1f} ms")
    return "\n".join(out)


def run_bench(args) -> int:
    """Entry point for `kbapp bench identity [--quick] [--json]`."""
    return run_report(args, run_all, render_table)
