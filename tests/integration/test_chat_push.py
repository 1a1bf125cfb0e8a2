"""Chat across two server processes on one PostgreSQL database: a post or a typing
indicator through one process reaches a listener on the other as a push hint (LISTEN/
NOTIFY, server/push.py), and posts through both at once still number the conversation
1, 2, 3... without gaps (the id comes from the shared conversation row).
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from httpx_ws import aconnect_ws

from chat_server_support import ChatHTTP, Member, general

pytestmark = [pytest.mark.timeout(240), pytest.mark.postgres]


async def next_hint(ws, kind: str, subject: str | None = None, timeout: float = 5.0) -> dict:
    """The next hint of `kind` (and `subject`): chain hints of the team setup, and the
    listener's own posts, come too."""
    deadline = time.monotonic() + timeout
    while True:
        frame = await asyncio.wait_for(ws.receive_json(), max(0.01, deadline - time.monotonic()))
        if frame.get("type") == "hint" and frame.get("kind") == kind and subject in (None, frame.get("subject")):
            return frame


async def test_two_servers_deliver_each_others_chat_hints(pg_database, server_factory, tmp_path, apps):
    s1 = server_factory(db=pg_database, name="shared")
    s2 = server_factory(db=pg_database, name="shared")      # same data dir: same key, same token origin
    alice_app = await apps(tmp_path / "alice")
    await alice_app.signup("alice", device_name="a1", server_url=s1.url)
    bob_app = await apps(tmp_path / "bob")
    await bob_app.signup("bob", device_name="b1", server_url=s2.url)
    tid = (await alice_app.create_team("acme")).team_id
    await alice_app.add_member("acme", "bob", "writer")
    alice, bob = Member(alice_app), Member(bob_app)
    bob_uid, _ = await bob.ids()
    conv, topic = general(tid)
    h1, h2 = ChatHTTP(s1.url), ChatHTTP(s2.url)
    try:
        async with httpx.AsyncClient() as client:
            async with aconnect_ws(f"{s2.url}/v1/push?topics=team:{tid}", client,
                                   headers={"Authorization": await bob.token()}) as ws_bob, \
                    aconnect_ws(f"{s1.url}/v1/push?topics=team:{tid}", client,
                                headers={"Authorization": await alice.token()}) as ws_alice:
                assert (await ws_bob.receive_json())["type"] == "ready"
                assert (await ws_alice.receive_json())["type"] == "ready"

                t0 = time.monotonic()
                r = await h1.post(alice, conv, await alice.message(tid, topic))     # through server 1
                assert r.status_code == 200 and r.json()["msg_id"] == 1, r.text
                hint = await next_hint(ws_bob, "chat")                               # heard on server 2
                took = time.monotonic() - t0
                assert hint["topic"] == f"team:{tid}" and hint["subject"] == f"{conv}:1"

                r = await h2.post(bob, conv, await bob.message(tid, topic))         # and the other way
                assert r.status_code == 200 and r.json()["msg_id"] == 2, r.text
                assert (await next_hint(ws_alice, "chat", f"{conv}:2"))["topic"] == f"team:{tid}"

                assert (await h2.typing(bob, conv)).status_code == 200               # typing: a hint only
                assert (await next_hint(ws_alice, "typing"))["subject"] == f"{conv}:{bob_uid}"
                print(f"chat post on server 1 -> hint on server 2: {took * 1000:.0f} ms")
                assert took < 2.0

        # both processes at once: one sequence of ids
        posts = [(h1, alice) if i % 2 else (h2, bob) for i in range(40)]
        bodies = [await w.message(tid, topic) for _, w in posts]
        answers = await asyncio.gather(*(h.post(w, conv, b) for (h, w), b in zip(posts, bodies)))
        assert all(r.status_code == 200 for r in answers), [r.text for r in answers if r.status_code != 200][:2]
        assert sorted(r.json()["msg_id"] for r in answers) == list(range(3, 43))
        page = (await h1.messages(alice, conv, limit=500)).json()
        assert [x["msg_id"] for x in page["messages"]] == list(range(1, 43)) and page["last"] == 42
    finally:
        await h1.aclose()
        await h2.aclose()
