"""Proof services: the protocol each plug-in implements, the registry, the
configuration, and a careful HTTP fetcher.

Every fetch is bounded: a timeout per request, answers capped at
`max_bytes` while they stream in (a 50 MB page is refused, not read), at most
`max_redirects` redirects and never to another host, and every hop only to
public addresses (netguard.py: loopback, private, link-local... are refused
after resolution, `ProofHostRefused`, unless the configuration opts one in).
Failures are classified here once for every service:

* `TemporaryFailure`: could not tell now (network error, timeout, 5xx, rate limit);
* `PermanentFailure`: the proof is gone or refused (404, deleted account,
  oversized answer, redirect to another host, malformed answer).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from kbapp.core.encoding import loads_json
from kbapp.core.errors import EncodingError

from .netguard import GuardedClient, HostGuard, parse_allow

DEFAULT_MAX_BYTES = 1 << 20
DEFAULT_TIMEOUT = 5.0
DEFAULT_MAX_REDIRECTS = 3
DEFAULT_TTL = 300
ENV_CONFIG = "KBAPP_PROOF_CONFIG"
CONFIG_FILE = "proofs.json"
_HOST_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?)+$")


class TemporaryFailure(Exception):
    """The service could not be asked now: try again later."""


class PermanentFailure(Exception):
    """The proof is not there (or the service's answer is refused)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_hostname(name: str) -> str:
    host = name.strip().lower().rstrip(".")
    if not _HOST_RE.match(host):
        raise EncodingError(f"{name!r} is not a host name")
    return host


@dataclass
class ProofConfig:
    """Where each service lives (tests point them at 127.0.0.1) and the limits.

    Loaded from the JSON file named by KBAPP_PROOF_CONFIG, else HOME/proofs.json:
    {"timeout": 5, "max_bytes": 1048576, "max_redirects": 3, "ttl": 300,
     "website_hosts": {"alice.dev": "http://127.0.0.1:8123"},
     "dns": {"resolver": "127.0.0.1", "port": 5353},
     "github_api": "https://api.github.com",
     "mastodon_instances": {"mastodon.social": "http://127.0.0.1:8124"},
     "generic": {"fakebook": {"url": "https://fakebook.example/api/users/{username}",
                              "json_path": "profile.bio", "kind": "bio"}},
     "allow_private_hosts": ["127.0.0.1:8123"]}

    `allow_private_hosts` (a developer setting; empty by default) lists the
    non-public `ADDRESS` or `ADDRESS:PORT` a check may still reach, and the only
    ones plain http may use: the test imitations of the services on 127.0.0.1.
    """

    timeout: float = DEFAULT_TIMEOUT
    max_bytes: int = DEFAULT_MAX_BYTES
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    ttl: int = DEFAULT_TTL
    website_hosts: dict[str, str] = field(default_factory=dict)
    dns_resolver: str | None = None
    dns_port: int = 53
    github_api: str = "https://api.github.com"
    github_raw_hosts: list[str] = field(default_factory=lambda: ["gist.githubusercontent.com"])
    mastodon_instances: dict[str, str] = field(default_factory=dict)
    generic: dict[str, dict] = field(default_factory=dict)
    allow_private_hosts: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: dict) -> "ProofConfig":
        dns = d.get("dns") or {}
        cfg = cls(timeout=float(d.get("timeout", DEFAULT_TIMEOUT)),
                  max_bytes=int(d.get("max_bytes", DEFAULT_MAX_BYTES)),
                  max_redirects=int(d.get("max_redirects", DEFAULT_MAX_REDIRECTS)),
                  ttl=int(d.get("ttl", DEFAULT_TTL)),
                  website_hosts={k.lower(): v.rstrip("/") for k, v in (d.get("website_hosts") or {}).items()},
                  dns_resolver=dns.get("resolver"), dns_port=int(dns.get("port", 53)),
                  github_api=str(d.get("github_api", "https://api.github.com")).rstrip("/"),
                  mastodon_instances={k.lower(): v.rstrip("/")
                                      for k, v in (d.get("mastodon_instances") or {}).items()},
                  generic=dict(d.get("generic") or {}),
                  allow_private_hosts=[str(h) for h in d.get("allow_private_hosts") or []])
        try:
            parse_allow(cfg.allow_private_hosts)
        except ValueError as e:
            raise EncodingError(f"allow_private_hosts: {e}") from None
        if "github_raw_hosts" in d:
            cfg.github_raw_hosts = list(d["github_raw_hosts"])
        return cfg

    @classmethod
    def load(cls, home: Path | None) -> "ProofConfig":
        path = os.environ.get(ENV_CONFIG)
        p = Path(path) if path else (home / CONFIG_FILE if home is not None else None)
        if p is None or not p.is_file():
            return cls()
        return cls.from_dict(loads_json(p.read_bytes(), max_size=1 << 20, max_depth=8))

    def to_dict(self) -> dict:
        return {"timeout": self.timeout, "max_bytes": self.max_bytes, "max_redirects": self.max_redirects,
                "ttl": self.ttl, "website_hosts": self.website_hosts,
                "dns": {"resolver": self.dns_resolver, "port": self.dns_port},
                "github_api": self.github_api, "github_raw_hosts": self.github_raw_hosts,
                "mastodon_instances": self.mastodon_instances, "generic": self.generic,
                "allow_private_hosts": self.allow_private_hosts}

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2))


