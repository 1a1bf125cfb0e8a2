"""Running the server: `kbapp server`, or embedded in the app on loopback."""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from .app import create_app
from .blobstore import FilesystemBlobStore
from .connections import ConnGuards, connection_plan, protocol_class, raise_fd_limit
from .limits import BLOB_MIN_RATE, LimitConfig
from .db import make_engine, normalise_url, upgrade
from .gc_policy import POLICY as GC_POLICY
from .service import Service, load_or_create_server_key

log = logging.getLogger(__name__)


@dataclass
class ServerConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8470
    db: str | None = None
    origin: str | None = None
    rate: float = 200.0                # per client address; 0 also turns off the `limits` not given
    burst: int = 400
    limits: dict = field(default_factory=dict)   # LimitConfig.from_flags: account_rate, signup_burst, ...
    header_timeout: float = 10.0
    idle_timeout: float = 5.0
    body_timeout: float = 30.0
    max_connections: int = 4096
    max_per_client: int = 128
    trust_proxy: tuple[str, ...] = ()  # reverse proxies whose X-Forwarded-For is believed


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--listen wants HOST:PORT, got {listen!r}")
    return host.strip("[]"), int(port)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def build(cfg: ServerConfig):
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(normalise_url(cfg.db, cfg.data_dir))
    upgrade(engine)
    key = load_or_create_server_key(cfg.data_dir)
    origin = cfg.origin or f"kbapp.local/{bytes(key.verify_key).hex()[:16]}"
    service = Service(engine, key, origin)
    limits = LimitConfig.from_flags(cfg.rate, cfg.burst, body_timeout=cfg.body_timeout, **cfg.limits)
    blobs = FilesystemBlobStore(cfg.data_dir / "blobs", max_size=limits.blob_max)
    return service, create_app(service, limits=limits, blobs=blobs)


def uvicorn_config(app, cfg: ServerConfig) -> uvicorn.Config:
    """uvicorn with the connection guards (connections.py), its keep-alive as the idle
    timeout, and X-Forwarded-For believed only from the proxies named in trust_proxy
    (uvicorn would otherwise believe any client on 127.0.0.1)."""
    cap, backlog = connection_plan(cfg.max_connections, raise_fd_limit())
    guards = ConnGuards(header_timeout=cfg.header_timeout, body_timeout=cfg.body_timeout,
                        blob_min_rate=float(cfg.limits.get("blob_min_rate", BLOB_MIN_RATE)),
                        max_connections=cap, max_per_client=cfg.max_per_client,
                        trusted_proxies=tuple(cfg.trust_proxy))
    return uvicorn.Config(app, host=cfg.host, port=cfg.port, log_level="warning", access_log=False, backlog=backlog,
                          http=protocol_class(guards), timeout_keep_alive=cfg.idle_timeout,
                          # the push channel (push.py): small frames, no compression, idle pings
                          ws="wsproto", ws_max_size=4096, ws_per_message_deflate=False,
                          ws_ping_interval=20.0, ws_ping_timeout=20.0,
                          h11_max_incomplete_event_size=16 * 1024, proxy_headers=bool(cfg.trust_proxy),
                          forwarded_allow_ips=list(cfg.trust_proxy) or None)


def serve(cfg: ServerConfig, ready=None) -> None:
    """Run until interrupted (blocking). `ready(url)` is called once listening."""
    service, app = build(cfg)
    GC_POLICY.enable()      # this process is the server's own: see gc_policy.py
    server = uvicorn.Server(uvicorn_config(app, cfg))
    url = f"http://{cfg.host}:{cfg.port}"

    async def on_startup():
        if ready is not None:
            ready(url, service)

    orig_startup = server.startup

    async def startup(sockets=None):
        await orig_startup(sockets)
        await on_startup()

    server.startup = startup
    server.run()


class EmbeddedServer:
    """A server in a background thread, for the app's first-run default."""

    def __init__(self, cfg: ServerConfig):
        self.cfg = cfg
        self.url: str | None = None
        self.service: Service | None = None
        self._started = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self, timeout: float = 30.0) -> str:
        if self.cfg.port == 0:
            self.cfg.port = free_port(self.cfg.host)
        service, app = build(self.cfg)
        self.service = service
        self._server = uvicorn.Server(uvicorn_config(app, self.cfg))
        self._thread = threading.Thread(target=self._run, name="kbapp-server", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout) or self._error is not None:
            raise RuntimeError(f"embedded server did not start: {self._error}")
        self.url = f"http://{self.cfg.host}:{self.cfg.port}"
        return self.url

    def _run(self) -> None:
        server = self._server
        orig = server.startup

        async def startup(sockets=None):
            await orig(sockets)
            self._started.set()

        server.startup = startup
        try:
            server.run()
        except BaseException as e:  # noqa: BLE001 - reported to start()
            self._error = e
            self._started.set()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
