"""Adding a device with a phrase (kex) through a real server's mailbox."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from kbapp.client.app import App
from kbapp.core import errors, kex
from kbapp.core.encoding import b64encode
from kbapp.core.paperkey import provision_secret

from e2e_support import PASSPHRASE, ROOT, cli


async def _pair(old: App, new: App, username: str, *, timeout: float = 20.0):
    shown: asyncio.Future = asyncio.get_running_loop().create_future()
    adder = asyncio.create_task(old.add_device_by_phrase(shown.set_result, timeout=timeout, poll=0.05))
    phrase = await asyncio.wait_for(shown, timeout)
    acct = await new.login_phrase(username, phrase, device_name="tablet", server_url=old.api.base_url,
                                  timeout=timeout, poll=0.05)
    return acct, await adder


async def test_add_device_with_phrase(server, tmp_path):
    async with App(tmp_path / "d1") as old, App(tmp_path / "d2") as new:
        await old.signup("dora", device_name="laptop", server_url=server.url)
        acct, dev = await _pair(old, new, "dora")
        assert dev.name == "tablet" and dev.id == acct.device_id and not dev.revoked
        # The new device holds the current per-user key, checked against the chain.
        assert new.keystore.get("puk:1") == old.keystore.get("puk:1")
        names = {d.name: d for d in await new.devices()}
        assert set(names) == {"laptop", "tablet"} and names["tablet"].current
        # ... and can act as a full device: it revokes the old one and rotates the PUK.
        await new.revoke_device("laptop")
        assert (await new.identify("dora")).puk_generation == 2
        with pytest.raises(errors.DeviceRevoked):
            await old.create_paperkey()


async def test_phrase_for_another_account_is_refused(server, tmp_path):
    async with App(tmp_path / "e1") as old, App(tmp_path / "e2") as new:
        await old.signup("erin", server_url=server.url)
        shown: asyncio.Future = asyncio.get_running_loop().create_future()
        adder = asyncio.create_task(old.add_device_by_phrase(shown.set_result, timeout=2, poll=0.05))
        phrase = await shown
        with pytest.raises(errors.ProvisioningError, match="erin"):
            await new.login_phrase("mallory", phrase, server_url=server.url, timeout=5, poll=0.05)
        with pytest.raises(errors.ProvisioningError, match="no answer"):
            await adder
        assert new.store.get("uid") is None
        assert len((await old.identify("erin")).devices) == 1


async def test_forged_and_bad_replies_change_nothing(server, tmp_path):
    """The server injects garbage; a reply carrying a bad link is refused before anything is posted."""
    async with App(tmp_path / "f1") as old:
        await old.signup("finn", server_url=server.url)
        before = (await old.identify("finn")).chain_length
        shown: asyncio.Future = asyncio.get_running_loop().create_future()
        adder = asyncio.create_task(old.add_device_by_phrase(shown.set_result, timeout=10, poll=0.05))
        phrase = await shown
        secret = provision_secret(phrase)
        channel = kex.channel_id(secret)
        # Noise from someone without the phrase is ignored...
        await old.api.kex_post(channel, b64encode(os.urandom(80)))
        # ...and a reply whose sibkey link was never reverse-signed is refused.
        reply = {"sibkey_payload": json.dumps({"body": {"type": "sibkey"}, "ctime": 1}), "subkey": {"seqno": 5}}
        await old.api.kex_post(channel, b64encode(kex.seal_message(secret, "reply", reply, os.urandom(24))))
        with pytest.raises(errors.ProvisioningError, match="do not verify"):
            await adder
        assert (await old.identify("finn")).chain_length == before


def test_kex_through_the_cli(server, tmp_path):
    """`kbapp device add` shows the phrase, `kbapp login --phrase` uses it."""
    cli(tmp_path / "g1", "signup", "gina", "--server", server.url, "--device", "desk")
    env = dict(os.environ, KBAPP_KEYSTORE="file", KBAPP_PASSPHRASE=PASSPHRASE)
    adder = subprocess.Popen([sys.executable, "-m", "kbapp", "--home", str(tmp_path / "g1"), "--json",
                              "device", "add", "--timeout", "60"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        phrase = json.loads(adder.stdout.readline())["phrase"]
        res = cli(tmp_path / "g2", "login", "gina", "--phrase", "--server", server.url, "--device", "phone",
                  env={"KBAPP_PHRASE": phrase})
        assert res.json["device_name"] == "phone"
        out, err = adder.communicate(timeout=60)
    finally:
        if adder.poll() is None:
            adder.kill()
    assert adder.returncode == 0, err
    assert json.loads(out)["name"] == "phone"
    listed = cli(tmp_path / "g2", "device", "list").json
    assert {d["name"] for d in listed} == {"desk", "phone"}
