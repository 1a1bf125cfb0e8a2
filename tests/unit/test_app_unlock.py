"""`App.unlock()`: the keystore opens in a worker thread, never on the event loop.

The passphrase-sealed file runs argon2id ("moderate": ~0.65 s) when it opens; the
GUI's loop must keep turning meanwhile, and nothing may open it behind its back.
"""

from __future__ import annotations

import asyncio
import threading
import time

import keyring
import nacl.pwhash
import pytest
from keyring.backends import fail

from kbapp.client import keystore as ks
from kbapp.client.app import App
from kbapp.core.errors import KeystoreError

FAST = (nacl.pwhash.argon2id.OPSLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MIN)


@pytest.fixture(autouse=True)
def file_keystore(monkeypatch):
    """No OS keyring and no backend forced: a profile keeps its keys in the sealed file."""
    monkeypatch.delenv(ks.ENV_BACKEND, raising=False)
    monkeypatch.delenv(ks.ENV_PASSPHRASE, raising=False)
    original = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(original)


async def _longest_stall(work) -> tuple[float, object]:
    """Run `work` while a ticker measures the longest gap between loop turns."""
    gaps, stop = [], asyncio.Event()

    async def tick():
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
            if stop.is_set():
                return
    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)  # the ticker is running before the work starts
    try:
        result = await work
    finally:
        stop.set()
        await ticker
    return max(gaps, default=0.0), result


STRONG = "plover-quartz-veranda"  # passes the new-passphrase rule (kbapp/client/passphrase.py)


async def test_unlock_runs_argon2_off_the_loop(tmp_path, monkeypatch):
    home = tmp_path / "p"
    home.mkdir()
    ks.open_keystore(home, passphrase="correct horse").put("device", b"seeds")  # real (moderate) limits
    monkeypatch.setenv(ks.ENV_PASSPHRASE, "correct horse")
    app = App(home)
    await app.open()
    try:
        assert not app.unlocked
        with pytest.raises(KeystoreError, match="unlock"):
            app.keystore  # noqa: B018 - never opened synchronously, on the loop
        assert (await app.status()).keystore == "file"  # says which, without opening it
        started = time.perf_counter()
        stall, store = await _longest_stall(app.unlock())
        took = time.perf_counter() - started
        assert app.unlocked and app.keystore is store and store.get("device") == b"seeds"
        assert took > 0.2, "the file's argon2id run is what this test measures"
        assert stall < min(0.2, took / 2), f"the loop stalled {stall * 1000:.0f} ms of {took * 1000:.0f} ms"
        assert await app.unlock() is store  # once
    finally:
        await app.close()


async def test_prompt_runs_on_the_loop_thread_and_a_wrong_passphrase_can_be_retried(tmp_path, monkeypatch):
    monkeypatch.setattr(ks, "FILE_KDF_LIMITS", FAST)
    home = tmp_path / "p"
    asked: list[tuple[bool, bool]] = []
    answers = [STRONG]

    def prompt(new_file: bool) -> str:
        asked.append((new_file, threading.current_thread() is threading.main_thread()))
        return answers[-1]
    app = App(home, passphrase_prompt=prompt)
    await app.open()
    try:
        await app.unlock()
        await app._store_secrets({"device": b"x"})  # a new file: created (and sealed) off the loop
        assert asked == [(True, True)] and (home / ks.KEYSTORE_FILE).exists()
    finally:
        await app.close()

    app = App(home, passphrase_prompt=prompt)
    await app.open()
    try:
        answers.append("wrong")
        with pytest.raises(KeystoreError, match="wrong passphrase"):
            await app.unlock()
        assert not app.unlocked
        answers.append(STRONG)
        assert (await app.unlock()).get("device") == b"x"
        assert asked[1:] == [(False, True), (False, True)]
    finally:
        await app.close()


async def test_concurrent_unlocks_open_once(tmp_path, monkeypatch):
    monkeypatch.setattr(ks, "FILE_KDF_LIMITS", FAST)
    calls = []
    app = App(tmp_path / "p", passphrase_prompt=lambda new: calls.append(new) or STRONG)
    await app.open()
    try:
        a, b = await asyncio.gather(app.unlock(), app.unlock())
        assert a is b and calls == [True]
    finally:
        await app.close()


async def test_no_passphrase_is_a_readable_error_and_nothing_is_sent(tmp_path):
    """Secret-using methods unlock first: without a passphrase, signup fails before any request."""
    app = App(tmp_path / "p")
    await app.open()
    try:
        with pytest.raises(KeystoreError, match="needs a passphrase"):
            await app.signup("alice", server_url="http://127.0.0.1:9")  # nothing listens there
        assert app.store.get("server_url") is None and not app.unlocked
    finally:
        await app.close()
