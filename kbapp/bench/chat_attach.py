"""`kbapp bench chat-attach`: a chat attachment up and down through a real server process.

Set-up: a server process on loopback (`ServerChild`), one account signed up in this
process, a file of random bytes (1 GiB; 32 MiB with --quick) on disk.

Measured:

* `chat_attach.upload`: `client/chat/transfer.upload` (one signencrypt pass streamed to
  `POST /v1/blobs`, which names the blob by its hash; the client checks that id);
* `chat_attach.download`: `transfer.download` (streamed GET, every chunk opened and its
  signature checked on two threads, written to a temporary file, hash checked, renamed);
* `chat_attach.round_trip`: both (goal: ratio >= 0.5);
* `chat_attach.peak_memory`: this process's peak RSS and the server's (goal < 200 MB),
  with the peak of Python allocations during the transfers in its details.

Baseline: raw secretbox (PyNaCl, XSalsa20-Poly1305) of the same bytes in 1 MiB pieces,
sealing for the upload, opening for the download, both for the round trip, measured in
the same run. ratio = baseline / value.
"""

from __future__ import annotations

import asyncio
import os
import resource
import tempfile
import time
import tracemalloc
from dataclasses import asdict
from pathlib import Path

from kbapp.bench.kit import (RATIO_NOTE, Result, ServerChild, baselines, machine_info, results_table, run_report,
                             time_result, with_goal)

MIB = 1 << 20


def _write_file(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            piece = os.urandom(min(left, 4 * MIB))
            f.write(piece)
            left -= len(piece)


def _secretbox_baseline(path: Path) -> tuple[float, float]:
    """(seconds to seal, seconds to open) the file's bytes in 1 MiB pieces, raw secretbox."""
    import nacl.bindings

    key, nonce = os.urandom(32), os.urandom(24)
    seal = open_ = 0.0
    with open(path, "rb") as f:
        while piece := f.read(MIB):
            t0 = time.perf_counter()
            box = nacl.bindings.crypto_secretbox(piece, nonce, key)
            t1 = time.perf_counter()
            nacl.bindings.crypto_secretbox_open(box, nonce, key)
            seal, open_ = seal + t1 - t0, open_ + time.perf_counter() - t1
    return seal, open_


def _rss_peak_kib(pid: int | None = None) -> int:
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


async def _transfers(url: str, tmp: Path, src: Path, log) -> dict:
    from kbapp.client.app import App
    from kbapp.client.chat import transfer
    from kbapp.client.keystore import open_keystore

    app = App(tmp / "alice", keystore=open_keystore(tmp / "alice", backend="memory"))
    await app.open()
    try:
        await app.signup("alice", server_url=url, device_name="bench")
        tracemalloc.start()
        log("uploading...")
        t0 = time.perf_counter()
        ref = await transfer.upload(app.api, src)
        up = time.perf_counter() - t0
        log("downloading...")
        dest = tmp / "got.bin"
        t0 = time.perf_counter()
        await transfer.download(app.api, ref, dest)
        down = time.perf_counter() - t0
        _, traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        if os.path.getsize(dest) != os.path.getsize(src):
            raise RuntimeError("bench: the downloaded file has another size")
        dest.unlink()
        return {"upload_s": up, "download_s": down, "traced_peak": traced, "blob": ref.sealed_size}
    finally:
        await app.close()


def _produce(quick: bool, log) -> dict:
    size = 32 * MIB if quick else 1024 * MIB
    with tempfile.TemporaryDirectory(prefix="kbapp-bench-attach-") as d:
        tmp = Path(d)
        src = tmp / "file.bin"
        log(f"writing {size // MIB} MiB of random bytes...")
        _write_file(src, size)
        log("baseline: raw secretbox of the same bytes...")
        seal_s, open_s = _secretbox_baseline(src)
        with ServerChild(tmp) as server:
            os.environ.setdefault("KBAPP_THROWAWAY", "1")     # the account dies with the bench
            got = asyncio.run(_transfers(server.url, tmp, src, log))
            server_peak = _rss_peak_kib(server.proc.pid)
        client_peak = _rss_peak_kib()
    mb = size / 1e6
    what_up = f"raw secretbox seal of the same {size // MIB} MiB in 1 MiB pieces (PyNaCl)"
    what_down = f"raw secretbox open of the same {size // MIB} MiB in 1 MiB pieces (PyNaCl)"
    what_both = f"raw secretbox seal + open of the same {size // MIB} MiB in 1 MiB pieces (PyNaCl)"
    up, down = got["upload_s"], got["download_s"]
    details = {"file_bytes": size, "blob_bytes": got["blob"], "upload_MBps": round(mb / up, 1),
               "download_MBps": round(mb / down, 1), "baseline_seal_MBps": round(mb / seal_s, 1),
               "baseline_open_MBps": round(mb / open_s, 1)}
    peak_mb = max(client_peak, server_peak) / 1024
    mem = Result("chat_attach.peak_memory", peak_mb, "MB", size / MIB, "the file's size (memory if held whole)",
                 (size / MIB) / peak_mb if peak_mb else 0.0,
                 details={"client_peak_rss_mb": round(client_peak / 1024, 1),
                          "server_peak_rss_mb": round(server_peak / 1024, 1),
                          "client_traced_peak_mb": round(got["traced_peak"] / MIB, 1),
                          "note": "peak RSS includes the interpreter and its imports"})
    results = [
        time_result("chat_attach.upload", up, seal_s, what_up, unit="s", details=details),
        time_result("chat_attach.download", down, open_s, what_down, unit="s"),
        with_goal(time_result("chat_attach.round_trip", up + down, seal_s + open_s, what_both, unit="s"),
                  on="ratio", op=">=", target=0.5, label="ratio >= 0.5"),
        with_goal(mem, on="value", op="<", target=200.0, label="< 200 MB"),
    ]
    return {"benchmark": "chat-attach", "quick": quick, "machine": machine_info(),
            "results": [asdict(r) for r in results]}


def run_chat_attach_bench(args) -> int:
    """Entry point for `kbapp bench chat-attach [--quick] [--json]`."""
    return run_report(args, _produce, render_table)


def render_table(report: dict) -> str:
    m = report["machine"]
    d = report["results"][0]["details"]
    mem = report["results"][3]["details"]
    out = [f"kbapp bench chat-attach{' --quick' if report['quick'] else ''}: {m['cpu_count']} CPUs, "
           f"Python {m['python']}; {report['elapsed_s']} s", "",
           f"a {d['file_bytes'] // MIB} MiB file ({d['blob_bytes']} bytes encrypted) up and down through a "
           f"server process on loopback: {d['upload_MBps']} MB/s up, {d['download_MBps']} MB/s down", "",
           *results_table(report["results"]), "",
           f"peak RSS: client {mem['client_peak_rss_mb']} MB, server {mem['server_peak_rss_mb']} MB; "
           f"Python allocations during the transfers peaked at {mem['client_traced_peak_mb']} MB",
           RATIO_NOTE, *baselines(report["results"])]
    return "\n".join(out)
