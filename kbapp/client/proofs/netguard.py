"""Which addresses a proof check may connect to, and an HTTP client held to it.

A proof names a host (a website, a Mastodon instance) and the server is not
trusted, so a proof could point the checker at this machine or its network:
`127.1`, `0x7f.0.0.1`, `10.0.0.1`, the cloud metadata address 169.254.169.254,
or a public name whose DNS answers with any of those. Names are therefore judged
by the addresses they resolve to, never by their spelling: every address must be
public (`is_global`, and not multicast or reserved; IPv4 inside IPv6 is judged
as the IPv4 it carries), else `ProofHostRefused`.

The check and the connection use the same answer: the network backend below
resolves, checks and connects to the checked address itself (TLS still names
the host, so SNI and certificates are unchanged), so a second DNS answer cannot
slip in between (rebinding). The fetcher also checks before every hop, redirects
included.

`allow` opts chosen non-public addresses back in, one `ADDRESS` or
`ADDRESS:PORT` at a time (`[::1]:8080` for IPv6). Nothing is allowed by default;
the test imitations of the services on 127.0.0.1 list their own ports.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
from collections.abc import Awaitable, Callable, Iterable

import httpcore
import httpx

from kbapp.core.errors import ProofHostRefused

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def embedded_ipv4(ip: Address) -> Address:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, NAT64, Teredo), else itself."""
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip.teredo is not None:
            return ip.teredo[1]
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def is_public(ip: Address) -> bool:
    """Reachable on the internet and meant for one host: not loopback, private,
    link-local, CGNAT, multicast, reserved or unspecified, nor IPv4 of those in IPv6."""
    ip = ipaddress.ip_address(str(ip).split("%", 1)[0])
    inner = embedded_ipv4(ip)
    for a in {ip, inner}:
        if not a.is_global or a.is_multicast or a.is_reserved or a.is_unspecified:
            return False
    return True


def parse_allow(entries: Iterable[str]) -> set[tuple[Address, int | None]]:
    """`ADDRESS`, `ADDRESS:PORT` or `[V6]:PORT` entries (raises ValueError)."""
    out = set()
    for e in entries:
        e = str(e).strip()
        port: int | None = None
        if e.startswith("["):
            host, _, rest = e[1:].partition("]")
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(f"bad address {e!r}")
                port = int(rest[1:])
        elif e.count(":") == 1:
            host, p = e.split(":")
            port = int(p)
        else:
            host = e
        out.add((ipaddress.ip_address(host), port))
    return out


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address of `host` through the event loop's getaddrinfo."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


class HostGuard:
    """Resolves a host and refuses it unless every address is public or allowed."""

    def __init__(self, allow: Iterable[str] = (), *, resolve: Resolver | None = None, timeout: float = 5.0):
        self.allow = parse_allow(allow)
        self.resolve = resolve or system_resolve
        self.timeout = timeout
        self.pins: dict[tuple[str, int], list[str]] = {}

    def allowed(self, ip: Address, port: int) -> bool:
        if is_public(ip):
            return True
        ip = embedded_ipv4(ipaddress.ip_address(str(ip).split("%", 1)[0]))
        return (ip, port) in self.allow or (ip, None) in self.allow

    async def check(self, host: str, port: int, *, plain: bool = False) -> list[str]:
        """The addresses of host:port, each checked; also pinned for the next connection.
        `plain` (http): every address must be one `allow` lists, public is not enough."""
        host = host.strip("[]")
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addrs = [host]
        else:
            try:
                addrs = await asyncio.wait_for(self.resolve(host, port), self.timeout)
            except (OSError, UnicodeError) as e:
                raise httpcore.ConnectError(f"cannot resolve {host}: {e}") from None
            except asyncio.TimeoutError:
                raise httpcore.ConnectTimeout(f"cannot resolve {host} within {self.timeout:g} s") from None
        if not addrs:
            raise httpcore.ConnectError(f"{host} has no address")
        for a in addrs:
            ip = ipaddress.ip_address(a.split("%", 1)[0])
            if not self.allowed(ip, port):
                raise ProofHostRefused(f"refused: {host} is at {a}, which is not a public address")
            if plain and is_public(ip):
                raise ProofHostRefused(f"refused: plain http to {host} ({a}); only https")
        self.pins[(host.lower(), port)] = addrs
        return addrs


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the guard checked."""

    def __init__(self, guard: HostGuard):
        from httpcore._backends.auto import AutoBackend   # httpcore's default backend

        self.guard, self.inner = guard, AutoBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: typing.Iterable | None = None) -> httpcore.AsyncNetworkStream:
        addrs = self.guard.pins.get((host.strip("[]").lower(), port)) or await self.guard.check(host, port)
        error: Exception | None = None
        for a in addrs:
            try:
                return await self.inner.connect_tcp(a, port, timeout=timeout, local_address=local_address,
                                                    socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                error = e
        raise error if error is not None else httpcore.ConnectError(f"{host}: no address")

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise ProofHostRefused("refused: proof checks use no local sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over the guarded backend (no proxies: they would resolve for us)."""

    def __init__(self, guard: HostGuard, limits: httpx.Limits):
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry, network_backend=GuardedBackend(guard))


class GuardedClient(httpx.AsyncClient):
    """An httpx client whose every connection passes `guard`."""

    def __init__(self, guard: HostGuard, *, limits: httpx.Limits, **kw):
        super().__init__(transport=GuardedTransport(guard, limits), trust_env=False, **kw)
        self.guard = guard
