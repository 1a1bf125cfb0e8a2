"""Push (issue 12): hints over /v1/push between real server processes and real clients.

* two server processes on one PostgreSQL database, a client on each: a write through
  one reaches the other's client as a hint within a second (LISTEN/NOTIFY);
* a server killed and restarted: the client goes offline, comes back, and resumes from
  its cursor without losing the hint written (through the other process) meanwhile;
* a WebSocket without a valid token, or asking for a topic its user may not see, is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx
import pytest
from httpx_ws import WebSocketUpgradeError, aconnect_ws

from kbapp.client.events import DevicesChanged
from kbapp.client.sync import Backoff, ConnectionStateChanged, Machine, PushHint, Sync

pytestmark = pytest.mark.timeout(180)


class Recorder:
    """Every event of an App, with the monotonic time it came."""

    def __init__(self, app):
        self.events: list[tuple[float, object]] = []
        app.events.on(lambda ev: self.events.append((time.monotonic(), ev)))

    def of(self, cls):
        return [ev for _, ev in self.events if isinstance(ev, cls)]

    def states(self) -> list[str]:
        return [ev.state for ev in self.of(ConnectionStateChanged)]

    async def until(self, pred, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, ev in self.events:
                if pred(ev):
                    return t, ev
            await asyncio.sleep(0.01)
        raise AssertionError(f"no such event within {timeout} s: {[e for _, e in self.events][-12:]}")


def fast_sync(app) -> Sync:
    return Sync(app, machine=Machine(Backoff(base=0.1, cap=0.5)))


async def two_devices(apps, tmp_path, url_a: str, url_b: str):
    """alice's first device on server A, her second (by paper key) on server B."""
    a = await apps(tmp_path / "alice-a")
    await a.signup("alice", device_name="a1", server_url=url_a)
    phrase = await a.create_paperkey()
    b = await apps(tmp_path / "alice-b")
    await b.login_paperkey("alice", phrase, device_name="b1", server_url=url_b)
    return a, b


@contextlib.asynccontextmanager
async def live_pair(pg_database, server_factory, tmp_path, apps):
    """Two server processes on one PostgreSQL, alice's device a on the first and b on the
    second, b's push channel online: (s1, s2, a, b, recorder of b's events, b's sync)."""
    s1 = server_factory(db=pg_database, name="shared")
    s2 = server_factory(db=pg_database, name="shared")
    a, b = await two_devices(apps, tmp_path, s1.url, s2.url)
    rec = Recorder(b)
    sync = fast_sync(b)
    sync.start()
    try:
        await rec.until(lambda ev: isinstance(ev, ConnectionStateChanged) and ev.state == "online")
        yield s1, s2, a, b, rec, sync
    finally:
        await sync.stop()


@pytest.mark.postgres
async def test_a_write_on_one_server_reaches_a_client_of_the_other(pg_database, server_factory, tmp_path, apps):
    async with live_pair(pg_database, server_factory, tmp_path, apps) as (s1, s2, a, b, rec, sync):
        latencies = []
        for i in range(3):
            await a.create_paperkey()                   # a write through server 1 only
            done = time.monotonic()
            t_hint, hint = await rec.until(lambda ev: isinstance(ev, PushHint) and ev in rec.of(PushHint)[i:])
            latencies.append(t_hint - done)             # < 0: came before the write call returned
            assert hint.topic == f"user:{b.store.get('uid')}" and hint.kind == "chain"
        await rec.until(lambda ev: isinstance(ev, DevicesChanged))   # the Devices page's event
        print(f"user hint, arrival minus the write's return: {[round(x * 1000) for x in latencies]} ms")
        assert max(latencies) < 1.0

        # the bare latency: a raw write on server 1, a raw listener on server 2
        channel, samples = "ef" * 16, []
        async with httpx.AsyncClient() as client:
            async with aconnect_ws(f"{s2.url}/v1/push?topics=kex:{channel}", client) as ws:
                assert (await ws.receive_json())["type"] == "ready"
                for _ in range(10):
                    t0 = time.monotonic()
                    r = await client.post(f"{s1.url}/v1/kex/{channel}", json={"msg": "aGk="})
                    assert r.status_code == 200
                    assert (await asyncio.wait_for(ws.receive_json(), 1.0))["type"] == "hint"
                    samples.append(time.monotonic() - t0)
        samples.sort()
        print(f"kex post on server 1 -> hint from server 2: median {samples[5] * 1000:.1f} ms, "
              f"max {samples[-1] * 1000:.1f} ms")
        assert samples[-1] < 1.0


