"""Connection guards uvicorn's h11 protocol lacks: a header timeout, a body backstop
timeout, and caps on open connections (in all, and per client address).

Why: uvicorn only times out a connection that is idle *after* a response. A client
that connects and sends nothing, or half a request line, or a body one byte at a
time, holds its socket (one file descriptor) forever; about a thousand of them
exhaust the process's descriptors and nobody else is served (slowloris). Here a
request head must be complete `header_timeout` seconds after its first byte (or
after the connection opened), a body must be complete soon after `body_timeout`
(the ASGI layer answers 408 at `body_timeout`; this closes what it cannot, such as a
body nobody reads), and connections over a cap are answered 503 and closed at once,
so descriptors stay below the process's limit.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from kbapp.core import errors

from .limits import BLOB_MIN_RATE, body_timeout_for, client_key

log = logging.getLogger(__name__)

FD_RESERVE = 64      # descriptors kept for the database, log files, the listening socket
MAX_BACKLOG = 2048   # uvicorn's default listen backlog
BODY_GRACE = 1.0     # the ASGI layer's 408 goes first; this backstop closes what is left


def _canned(status: int, reason: str, exc: errors.KbappError, extra: str = "") -> bytes:
    body = ('{"error":{"code":"%s","message":"%s"}}' % (exc.code, str(exc))).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n{extra}\r\n")
    return head.encode() + body


BUSY = _canned(503, "Service Unavailable", errors.ServerBusy("too many connections; retry shortly"),
               "retry-after: 1\r\n")
HEADER_TIMEOUT = _canned(408, "Request Timeout", errors.RequestTimeout("request headers not received in time"))


@dataclass(frozen=True)
class ConnGuards:
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 1000
    max_per_client: int = 64          # 0: no per-address cap
    trusted_proxies: tuple = ()       # addresses exempt from the per-address cap
    blob_min_rate: float = BLOB_MIN_RATE   # a blob upload's body: body_timeout + length at this rate

    def exempt(self, host: str) -> bool:
        if not self.trusted_proxies:
            return False
        if "*" in self.trusted_proxies:
            return True
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return host in self.trusted_proxies
        return any(ip in ipaddress.ip_network(p, strict=False) for p in self.trusted_proxies
                   if _is_network(p))


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
        return True
    except ValueError:
        return False


def raise_fd_limit() -> int | None:
    """Lift the soft RLIMIT_NOFILE to the hard limit where allowed; the soft limit
    after that (None where there is no such limit, as on Windows)."""
    try:
        import resource
    except ImportError:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return None if soft == resource.RLIM_INFINITY else soft


def connection_plan(wanted: int, fd_limit: int | None) -> tuple[int, int]:
    """(connection cap, accept backlog) that fit the descriptor limit. asyncio accepts up
    to `backlog` sockets in one go before any of them is refused, so the cap leaves room
    for one such burst as well as for the database and log files."""
    if fd_limit is None:
        return wanted, MAX_BACKLOG
    backlog = min(MAX_BACKLOG, max(16, fd_limit // 8))
    cap = min(wanted, max(1, fd_limit - FD_RESERVE - backlog))
    if cap < wanted:
        log.warning("connection cap lowered to %d: the process may open %d files", cap, fd_limit)
    return cap, backlog


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus the guards above; made by `protocol_class`."""

    guards = ConnGuards()
    per_client: dict[str, int] = {}   # open connections per address, one dict per server

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._refused = False
        self._header_timer = None
        self._body_timer = None
        self._host: str | None = None   # counted in per_client while open
        self._upgraded = False

    def connection_made(self, transport) -> None:  # type: ignore[override]
        g = self.guards
        peer = transport.get_extra_info("peername")
        host = peer[0] if isinstance(peer, tuple) and peer else ""
        if g.exempt(host):
            host = ""                   # a trusted proxy: not counted per address
        else:
            host = client_key(host)     # an IPv6 /64 counts as one address
        counts = self.per_client
        over_client = g.max_per_client > 0 and host != "" and counts.get(host, 0) >= g.max_per_client
        if len(self.connections) >= g.max_connections or over_client:
            self._refused = True
            self.transport = transport
            transport.write(BUSY)
            transport.close()
            return
        super().connection_made(transport)
        if host:
            self._host = host
            counts[host] = counts.get(host, 0) + 1
        self._arm_header()

    def connection_lost(self, exc) -> None:
        self._cancel_timers()
        self._release(self._host)
        self._host = None
        if self._refused:
            return
        super().connection_lost(exc)

    def _release(self, host: str | None) -> None:
        if host is not None:
            left = self.per_client.get(host, 1) - 1
            if left > 0:
                self.per_client[host] = left
            else:
                self.per_client.pop(host, None)

    def handle_websocket_upgrade(self, event) -> None:
        """A WebSocket (the push channel) takes over the transport: our timers stop, and the
        address keeps counting the connection until the WebSocket protocol loses it."""
        self._cancel_timers()
        self._upgraded = True
        host, self._host = self._host, None
        super().handle_websocket_upgrade(event)
        ws = self.transport.get_protocol()
        if host is not None and ws is not self:
            lost = ws.connection_lost

            def connection_lost(exc, _lost=lost, _host=host):
                self._release(_host)
                return _lost(exc)

            ws.connection_lost = connection_lost
        elif host is not None:
            self._release(host)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        if self._upgraded:
            return
        self._update_timers()
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm_header()   # bytes of a request head have started to arrive

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._update_timers()

    # -- timers ------------------------------------------------------------------

    def _arm_header(self) -> None:
        if self._header_timer is None and self.guards.header_timeout > 0:
            self._header_timer = self.loop.call_later(self.guards.header_timeout, self._header_expired)

    def _update_timers(self) -> None:
        state = self.conn.their_state
        if state is not h11.IDLE and self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        if state is h11.SEND_BODY:
            timeout = body_timeout_for(getattr(self, "scope", None), self.guards.body_timeout,
                                       self.guards.blob_min_rate)
            if self._body_timer is None and timeout > 0:
                self._body_timer = self.loop.call_later(timeout + BODY_GRACE, self._body_expired)
        elif self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _cancel_timers(self) -> None:
        for timer in (self._header_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._body_timer = None

    def _header_expired(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.write(HEADER_TIMEOUT)
            self.transport.close()

    def _body_expired(self) -> None:
        self._body_timer = None
        if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
            self.transport.close()


def protocol_class(guards: ConnGuards) -> type[GuardedH11Protocol]:
    """A protocol class bound to these guards (uvicorn instantiates the class it is given)."""
    return type("KbappH11Protocol", (GuardedH11Protocol,), {"guards": guards, "per_client": {}})


__all__ = ["ConnGuards", "GuardedH11Protocol", "connection_plan", "protocol_class", "raise_fd_limit"]
