"""Helpers for the integration tests: the real CLI as a subprocess, in-process
`App` clients, and restarting a server process on the same port and data.

Not a test module (pytest collects only test_*.py); imported by the tests in
this folder, whose directory pytest puts on sys.path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from server_support import ServerProcess

from kbapp.client.app import App
from kbapp.client.keystore import open_keystore
from kbapp.core.encoding import b64decode, unpack
from kbapp.core.keys import DeviceKeys
from kbapp.core.merkle.note import verify_checkpoint

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "correct horse battery staple, e2e"
CLI_TIMEOUT = 120


class CliResult:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        try:
            self.json = json.loads(proc.stdout) if proc.stdout.strip() else None
        except json.JSONDecodeError:
            self.json = None

    def __repr__(self) -> str:
        return f"CliResult(rc={self.rc}, stdout={self.stdout[-2000:]!r}, stderr={self.stderr[-2000:]!r})"


def cli(home: Path, *args: str, stdin: str | None = None, env: dict | None = None,
        expect_rc: int | None = 0) -> CliResult:
    """`python -m kbapp --home HOME --json ARGS` with the encrypted-file keystore."""
    full_env = dict(os.environ)
    full_env.update({"KBAPP_KEYSTORE": "file", "KBAPP_PASSPHRASE": PASSPHRASE})
    full_env.pop("KBAPP_PAPERKEY", None)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "kbapp", "--home", str(home), "--json", *args],
                          input=stdin if stdin is not None else "", capture_output=True, text=True,
                          env=full_env, cwd=ROOT, timeout=CLI_TIMEOUT)
    res = CliResult(proc)
    if expect_rc is not None:
        assert res.rc == expect_rc, res
    return res


def file_keystore(home: Path):
    """The keystore a CLI profile wrote (argon2id-sealed file), opened in-process."""
    return open_keystore(home, backend="file", passphrase=PASSPHRASE)


def device_keys(keystore) -> DeviceKeys:
    seeds = unpack(keystore.get("device"), max_size=256)
    return DeviceKeys.from_seeds(seeds[0], seeds[1])


async def open_app(home: Path, keystore=None) -> App:
    """An in-process client; secrets in the per-profile memory keystore unless given."""
    app = App(home, keystore=keystore if keystore is not None else open_keystore(home, backend="memory"))
    await app.open()
    return app


async def signup_all(apps, tmp_path, url, names):
    """Sign up each name from its own profile under tmp_path; {name: App}."""
    out = {}
    for n in names:
        app = await apps(tmp_path / n)
        await app.signup(n, server_url=url, device_name=f"{n}-laptop")
        out[n] = app
    return out


def restart(server) -> None:
    """Stop a `ServerProcess` and start it again: same port, data dir and db."""
    server.restart()


# A server of our own for module-scoped fixtures (the conftest `server_factory` is per test).
LaunchedServer = ServerProcess


def server_checkpoint(url: str, size: int | None = None):
    """The server's checkpoint, signature-checked against its own /v1/server key."""
    info = httpx.get(url + "/v1/server", timeout=10).json()
    params = {"size": size} if size is not None else None
    note = httpx.get(url + "/v1/checkpoint", params=params, timeout=10).json()["note"]
    return verify_checkpoint(note, info["key_name"], b64decode(info["public_key"]), origin=info["origin"])
