"""`kbapp bench fs`: encrypted folders through a real server process (issue 16).

Set-up: a server process on loopback (`ServerChild`), one account signed up in this
process, a file of random bytes on disk (1 GiB; `--size 64M` to shrink; 32 MiB with --quick).

Measured:

* `fs.write_upload`: `app.files.write(path, Path)` of the file (sealed into blocks,
  journaled with fsync) then `sync` (blocks PUT, the revision POSTed), in MB/s; the two
  halves' speeds in its details;
* `fs.download_read`: `kbapp fs cp` of it back to a local file (`export.py`: every block
  fetched, hash- and MAC-checked, streamed to a temp file, renamed), in MB/s; the blocks
  come from the client's disk cache (the upload moved them there); `cold_MBps` in its
  details: the same read again after the cache was emptied (every block from the server);
* baselines from the same run on the same bytes: raw secretbox seal / open (PyNaCl,
  XSalsa20-Poly1305, 1 MiB pieces) and raw SHA-256; goal: ratio >= 0.5 of raw secretbox;
* `fs.small_files`: N small files (10,000; `--files`) journaled, then uploaded (files/s);
* `fs.list_cached`: listing that N-entry directory again (the engine's local view; goal
  < 200 ms);
* `fs.peak_memory`: RSS sampled every 20 ms during the big copy, above the RSS before it
  (goal < 200 MB), and the client's peak RSS.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

from kbapp.bench.kit import (RATIO_NOTE, Result, ServerChild, baselines, machine_info, rate_result, results_table,
                             run_report, time_result, with_goal)

MIB = 1 << 20
FOLDER = "/private/alice"


def parse_size(text: str | None, default: int) -> int:
    """'1G', '64M', '500k' or bytes."""
    if not text:
        return default
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(t[-1:], 1)
    return int(float(t[:-1] if mult != 1 else t) * mult)


def _write_file(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            piece = os.urandom(min(left, 4 * MIB))
            f.write(piece)
            left -= len(piece)


def _baselines(path: Path) -> dict:
    """Seconds for raw secretbox seal, open, and SHA-256 of the file's bytes (1 MiB pieces)."""
    import nacl.bindings

    key, nonce = os.urandom(32), os.urandom(24)
    seal = open_ = sha = 0.0
    with open(path, "rb") as f:
        while piece := f.read(MIB):
            t0 = time.perf_counter()
            box = nacl.bindings.crypto_secretbox(piece, nonce, key)
            t1 = time.perf_counter()
            nacl.bindings.crypto_secretbox_open(box, nonce, key)
            t2 = time.perf_counter()
            hashlib.sha256(piece).digest()
            seal, open_, sha = seal + t1 - t0, open_ + t2 - t1, sha + time.perf_counter() - t2
    return {"seal_s": seal, "open_s": open_, "sha_s": sha}


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class RssPeak:
    """The highest RSS seen while it runs (sampled every 20 ms in a thread)."""

    def __enter__(self) -> "RssPeak":
        self.start = self.peak = _rss_kib()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_kib())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _rss_kib())


def _empty_cache(files) -> None:
    """Forget every block the client's disk cache holds (as on a device that never read the
    file): the cold read's blocks all come from the server."""
    cache = files.cache
    for block_id in list(cache._lru):
        cache._forget(block_id)


