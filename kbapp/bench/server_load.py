"""`kbapp bench server-load`: what one heavy writer does to everyone else's requests.

A real `kbapp server` process (SQLite, or PostgreSQL with `--db URL`) on 127.0.0.1.
First one user, the poster, gets a long chain (8,000 links at full size, as in
the issue: a post used to re-verify the whole stored chain under the global
write lock, about 1 s at 7,683 links). Then, twice, 20 other users each sign up
and look each other up (name -> uid, Merkle lookup, chain page), every request
timed, each user pausing about 20 ms (10-30) before each request (people, not a
closed loop: 20 loops firing back to back would measure only the server's own
queue, about concurrency / throughput). The 20 run in a process of their own, so
their times never include the bench's own link building and signing:

* idle: nobody else is writing (the baseline, measured in the same run);
* loaded: meanwhile the poster posts batches of links back to back, as fast as
  the server accepts them, and 4 attackers post links under the poster's uid,
  signed by keys that are not the poster's (every one refused).

Reported: p50 / p99 / max of the others' requests in both phases, ratio =
idle p99 / loaded p99 (1.0: the load costs the others nothing), and what the
writers got done. Goal: loaded p99 < 200 ms. Nothing here asserts timings;
tests/integration/test_server_load.py runs it small and checks what happened.
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from kbapp.bench.kit import (RATIO_NOTE, ServerChild, machine_info, pct, results_table, run_report,
                             time_result, with_goal)
from kbapp.bench.loadclient import LoadClient

P99_GOAL_MS = 200.0


@dataclass(frozen=True)
class LoadSizes:
    others: int            # users who sign up and look each other up, per phase
    lookups: int           # lookups each of them makes (3 requests each)
    pre_links: int         # the poster's chain before the measurement
    batch: int             # links per post of the poster
    attackers: int         # tasks posting refused links under the poster's uid
    think_ms: float = 20.0  # each other user's pause between two requests (people, not a loop)


FULL = LoadSizes(others=20, lookups=10, pre_links=8_000, batch=16, attackers=4)
QUICK = LoadSizes(others=20, lookups=3, pre_links=600, batch=16, attackers=4)


# --- the server process --------------------------------------------------------------


# --- the load ------------------------------------------------------------------------


async def _checkpoint_root(http) -> dict:
    """The newest checkpoint's {size, hash}: what a link's author embeds."""
    from kbapp.core.merkle.note import parse_checkpoint_body

    note = (await http.get("/v1/checkpoint")).json()["note"]
    _, size, root, _ = parse_checkpoint_body(note.split("\n\n", 1)[0] + "\n")
    return {"size": size, "hash": root.hex()}


def _signups(n: int, tag: str) -> list[tuple[str, str, list[dict]]]:
    """n users' signup links (eldest, subkey, PUK), built before anything is timed."""
    from kbapp.client.chainops import signup_links
    from kbapp.core.keys import DeviceKeys
    from kbapp.core.puk import PerUserKey
    from kbapp.core.uid import device_id, uid_for

    out = []
    for i in range(n):
        name = f"{tag}{i:02d}"
        links = signup_links(uid=uid_for(name), username=name,
                             keys=DeviceKeys.from_seeds(os.urandom(32), os.urandom(32)),
                             device_id=device_id(os.urandom(16)), device_name="laptop",
                             puk=PerUserKey.derive(os.urandom(32), 1), ctime=int(time.time()), merkle_root=None)
        out.append((name, uid_for(name), links))
    return out


async def _timed(http, times: list[float], failures: list[str], method: str, path: str, kind: list | None = None,
                 **kw):
    t0 = time.perf_counter()
    r = await http.request(method, path, **kw)
    times.append((time.perf_counter() - t0) * 1000)
    if kind is not None:
        kind.append(times[-1])
    if r.status_code != 200:
        failures.append(f"{method} {path}: {r.status_code} {r.text[:200]}")
    return r


