"""Controls for the evil server itself: with no change requested, each
tampering mode must leave the client's verification passing. So when an
attack test sees an error, it comes from the lie, not from the proxy's
plumbing (re-encoded JSON, re-signed notes, a rebuilt log)."""

from __future__ import annotations

import httpx

from kbapp.core.encoding import b64decode
from kbapp.core.transparency import map_key
from kbapp.core.uid import uid_for

from evil import ForgedLog, resign_note


async def test_passthrough_is_byte_exact(user, proxy, world):
    _, name, _ = await user("alice")
    for path in ["/v1/server", "/v1/checkpoint", f"/v1/chain/{uid_for(name)}", f"/v1/lookup/user/{uid_for(name)}",
                 "/v1/log/leaves?start=0&end=3", "/v1/log/consistency?first=1&second=2"]:
        direct = httpx.get(world.server.url + path, timeout=10)
        via = httpx.get(proxy.url + path, timeout=10)
        assert (via.status_code, via.content) == (direct.status_code, direct.content), path
    assert httpx.get(proxy.url + "/v1/chain/00", timeout=10).status_code == 404
    assert proxy.record()[f"/v1/chain/{uid_for(name)}"].json()["username"] == name


async def test_modes_that_change_nothing_change_nothing(user, clients, world, proxy):
    app, name, _ = await user("alice", paperkey=True)
    bob = await clients("bob")
    await bob.identify(name)
    await app.create_paperkey()                                 # so bob needs a consistency proof
    uid = uid_for(name)
    same = [
        ("consistency", dict(sizes=lambda a, b: (a, b))),        # first: bob's trust lags behind
        ("chain", dict(uid=uid, fn=lambda links: links)),
        ("lookup", dict(uid=uid, fn=lambda bundle: bundle)),
        ("json", dict(match="^/v1/", fn=lambda body: body)),
        ("swap_key", dict(key=world.server.signing_key())),
        ("replay", None),                 # replays what the previous identify was answered
    ]
    for mode, params in same:
        if mode == "replay":
            params = dict(answers=proxy.record(), match="^/v1/(checkpoint|lookup/|chain/)")
        proxy.set(mode, **params)
        before = bob.store.checkpoint()
        # bob knows alice's chain and fetches only links after its tail: a newcomer asks for it.
        viewer = await clients("carol") if mode == "chain" else bob
        ident = await viewer.identify(name)
        assert ident.chain_length == 7, mode
        assert proxy.tampered, f"mode {mode} never fired"
        if mode == "consistency":
            assert bob.store.checkpoint().size > before.size
    proxy.set("swap_key", key=world.server.signing_key())
    await bob.connect()
    await bob.verify_log()

    note = proxy.upstream_json("/v1/checkpoint")["note"]
    assert resign_note(note, world.server.signing_key()) == note


async def test_forged_log_with_true_content_is_accepted(user, clients, world, proxy):
    """The attacker's own log extension, when its newest map tells the truth
    about alice, passes every check: the forged-log attacks fail on content."""
    _, name, _ = await user("alice")
    bob = await clients("bob")
    await bob.identify(name)
    bundle = proxy.upstream_json(f"/v1/lookup/user/{uid_for(name)}")
    log = ForgedLog.of(world.server)
    log.append({map_key("user", uid_for(name)): b64decode(bundle["value"])})
    proxy.set("forged_log", log=log)
    size = bob.store.checkpoint().size
    assert (await bob.identify(name)).chain_length == 3
    assert bob.store.checkpoint().size == log.log.size > size
    audit = await bob.verify_log()
    assert audit.size == log.log.size
    assert proxy.tampered
