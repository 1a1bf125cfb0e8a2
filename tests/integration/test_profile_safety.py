"""A profile's files and keys, from the side of whoever shares the machine or makes a
mistake: everything private (0700/0600) whatever the umask, older profiles tightened;
no account whose keys are a one-letter passphrase away, or gone with the process.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kbapp.client import keystore as ks
from kbapp.client.app import App
from kbapp.client.passphrase import passphrase_problem
from kbapp.core import errors

from e2e_support import PASSPHRASE, ROOT, cli

pytestmark = [pytest.mark.timeout(180), pytest.mark.skipif(os.name != "posix", reason="POSIX modes")]


def mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def kbapp(home: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    """The real CLI with exactly the keystore variables given (none inherited)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("KBAPP_KEYSTORE", "KBAPP_PASS",
                                                                     "KBAPP_THROWAWAY"))}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "kbapp", "--home", str(home), "--json", *args], env=full,
                          cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def error_code(proc: subprocess.CompletedProcess) -> str:
    return json.loads(proc.stdout)["error"]["code"]


def test_a_new_profile_is_private_under_umask_022(umask_022, server, tmp_path):
    home = tmp_path / "a" / "profile"
    cli(home, "signup", "alice", "--server", server.url)   # the file keystore, sealed with PASSPHRASE
    from kbapp.ml.library import PhotoLibrary, index_path

    with PhotoLibrary.open(home, analyzer=object()) as lib:
        assert lib.count() == 0
    assert mode(tmp_path / "a") == 0o700 and mode(home) == 0o700   # the folders kbapp made
    assert mode(home / "photos") == 0o700
    files = [home / "client.sqlite3", home / ks.KEYSTORE_FILE, index_path(home)]
    files += [p for p in home.rglob("*") if p.name.endswith(("-wal", "-shm", "-journal"))]
    for p in files:
        assert mode(p) == 0o600, p


async def test_an_older_loose_profile_is_tightened_on_open(umask_022, tmp_path):
    home = tmp_path / "old"
    (home / "photos").mkdir(parents=True, mode=0o755)
    os.chmod(home, 0o755)
    for name in ("client.sqlite3", "client.sqlite3-wal", "photos/index.db", "photos/index.db-shm"):
        (home / name).write_bytes(b"")
        os.chmod(home / name, 0o644)
    app = App(home)
    await app.open()
    await app.close()
    from kbapp.ml.library import PhotoLibrary

    PhotoLibrary.open(home, analyzer=object()).close()
    for p in (home, home / "photos"):
        assert mode(p) == 0o700, p
    for name in ("client.sqlite3", "client.sqlite3-wal", "photos/index.db", "photos/index.db-shm"):
        assert not (home / name).exists() or mode(home / name) == 0o600, name   # SQLite may drop its side files
    assert mode(home / "client.sqlite3") == mode(home / "photos/index.db") == 0o600


@pytest.mark.parametrize("weak", ["a", "password123", "aaaaaaaaaaaa", "qwertyuiop"])
def test_a_weak_passphrase_is_refused_before_anything_is_posted(server, tmp_path, weak):
    home = tmp_path / "alice"
    r = kbapp(home, "signup", "alice", "--server", server.url,
              env={"KBAPP_KEYSTORE": "file", "KBAPP_PASSPHRASE": weak})
    assert r.returncode == 1 and error_code(r) == errors.WeakPassphrase.code, r
    assert "passphrase" in json.loads(r.stdout)["error"]["message"]
    assert not (home / ks.KEYSTORE_FILE).exists()
    r = cli(tmp_path / "carol", "id", "alice", "--server", server.url, expect_rc=1)
    assert r.json["error"]["code"] == "NOT_FOUND"      # no account was made
    r = kbapp(home, "signup", "alice", "--server", server.url,
              env={"KBAPP_KEYSTORE": "file", "KBAPP_PASSPHRASE": PASSPHRASE})
    assert r.returncode == 0, r


def test_an_existing_file_opens_with_the_passphrase_it_was_sealed_with(tmp_path):
    ks.EncryptedFileBackend(tmp_path / ks.KEYSTORE_FILE, "short").put("k", b"v")   # made before the rule
    assert ks.open_keystore(tmp_path, backend="file", passphrase="short").get("k") == b"v"


def test_the_rule_says_why():
    assert "at least 10 characters" in passphrase_problem("abc")
    assert "too easy to guess" in passphrase_problem("password1234")
    assert passphrase_problem(PASSPHRASE) is None


def test_memory_keystore_signup_is_refused_unless_throwaway(server, tmp_path):
    r = kbapp(tmp_path / "alice", "signup", "alice", "--server", server.url, env={"KBAPP_KEYSTORE": "memory"})
    assert r.returncode == 1 and error_code(r) == errors.KeystoreNotPersistent.code, r
    assert "--throwaway" in json.loads(r.stdout)["error"]["message"]
    r = cli(tmp_path / "carol", "id", "alice", "--server", server.url, expect_rc=1)
    assert r.json["error"]["code"] == "NOT_FOUND"
    r = kbapp(tmp_path / "alice", "signup", "alice", "--server", server.url, "--throwaway",
              env={"KBAPP_KEYSTORE": "memory"})
    assert r.returncode == 0, r
    r = kbapp(tmp_path / "bob", "signup", "bob", "--server", server.url,
              env={"KBAPP_KEYSTORE": "memory", "KBAPP_THROWAWAY": "1"})
    assert r.returncode == 0, r


async def test_memory_keystore_in_process_needs_throwaway_too(tmp_path, monkeypatch):
    monkeypatch.setenv("KBAPP_KEYSTORE", "memory")
    monkeypatch.delenv("KBAPP_THROWAWAY", raising=False)
    app = App(tmp_path / "p")
    await app.open()
    try:
        with pytest.raises(errors.KeystoreNotPersistent):
            await app.unlock()
    finally:
        await app.close()
    app = App(tmp_path / "p", throwaway=True)
    await app.open()
    try:
        assert (await app.unlock()).kind == "memory"
    finally:
        await app.close()