async def _others(http, users: list, lookups: int, seed: int, think_ms: float = 0.0) -> dict:
    """Each user signs up, then looks others up (name, Merkle lookup, chain page), with a
    pause of about `think_ms` before each request (jittered: the users are not in step)."""
    times: list[float] = []
    signup_ms: list[float] = []     # writes: they queue for the write lock
    lookup_ms: list[float] = []     # reads: name, Merkle lookup, chain page
    failures: list[str] = []
    done: list[tuple[str, str]] = []
    rng = random.Random(seed)

    async def think() -> None:
        if think_ms:
            await asyncio.sleep(rng.uniform(0.5, 1.5) * think_ms / 1000)

    async def one(name: str, uid: str, links: list) -> None:
        await think()
        await _timed(http, times, failures, "POST", "/v1/signup", signup_ms, json={"uid": uid, "username": name, "links": links})
        done.append((name, uid))
        for _ in range(lookups):
            other_name, other_uid = rng.choice(done)
            await think()
            r = await _timed(http, times, failures, "GET", f"/v1/users/{other_name}", lookup_ms)
            if r.status_code == 200 and r.json().get("uid") != other_uid:
                failures.append(f"users/{other_name} named another uid")
            await think()
            await _timed(http, times, failures, "GET", f"/v1/lookup/user/{other_uid}", lookup_ms)
            await think()
            r = await _timed(http, times, failures, "GET", f"/v1/chain/{other_uid}", lookup_ms, params={"since": 0})
            if r.status_code == 200 and len(r.json().get("links", [])) != 3:
                failures.append(f"chain/{other_uid}: not the 3 links of a signup")

    t0 = time.perf_counter()
    await asyncio.gather(*(one(*u) for u in users))
    times.sort()
    apart = {name: {"n": len(xs), "p50_ms": round(pct(sorted(xs), 0.50), 2), "p99_ms": round(pct(sorted(xs), 0.99), 2),
                    "max_ms": round(max(xs), 2)} for name, xs in (("signups", signup_ms), ("lookups", lookup_ms)) if xs}
    return {"requests": len(times), "failures": failures, "wall_s": round(time.perf_counter() - t0, 2),
            "p50_ms": round(pct(times, 0.50), 2), "p99_ms": round(pct(times, 0.99), 2),
            "max_ms": round(times[-1], 2), "signed_up": len(done), **apart}


def _others_in_process(url: str, users: list, lookups: int, seed: int, think_ms: float) -> dict:
    """`_others` with a client and an event loop of its own: what a user waits for must not
    include the time this bench's own poster and attackers spend building and signing links
    on a shared event loop (real users are on other machines)."""
    async def run() -> dict:
        async with LoadClient(url, max_connections=len(users) + 4) as http:
            return await _others(http, users, lookups, seed, think_ms)
    c0 = time.process_time()
    got = asyncio.run(run())
    used = time.process_time() - c0      # the users' own client: near 1.0 busy, its queue is in the times
    got.update(client_cpu_s=round(used, 2), client_busy=round(used / got["wall_s"], 2) if got["wall_s"] else 0.0)
    return got


async def _others_apart(pool, url: str, users: list, lookups: int, seed: int, think_ms: float,
                        cpu=None) -> dict:
    """The others' phase; with `cpu` (the server's CPU seconds so far), what the server spent
    meanwhile: `server_busy` near 1.0 is one core's worth, all one Python process gets."""
    c0 = cpu() if cpu else 0.0
    got = await asyncio.get_running_loop().run_in_executor(
        pool, _others_in_process, url, users, lookups, seed, think_ms)
    if cpu:
        used = cpu() - c0
        got.update(server_cpu_s=round(used, 2), server_busy=round(used / got["wall_s"], 2) if got["wall_s"] else 0.0)
    return got


