"""Server pieces without a network: the rate limiter (injected clock), the ASGI
limits middleware (body cap, 429), the leaves page cap, and the rule that one
write is one transaction whose failure leaves memory as it was."""

from __future__ import annotations

import os
import time

import httpx
import nacl.signing
import pytest
from sqlalchemy import func, insert, select
from starlette.responses import JSONResponse

from kbapp.client import chainops
from kbapp.core import errors
from kbapp.core.encoding import b64decode, b64encode
from kbapp.core.keys import DeviceKeys, kid_hex
from kbapp.core.merkle.log import MerkleLog
from kbapp.core.merkle.smt import MerkleMap
from kbapp.core.puk import PerUserKey, box_seed
from kbapp.core.transparency import LogLeaf
from kbapp.core.uid import device_id as make_device_id, uid_for
from kbapp.server import db
from kbapp.server.app import Limits, RateLimiter, create_app
from kbapp.server.db import make_engine, upgrade
from kbapp.server.service import LEAVES_PAGE, Service

ORIGIN = "kbapp.test/unit"


class FakeClock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


# -- RateLimiter ---------------------------------------------------------------------------


def test_rate_limiter_burst_then_refill():
    clock = FakeClock()
    rl = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [rl.allow("a") for _ in range(4)] == [True, True, True, False]
    clock.advance(0.25)  # half a token
    assert not rl.allow("a")
    clock.advance(0.25)  # one whole token
    assert rl.allow("a") and not rl.allow("a")
    clock.advance(3600)  # refills up to the burst, no further
    assert [rl.allow("a") for _ in range(4)] == [True, True, True, False]


def test_rate_limiter_is_per_client_and_zero_is_unlimited():
    clock = FakeClock()
    rl = RateLimiter(rate=1.0, burst=1, clock=clock)
    assert rl.allow("a") and not rl.allow("a")
    assert rl.allow("b")  # another address has its own bucket
    free = RateLimiter(rate=0, burst=1, clock=clock)
    assert all(free.allow("a") for _ in range(1000))
    assert not free.buckets


def test_rate_limiter_denied_requests_do_not_cost_tokens():
    clock = FakeClock()
    rl = RateLimiter(rate=1.0, burst=1, clock=clock)
    assert rl.allow("a")
    for _ in range(32):
        assert not rl.allow("a")
        clock.advance(1 / 64)  # 0.5 s in all (exact in binary): still short of one token
    clock.advance(0.5)
    assert rl.allow("a")


def test_rate_limiter_forgets_least_recent_clients_beyond_the_cap():
    clock = FakeClock()
    rl = RateLimiter(rate=1.0, burst=1, clock=clock, max_clients=2)
    assert rl.allow("a") and rl.allow("b")
    assert not rl.allow("a")  # touches a: b is now the least recent
    assert rl.allow("c")
    assert list(rl.buckets) == ["a", "c"] and len(rl.buckets) <= 2
    assert not rl.allow("a")  # a was kept, still empty


# -- Limits middleware (in-process ASGI) ------------------------------------------------------


def echo_app(calls: list):
    async def app(scope, receive, send):
        calls.append(scope["path"])
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await JSONResponse({"n": len(body)})(scope, receive, send)
    return app


def asgi_client(app, address: str = "10.0.0.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 1234)),
                             base_url="http://test")


async def test_limits_body_cap():
    calls: list = []
    app = Limits(echo_app(calls), RateLimiter(0, 1), max_body=100)
    async with asgi_client(app) as c:
        assert (await c.post("/x", content=b"a" * 100)).json() == {"n": 100}
        resp = await c.post("/x", content=b"a" * 101)  # Content-Length says too much: app never runs
        assert resp.status_code == 413 and resp.json()["error"]["code"] == "TOO_LARGE"
        assert calls == ["/x"]

        async def chunks():
            for _ in range(5):
                yield b"a" * 30
        resp = await c.post("/y", content=chunks())  # no Content-Length: cut off while streaming
        assert resp.status_code == 413 and resp.json()["error"]["code"] == "TOO_LARGE"


async def test_limits_refuses_a_non_numeric_content_length():
    calls: list = []
    app = Limits(echo_app(calls), RateLimiter(0, 1), max_body=100)
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": [(b"content-length", b"1e9")],
             "client": ("10.0.0.1", 1), "query_string": b""}
    await app(scope, receive, send)
    assert sent[0]["status"] == 413 and not calls


async def test_limits_rate_limit_per_address():
    clock = FakeClock()
    calls: list = []
    app = Limits(echo_app(calls), RateLimiter(1.0, 2, clock=clock))
    async with asgi_client(app, "10.0.0.1") as c, asgi_client(app, "10.0.0.2") as other:
        assert [(await c.get("/")).status_code for _ in range(3)] == [200, 200, 429]
        resp = await c.get("/")
        assert resp.status_code == 429 and resp.json()["error"]["code"] == "RATE_LIMITED"
        assert (await other.get("/")).status_code == 200
        clock.advance(1.0)
        assert (await c.get("/")).status_code == 200
    assert len(calls) == 4