@dataclass(frozen=True)
class Fetched:
    status: int
    body: bytes
    url: str
    headers: dict

    def json(self):
        try:
            return loads_json(self.body, max_size=len(self.body) + 1, max_depth=32)
        except EncodingError as e:
            raise PermanentFailure(f"malformed JSON from {self.url}: {e}") from None

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def proof_http_client(config: ProofConfig, *, resolve=None) -> GuardedClient:
    """The HTTP client of proof checks: every connection to a checked public address
    (or one `allow_private_hosts` lists). `resolve` replaces DNS (tests)."""
    guard = HostGuard(config.allow_private_hosts, resolve=resolve, timeout=config.timeout)
    return GuardedClient(guard, headers={"User-Agent": "kbapp-proof-checker", "Accept": "*/*"},
                         follow_redirects=False, timeout=config.timeout,
                         limits=httpx.Limits(max_connections=32, max_keepalive_connections=16))


class Fetcher:
    """Bounded HTTP GETs shared by every service during one identify."""

    def __init__(self, client: GuardedClient, config: ProofConfig):
        if not isinstance(client, GuardedClient):
            raise TypeError("proof checks need the guarded client of proof_http_client()")
        self.client, self.config = client, config

    async def get(self, url: str, *, params: dict | None = None, accept_404: bool = False) -> Fetched:
        """GET with manual redirects (same scheme, host and port only) and a size cap.

        404/410 -> PermanentFailure (unless accept_404), 5xx/429 -> TemporaryFailure,
        other 4xx -> PermanentFailure (GitHub's rate-limit 403 is temporary).
        """
        origin = _origin(url)
        for _hop in range(self.config.max_redirects + 1):
            check_url(url, self.config.allow_private_hosts)
            await self._check_host(url)
            resp = await self._get_once(url, params)
            params = None
            if resp.status in (301, 302, 303, 307, 308):
                loc = resp.headers.get("location")
                if not loc:
                    raise PermanentFailure(f"redirect without a Location from {url}")
                nxt = urljoin(url, loc)
                if _origin(nxt) != origin:
                    raise PermanentFailure(f"refused: {url} redirects to another host ({urlsplit(nxt).netloc})")
                url = nxt
                continue
            return self._classify(resp, accept_404)
        raise PermanentFailure(f"refused: more than {self.config.max_redirects} redirects")

    async def _check_host(self, url: str) -> None:
        """Resolve the URL's host and refuse it unless every address is public (or allowed):
        before every hop, since a host's addresses can change between two."""
        parts = urlsplit(url)
        plain = parts.scheme == "http"
        try:
            await self.client.guard.check(parts.hostname or "", parts.port or (80 if plain else 443), plain=plain)
        except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
            raise TemporaryFailure(f"{url}: {e}") from None

    def _classify(self, resp: Fetched, accept_404: bool) -> Fetched:
        s = resp.status
        if 200 <= s < 300:
            return resp
        if s in (404, 410):
            if accept_404:
                return resp
            raise PermanentFailure(f"{resp.url}: HTTP {s} (not found)")
        if s == 429 or s >= 500 or (s == 403 and resp.headers.get("x-ratelimit-remaining") == "0"):
            raise TemporaryFailure(f"{resp.url}: HTTP {s}")
        raise PermanentFailure(f"{resp.url}: HTTP {s}")

    async def _get_once(self, url: str, params: dict | None) -> Fetched:
        cap = self.config.max_bytes
        try:
            async with self.client.stream("GET", url, params=params, follow_redirects=False,
                                          timeout=self.config.timeout) as resp:
                length = resp.headers.get("content-length")
                if length is not None and length.isdigit() and int(length) > cap:
                    raise PermanentFailure(f"refused: {url} answers {length} bytes, over {cap}")
                chunks, total = [], 0
                async for chunk in resp.aiter_bytes():
                    total += len(chunk)
                    if total > cap:
                        raise PermanentFailure(f"refused: {url} answers over {cap} bytes")
                    chunks.append(chunk)
                headers = {k.lower(): v for k, v in resp.headers.items()}
                return Fetched(resp.status_code, b"".join(chunks), str(resp.url), headers)
        except httpx.TimeoutException:
            raise TemporaryFailure(f"{url}: no answer within {self.config.timeout:g} s") from None
        except httpx.HTTPError as e:
            raise TemporaryFailure(f"{url}: {type(e).__name__}: {e}") from None


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def check_url(url: str, allow: list[str] | tuple = ()) -> None:
    """https anywhere; plain http only where the configuration opts some address in
    (tests), and then only to those (the host guard checks every address, `plain`)."""
    try:
        parts = urlsplit(url)
        parts.port   # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise PermanentFailure(f"refused: {url!r} is not a URL") from None
    if not parts.hostname:
        raise PermanentFailure(f"refused: {url} names no host")
    if parts.scheme == "https" or (parts.scheme == "http" and allow):
        return
    raise PermanentFailure(f"refused: {url} is not https")


