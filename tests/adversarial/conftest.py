"""Fixtures of the adversarial tests: one real server and one evil proxy for
the whole session (tests use their own usernames), clients pointed at the
proxy, and the checks every attack test makes:

* `detected(app, Error, coro)`: the attack raises exactly that typed error and
  the client's trusted state (`Store.snapshot()`) is byte for byte unchanged;
* `cli(home, ...)`: the real `kbapp` command, in-process, for its exit code
  (3 for a verification failure) and what it tells the user on stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from kbapp.client.app import App

from evil import EvilDB, EvilProxy, RealServer

os.environ.setdefault("KBAPP_KEYSTORE", "memory")
os.environ.setdefault("KBAPP_THROWAWAY", "1")  # the memory keystore is refused without it

# A frozen clock: `verified_at` and `seen_at` in the trusted store do not move
# between two identifies, so "unchanged" can mean byte for byte.
NOW = int(time.time())
ATTACK_TIMEOUT = 30


def clock() -> float:
    return NOW


@dataclass
class World:
    base: Path
    server: RealServer
    proxy: EvilProxy
    extra: list[RealServer]

    @contextlib.contextmanager
    def stopped(self):
        """Stop the real server, let the test own its data dir (key + database),
        start it again on the same port: the proxy in front needs no change."""
        self.server.stop()
        try:
            yield self.server.data_dir
        finally:
            self.server.start()

    @contextlib.contextmanager
    def database(self):
        """Write straight into the server's database while it is stopped."""
        with self.stopped() as data_dir:
            db = EvilDB(data_dir)
            try:
                yield db
            finally:
                db.close()

    def fork(self, name: str) -> RealServer:
        """A second server process with the same key and a copy of the data."""
        with self.stopped():
            twin = self.server.clone(self.base / name)
        self.extra.append(twin)
        return twin.start()


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    base = tmp_path_factory.mktemp("adversarial")
    server = RealServer(base / "server").start()
    proxy = EvilProxy(server.url).start()
    w = World(base, server, proxy, [])
    yield w
    proxy.stop()
    for s in [server, *w.extra]:
        s.stop()


@pytest.fixture
def proxy(world) -> EvilProxy:
    """The evil proxy, honest (no mode, routed to the main server) at the start
    and at the end of every test."""
    world.proxy.reset(world.server.url)
    yield world.proxy
    world.proxy.reset(world.server.url)


@pytest.fixture
def name():
    """Fresh usernames (the session's server is shared): name('alice') -> 'alice_3fa2c1'."""
    def make(role: str) -> str:
        return f"{role[:9]}_{os.urandom(3).hex()}"
    return make


@pytest.fixture
async def clients(tmp_path, proxy):
    """Open in-process clients pointed at the proxy (each with its own --home)."""
    opened: list[App] = []

    async def make(label: str, *, connect: bool = True) -> App:
        app = App(tmp_path / label, clock=clock)
        await app.open()
        opened.append(app)
        if connect:
            await app.connect(proxy.url)
        return app

    yield make
    for app in opened:
        with contextlib.suppress(Exception):
            await app.close()


@pytest.fixture
async def user(clients, name, proxy):
    """Sign a user up through the proxy: user('alice') -> (app, username)."""
    async def make(role: str, *, paperkey: bool = False):
        username = name(role)
        app = await clients(role, connect=False)
        await app.signup(username, device_name=f"{role}-laptop", server_url=proxy.url)
        phrase = await app.create_paperkey() if paperkey else None
        return app, username, phrase

    return make


async def _detected(app: App, error: type[Exception] | tuple, coro, *, match: str | None = None) -> Exception:
    """Await `coro`; it must raise exactly `error` (not a parent, not a cousin)
    within ATTACK_TIMEOUT, and leave the client's trusted state unchanged."""
    before = app.store.snapshot()
    wanted = error if isinstance(error, tuple) else (error,)
    try:
        await asyncio.wait_for(coro, ATTACK_TIMEOUT)
    except asyncio.TimeoutError:
        pytest.fail(f"the client hung: no {error} within {ATTACK_TIMEOUT} s")
    except Exception as e:  # noqa: BLE001 - checked just below
        assert type(e) in wanted, f"expected {error}, got {type(e).__name__}: {e}"
        if match is not None:
            assert match in str(e), f"{match!r} not in {e}"
        after = app.store.snapshot()
        assert after == before, "the attack changed the client's trusted state"
        return e
    pytest.fail(f"the attack was not detected: no {error}")


@pytest.fixture
def detected():
    """`await detected(app, Error, coro)`: see _detected."""
    return _detected


@pytest.fixture
def cli(capsys):
    """Run `kbapp --home HOME ARGS` in-process (in a thread: it has its own
    event loop); returns (exit code, stdout, stderr)."""
    from kbapp.cli.main import main

    async def run(home: Path, *args: str, env: dict | None = None) -> tuple[int, str, str]:
        capsys.readouterr()
        old = {k: os.environ.get(k) for k in (env or {})}
        os.environ.update(env or {})
        try:
            rc = await asyncio.wait_for(asyncio.to_thread(main, ["--home", str(home), *args]), 60)
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        out, err = capsys.readouterr()
        return rc, out, err

    return run
