"""Chains come page by page (GET /v1/chain/{uid}?since=N, at most 1000 links and about
2 MiB an answer, `more` when links follow), and a client that verified a chain asks
only for what follows the tail it verified (client/chainfetch.py). The server lies
about the pages:

* it serves, after bob's known tail, links of another history (a fork its own log
  commits to): they do not continue the link bob verified -> ForkDetected;
* it answers every page with "no links, but more follow", forever: the client stops
  at the first empty page (no hang) -> the map's tail is not reached: ChainTailMismatch;
* it answers the second page with the first one again -> WrongSeqno.

Honest pages of any size are put together (the proxy cuts the genuine answer short).
"""

from __future__ import annotations

import os
import time

from kbapp.client import chainops
from kbapp.core import errors
from kbapp.core.keys import DeviceKeys, kid_hex
from kbapp.core.puk import PerUserKey
from kbapp.core.sigchain import verify_chain
from kbapp.core.transparency import ChainTail, map_key
from kbapp.core.uid import device_id, uid_for

from evil import ForgedLog


def _cut_pages(size: int):
    """A proxy rewrite: genuine answers, but at most `size` links a page (`more` set right)."""
    def fn(body):
        links = body["links"]
        if len(links) <= size:
            return body
        first = int(links[0]["seqno"]) - 1
        return {**body, "links": links[:size], "more": True, "next": first + size}
    return fn


async def test_known_chain_is_fetched_after_its_tail_only(user, clients, proxy):
    app, name, _ = await user("alice")
    uid = uid_for(name)
    bob = await clients("bob")
    proxy.set("json", match=f"^/v1/chain/{uid}$", fn=_cut_pages(2))       # honest, small pages
    proxy.seen.clear()
    assert (await bob.identify(name)).chain_length == 3
    assert [s for s in proxy.seen if s.startswith(f"GET /v1/chain/{uid}")] == [
        f"GET /v1/chain/{uid}?since=0", f"GET /v1/chain/{uid}?since=2"]
    await app.create_paperkey()                                           # links 4 and 5
    proxy.seen.clear()
    ident = await bob.identify(name)
    assert ident.chain_length == 5 and ident.changed
    assert [s for s in proxy.seen if s.startswith("GET /v1/chain/")] == [f"GET /v1/chain/{uid}?since=3"]
    proxy.seen.clear()
    assert (await bob.identify(name)).chain_length == 5                   # nothing new: no chain request
    assert not [s for s in proxy.seen if s.startswith("GET /v1/chain/")]


async def test_pages_after_the_known_tail_from_another_history(user, clients, world, proxy, detected):
    app, name, _ = await user("alice", paperkey=True)
    uid = uid_for(name)
    bob = await clients("bob")
    assert (await bob.identify(name)).chain_length == 5

    # The attacker's own history for alice's uid and name: 7 links, and its log commits to them.
    keys = [DeviceKeys.from_seeds(os.urandom(32), os.urandom(32)) for _ in range(3)]
    now = int(time.time())
    forged = chainops.signup_links(uid=uid, username=name, keys=keys[0], device_id=device_id(os.urandom(16)),
                                   device_name="laptop", puk=PerUserKey.derive(os.urandom(32), 1), ctime=now,
                                   merkle_root=None)
    for k in keys[1:]:
        forged += chainops.device_links(state=verify_chain(forged, uid=uid, username=name), signer=keys[0].sibkey,
                                        keys=k, device_id=device_id(os.urandom(16)), device_name="x",
                                        device_type="desktop", ctime=now, merkle_root=None)
    state = verify_chain(forged, uid=uid, username=name)
    log = ForgedLog.of(world.server)
    log.append({map_key("user", uid): ChainTail(7, state.tail_link_id, kid_hex(state.eldest_kid)).encode()})
    proxy.set("forged_log", log=log)
    proxy.add("json", match=f"^/v1/chain/{uid}$",
              fn=lambda body: {**body, "links": forged[5:], "more": False, "next": None})

    err = await detected(bob, errors.ForkDetected, bob.identify(name))
    assert "link 6 does not follow link 5" in str(err)
    assert proxy.tampered


async def test_endless_empty_pages(user, clients, proxy, detected):
    _, name, _ = await user("alice")
    uid = uid_for(name)
    carol = await clients("carol")
    proxy.set("json", match=f"^/v1/chain/{uid}$", fn=lambda body: {**body, "links": [], "more": True, "next": 0})
    await detected(carol, errors.ChainTailMismatch, carol.identify(name))
    assert proxy.tampered == 1                # one empty page, then the client stopped asking


async def test_the_first_page_again_in_place_of_the_second(user, clients, proxy, detected):
    _, name, _ = await user("alice", paperkey=True)
    uid = uid_for(name)
    first: dict = {}

    def replay(body):
        links = body["links"]
        if int(links[0]["seqno"]) == 1:
            first.update(body, links=links[:2], more=True, next=2)
            return dict(first)
        return dict(first)                    # page 2 asked: page 1 served again
    carol = await clients("carol")
    proxy.set("json", match=f"^/v1/chain/{uid}$", fn=replay)
    await detected(carol, errors.WrongSeqno, carol.identify(name))