@pytest.mark.postgres
async def test_reconnect_resumes_from_the_cursor(pg_database, server_factory, tmp_path, apps):
    async with live_pair(pg_database, server_factory, tmp_path, apps) as (s1, s2, a, b, rec, sync):
        await a.create_paperkey()
        _, first = await rec.until(lambda ev: isinstance(ev, PushHint))
        assert sync.cursor() == first.cursor

        s2.proc.kill()                                   # no goodbye: the socket just dies
        s2.proc.wait(10)
        s2.proc = None
        await rec.until(lambda ev: isinstance(ev, ConnectionStateChanged) and ev.state == "offline")
        await rec.until(lambda ev: isinstance(ev, ConnectionStateChanged) and ev.state == "backoff")
        written = []
        for _ in range(2):                               # written through server 1 while 2 is down
            await a.create_paperkey()
            written.append(a)
        await asyncio.sleep(0.5)
        assert len(rec.of(PushHint)) == 1                # nothing can arrive: our server is dead
        s2.start()                                       # same port, same database
        online_before = rec.states().count("online")
        await rec.until(lambda ev: isinstance(ev, ConnectionStateChanged) and ev.state == "online"
                        and rec.states().count("online") > online_before, timeout=15)
        await rec.until(lambda ev: isinstance(ev, PushHint) and len(rec.of(PushHint)) >= 3, timeout=5)
        hints = rec.of(PushHint)
        cursors = [h.cursor for h in hints]
        assert cursors == sorted(cursors) and len(set(cursors)) == 3, cursors
        states = rec.states()
        print("states:", states)
        assert states.index("offline") < len(states) - 1 - states[::-1].index("online")
        # the replayed hints are exactly the ones in the database after our cursor
        rows = httpx.get(s1.url + "/v1/server", timeout=5)
        assert rows.status_code == 200
        assert sync.cursor() == cursors[-1]


async def test_push_refuses_bad_tokens_and_foreign_topics(server, tmp_path, apps):
    alice = await apps(tmp_path / "alice")
    await alice.signup("alice", device_name="a1", server_url=server.url)
    bob = await apps(tmp_path / "bob")
    await bob.signup("bob", device_name="b1", server_url=server.url)
    await alice.create_team("acme")
    team_id = (await alice.team("acme")).team_id
    alice_uid, bob_uid = alice.store.get("uid"), bob.store.get("uid")
    bob_token = await bob.api.read_tokens.header()

    async def refused(topics: str, headers: dict | None = None) -> tuple[int, str]:
        """The HTTP answer to a WebSocket upgrade (httpx-ws does not read a refusal's body)."""
        upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                   "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", **(headers or {})}
        async with httpx.AsyncClient() as client:
            resp = await client.get(f"{server.url}/v1/push?topics={topics}", headers=upgrade)
            with pytest.raises(WebSocketUpgradeError):        # and a real client is refused too
                async with aconnect_ws(f"{server.url}/v1/push?topics={topics}", client, headers=headers or {}):
                    pass
        return resp.status_code, resp.json()["error"]["code"]

    # no token, a forged one, another user's chain, a team bob is not in
    assert await refused(f"user:{alice_uid}") == (401, "BAD_READ_TOKEN")
    forged = "KbappRead " + bob_token.split(" ", 1)[1][:-8] + "AAAAAAA="
    assert (await refused(f"user:{bob_uid}", {"Authorization": forged}))[0] == 401
    assert await refused(f"user:{alice_uid}", {"Authorization": bob_token}) == (403, "READ_NOT_ALLOWED")
    assert await refused(f"team:{team_id}", {"Authorization": bob_token}) == (403, "READ_NOT_ALLOWED")
    assert await refused("team:" + "0" * 32, {"Authorization": bob_token}) == (403, "READ_NOT_ALLOWED")
    assert await refused("nonsense", {"Authorization": bob_token}) == (400, "BAD_ENCODING")
    assert await refused("kex:" + "ab" * 16, {"Authorization": "KbappRead bogus"}) == (401, "BAD_READ_TOKEN")

    # bob's own topic is fine, and hears nothing of alice's team
    async with httpx.AsyncClient() as client:
        async with aconnect_ws(f"{server.url}/v1/push?topics=user:{bob_uid}", client,
                               headers={"Authorization": bob_token}) as ws:
            assert (await ws.receive_json())["type"] == "ready"
            await alice.add_member("acme", "bob", "reader")   # a team write: bob hears only that he is in
            told = await asyncio.wait_for(ws.receive_json(), 10.0)
            assert (told["topic"], told["kind"], told["subject"]) == (f"user:{bob_uid}", "team", team_id)
            with pytest.raises(asyncio.TimeoutError):           # and nothing of the team's own hints
                await asyncio.wait_for(ws.receive_json(), 1.0)
        # now a member: he may listen to the team
        async with aconnect_ws(f"{server.url}/v1/push?topics=team:{team_id}&since=0", client,
                               headers={"Authorization": bob_token}) as ws:
            first = await ws.receive_json()
            assert first["type"] == "hint" and first["topic"] == f"team:{team_id}"


