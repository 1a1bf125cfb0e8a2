"""Reads of the log never queue behind a write (issue #11: p99 under load).

Lookups, checkpoints and proofs are answered from the service's published view (an
immutable map snapshot and a log prefix) without the write lock. While a write holds
the lock for as long as it likes, a lookup still answers, and answers for the last
committed epoch: never a root the log does not hold yet.

In process (the ASGI app on a real SQLite database): the lock is the point, and it
cannot be held from outside a server process.
"""

from __future__ import annotations

import asyncio
import os
import time

import httpx

from kbapp.client.chainops import signup_links
from kbapp.core.encoding import b64decode
from kbapp.core.keys import DeviceKeys
from kbapp.core.merkle.note import parse_checkpoint_body
from kbapp.core.merkle.smt import MapProof, verify_map_proof
from kbapp.core.puk import PerUserKey
from kbapp.core.transparency import LogLeaf, map_key
from kbapp.core.uid import device_id, uid_for
from kbapp.server.main import ServerConfig, build


def _signup(name: str) -> dict:
    links = signup_links(uid=uid_for(name), username=name, keys=DeviceKeys.from_seeds(os.urandom(32), os.urandom(32)),
                         device_id=device_id(os.urandom(16)), device_name="laptop",
                         puk=PerUserKey.derive(os.urandom(32), 1), ctime=int(time.time()), merkle_root=None)
    return {"uid": uid_for(name), "username": name, "links": links}


async def test_lookups_answer_while_a_write_holds_the_lock(tmp_path):
    service, app = build(ServerConfig(data_dir=tmp_path / "server", rate=0))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kbapp.test",
                                 timeout=30) as http:
        assert (await http.post("/v1/signup", json=_signup("alice"))).status_code == 200
        size = service.log.size
        async with service.lock:                    # a write in progress, as long as it likes
            signup = asyncio.ensure_future(http.post("/v1/signup", json=_signup("bob")))
            reads = [http.get(f"/v1/lookup/user/{uid_for(n)}") for n in ("alice", "bob")]
            reads += [http.get("/v1/checkpoint"), http.get("/v1/log/consistency", params={"first": 1, "second": size})]
            answers = await asyncio.wait_for(asyncio.gather(*reads), 20)
            assert not signup.done()                # the write did wait for the lock
        assert [a.status_code for a in answers] == [200] * 4
        alice, bob, cp = answers[0].json(), answers[1].json(), answers[2].json()
        # the last committed epoch: alice is in the map, bob (still waiting) is not
        _, cp_size, cp_root, _ = parse_checkpoint_body(cp["note"].split("\n\n", 1)[0] + "\n")
        assert cp_size == size and alice["leaf_index"] == size - 1
        leaf = LogLeaf.decode(b64decode(alice["leaf_data"]))
        verify_map_proof(leaf.map_root, map_key("user", uid_for("alice")), b64decode(alice["value"]),
                         MapProof.from_wire(alice["map_proof"]))
        assert bob["value"] is None
        verify_map_proof(leaf.map_root, map_key("user", uid_for("bob")), None, MapProof.from_wire(bob["map_proof"]))
        assert (await signup).status_code == 200
        after = (await http.get(f"/v1/lookup/user/{uid_for('bob')}")).json()
        assert after["value"] is not None and after["leaf_index"] == service.log.size - 1 > size - 1
