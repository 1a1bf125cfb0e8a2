"""Request limits: token buckets per client address, per network for signups (and one
global signup bucket), per account and per device for writes; the body cap and the
body timeout.

Why several keys: a per-address bucket alone is beaten by an attacker with many
addresses (50 loopback addresses, a /64 of IPv6, a botnet), and it does nothing
against one account posting from many places. Signups are anonymous, so they are
counted per network (/24 of IPv4, /64 of IPv6) and globally; account and device
buckets count only writes the service accepted, so nobody can spend a victim's
tokens with garbage posted under the victim's uid or key id.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass

from starlette.responses import JSONResponse

from kbapp.core import errors
from kbapp.core.chat.signencrypt import sealed_size
from kbapp.core.keys import kid_hex
from kbapp.core.sigchain import parse_link

MAX_BODY = 1 << 20
SIGNUP_PATH = "/v1/signup"
BLOB_PATH = "/v1/blobs/"          # PUT: a streamed blob upload, capped by blob_max instead (routes/blobs.py)
BLOB_MAX = sealed_size(2 << 30)   # a 2 GiB attachment and its signencrypt overhead
BLOB_QUOTA = 20 << 30             # bytes of blobs per account
BLOB_MIN_RATE = 64 << 10          # bytes/s a blob upload must average (beyond body_timeout)
FOLDERS_PATH = "/v1/folders/"
FOLDER_BATCH_BODY = 9 << 20       # a folder block batch (16 blocks of 512 KiB and their headers)

# Defaults of the limits that `--rate 0` also switches off unless given explicitly.
DEFAULT_RATES = {"account_rate": 2.0, "device_rate": 1.0, "signup_rate": 0.1, "signup_global_rate": 10.0,
                 "blob_rate": 0.5}
DEFAULT_RATES["chat_rate"] = 5.0     # chat posts per device key (routes/chat.py)
DEFAULT_RATES["folder_rate"] = 20.0  # folder block puts and revision posts per device key (routes/folders.py)


@dataclass(frozen=True)
class LimitConfig:
    """Rates in requests per second, bursts in requests; a rate of 0 turns a bucket off."""

    rate: float = 200.0               # any request, per client address
    burst: int = 400
    account_rate: float = 2.0         # accepted writes per account (uid)
    account_burst: int = 60
    device_rate: float = 1.0          # accepted writes per signing key (device)
    device_burst: int = 30
    signup_rate: float = 0.1          # signups per network (/24, /64): 6 a minute
    signup_burst: int = 10
    signup_global_rate: float = 10.0  # signups, all clients together
    signup_global_burst: int = 100
    chat_rate: float = 5.0            # chat posts/s per device key (typing: twice that)
    chat_burst: int = 60
    chat_sweep_every: float = 60.0    # seconds between sweeps of exploded chat messages (0: off)
    max_body: int = MAX_BODY
    body_timeout: float = 30.0        # the whole body within this many seconds of the headers
    blob_rate: float = 0.5            # blob uploads per device (signing key of the read token)
    blob_burst: int = 20
    blob_max: int = BLOB_MAX          # bytes of one blob (the blob upload's body cap)
    blob_quota: int = BLOB_QUOTA      # bytes of blobs per account
    blob_min_rate: float = BLOB_MIN_RATE
    folder_rate: float = 20.0         # folder writes/s per device key (routes/folders.py)
    folder_burst: int = 200
    folder_quota_user: int = 20 << 30  # bytes of folder blocks and revisions one account uploaded
    folder_quota_team: int = 100 << 30  # bytes of folder blocks and revisions in one team's folders
    folder_gc_delay: int = 14 * 24 * 3600  # seconds a revision is kept whole before a writer may collect it

    @classmethod
    def from_flags(cls, rate: float, burst: int, **given) -> "LimitConfig":
        """The rates not given (None) take their default, or 0 when `rate` is 0: the
        test suite and the benches run with `--rate 0` and are throttled nowhere."""
        for name, default in DEFAULT_RATES.items():
            if given.get(name) is None:
                given[name] = 0.0 if rate <= 0 else default
        return cls(rate=rate, burst=burst, **{k: v for k, v in given.items() if v is not None})


def is_blob_upload(scope) -> bool:
    """PUT /v1/blobs/ID, or POST /v1/blobs (one pass: the server names it by its hash)."""
    path, method = str(scope.get("path", "")), scope.get("method")
    return (method == "PUT" and path.startswith(BLOB_PATH)) or (method == "POST" and path == BLOB_PATH[:-1])


def is_folder_batch(scope) -> bool:
    """`POST /v1/folders/{fid}/blocks:put`: up to 16 blocks (server/folder_batch.py caps it exactly)."""
    path = str(scope.get("path", ""))
    return scope.get("method") == "POST" and path.startswith(FOLDERS_PATH) and path.endswith("/blocks:put")


def body_timeout_for(scope, body_timeout: float, min_rate: float) -> float:
    """Seconds a request's whole body may take: `body_timeout`, plus for a blob upload its
    declared length at `min_rate` (a 2 GiB upload is slow, not a slowloris; a trickle
    under the rate still is). 0: no timeout."""
    if body_timeout <= 0 or not scope or not is_blob_upload(scope) or min_rate <= 0:
        return body_timeout
    length = dict(scope.get("headers") or []).get(b"content-length", b"")
    return body_timeout + (int(length) / min_rate if length.isdigit() and len(length) < 19 else 0.0)


def retry_seconds(wait: float) -> int:
    return max(1, math.ceil(wait))


def rate_limited(what: str, wait: float) -> errors.RateLimited:
    secs = retry_seconds(wait)
    return errors.RateLimited(f"too many {what}; retry in {secs} s", 429, retry_after=secs)


def error_response(exc: errors.KbappError, status: int) -> JSONResponse:
    """The JSON error answer; 429 says when to come back, 408 closes the connection."""
    headers = {}
    if isinstance(exc, errors.RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if status == 408:
        headers["Connection"] = "close"
    return JSONResponse({"error": {"code": exc.code, "message": str(exc)}}, status_code=status,
                        headers=headers)


class RateLimiter:
    """A token bucket per key: `rate` tokens/s, up to `burst`. Denials cost nothing.
    The least recently seen keys are forgotten beyond `max_clients` (a forgotten key
    starts full again: memory stays bounded)."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic, max_clients: int = 10000):
        self.rate, self.burst, self.clock = rate, max(1, burst), clock
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.max_clients = max_clients

    def _refill(self, key: str, now: float) -> float:
        tokens, last = self.buckets.pop(key, (float(self.burst), now))
        return min(self.burst, tokens + (now - last) * self.rate)

    def _store(self, key: str, tokens: float, now: float) -> None:
        self.buckets[key] = (tokens, now)
        while len(self.buckets) > self.max_clients:
            self.buckets.popitem(last=False)

    def wait(self, key: str) -> float:
        """Seconds until `key` has a token (0: it has one now). Spends nothing."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        tokens = self._refill(key, now)
        self._store(key, tokens, now)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def take(self, key: str) -> float:
        """Spend a token: 0.0, or (nothing spent) the seconds until there is one."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        tokens = self._refill(key, now)
        if tokens >= 1:
            self._store(key, tokens - 1, now)
            return 0.0
        self._store(key, tokens, now)
        return (1 - tokens) / self.rate

    def allow(self, key: str) -> bool:
        return self.take(key) == 0.0

    def refund(self, key: str) -> None:
        """Give back a token `take` spent, for a request that turned out to cost nothing (a
        repost, a refusal); never above `burst`."""
        if self.rate <= 0:
            return
        now = self.clock()
        self._store(key, min(float(self.burst), self._refill(key, now) + 1), now)

    def spend(self, key: str) -> None:
        """Spend a token even into debt (down to -burst): for a cost known only afterwards,
        when concurrent requests may all have passed `wait` before any was charged."""
        if self.rate <= 0:
            return
        now = self.clock()
        self._store(key, max(-float(self.burst), self._refill(key, now) - 1), now)