class _Poster:
    """One user with a long, realistic history (the identity bench's writer), posting
    batch after batch; and attackers posting links under its uid with keys of their own."""

    def __init__(self, http, sizes: LoadSizes):
        from kbapp.bench.chains import _ChainWriter

        self.http, self.sizes = http, sizes
        self.root: dict = {}
        self.writer = _ChainWriter(random.Random(7), f"poster{uuid.uuid4().hex[:6]}", lambda: self.root)
        self.seqno, self.link_id = 0, None
        self.pending: list = []
        self.posted = self.links = self.refused = 0
        self.post_ms: list[float] = []
        self.refused_ms: list[float] = []
        self.refusal_codes: dict[str, int] = {}
        self.errors: list[str] = []

    async def grow(self, n: int, log) -> None:
        """The chain before the measurement, in 64-link posts."""
        while self.seqno < n:
            self.root = await _checkpoint_root(self.http)
            batch = self.writer.take(min(64, n - self.seqno))
            if self.seqno == 0:
                body = {"uid": self.writer.uid, "username": self.writer.username, "links": batch}
                r = await self.http.post("/v1/signup", json=body)
            else:
                r = await self.http.post(f"/v1/chain/{self.writer.uid}/links", json={"links": batch})
            if r.status_code != 200:
                raise RuntimeError(f"growing the poster's chain: {r.status_code} {r.text[:300]}")
            self._advance(batch)
            if self.seqno % 2048 < 64:
                log(f"  poster's chain: {self.seqno} links")

    def _advance(self, batch: list) -> None:
        from kbapp.core.sigchain import link_id_hex

        self.seqno += len(batch)
        self.link_id = link_id_hex(batch[-1])

    async def build(self, n_links: int) -> None:
        """Sign the links to post before any load starts: minutes of CPU on this event loop
        would otherwise stall the attackers' pooled connections past the server's idle
        timeout (it closes them; their next request meets a closed socket)."""
        self.root = await _checkpoint_root(self.http)
        self.pending = self.writer.take(n_links)

    async def post_loop(self, stop: asyncio.Event) -> None:
        pending = self.pending
        while not stop.is_set() and pending:
            batch, pending = pending[:self.sizes.batch], pending[self.sizes.batch:]
            t0 = time.perf_counter()
            r = await self.http.post(f"/v1/chain/{self.writer.uid}/links", json={"links": batch})
            self.post_ms.append((time.perf_counter() - t0) * 1000)
            if r.status_code != 200:
                self.errors.append(f"poster: {r.status_code} {r.text[:200]}")
                return
            self._advance(batch)
            self.posted += 1
            self.links += len(batch)

    async def attack_loop(self, stop: asyncio.Event) -> None:
        from kbapp.core.keys import SigningKeyPair
        from kbapp.core.sigchain import build_link

        key = SigningKeyPair.from_seed(os.urandom(32))
        while not stop.is_set():
            link = build_link(key, uid=self.writer.uid, username=self.writer.username,
                              eldest_kid=self.writer.eldest.kid, seqno=self.seqno + 1,
                              prev=bytes.fromhex(self.link_id), link_type="track", ctime=int(time.time()),
                              body_fields={"track": {"basics": {"username": "mallory"}}}, merkle_root=self.root)
            t0 = time.perf_counter()
            r = await self.http.post(f"/v1/chain/{self.writer.uid}/links", json={"links": [link]})
            self.refused_ms.append((time.perf_counter() - t0) * 1000)
            if r.status_code == 200 or r.status_code >= 500:
                self.errors.append(f"attacker's post answered {r.status_code} {r.text[:200]}")
                return
            code = r.json().get("error", {}).get("code", "?")
            self.refusal_codes[code] = self.refusal_codes.get(code, 0) + 1
            self.refused += 1