# -- Service: pages and transactions -------------------------------------------------------------


def make_service(path) -> Service:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    return Service(engine, nacl.signing.SigningKey(b"\x07" * 32), ORIGIN, clock=lambda: 1_700_000_000)


def signup_body(username: str, keys: DeviceKeys | None = None) -> dict:
    keys = keys or DeviceKeys.from_seeds(os.urandom(32), os.urandom(32))
    seed = os.urandom(32)
    links = chainops.signup_links(uid=uid_for(username), username=username, keys=keys,
                                  device_id=make_device_id(os.urandom(16)), device_name="dev",
                                  puk=PerUserKey.derive(seed, 1), ctime=int(time.time()), merkle_root=None)
    box = box_seed(seed, 1, keys.subkey.public, ephemeral_secret=os.urandom(32), nonce=os.urandom(24))
    return {"uid": uid_for(username), "username": username, "links": links,
            "puk_boxes": [{"generation": 1, "device_kid": kid_hex(keys.subkey.kid), "box": b64encode(box)}]}


def state_of(service: Service) -> tuple:
    return service.log.size, service.log.root(), service.map.root(), service.checkpoint_note


def rows(service: Service, table) -> int:
    with service.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


async def test_leaves_are_served_at_most_one_page_per_call(tmp_path):
    service = make_service(tmp_path / "s.sqlite3")
    assert service.log.size == 1  # genesis
    empty_root = MerkleMap().root()
    total = LEAVES_PAGE + 150
    with service.engine.begin() as conn:  # as if other epochs had been written before
        conn.execute(insert(db.log_leaves), [{"idx": i, "data": LogLeaf(i, empty_root, 0).encode(), "note": ""}
                                             for i in range(1, total)])
    service = make_service(tmp_path / "s.sqlite3")  # rebuilt from the database at start
    assert service.log.size == total
    async with asgi_client(create_app(service, rate=0)) as c:
        first = (await c.get("/v1/log/leaves", params={"start": 0, "end": total})).json()
        assert first["start"] == 0 and len(first["leaves"]) == LEAVES_PAGE
        rest = (await c.get("/v1/log/leaves", params={"start": LEAVES_PAGE, "end": 10 ** 9})).json()
        assert len(rest["leaves"]) == total - LEAVES_PAGE
    log = MerkleLog()
    for item in first["leaves"] + rest["leaves"]:
        log.append(b64decode(item))
    assert log.root() == service.log.root()


def test_a_failed_write_leaves_database_and_memory_as_they_were(tmp_path):
    service = make_service(tmp_path / "s.sqlite3")
    alice_keys = DeviceKeys.from_seeds(os.urandom(32), os.urandom(32))
    service.append_links(uid_for("alice"), signup_body("alice", alice_keys), signup=True)
    before = state_of(service)
    counts = {t.name: rows(service, t) for t in (db.users, db.links, db.keys, db.log_leaves)}

    # Fails after the user and its links were inserted: alice's key is not bob's to claim.
    with pytest.raises(errors.Conflict):
        service.append_links(uid_for("bob"), signup_body("bob", alice_keys), signup=True)
    assert state_of(service) == before
    assert {t.name: rows(service, t) for t in (db.users, db.links, db.keys, db.log_leaves)} == counts

    # Fails at the very end (signing the checkpoint), after the map and log were updated in memory.
    def broken_sign(size):
        raise OSError("signing device unplugged")

    service._sign, real_sign = broken_sign, service._sign
    with pytest.raises(OSError):
        service.append_links(uid_for("bob"), signup_body("bob"), signup=True)
    service._sign = real_sign
    assert state_of(service) == before
    assert rows(service, db.users) == 1

    # A corrupt row written by someone else is refused without touching memory.
    with service.engine.begin() as conn:
        conn.execute(insert(db.log_leaves).values(idx=before[0], data=b"squatter", note="squatter"))
    with pytest.raises(errors.KbappError):
        service.append_links(uid_for("bob"), signup_body("bob"), signup=True)
    assert state_of(service) == before
    with service.engine.begin() as conn:
        conn.execute(db.log_leaves.delete().where(db.log_leaves.c.idx == before[0]))

    # The next write goes through, and a fresh process rebuilds the same state.
    result = service.append_links(uid_for("bob"), signup_body("bob"), signup=True)
    assert result["log_size"] == before[0] + 1
    assert state_of(make_service(tmp_path / "s.sqlite3")) == state_of(service)


def test_refresh_folds_in_another_processes_writes(tmp_path):
    one = make_service(tmp_path / "s.sqlite3")
    two = make_service(tmp_path / "s.sqlite3")  # a second process on the same database
    one.append_links(uid_for("alice"), signup_body("alice"), signup=True)
    assert two.log.size == 1
    two.refresh()
    assert state_of(two) == state_of(one)
    assert two.lookup("user", uid_for("alice"))["value"] is not None
    two.refresh()  # nothing new: a no-op
    assert state_of(two) == state_of(one)
