"""The load limits without a network: buckets that say how long to wait, the signup
buckets per network and for everyone, the per account and per device buckets charged
only for accepted writes, the defaults `--rate 0` switches off, the connection cap."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.responses import JSONResponse

from kbapp.core import errors
from kbapp.core.keys import DeviceKeys, kid_hex
from kbapp.core.sigchain import build_device
from kbapp.server.connections import MAX_BACKLOG, ConnGuards, connection_plan
from kbapp.server.limits import (LimitConfig, Limits, RateLimiter, SignupLimiter, WriteLimits, client_key,
                                 link_signers, network_of)


class FakeClock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_take_says_how_long_to_wait_and_wait_spends_nothing():
    clock = FakeClock()
    rl = RateLimiter(rate=0.5, burst=2, clock=clock)
    assert rl.wait("a") == 0.0 and rl.wait("a") == 0.0  # looking costs no token
    assert rl.take("a") == 0.0 and rl.take("a") == 0.0
    assert rl.take("a") == pytest.approx(2.0)  # one token at 0.5/s
    clock.t += 1.5
    assert rl.wait("a") == pytest.approx(0.5)
    clock.t += 0.5
    assert rl.take("a") == 0.0


@pytest.mark.parametrize("address, net", [
    ("127.0.0.2", "127.0.0.0/24"), ("127.0.0.51", "127.0.0.0/24"), ("10.1.2.3", "10.1.2.0/24"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"), ("2001:db8:1:2:ffff::9", "2001:db8:1:2::/64"),
    ("::ffff:192.0.2.7", "192.0.2.0/24"), ("not-an-address", "not-an-address"),
])
def test_network_of(address, net):
    assert network_of(address) == net


def test_an_ipv6_host_is_one_client_per_64():
    assert client_key("2001:db8::1") == client_key("2001:db8::ffff:2") == "2001:db8::/64"
    assert client_key("2001:db8:0:1::1") != client_key("2001:db8::1")
    assert client_key("192.0.2.1") != client_key("192.0.2.2")  # IPv4: each address its own


async def test_the_body_deadline_ends_with_the_body():
    """After the whole body, a wait for a disconnect is not a slow body."""
    clock = FakeClock()
    seen = []

    async def app(scope, receive, send):
        seen.append(await receive())
        clock.t += 100   # a long handler
        seen.append(await receive())
        await JSONResponse({})(scope, receive, send)

    messages = iter([{"type": "http.request", "body": b"{}", "more_body": False}, {"type": "http.disconnect"}])

    async def receive():
        return next(messages)

    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": [], "client": ("10.0.0.1", 1),
             "query_string": b""}
    await Limits(app, RateLimiter(0, 1), body_timeout=1.0, clock=clock)(scope, receive, send)
    assert sent[0]["status"] == 200 and seen[1]["type"] == "http.disconnect"


async def test_a_stalled_body_is_a_408_that_closes_the_connection():
    async def app(scope, receive, send):
        await receive()
        await JSONResponse({})(scope, receive, send)

    async def receive():
        await asyncio.sleep(10)

    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": [], "client": ("10.0.0.1", 1),
             "query_string": b""}
    await Limits(app, RateLimiter(0, 1), body_timeout=0.05)(scope, receive, send)
    assert sent[0]["status"] == 408 and (b"connection", b"close") in sent[0]["headers"]
    assert b"REQUEST_TIMEOUT" in sent[1]["body"]


def test_signups_share_a_network_bucket_and_a_global_one():
    clock = FakeClock()
    cfg = LimitConfig(signup_rate=0.01, signup_burst=2, signup_global_rate=0.01, signup_global_burst=3)
    s = SignupLimiter(cfg, clock)
    assert s.take("127.0.0.2") == 0.0 and s.take("127.0.0.3") == 0.0
    assert s.take("127.0.0.4") > 0  # same /24
    assert s.take("127.0.1.1") == 0.0  # another network: the third global token
    assert s.take("127.0.2.1") > 0  # the global bucket is empty
    assert s.per_net.wait("127.0.2.0/24") == 0.0  # ... and the refusal cost that network nothing


def signed_rename(keys: DeviceKeys, uid: str = "a" * 32) -> dict:
    return build_device(keys.sibkey, device_id="d" * 32, device_name="x", uid=uid, username="alice",
                        eldest_kid=keys.sibkey.kid, seqno=5, prev=b"\x01" * 32, ctime=1_700_000_000)


def test_link_signers_reads_claims_and_skips_garbage():
    keys = DeviceKeys.from_seeds(b"\x01" * 32, b"\x02" * 32)
    uids, kids = link_signers([signed_rename(keys), {"sig": "garbage"}, 7])
    assert uids == {"a" * 32} and kids == {kid_hex(keys.sibkey.kid)}
    assert link_signers("not a list") == (set(), set())


def test_write_buckets_are_charged_only_for_accepted_writes():
    clock = FakeClock()
    w = WriteLimits(LimitConfig(account_rate=0.01, account_burst=2, device_rate=0.01, device_burst=5), clock)
    keys = DeviceKeys.from_seeds(b"\x03" * 32, b"\x04" * 32)
    body = {"links": [signed_rename(keys)]}
    for _ in range(5):  # refused writes (the service raised) spend nothing
        with pytest.raises(errors.BadSignature):
            with w.links(body, account="A" * 32):
                raise errors.BadSignature("refused")
    for _ in range(2):
        with w.links(body, account="a" * 32):
            pass
    with pytest.raises(errors.RateLimited) as exc:
        with w.links(body, account="A" * 32):  # the same account, any case
            pytest.fail("ran over the account limit")
    assert exc.value.retry_after >= 1 and "account" in str(exc.value)
    with w.links(body, account="b" * 32):  # another account, the same device: 3 of 5
        pass
    assert w.devices.wait(kid_hex(keys.sibkey.kid)) == 0.0


def test_writes_that_raced_past_the_check_are_charged_into_debt():
    clock = FakeClock()
    w = WriteLimits(LimitConfig(account_rate=1.0, account_burst=1, device_rate=0), clock)
    body = {"links": []}
    with w.links(body, account="a" * 32):
        with w.links(body, account="a" * 32):  # checked before the first was charged
            pass
    with pytest.raises(errors.RateLimited) as exc:
        with w.links(body, account="a" * 32):
            pass
    assert exc.value.retry_after == 2  # one token of debt, and then the next one
    clock.t += 2
    with w.links(body, account="a" * 32):
        pass


def test_rate_zero_switches_off_the_limits_not_given():
    off = LimitConfig.from_flags(0, 400)
    assert (off.account_rate, off.device_rate, off.signup_rate, off.signup_global_rate) == (0, 0, 0, 0)
    on = LimitConfig.from_flags(200, 400)
    assert on.account_rate > 0 and on.signup_rate > 0 and on.signup_global_rate > 0
    mixed = LimitConfig.from_flags(0, 400, signup_rate=0.5, signup_burst=3)
    assert mixed.signup_rate == 0.5 and mixed.signup_burst == 3 and mixed.account_rate == 0


def test_connection_cap_and_one_accept_burst_stay_below_the_file_limit():
    assert connection_plan(4096, None) == (4096, MAX_BACKLOG)
    assert connection_plan(4096, 20000) == (4096, MAX_BACKLOG)
    for limit in (160, 1024, 4096, 5000):
        cap, backlog = connection_plan(100_000, limit)
        assert 0 < cap and cap + backlog + 64 <= limit
    assert connection_plan(10, 5)[0] == 1


def test_trusted_proxies_are_exempt_from_the_per_address_cap():
    g = ConnGuards(trusted_proxies=("10.0.0.0/8", "192.0.2.1"))
    assert g.exempt("10.9.8.7") and g.exempt("192.0.2.1")
    assert not g.exempt("192.0.2.2") and not g.exempt("127.0.0.1")
    assert not ConnGuards().exempt("127.0.0.1")


async def test_signup_429_carries_retry_after():
    async def app(scope, receive, send):
        await JSONResponse({})(scope, receive, send)

    cfg = LimitConfig(signup_rate=0.01, signup_burst=1)
    limits = Limits(app, RateLimiter(0, 1), signups=SignupLimiter(cfg))
    transport = httpx.ASGITransport(app=limits, client=("198.51.100.4", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        assert (await c.post("/v1/signup", json={})).status_code == 200
        assert (await c.get("/v1/server")).status_code == 200  # other paths: not a signup
        r = await c.post("/v1/signup", json={})
        assert r.status_code == 429 and r.json()["error"]["code"] == "RATE_LIMITED"
        assert int(r.headers["retry-after"]) >= 99