async def run_load(url: str, sizes: LoadSizes, log=lambda s: None, cpu=None) -> dict:
    """The whole measurement against a running server at `url` (fresh, unthrottled); `cpu`:
    the server process's CPU seconds so far, if known."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    async with LoadClient(url, max_connections=sizes.others + sizes.attackers + 8) as http:
        poster = _Poster(http, sizes)
        log(f"growing the poster's chain to {sizes.pre_links} links...")
        t0 = time.perf_counter()
        await poster.grow(sizes.pre_links, log)
        grow_s = time.perf_counter() - t0
        idle_users, loaded_users = _signups(sizes.others, "idle"), _signups(sizes.others, "busy")

        log(f"idle: {sizes.others} users sign up and look each other up...")
        idle = await _others_apart(pool, url, idle_users, sizes.lookups, 1, sizes.think_ms, cpu)

        log("loaded: the same, while the poster posts back to back and attackers post refused links...")
        stop = asyncio.Event()
        await poster.build(40 * sizes.batch * sizes.others)
        writers = [asyncio.create_task(poster.post_loop(stop))]
        writers += [asyncio.create_task(poster.attack_loop(stop)) for _ in range(sizes.attackers)]
        while poster.posted < 2 and not poster.errors:     # the load is on before the others start
            await asyncio.sleep(0.01)
        loaded = await _others_apart(pool, url, loaded_users, sizes.lookups, 2, sizes.think_ms, cpu)
        stop.set()
        await asyncio.gather(*writers)
        tail = (await http.get(f"/v1/lookup/user/{poster.writer.uid}")).json()
    pool.shutdown()
    post_ms, refused_ms = sorted(poster.post_ms) or [0.0], sorted(poster.refused_ms) or [0.0]
    return {
        "idle": idle, "loaded": loaded, "grow_s": round(grow_s, 2),
        "poster": {"chain_links": poster.seqno, "posts": poster.posted, "links": poster.links,
                   "batch": sizes.batch, "post_p50_ms": round(pct(post_ms, 0.5), 2),
                   "post_p99_ms": round(pct(post_ms, 0.99), 2), "errors": poster.errors,
                   "link_id": poster.link_id, "uid": poster.writer.uid},
        "attackers": {"refused": poster.refused, "codes": poster.refusal_codes,
                      "p50_ms": round(pct(refused_ms, 0.5), 2), "p99_ms": round(pct(refused_ms, 0.99), 2)},
        "map_value": tail.get("value"),
    }


# --- the bench -----------------------------------------------------------------------


def _fresh_pg_database(admin_url: str) -> tuple[str, callable]:
    import psycopg

    name = "kbapp_bench_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return admin_url.rsplit("/", 1)[0] + "/" + name, drop


def _produce(quick: bool, log, db: str | None = None) -> dict:
    sizes = QUICK if quick else FULL
    drop = None
    with tempfile.TemporaryDirectory(prefix="kbapp-bench-load-") as tmp:
        if db:
            db, drop = _fresh_pg_database(db)
        try:
            with ServerChild(Path(tmp), db) as server:
                report = asyncio.run(run_load(server.url, sizes, log, server.cpu_seconds))
        finally:
            if drop is not None:
                drop()
    idle, loaded = report["idle"], report["loaded"]
    what = f"the same requests on the idle server, same run ({idle['requests']} requests, p99)"
    details = {"storage": "postgresql" if db else "sqlite", **{k: v for k, v in report.items()
                                                                if k not in ("idle", "loaded")},
               "idle": idle, "loaded": loaded}
    results = [
        with_goal(time_result("server_load.others.p99", loaded["p99_ms"], idle["p99_ms"], what, unit="ms",
                              details=details),
                  on="value", op="<", target=P99_GOAL_MS, label=f"< {P99_GOAL_MS:.0f} ms"),
        time_result("server_load.others.p50", loaded["p50_ms"], idle["p50_ms"],
                    "the same requests on the idle server, same run (p50)", unit="ms"),
    ]
    for kind in ("lookups", "signups"):           # apart: signups are writes and queue for the write lock
        if kind in loaded and kind in idle:
            results.append(time_result(f"server_load.{kind}.p99", loaded[kind]["p99_ms"], idle[kind]["p99_ms"],
                                       f"the same {loaded[kind]['n']} {kind} on the idle server, same run (p99)",
                                       unit="ms"))
    return {"benchmark": "server-load", "quick": quick, "sizes": asdict(sizes), "machine": machine_info(),
            "results": [asdict(r) for r in results]}


def render_table(report: dict) -> str:
    m, d = report["machine"], report["results"][0]["details"]
    p, a = d["poster"], d["attackers"]
    out = [f"kbapp bench server-load{' --quick' if report['quick'] else ''} ({d['storage']}): "
           f"{m['cpu_count']} CPUs, Python {m['python']}; {report['elapsed_s']} s", "",
           f"poster: chain of {p['chain_links']} links at the end; under load {p['posts']} posts of "
           f"{p['batch']} links (p50 {p['post_p50_ms']} ms, p99 {p['post_p99_ms']} ms)",
           f"attackers: {a['refused']} refused posts {a['codes']} (p50 {a['p50_ms']} ms, p99 {a['p99_ms']} ms)",
           f"others: {d['loaded']['requests']} requests per phase; max idle {d['idle']['max_ms']} ms, "
           f"loaded {d['loaded']['max_ms']} ms; server CPU busy idle {d['idle'].get('server_busy', '?')}, "
           f"loaded {d['loaded'].get('server_busy', '?')} (1.0: one core)", "",
           *results_table(report["results"]), "", RATIO_NOTE]
    return "\n".join(out)


def run_server_load_bench(args) -> int:
    """Entry point for `kbapp bench server-load [--quick] [--json] [--db URL]`."""
    db = getattr(args, "db", None)
    return run_report(args, lambda quick, log: _produce(quick, log, db), render_table)