class ProofService(Protocol):
    """One kind of proof. `name` is what link bodies and assertions use."""

    name: str
    kind: str          # the proof kind in the link body (well-known, txt, gist, status, ...)

    def normalize(self, username: str) -> str:
        """Check and canonicalise the account name on the service (raises EncodingError)."""

    def instructions(self, username: str, text: str) -> str:
        """Where and how to post `text` (shown to the user)."""

    def proof_url(self, username: str) -> str:
        """Where the proof can be seen (for display)."""

    async def fetch(self, fetcher: Fetcher, username: str) -> list[str]:
        """The texts the service shows for this account that could hold a proof.
        Raises TemporaryFailure / PermanentFailure."""


_FACTORIES: dict[str, type] = {}


def register(cls):
    """Class decorator: a built-in service, made with `cls(config)`."""
    _FACTORIES[cls.name] = cls
    return cls


def services(config: ProofConfig) -> dict[str, ProofService]:
    """Every service for this configuration: the built-ins and the generic ones."""
    from . import dns, generic, github, mastodon, website  # noqa: F401  (registration)

    out: dict[str, ProofService] = {name: cls(config) for name, cls in _FACTORIES.items()}
    for name, spec in config.generic.items():
        if name in out:
            continue
        out[name] = generic.GenericService(name, spec, config)
    return out
