"""`kbapp bench identify`: identify a user with 10 proofs, fetched concurrently.

Set-up (in this process): an EmbeddedServer (SQLite) and a proof host on
127.0.0.1 that serves every `/.well-known/kbapp.txt` after a simulated network
latency (50 ms; 20 ms with --quick), as a real website would. A user posts 10
website proofs (hosts p0.bench ... p9.bench mapped to that host). Measured:

* `identify.proofs_concurrent`: `App.identify(..., force_proofs=True)` (chain
  verification, then the 10 proofs fetched at once, then classified);
* baseline: the same 10 proof checks run one after the other (`run_check` per
  proof, same client, same limits), plus the chain part alone
  (`App.identify(..., proofs=False)`).

ratio = baseline / value: how many times faster than fetching one by one.
Timings are never asserted by tests; they check the report's shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

from kbapp.bench.kit import RATIO_NOTE, baselines, results_table, run_report

N_PROOFS = 10


def _proof_host(latency: float):
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from kbapp.server.main import free_port

    texts: dict[str, str] = {}

    async def well_known(request):
        await asyncio.sleep(latency)
        return PlainTextResponse(texts.get(request.path_params["host"], ""))

    app = Starlette(routes=[Route("/{host}/.well-known/kbapp.txt", well_known)])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", texts, server, thread


async def _run(tmp: Path, quick: bool, log) -> dict:
    from kbapp.bench.kit import Result, machine_info
    from kbapp.client.app import App
    from kbapp.client.keystore import open_keystore
    from kbapp.client.proofs import ProofConfig
    from kbapp.client.proofs.base import Fetcher
    from kbapp.client.social import proof_http_client, run_check
    from kbapp.core.proofs import chain_statements
    from kbapp.server.main import EmbeddedServer, ServerConfig

    latency = 0.02 if quick else 0.05
    runs = 3 if quick else 10
    base, texts, host_server, host_thread = _proof_host(latency)
    srv = EmbeddedServer(ServerConfig(data_dir=tmp / "server", port=0, rate=0))
    url = await asyncio.get_running_loop().run_in_executor(None, srv.start)
    hosts = [f"p{i}.bench" for i in range(N_PROOFS)]
    cfg = ProofConfig(timeout=10.0, ttl=0, website_hosts={h: f"{base}/{h}" for h in hosts},
                      allow_private_hosts=[base.removeprefix("http://")])   # the loopback proof host
    apps = []
    try:
        prover = App(tmp / "prover", keystore=open_keystore(tmp / "prover", backend="memory"))
        reader = App(tmp / "reader", keystore=open_keystore(tmp / "reader", backend="memory"))
        apps = [prover, reader]
        for a in apps:
            await a.open()
            a.proof_config = cfg
        log(f"signing up and posting {N_PROOFS} proofs...")
        await prover.signup("prover", server_url=url, device_name="bench")
        for h in hosts:
            req = await prover.start_proof("website", h)
            texts[h] = req.text
            await prover.finish_proof(req)
        await reader.connect(url)
        ident = await reader.identify("prover")
        if len(ident.proofs) != N_PROOFS or any(p.state != "ok" for p in ident.proofs):
            raise RuntimeError(f"bench set-up: proofs did not all verify: {ident.proofs}")

        conc, chain_only, seq = [], [], []
        for i in range(runs):
            log(f"run {i + 1}/{runs}")
            t = time.perf_counter()
            ident = await reader.identify("prover", force_proofs=True)
            conc.append(time.perf_counter() - t)
            if any(p.state != "ok" for p in ident.proofs):
                raise RuntimeError(f"bench run: a proof did not verify: {ident.proofs}")

            t = time.perf_counter()
            await reader.identify("prover", proofs=False)
            chain_only.append(time.perf_counter() - t)

            user = await reader.identifier.identify("prover")
            claims = chain_statements(user.state)[0]
            svc = reader.proof_services()["website"]
            t = time.perf_counter()
            async with proof_http_client(cfg) as client:
                fetcher = Fetcher(client, cfg)
                for c in claims:
                    state, _ = await run_check(svc, fetcher, c.username, "prover", c.sig_id)
                    if state != "ok":
                        raise RuntimeError(f"bench baseline: proof {c.sig_id} is {state}")
            seq.append(time.perf_counter() - t)
        value = statistics.median(conc) * 1e6
        baseline = (statistics.median(chain_only) + statistics.median(seq)) * 1e6
        result = Result("identify.proofs_concurrent", value, "us", baseline,
                        f"chain identify + the {N_PROOFS} proof checks one after the other", baseline / value,
                        goal="ratio >= 3", passed=bool(baseline / value >= 3),
                        details={"proofs": N_PROOFS, "latency_ms": latency * 1000, "runs": runs,
                                 "chain_only_us": statistics.median(chain_only) * 1e6,
                                 "sequential_fetch_us": statistics.median(seq) * 1e6,
                                 "note": "EmbeddedServer (SQLite) and a proof host with simulated latency, "
                                         "both on 127.0.0.1 in this process"})
        return {"benchmark": "identify", "quick": quick, "machine": machine_info(),
                "results": [asdict(result)]}
    finally:
        for a in apps:
            with contextlib.suppress(Exception):
                await a.close()
        srv.stop()
        host_server.should_exit = True
        host_thread.join(5)


def run_identify_bench(args) -> int:
    """Entry point for `kbapp bench identify [--quick] [--json]`."""
    def produce(quick: bool, log) -> dict:
        with tempfile.TemporaryDirectory(prefix="kbapp-bench-id-") as tmp:
            return asyncio.run(_run(Path(tmp), quick, log))

    return run_report(args, produce, render_table)


def render_table(report: dict) -> str:
    m = report["machine"]
    out = [f"kbapp bench identify{' --quick' if report['quick'] else ''}: {m['cpu_count']} CPUs, "
           f"Python {m['python']}; {report['elapsed_s']} s", "", *results_table(report["results"]), "",
           RATIO_NOTE, *baselines(report["results"])]
    for r in report["results"]:
        d = r["details"]
        out.append(f"\n{d['proofs']} proofs at {d['latency_ms']:.0f} ms each, median of {d['runs']} runs: chain only "
                   f"{d['chain_only_us'] / 1000:.1f} ms, proofs one by one {d['sequential_fetch_us'] / 1000:.1f} ms")
    return "\n".join(out)
