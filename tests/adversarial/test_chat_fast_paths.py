"""Chat's fast paths from the attacker's side (issue 14's send -> receive speed work).

Two shortcuts take the server at its word for *what to fetch*, never for what is true:
- the sync after a send judges our own posted bytes under the msg_id and ctime the post's
  answer names (client/chat/sending.own_wire) instead of fetching them back, but only when
  that msg_id directly follows our cursor: anything else is fetched, or messages in
  between would never be (the cursor would pass them);
- a chat push hint's subject (`<conv_id>:<msg_id>`) picks the conversation to sync.
A lying answer or subject may cost latency; what the server could not make us store by
serving pages, it cannot make us store this way either, and a lie shows as a typed problem.
"""

from __future__ import annotations

import asyncio

from kbapp.client.sync import PushHint

MESSAGES = r"^/v1/chat/[0-9a-f]{32}/messages$"


async def test_a_message_posted_in_between_is_fetched_not_skipped(user, proxy):
    """Honest race: bob posts while alice holds an older cursor; her post's answer is then
    not cursor + 1, so her sync fetches (bob's message is stored, no gap). Without the
    cursor + 1 rule her cursor would jump over bob's message: a gap forever."""
    alice, bob = await user("alice"), await user("bob")
    a, b = alice[0], bob[0]
    dm = f"{alice[1]},{bob[1]}"
    await a.chat.send(dm, "one")
    await b.chat.read(dm, sync=True)
    await b.chat.send(dm, "two, from bob")            # alice does not sync
    sent = await a.chat.send(dm, "three")
    assert sent.state == "sent" and sent.msg_id == 3
    view = await a.chat.read(dm)                       # local: what the send's sync stored
    assert [(m.msg_id, m.text) for m in view.messages] == [(1, "one"), (2, "two, from bob"), (3, "three")]
    assert view.problems == []


async def test_a_post_answer_naming_another_msg_id_is_caught(user, proxy):
    """The server stores alice's message as #3 (after bob's #2) but answers her post with #2,
    so that her client would file her own message in #2's place and never fetch bob's. It
    is her own genuine message, so the judge takes it (a server could have served it as #2
    anyway); the next sync then gets #3, the same message again, and refuses it as a replay
    (CHAT_REPLAYED): the two histories show, nothing of the lie is applied."""
    alice, bob = await user("alice"), await user("bob")
    a, b = alice[0], bob[0]
    dm = f"{alice[1]},{bob[1]}"
    await a.chat.send(dm, "one")
    await b.chat.read(dm, sync=True)
    await b.chat.send(dm, "two, from bob")

    def lie(ans: dict) -> dict:
        return {**ans, "msg_id": 2} if ans.get("msg_id") == 3 else ans
    proxy.set("json", match=MESSAGES, fn=lambda body: lie(body) if "messages" not in body else body)
    sent = await a.chat.send(dm, "three")
    assert proxy.tampered and sent.msg_id == 2
    proxy.clear()
    view = await a.chat.read(dm, sync=True)
    assert [(m.msg_id, m.status) for m in view.messages][:2] == [(1, "ok"), (2, "ok")]
    assert (3, "CHAT_REPLAYED") in [(p.msg_id, p.code) for p in view.problems]
    assert [m.text for m in view.messages if m.status == "ok"] == ["one", "three"]


async def test_a_hint_subject_picks_the_conversation_and_a_lying_one_changes_nothing(user, proxy):
    """A subject naming a known conversation of the hinted team syncs it alone (no inbox
    request); one naming a conversation of another team, or malformed, falls back to the
    inbox sync; one whose msg_id we hold already fetches nothing. Nothing is stored that a
    sync would not store."""
    alice, bob = await user("alice"), await user("bob")
    a, b = alice[0], bob[0]
    dm = f"{alice[1]},{bob[1]}"
    await a.chat.send(dm, "one")
    row = await b.chat.sync_conv(await b.chat.conv(dm))
    await a.chat.send(dm, "two")

    async def hinted(subject: str, team_id: str = row.team_id) -> list[str]:
        proxy.seen.clear()
        b.events.emit(PushHint(f"team:{team_id}", "chat", 99, subject))
        await asyncio.sleep(0)
        await asyncio.gather(*[t for t in b.chat._syncing.values() if not t.done()])
        return [s for s in proxy.seen if "/v1/chat/" in s]

    seen = await hinted(f"{row.conv_id}:1")                # held already: nothing fetched
    assert seen == [] and (await b.chat.store.aio.conv(row.conv_id)).cursor == 1
    seen = await hinted(f"{row.conv_id}:2")
    assert [s.split("?")[0] for s in seen] == [f"GET /v1/chat/{row.conv_id}/messages"]
    assert (await b.chat.store.aio.conv(row.conv_id)).cursor == 2
    for lie in (f"{row.conv_id}:x", "nonsense"):
        seen = await hinted(lie)
        assert any(s.startswith("GET /v1/chat/inbox") for s in seen), seen
    other_team = "0" * 32
    seen = await hinted(f"{row.conv_id}:9", other_team)     # not that team's conversation
    assert any(s.startswith("GET /v1/chat/inbox") for s in seen), seen
    assert not any("/messages" in s for s in seen)
    view = await b.chat.read(dm)
    assert [m.text for m in view.messages] == ["one", "two"] and view.problems == []
