"""(d) Fork: a server that shows two users two different logs.

Done for real: the server is stopped, its data dir (checkpoint key + SQLite
database) copied into a twin, and both run. Through the one proxy URL both
users know, alice is answered by the original and bob by the twin. Each
writes, so the two logs, both signed with the server's key, diverge; each
view is consistent on its own. The fork shows as soon as a checkpoint crosses
from one view to the other:

(1) gossip: bob's checkpoint note handed to alice (`App.check_peer_checkpoint`,
    `kbapp log check FILE`), and alice's to bob;
(2) a link: the server relays bob's newest links (made on the twin) into the
    original's log, through its normal API, where they are valid links and get
    properly committed to by map, log and checkpoint; but bob's last links embed
    the twin's checkpoint he had verified, which is not in alice's log.
"""

from __future__ import annotations

import httpx
import pytest

from kbapp.core import errors
from kbapp.core.uid import uid_for

from evil import relay_links

REFUSED = b'{"error": {"code": "NOT_FOUND", "message": "no such consistency proof"}}'


async def test_split_view_is_detected(world, proxy, user, clients, detected, cli, tmp_path):
    a_app, alice, _ = await user("alice")
    b_app, bob, _ = await user("bob")
    await a_app.identify(bob)
    await b_app.identify(alice)

    # Control: before the split, each checkpoint is in the other's log.
    await a_app.check_peer_checkpoint(b_app.store.checkpoint().note)
    await b_app.check_peer_checkpoint(a_app.store.checkpoint().note)
    note_file = tmp_path / "bob.note"
    note_file.write_text(b_app.store.checkpoint().note)
    rc, out, _ = await cli(a_app.home, "log", "check", str(note_file))
    assert rc == 0 and "consistent" in out

    twin = world.fork("twin")
    try:
        split = a_app.store.checkpoint().size
        await a_app.create_paperkey()                    # alice's view grows
        with proxy.routed(twin.url):
            await b_app.create_paperkey()                # bob's view grows, differently
            same_size = b_app.store.checkpoint()
            await b_app.create_paperkey()                # these links embed a twin-only root
            ahead = b_app.store.checkpoint()
        assert a_app.store.checkpoint().size == same_size.size == split + 1
        assert a_app.store.checkpoint().root != same_size.root

        # (1) gossip, both ways, same size and bigger.
        await detected(a_app, errors.ForkDetected, a_app.check_peer_checkpoint(same_size.note))
        await detected(a_app, errors.ForkDetected, a_app.check_peer_checkpoint(ahead.note))
        with proxy.routed(twin.url):
            await detected(b_app, errors.ForkDetected, b_app.check_peer_checkpoint(a_app.store.checkpoint().note))
        note_file.write_text(same_size.note)
        rc, _, stderr = await cli(a_app.home, "log", "check", str(note_file))
        assert rc == 3 and "VERIFICATION FAILED (FORK)" in stderr
        # Refusing to prove anything (404) hides nothing.
        proxy.set("raw", match="^/v1/log/consistency$", status=404, body=REFUSED)
        await detected(a_app, errors.ForkDetected, a_app.check_peer_checkpoint(ahead.note))
        with proxy.routed(twin.url):
            await detected(b_app, errors.ForkDetected, b_app.check_peer_checkpoint(a_app.store.checkpoint().note))
        assert proxy.tampered
        proxy.clear()

        # (2) bob's links, made in the twin's view, relayed into alice's. An honest server
        # refuses them (their embedded checkpoint is not one of its log's) ...
        with pytest.raises(httpx.HTTPStatusError) as refused:
            relay_links(twin.url, world.server.url, uid_for(bob))
        assert refused.value.response.status_code == 400
        assert refused.value.response.json()["error"]["code"] == "BAD_EMBEDDED_CHECKPOINT"
        # ... so the lying server stores them itself. Each embeds the twin's checkpoint with
        # the server's own signature of it: proof that the server signed two logs of one
        # size, so the fault is the server's (a fork), not bob's.
        new = httpx.get(f"{twin.url}/v1/chain/{uid_for(bob)}", timeout=10).json()["links"]
        with world.database() as db:
            have = len(db.chain(uid_for(bob)))
            db.append_links(uid_for(bob), new[have:])
        assert len(new) - have == 4
        err = await detected(a_app, errors.ForkDetected, a_app.identify(bob))
        assert "the server showed two different logs" in str(err)
        fresh = await clients("carol")                    # even a newcomer sees it
        await detected(fresh, errors.ForkDetected, fresh.identify(bob))
        rc, _, stderr = await cli(a_app.home, "id", bob)
        assert rc == 3 and "VERIFICATION FAILED (FORK)" in stderr
        # Again refusing the proof that bob's root is in alice's log (after alice
        # trusted the newest checkpoint, so no other proof is needed first).
        await a_app.identify(alice)
        proxy.set("raw", match="^/v1/log/consistency$", status=404, body=REFUSED)
        await detected(a_app, errors.ForkDetected, a_app.identify(bob))
        assert proxy.tampered
    finally:
        twin.stop()
