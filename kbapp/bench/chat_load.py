"""`kbapp bench chat`, row 4: messages/s one server process takes while 100 clients listen.

The listeners: WebSocket push connections subscribed to one team's topic, spread over a few
member accounts (the server allows 32 per account) and loopback addresses 127.0.0.2, .3, ...
(16 per address), in the bench's own event loop, each counting the chat hints it hears.
The posters: `posters` concurrent requests from a process of their own (spawned), through
the lean h11 client (loadclient.py: httpx's own CPU bounded this process near 400 requests/s),
so their time never includes the listeners' reading, posting server-opaque sealed messages (random
bytes of a real message's sizes: the server cannot open one, so it never needs real ones)
to 8 channels of the team for `load_s` seconds. The baseline: the same process, the same
concurrency and duration, trivial GET /v1/server requests. ratio = posts/s / GETs/s.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

from kbapp.bench.kit import pct, rate_result, with_goal

PER_ACCOUNT, PER_ADDRESS, CHANNELS = 25, 16, 8
GOAL = 2000.0


def _post_body(uid: str, kid: str, team_id: str, topic_id: str) -> dict:
    from kbapp.core.encoding import b64encode

    return {"team_id": team_id, "topic_type": 1, "topic_id": topic_id, "key_gen": 1, "ek_gen": None,
            "header": b64encode(os.urandom(420)), "body": b64encode(os.urandom(296)),
            "hints": {"type": "text", "sender_uid": uid, "sender_kid": kid, "outbox_id": os.urandom(16).hex(),
                      "supersedes": None, "deletes": [], "reply_to": None, "thread_root": None, "lifetime": None}}


def _requests_in_process(url: str, token: str, team_id: str, topics: list, concurrency: int, seconds: float,
                         what: str) -> dict:
    """`concurrency` loops of requests for `seconds` (in a process of its own): `what` is
    'post' (chat posts, round robin over the channels) or 'get' (GET /v1/server)."""
    from kbapp.bench.loadclient import LoadClient
    from kbapp.core.chat.ids import conv_id_hex
    from kbapp.core.tokens import parse_read_token

    t, _ = parse_read_token(token)
    convs = [(conv_id_hex(team_id, 1, topic), topic) for topic in topics]
    bodies = [[_post_body(t.uid, t.kid, team_id, topic) for _ in range(64)] for _, topic in convs]

    async def run() -> dict:
        done, codes, ms = [0], {}, []
        async with LoadClient(url, max_connections=concurrency, headers={"Authorization": token}) as http:
            async def loop(k: int, deadline: float) -> None:
                i = k
                while time.perf_counter() < deadline:
                    t0 = time.perf_counter()
                    if what == "post":
                        c = i % len(convs)
                        body = bodies[c][i % 64]
                        body["hints"]["outbox_id"] = os.urandom(16).hex()
                        r = await http.post(f"/v1/chat/{convs[c][0]}/messages", json=body)
                    else:
                        r = await http.get("/v1/server")
                    ms.append((time.perf_counter() - t0) * 1000)
                    if r.status_code == 200:
                        done[0] += 1
                    else:
                        codes[str(r.status_code)] = codes.get(str(r.status_code), 0) + 1
                    i += concurrency
            await asyncio.gather(*(loop(k, time.perf_counter() + 0.3) for k in range(concurrency)))   # warm
            warm = done[0]
            done[0] = 0
            codes.clear()
            ms.clear()
            t0 = time.perf_counter()
            await asyncio.gather(*(loop(k, t0 + seconds) for k in range(concurrency)))
            wall = time.perf_counter() - t0
        ms.sort()
        return {"ok": done[0], "warm": warm, "refused": codes, "wall_s": wall,
                "p50_ms": round(pct(ms or [0.0], 0.5), 2),
                "p99_ms": round(pct(ms or [0.0], 0.99), 2)}
    return asyncio.run(run())


class _Listener:
    """One push connection from `address`, counting the chat hints it hears."""

    def __init__(self, url: str, team_id: str, token: str, address: str):
        self.url, self.team_id, self.token, self.address = url, team_id, token, address
        self.hints, self.frames, self.closed, self.ready = 0, 0, False, asyncio.Event()

    async def run(self) -> None:
        """Until cancelled (a receive is never cut short by a timeout: that could lose a frame)."""
        import httpx
        from httpx_ws import aconnect_ws

        transport = httpx.AsyncHTTPTransport(local_address=self.address)
        async with httpx.AsyncClient(transport=transport, timeout=30) as client:
            async with aconnect_ws(f"{self.url}/v1/push?topics=team:{self.team_id}&batch=1", client,
                                   headers={"Authorization": self.token}) as ws:
                while True:
                    try:
                        frame = await ws.receive_json()
                    except asyncio.CancelledError:
                        raise
                    except Exception:  # noqa: BLE001 - the server closed us (a slow reader): counted
                        self.closed = True
                        return
                    self.frames += 1
                    if frame.get("type") == "ready":
                        self.ready.set()
                    elif frame.get("type") == "hint" and frame.get("kind") == "chat":
                        self.hints += 1
                    elif frame.get("type") == "hints":      # several hints in one frame (batch=1)
                        self.hints += sum(1 for h in frame.get("hints", ()) if h.get("kind") == "chat")


async def _all_ready(listeners: list, tasks: list, timeout: float = 60.0) -> None:
    """Every listener heard `ready`; a connection refused or failed says why."""
    deadline = time.monotonic() + timeout
    while not all(x.ready.is_set() for x in listeners):
        failed = [t for t in tasks if t.done()]
        if failed:
            raise RuntimeError(f"bench: {len(failed)} push listeners failed: {failed[0].exception()!r}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"bench: {sum(x.ready.is_set() for x in listeners)} of {len(listeners)} push listeners connected")
        await asyncio.sleep(0.05)


async def run_load(url: str, tmp, alice, sizes, log) -> dict:
    """Listener accounts join alice's team; listeners connect; the baseline, then the posts."""
    from kbapp.bench.chat import _open_app

    n_acc = -(-sizes.listeners // PER_ACCOUNT)
    team = f"load{os.urandom(3).hex()}"
    team_id = (await alice.create_team(team)).team_id
    apps, tasks = [], []
    try:
        tag = os.urandom(3).hex()                # names of this run (a server may serve several)
        for i in range(n_acc):
            app = await _open_app(tmp, f"l{tag}x{i}", url)
            apps.append(app)
            await alice.add_member(team, f"l{tag}x{i}", "reader")
        tokens = [await a.api.read_tokens.header() for a in apps]
        poster = await alice.api.read_tokens.header()
        listeners = [_Listener(url, team_id, tokens[i // PER_ACCOUNT], f"127.0.0.{2 + i // PER_ADDRESS}")
                     for i in range(sizes.listeners)]
        tasks = [asyncio.create_task(x.run()) for x in listeners]
        await _all_ready(listeners, tasks)
        base, posts = await _apart(url, poster, team_id, sizes, log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:        # the fan-out drains (hints still queued at the server)
            expected = sum(1 for x in listeners if not x.closed) * (posts["ok"] + posts["warm"])
            if sum(x.hints for x in listeners) >= expected:
                break
            await asyncio.sleep(0.2)
    finally:
        for t in tasks:
            t.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
        for app in apps:
            await app.close()
    return {"base": base, "posts": posts, "listeners": len(listeners),
            "closed": sum(1 for x in listeners if x.closed), "hints_received": sum(x.hints for x in listeners),
            "frames_received": sum(x.frames for x in listeners),
            "accounts": n_acc, "addresses": -(-sizes.listeners // PER_ADDRESS)}


async def _apart(url: str, token: str, team_id: str, sizes, log) -> tuple[dict, dict]:
    """The baseline, then the posts, each from the posters' own process."""
    topics = [os.urandom(16).hex() for _ in range(CHANNELS)]
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    loop = asyncio.get_running_loop()
    try:
        log("  baseline: GET /v1/server...")
        base = await loop.run_in_executor(pool, _requests_in_process, url, token, team_id, topics,
                                          sizes.posters, sizes.load_s, "get")
        log("  posting...")
        posts = await loop.run_in_executor(pool, _requests_in_process, url, token, team_id, topics,
                                           sizes.posters, sizes.load_s, "post")
    finally:
        pool.shutdown()
    return base, posts


def load_results(load: dict, sizes) -> list:
    base, posts = load["base"], load["posts"]
    per_s = posts["ok"] / posts["wall_s"] if posts["wall_s"] else 0.0
    base_s = base["ok"] / base["wall_s"] if base["wall_s"] else 0.0
    open_listeners = load["listeners"] - load["closed"]
    details = {"posted": posts["ok"], "seconds": round(posts["wall_s"], 2), "refused": posts["refused"],
               "post_p50_ms": posts["p50_ms"], "post_p99_ms": posts["p99_ms"], "gets": base["ok"],
               "get_p50_ms": base["p50_ms"], "listeners": load["listeners"], "listeners_closed": load["closed"],
               "hints_received": load["hints_received"], "frames_received": load.get("frames_received"),
               "hints_expected": (posts["ok"] + posts["warm"]) * open_listeners,
               "accounts": load["accounts"], "addresses": load["addresses"], "posters": sizes.posters,
               "channels": CHANNELS}
    what = (f"trivial GET /v1/server requests/s, same process, {sizes.posters} concurrent, "
            f"{sizes.load_s:g} s, same listeners")
    return [with_goal(rate_result("chat.server_msgs", per_s, "msgs/s", base_s, what, details=details),
                      on="value", op=">=", target=GOAL, label=f">= {GOAL:,.0f} msgs/s")]