async def _measure(url: str, tmp: Path, src: Path, nfiles: int, log) -> dict:
    from kbapp.client.app import App
    from kbapp.client.fs.copy import upload_all
    from kbapp.client.fs.export import export
    from kbapp.client.keystore import open_keystore

    app = App(tmp / "alice", keystore=open_keystore(tmp / "alice", backend="memory"))
    await app.open()
    try:
        await app.signup("alice", server_url=url, device_name="bench")
        files = app.files
        out: dict = {}
        log("write + upload...")
        with RssPeak() as mem:
            t0 = time.perf_counter()
            await files.write(f"{FOLDER}/big.bin", src, upload=False)
            out["journal_s"] = time.perf_counter() - t0
            await upload_all(files)
            out["up_s"] = time.perf_counter() - t0
            log("download + read...")
            dest = tmp / "got"
            t0 = time.perf_counter()
            await export(files, f"{FOLDER}/big.bin", dest)
            out["down_s"] = time.perf_counter() - t0
            if os.path.getsize(dest) != os.path.getsize(src):
                raise RuntimeError("bench: the file read back has another size")
            dest.unlink()
            log("download + read, cold (every block from the server)...")
            _empty_cache(files)
            t0 = time.perf_counter()
            await export(files, f"{FOLDER}/big.bin", dest)
            out["cold_down_s"] = time.perf_counter() - t0
        out["rss_start_kib"], out["rss_peak_kib"] = mem.start, mem.peak
        if os.path.getsize(dest) != os.path.getsize(src):
            raise RuntimeError("bench: the file read back has another size")
        dest.unlink()
        log(f"{nfiles} small files...")
        t0 = time.perf_counter()
        for i in range(nfiles):
            await files.write(f"{FOLDER}/many/f{i:05d}.txt", b"small file %d\n" % i, upload=False)
        out["small_write_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        await upload_all(files)
        out["small_upload_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        rows = await files.ls(f"{FOLDER}/many")
        out["list_first_s"] = time.perf_counter() - t0
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            rows = await files.ls(f"{FOLDER}/many")
            times.append(time.perf_counter() - t0)
        out["list_cached_s"] = min(times)
        if len(rows) != nfiles:
            raise RuntimeError(f"bench: listed {len(rows)} of {nfiles} files")
        return out
    finally:
        await app.close()


def _produce(quick: bool, log, size: int | None, nfiles: int | None) -> dict:
    size = size or (32 * MIB if quick else 1024 * MIB)
    nfiles = nfiles or (200 if quick else 10_000)
    with tempfile.TemporaryDirectory(prefix="kbapp-bench-fs-") as d:
        tmp = Path(d)
        src = tmp / "file.bin"
        log(f"writing {size / MIB:g} MiB of random bytes...")
        _write_file(src, size)
        log("baselines: raw secretbox and SHA-256 of the same bytes...")
        base = _baselines(src)
        with ServerChild(tmp) as server:
            os.environ.setdefault("KBAPP_THROWAWAY", "1")
            got = asyncio.run(_measure(server.url, tmp, src, nfiles, log))
    mb = size / 1e6
    up_mbps, down_mbps = mb / got["up_s"], mb / got["down_s"]
    seal_mbps, open_mbps, sha_mbps = mb / base["seal_s"], mb / base["open_s"], mb / base["sha_s"]
    n = f"{size / MIB:g} MiB"
    up = with_goal(rate_result("fs.write_upload", up_mbps, "MB/s", seal_mbps,
                               f"raw secretbox seal of the same {n} in 1 MiB pieces (PyNaCl)",
                               details={"vs_sha256": round(up_mbps / sha_mbps, 3), "sha256_MBps": round(sha_mbps, 1),
                                        "seconds": round(got["up_s"], 2),
                                        "journal_MBps": round(mb / got["journal_s"], 1),
                                        "upload_MBps": round(mb / (got["up_s"] - got["journal_s"]), 1)}),
                   on="ratio", op=">=", target=0.5, label="ratio >= 0.5")
    down = with_goal(rate_result("fs.download_read", down_mbps, "MB/s", open_mbps,
                                 f"raw secretbox open of the same {n} in 1 MiB pieces (PyNaCl)",
                                 details={"vs_sha256": round(down_mbps / sha_mbps, 3),
                                          "seconds": round(got["down_s"], 2),
                                          "cold_MBps": round(mb / got["cold_down_s"], 1),
                                          "cold_ratio": round(mb / got["cold_down_s"] / open_mbps, 3)}),
                     on="ratio", op=">=", target=0.5, label="ratio >= 0.5")
    small = rate_result("fs.small_files", nfiles / (got["small_write_s"] + got["small_upload_s"]), "files/s",
                        0.0, "none (absolute)",
                        details={"files": nfiles, "journal_files_per_s": round(nfiles / got["small_write_s"], 1),
                                 "upload_files_per_s": round(nfiles / got["small_upload_s"], 1)})
    listing = with_goal(time_result("fs.list_cached", got["list_cached_s"] * 1000, 200.0,
                                    "the goal: 200 ms", unit="ms",
                                    details={"first_list_ms": round(got["list_first_s"] * 1000, 1),
                                             "entries": nfiles}),
                        on="value", op="<", target=200.0, label="< 200 ms")
    above = (got["rss_peak_kib"] - got["rss_start_kib"]) / 1024
    mem = with_goal(Result("fs.peak_memory", above, "MB", size / MIB, "the file's size (memory if held whole)",
                           (size / MIB) / above if above > 0 else 0.0,
                           details={"rss_before_mb": round(got["rss_start_kib"] / 1024, 1),
                                    "rss_peak_mb": round(got["rss_peak_kib"] / 1024, 1),
                                    "note": "RSS sampled every 20 ms during write+upload and download+read"}),
                    on="value", op="<", target=200.0, label="< 200 MB")
    results = [up, down, small, listing, mem]
    return {"benchmark": "fs", "quick": quick, "size_bytes": size, "files": nfiles, "machine": machine_info(),
            "results": [asdict(r) for r in results]}


def run_fs_bench(args) -> int:
    """Entry point for `kbapp bench fs [--size 64M] [--files N] [--quick] [--json]`."""
    size = parse_size(getattr(args, "size", None), 0) or None
    nfiles = getattr(args, "files", None)
    return run_report(args, lambda quick, log: _produce(quick, log, size, nfiles), render_table)


def render_table(report: dict) -> str:
    m = report["machine"]
    return "\n".join([f"kbapp bench fs{' --quick' if report['quick'] else ''}: {m['cpu_count']} CPUs, "
                      f"Python {m['python']}; {report['elapsed_s']} s; a {report['size_bytes'] / MIB:g} MiB file, "
                      f"{report['files']} small files", "", *results_table(report["results"]), "",
                      RATIO_NOTE, *baselines(report["results"])])