async def test_push_connection_caps_and_a_client_that_speaks(server, tmp_path):
    """Anonymous kex listeners: at most 16 per address; a client that sends is closed."""
    channel = "cd" * 16
    async with httpx.AsyncClient() as client:
        async with contextlib_stack() as stack:
            for _ in range(16):
                ws = await stack.enter_async_context(
                    aconnect_ws(f"{server.url}/v1/push?topics=kex:{channel}", client))
                assert (await ws.receive_json())["type"] == "ready"
            with pytest.raises(WebSocketUpgradeError) as exc:
                async with aconnect_ws(f"{server.url}/v1/push?topics=kex:{channel}", client):
                    pass
            assert exc.value.response.status_code == 429
        # the 16 closed: room again; and speaking ends the connection
        async with aconnect_ws(f"{server.url}/v1/push?topics=kex:{channel}", client) as ws:
            assert (await ws.receive_json())["type"] == "ready"
            await ws.send_text("x" * 100)
            from httpx_ws import WebSocketDisconnect
            with pytest.raises(WebSocketDisconnect) as closed:
                await asyncio.wait_for(ws.receive_json(), 5)
            assert closed.value.code == 4008
        # still serving plain requests
        assert (await client.get(server.url + "/v1/server")).status_code == 200


def contextlib_stack():
    import contextlib
    return contextlib.AsyncExitStack()


async def test_provisioning_by_phrase_waits_on_push_not_polling(server, tmp_path, apps):
    """Both sides' fallback poll is 60 s: the pairing can end in seconds only if the push
    hints of the mailbox channel wake the waits."""
    old = await apps(tmp_path / "d1")
    await old.signup("dora", device_name="laptop", server_url=server.url)
    new = await apps(tmp_path / "d2")
    shown: asyncio.Future = asyncio.get_running_loop().create_future()
    t0 = time.monotonic()
    adder = asyncio.create_task(old.add_device_by_phrase(shown.set_result, timeout=60, poll=60))
    phrase = await asyncio.wait_for(shown, 30)
    acct = await new.login_phrase("dora", phrase, device_name="tablet", server_url=server.url,
                                  timeout=60, poll=60)
    dev = await asyncio.wait_for(adder, 30)
    took = time.monotonic() - t0
    print(f"provisioning by phrase with push: {took:.2f} s")
    assert dev.id == acct.device_id and took < 20


async def test_a_revoked_device_stops_hearing_and_a_foreign_cursor_resyncs(server, tmp_path, apps):
    a, b = await two_devices(apps, tmp_path, server.url, server.url)
    uid = a.store.get("uid")
    token_b = await b.api.read_tokens.header()
    async with httpx.AsyncClient() as client:
        # a cursor this server never gave (another server's, or a rolled-back database): resync
        async with aconnect_ws(f"{server.url}/v1/push?topics=user:{uid}&since=999999", client,
                               headers={"Authorization": token_b}) as ws:
            assert (await ws.receive_json())["type"] == "resync"
        async with aconnect_ws(f"{server.url}/v1/push?topics=user:{uid}", client,
                               headers={"Authorization": token_b}) as ws:
            assert (await ws.receive_json())["type"] == "ready"
            await a.revoke_device("b1")                  # device b1's key is no longer live
            from httpx_ws import WebSocketDisconnect
            with pytest.raises(WebSocketDisconnect) as closed:
                await asyncio.wait_for(ws.receive_json(), 5)
            assert closed.value.code == 4003            # not even the hint of its own revocation
        # and its token opens nothing any more
        with pytest.raises(WebSocketUpgradeError) as refused:
            async with aconnect_ws(f"{server.url}/v1/push?topics=user:{uid}", client,
                                   headers={"Authorization": token_b}):
                pass
        assert refused.value.response.status_code == 401


