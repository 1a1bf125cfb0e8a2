"""Running the server: `kbapp server`, or embedded in the app on loopback."""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from .app import create_app
from .db import make_engine, normalise_url, upgrade
from .service import Service, load_or_create_server_key

log = logging.getLogger(__name__)


@dataclass
class ServerConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8470
    db: str | None = None
    origin: str | None = None
    rate: float = 200.0
    burst: int = 400


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
    return service, create_app(service, rate=cfg.rate, burst=cfg.burst)


def serve(cfg: ServerConfig, ready=None) -> None:
    """Run until interrupted (blocking). `ready(url)` is called once listening."""
    service, app = build(cfg)
    config = uvicorn.Config(app, host=cfg.host, port=cfg.port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
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
        self._server = uvicorn.Server(uvicorn.Config(app, host=self.cfg.host, port=self.cfg.port,
                                                     log_level="warning", access_log=False))
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
