"""`kbapp server` in its own process on a free loopback port: the one launcher every test
folder uses (conftest fixtures, module-scoped servers, the adversarial proxy's backend).

Not a test module; tests/ is on sys.path (pytest puts the rootdir conftest's folder there).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from kbapp.server.main import free_port  # noqa: F401 - also imported from here by tests

ROOT = Path(__file__).resolve().parents[1]


class ServerProcess:
    """A real server process; restartable on the same port, data dir and database so a
    client (or a proxy in front) need not change."""

    def __init__(self, data_dir: Path, db: str | None = None, extra: list[str] | None = None, *,
                 start: bool = True):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db, self.extra = db, list(extra or [])
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir.parent / f"server-{self.data_dir.name}-{self.port}.log"
        if start:
            self.start()

    def start(self, timeout: float = 30.0) -> "ServerProcess":
        self.stop()  # never two processes for one ServerProcess: the first would leak
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                         **self.popen_options())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                if "address already in use" in self.log_text().lower() and not self._moved:
                    # another test's server took the port between free_port() and our bind (the
                    # suite runs in parallel): a new port, once
                    self._moved = True
                    self.port = free_port()
                    self.url = f"http://127.0.0.1:{self.port}"
                    return self.start(timeout)
                raise RuntimeError(f"server exited early:\n{self.log_text()}")
            try:
                if httpx.get(self.url + "/v1/server", timeout=1.0).status_code == 200 and self._owns_port():
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not start:\n{self.log_text()}")

    _moved = False

    def _owns_port(self) -> bool:
        """Whether the process listening on our port is ours, not another test's server that took
        the port first (Linux: /proc; elsewhere assumed)."""
        if not Path("/proc/net/tcp").exists():
            return True
        fd_dir = f"/proc/{self.proc.pid}/fd"
        mine = set()
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            return False                 # the process is gone: whoever answers is not ours
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue                 # closed while we looked (the server is still starting)
            if target.startswith("socket:["):
                mine.add(target[8:-1])
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
        for line in lines:
            f = line.split()
            if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == self.port:
                return f[9] in mine
        return False

    def command(self) -> list[str]:
        """`kbapp server` on this port and data dir; rate limits off (tests that test them
        pass their own flags)."""
        return [sys.executable, "-m", "kbapp", "server", "--listen", f"127.0.0.1:{self.port}",
                "--data-dir", str(self.data_dir), "--rate", "0", *(["--db", self.db] if self.db else []),
                *self.extra]

    def popen_options(self) -> dict:
        return {}

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    logtext = log_text