async def test_a_team_change_reaches_another_member(server, tmp_path, apps):
    """bob's Sync listens to the team he loaded; alice's change there makes his client
    reload and verify it (TeamChanged), with no action on bob's side."""
    from kbapp.client.events import TeamChanged

    alice = await apps(tmp_path / "alice")
    await alice.signup("alice", device_name="a1", server_url=server.url)
    bob = await apps(tmp_path / "bob")
    await bob.signup("bob", device_name="b1", server_url=server.url)
    carol = await apps(tmp_path / "carol")
    await carol.signup("carol", device_name="c1", server_url=server.url)
    await alice.create_team("acme")
    await alice.add_member("acme", "bob", "reader")
    team_id = (await bob.team("acme")).team_id        # bob knows the team now
    rec = Recorder(bob)
    sync = fast_sync(bob)
    sync.start()
    try:
        await rec.until(lambda ev: isinstance(ev, ConnectionStateChanged) and ev.state == "online")
        assert f"team:{team_id}" in sync.topics
        await alice.add_member("acme", "carol", "writer")
        _, hint = await rec.until(lambda ev: isinstance(ev, PushHint) and ev.topic == f"team:{team_id}")
        _, changed = await rec.until(lambda ev: isinstance(ev, TeamChanged) and ev.team_id == team_id)
        assert "carol" in {m.username for m in (await bob.team("acme")).members}

        # bob removed: his connection closes at that chain hint (4003), the reconnect with the
        # team is refused (403), his client leaves the team out and is back online without it
        online = rec.states().count("online")
        await alice.remove_member("acme", "bob")
        await rec.until(lambda ev: isinstance(ev, ConnectionStateChanged) and ev.state == "online"
                        and rec.states().count("online") > online, timeout=15)
        assert sync.topics == {f"user:{bob.store.get('uid')}"}
    finally:
        await sync.stop()


async def test_push_openings_spend_the_address_rate(server_factory):
    """The per-address token bucket counts WebSocket upgrades too (429 RATE_LIMITED)."""
    srv = server_factory(name="slow", extra=["--rate", "1", "--burst", "3"])
    channel = "ab" * 16
    statuses = []
    async with httpx.AsyncClient() as client:
        for _ in range(6):
            try:
                async with aconnect_ws(f"{srv.url}/v1/push?topics=kex:{channel}", client) as ws:
                    await ws.receive_json()
                    statuses.append(101)
            except WebSocketUpgradeError as e:
                statuses.append(e.response.status_code)
    assert 101 in statuses and 429 in statuses, statuses


async def test_the_heard_cursor_is_written_later_and_at_stop(server, tmp_path, apps, monkeypatch):
    """Each hint's cursor is known at once (a reconnect resumes from it); it reaches the
    profile CURSOR_SAVE_S later, not once per hint, and a stop writes the last one, so a new
    Sync of the same profile resumes there."""
    import kbapp.client.sync as sync_mod

    monkeypatch.setattr(sync_mod, "CURSOR_SAVE_S", 60.0)       # nothing written by the timer in part 1
    a, b = await two_devices(apps, tmp_path, server.url, server.url)
    writes = []
    real_set = b.store.set_many

    def counting(values, **kw):
        if sync_mod.CURSOR_KEY in values:
            writes.append(values[sync_mod.CURSOR_KEY])
        return real_set(values, **kw)
    monkeypatch.setattr(b.store, "set_many", counting)
    rec = Recorder(b)
    sync = fast_sync(b)
    sync.start()
    try:
        await rec.until(lambda ev: isinstance(ev, ConnectionStateChanged) and ev.state == "online")
        for _ in range(4):
            await a.create_paperkey()
        await rec.until(lambda ev: isinstance(ev, PushHint) and len(rec.of(PushHint)) >= 4)
        last = max(h.cursor for h in rec.of(PushHint))
        assert sync.cursor() == last and writes == []     # known at once, not one write per hint
    finally:
        await sync.stop()
    assert writes == [b.store.get(sync_mod.CURSOR_KEY)] and writes[0].endswith(f" {last}")   # the stop wrote it
    assert Sync(b).cursor() == last

    monkeypatch.setattr(sync_mod, "CURSOR_SAVE_S", 0.2)        # part 2: the timer writes without a stop
    sync = fast_sync(b)
    sync.start()
    try:
        await rec.until(lambda ev: isinstance(ev, ConnectionStateChanged) and ev.state == "online"
                        and rec.states().count("online") == 2)
        await a.create_paperkey()
        _, newest = await rec.until(lambda ev: isinstance(ev, PushHint) and ev.cursor > last)
        await rec.until(lambda ev: writes[-1].endswith(f" {newest.cursor}"), timeout=10)
    finally:
        await sync.stop()
