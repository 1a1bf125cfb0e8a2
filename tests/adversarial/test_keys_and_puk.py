"""The server changes its checkpoint key, and the server boxes a per-user key
seed of its own choosing to a device logging in with a paper key."""

from __future__ import annotations

import os

import nacl.signing
import pytest

from kbapp.core import errors
from kbapp.core.encoding import b64encode
from kbapp.core.uid import uid_for


async def test_server_key_swapped(user, clients, proxy, detected, cli):
    """From now on the server signs every checkpoint with another key (same
    origin) and says so in /v1/server."""
    _, name, _ = await user("alice")
    bob = await clients("bob")
    await bob.identify(name)
    await bob.connect()                                        # control: same key, fine

    proxy.set("swap_key", key=nacl.signing.SigningKey.generate())
    err = await detected(bob, errors.ServerKeyMismatch, bob.connect())
    assert "pinned at first contact" in str(err)
    # Without reconnecting: every checkpoint is now signed by a key bob never pinned.
    await detected(bob, errors.CheckpointError, bob.identify(name))
    await detected(bob, errors.CheckpointError, bob.verify_log())
    rc, _, stderr = await cli(bob.home, "id", name)
    assert rc == 3 and "VERIFICATION FAILED (BAD_CHECKPOINT)" in stderr
    assert proxy.tampered


def _garbage_box(body):
    body["boxes"] = [{"generation": b["generation"], "box": b64encode(os.urandom(120))} for b in body["boxes"]]
    return body


@pytest.mark.parametrize("attack", ["seed-of-its-choice", "garbage-box"])
async def test_puk_seed_of_the_servers_choice(user, clients, proxy, detected, cli, attack):
    """alice logs in on a new computer with her paper key. The server boxes a
    seed it knows (so that it could read what alice's devices encrypt to "her"
    per-user key) to the new device: the keys derived from that seed are not
    the ones alice's chain signed."""
    _, name, phrase = await user("alice", paperkey=True)
    laptop2 = await clients("laptop2")
    await laptop2.identify(name)                                # settle what laptop2 trusts first

    if attack == "seed-of-its-choice":
        proxy.set("puk_box", seed=os.urandom(32))
    else:
        proxy.set("json", match=r"^/v1/puk/", fn=_garbage_box)
    await detected(laptop2, errors.BadPerUserKey, laptop2.login_paperkey(name, phrase, device_name="laptop2"))
    assert laptop2.keystore.get("device") is None and laptop2.keystore.get("puk:1") is None
    assert laptop2.store.get("uid") is None
    assert proxy.tampered

    rc, _, stderr = await cli(laptop2.home, "login", name, "--paperkey", env={"KBAPP_PAPERKEY": phrase})
    assert rc == 3 and "VERIFICATION FAILED (BAD_PER_USER_KEY)" in stderr
    chain = proxy.upstream_json(f"/v1/chain/{uid_for(name)}")["links"]
    assert len(chain) == 5                                      # no device was added

    proxy.clear()                                               # control: the genuine box works
    account = await laptop2.login_paperkey(name, phrase, device_name="laptop2")
    assert account.device_name == "laptop2" and laptop2.keystore.get("puk:1") is not None