def client_key(address: str) -> str:
    """The per-address bucket's key: an IPv4 address itself, the /64 of an IPv6 one (a
    single host is usually given a whole /64: one bucket per address would be no limit)."""
    return network_of(address) if ":" in address else address


def network_of(address: str) -> str:
    """The signup bucket's key: the /24 of an IPv4 address, the /64 of an IPv6 one (one
    host or one customer usually holds all of either; 127.0.0.0/8 is all one host)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


class SignupLimiter:
    """Signups: a bucket per network and one for everybody; a signup spends from both."""

    def __init__(self, cfg: LimitConfig, clock=time.monotonic):
        self.per_net = RateLimiter(cfg.signup_rate, cfg.signup_burst, clock)
        self.everyone = RateLimiter(cfg.signup_global_rate, cfg.signup_global_burst, clock)

    def take(self, address: str) -> float:
        net = network_of(address)
        wait = max(self.per_net.wait(net), self.everyone.wait("*"))
        if wait:
            return wait
        self.per_net.take(net)
        self.everyone.take("*")
        return 0.0


def link_signers(links: object, limit: int = 64) -> tuple[set[str], set[str]]:
    """The uids and signing key ids the posted links claim (parsed, not verified: the
    buckets are charged only after the service accepted the write). Malformed links
    are skipped; the service refuses them anyway."""
    uids: set[str] = set()
    kids: set[str] = set()
    if not isinstance(links, list):
        return uids, kids
    for wire in links[:limit]:
        try:
            link = parse_link(wire)
        except (errors.KbappError, ValueError, TypeError, KeyError):
            continue
        if link.signer is not None:
            kids.add(kid_hex(link.signer))
        if link.uid:
            uids.add(link.uid)
    return uids, kids


class WriteLimits:
    """Per account and per device buckets for the writes that grow the log (user and
    team links): checked before a write, charged after it. Writes checked at the same
    time may all pass; each is still charged (into debt), so the long-run rate holds."""

    def __init__(self, cfg: LimitConfig, clock=time.monotonic):
        self.accounts = RateLimiter(cfg.account_rate, cfg.account_burst, clock)
        self.devices = RateLimiter(cfg.device_rate, cfg.device_burst, clock)

    @contextmanager
    def links(self, body: dict, account: str | None = None):
        """Refuse (429) if the account or any signing key is out of tokens; charge them
        once the block finished without error. `account`: the uid of a user post (its
        path); else the links' uids (a team post's signers)."""
        uids, kids = link_signers(body.get("links"))
        accounts = {account.lower()} if account is not None else uids
        wait = max([self.accounts.wait(a) for a in accounts] + [0.0])
        if wait:
            raise rate_limited("writes for this account", wait)
        wait = max([self.devices.wait(k) for k in kids] + [0.0])
        if wait:
            raise rate_limited("writes signed by this device", wait)
        yield
        for a in accounts:
            self.accounts.spend(a)
        for k in kids:
            self.devices.spend(k)


class Limits:
    """ASGI middleware: per-address rate limit, signup limit, body cap, body timeout."""

    def __init__(self, app, limiter: RateLimiter, max_body: int = MAX_BODY, *,
                 signups: SignupLimiter | None = None, body_timeout: float = 0.0,
                 clock=time.monotonic, blob_max: int = BLOB_MAX, blob_min_rate: float = BLOB_MIN_RATE):
        self.app, self.limiter, self.max_body = app, limiter, max_body
        self.signups, self.body_timeout, self.clock = signups, body_timeout, clock
        self.blob_max, self.blob_min_rate = blob_max, blob_min_rate

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":      # the push channel: its opening counts as a request
            wait = self.limiter.take(client_key((scope.get("client") or ("?", 0))[0]))
            if wait:                          # (a denial response: an HTTP answer, no WebSocket)
                answer = error_response(rate_limited("requests", wait), 429)
                answer.headers["connection"] = "close"
                return await answer(scope, receive, send)
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("?", 0))[0]
        wait = self.limiter.take(client_key(client))
        if not wait and self.signups is not None and scope.get("path") == SIGNUP_PATH \
                and scope.get("method") == "POST":
            wait = self.signups.take(client)
            what = "signups from this network"
        else:
            what = "requests"
        if wait:
            return await error_response(rate_limited(what, wait), 429)(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        max_body = self.blob_max if is_blob_upload(scope) else \
            max(self.max_body, FOLDER_BATCH_BODY) if is_folder_batch(scope) else self.max_body
        if length is not None and (not length.isdigit() or int(length) > max_body):
            resp = error_response(errors.TooLarge(f"request body over {max_body} bytes"), 413)
            return await resp(scope, receive, send)
        seen, done = 0, False
        timeout = body_timeout_for(scope, self.body_timeout, self.blob_min_rate)
        deadline = self.clock() + timeout if timeout > 0 else None

        async def capped_receive():
            nonlocal seen, done
            if deadline is None or done:   # (after the body: a wait for a disconnect, not timed)
                message = await receive()
            else:
                try:
                    message = await asyncio.wait_for(receive(), max(0.0, deadline - self.clock()))
                except asyncio.TimeoutError:
                    raise errors.RequestTimeout(
                        f"request body not received within {timeout:g} s", 408) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_body:
                    raise errors.TooLarge(f"request body over {max_body} bytes")
            done = done or message["type"] != "http.request" or not message.get("more_body")
            return message

        try:
            await self.app(scope, capped_receive, send)
        except errors.TooLarge as e:
            await error_response(e, 413)(scope, receive, send)
        except errors.RequestTimeout as e:
            await error_response(e, 408)(scope, receive, send)
