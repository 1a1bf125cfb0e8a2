"""The ephemeral key routes (server/routes/ephemeral.py) on a real server process, SQLite and
PostgreSQL: who may publish and read what, the shape, size and order checks, idempotency,
and that every refusal is a typed 4xx (never a 5xx)."""

from __future__ import annotations

import os
from types import SimpleNamespace

import httpx
import pytest

from kbapp.core.chat import ephemeral as ek
from kbapp.core.encoding import b64encode
from kbapp.core.keys import SigningKeyPair

from chat_server_support import ChatHTTP, Member, code
from e2e_support import signup_all

pytestmark = pytest.mark.timeout(300)
CP = (1, b"r" * 32)


async def device_ek(app, gen: int = 1, seed: bytes | None = None) -> ek.DeviceEk:
    sibkey = (await app.ctx.device_keys()).sibkey
    return ek.make_device_ek(sibkey, uid=app.ctx.uid, generation=gen, seed=seed or os.urandom(32), ctime=1,
                             checkpoint=CP)


def team_ek(team_id: str, gen: int, devices: list[ek.DeviceEk], **over) -> dict:
    """A team EK request (the server checks shapes only: any key may sign it here)."""
    seed = os.urandom(32)
    st = ek.make_team_ek(SimpleNamespace(generation=1, signing=SigningKeyPair.from_seed(os.urandom(32))),
                         team_id=team_id, generation=gen, seed=seed, ctime=1, checkpoint=CP)
    boxes = [{"recipient_uid": d.uid, "recipient_kid": d.kid, "device_ek_gen": d.generation,
              "box": b64encode(ek.box_seed(seed, d, ephemeral_secret=os.urandom(32), nonce=os.urandom(24)))}
             for d in devices]
    return {"generation": gen, **st.wire(), "boxes": boxes, **over}


async def post(http: ChatHTTP, who: Member | None, path: str, body) -> httpx.Response:
    headers = {"Authorization": await who.token()} if who else {}
    return await http.client.post(path, json=body, headers=headers)


async def test_ephemeral_key_routes(db_url, server_factory, tmp_path, apps):
    srv = server_factory(db=db_url)
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob", "carol", "dave"))
    await u["alice"].create_team("acme")
    await u["alice"].add_member("acme", "bob", "writer")
    await u["alice"].add_member("acme", "carol", "reader")
    team_id = (await u["alice"].team("acme")).team_id
    alice, bob, carol, dave = (Member(u[n]) for n in ("alice", "bob", "carol", "dave"))
    http = ChatHTTP(srv.url)
    statuses = []
    try:
        async def expect(resp: httpx.Response, status: int, err: str | None = None) -> httpx.Response:
            statuses.append(resp.status_code)
            assert resp.status_code == status, resp.text
            if err:
                assert code(resp) == err, resp.text
            return resp

        # device EKs: a device publishes its own, in increasing generations, idempotently
        a1 = await device_ek(u["alice"])
        await expect(await post(http, alice, "/v1/ek/device", a1.wire()), 200)
        await expect(await post(http, alice, "/v1/ek/device", a1.wire()), 200)
        await expect(await post(http, alice, "/v1/ek/device", (await device_ek(u["alice"])).wire()), 409,
                     "EK_GENERATION_TAKEN")
        await expect(await post(http, bob, "/v1/ek/device", a1.wire()), 403, "EK_REFUSED")    # not bob's key
        await expect(await post(http, None, "/v1/ek/device", a1.wire()), 401)
        await expect(await post(http, alice, "/v1/ek/device", {"statement": "AAAA", "sig": "AAAA"}), 400, "EK_REFUSED")
        forged = {**a1.wire(), "sig": b64encode(b"\0" * 64)}
        await expect(await post(http, alice, "/v1/ek/device", forged), 400, "EK_REFUSED")
        b1 = await device_ek(u["bob"])
        await expect(await post(http, bob, "/v1/ek/device", b1.wire()), 200)
        c1 = await device_ek(u["carol"])
        await expect(await post(http, carol, "/v1/ek/device", c1.wire()), 200)
        await expect(await post(http, dave, "/v1/ek/device", (await device_ek(u["dave"])).wire()), 200)

        # members list the device EKs of the team's members (a non-member may not)
        listed = (await expect(await http.get(carol, f"/v1/ek/team/{team_id}/devices"), 200)).json()["devices"]
        assert {(d["uid"], d["generation"]) for d in listed} == {(a1.uid, 1), (b1.uid, 1), (c1.uid, 1)}
        await expect(await http.get(dave, f"/v1/ek/team/{team_id}/devices"), 403)
        await expect(await http.get(alice, f"/v1/ek/team/{'ab' * 16}/devices"), 404)

        # team EKs: a writer publishes the next generation with well-formed boxes
        path = f"/v1/ek/team/{team_id}"
        devs = [a1, b1, c1]
        await expect(await post(http, carol, path, team_ek(team_id, 1, devs)), 403, "EK_REFUSED")   # a reader
        await expect(await post(http, dave, path, team_ek(team_id, 1, devs)), 403)
        await expect(await post(http, alice, path, team_ek(team_id, 2, devs)), 409, "EK_GENERATION_TAKEN")
        await expect(await post(http, alice, path, team_ek(team_id, 1, devs, generation=3)), 400, "EK_REFUSED")
        await expect(await post(http, alice, f"/v1/ek/team/{'cd' * 16}", team_ek(team_id, 1, devs)), 400)
        bad = team_ek(team_id, 1, devs)
        bad["boxes"][0]["box"] = b64encode(os.urandom(ek.BOX_SIZE - 1))
        await expect(await post(http, alice, path, bad), 400, "EK_REFUSED")
        twice = team_ek(team_id, 1, devs)
        twice["boxes"].append(dict(twice["boxes"][0]))
        await expect(await post(http, alice, path, twice), 400, "EK_REFUSED")
        await expect(await post(http, alice, path, team_ek(team_id, 1, [])), 400, "EK_REFUSED")
        many = team_ek(team_id, 1, devs)
        many["boxes"] = [dict(many["boxes"][0], recipient_kid=("0120" + os.urandom(32).hex() + "0a"))
                         for _ in range(ek.MAX_BOXES + 1)]
        await expect(await post(http, alice, path, many), 400, "EK_REFUSED")
        await expect(await http.get(bob, f"/v1/ek/team/{team_id}/box"), 404)
        await expect(await post(http, bob, path, team_ek(team_id, 1, devs)), 200)
        await expect(await post(http, alice, path, team_ek(team_id, 1, devs)), 409, "EK_GENERATION_TAKEN")

        # each device fetches its own box; a device without one gets the statement and no box
        mine = (await expect(await http.get(carol, f"/v1/ek/team/{team_id}/box"), 200)).json()
        assert mine["generation"] == 1 and mine["device_ek_gen"] == 1 and len(mine["box"]) > 100
        assert mine["recipients"] == sorted(d.kid for d in devs)          # whom the generation was boxed to
        assert (await expect(await http.get(alice, f"/v1/ek/team/{team_id}/box", generation=1), 200)).json()["box"]
        await expect(await http.get(alice, f"/v1/ek/team/{team_id}/box", generation=7), 404)
        await expect(await http.get(dave, f"/v1/ek/team/{team_id}/box"), 403)
        assert all(s < 500 for s in statuses)
    finally:
        await http.aclose()
