"""Chat from the attacker's side, through the client (app.chat) and the evil proxy: what a
lying server (or an insider it helps) serves, and what the client stores and shows.

Each attack is shown as a typed problem (the view's problems, `kbapp chat read` exits 3),
applies nothing (a forged delete deletes nothing), moves no trusted state (the profile
store's snapshot, and the judge's memory of valid messages), and the conversation goes
on: a later honest message still reads. The pure reader rules are tested in
test_chat_forgery.py; these are the client's own checks around them (channel lists and
inbox entries whose ids do not derive, names that impersonate #general or another
channel, gaps, withheld bodies).
"""

from __future__ import annotations

import os

from kbapp.client.chat.sending import seal_entry, send_keys
from kbapp.client.chat.store import OutboxRow
from kbapp.core import errors
from kbapp.core.chat.body import make_body
from kbapp.core.encoding import unpack

MESSAGES = r"^/v1/chat/[0-9a-f]{32}/messages$"


async def team_of(user, name, members: dict):
    """A team made by the first user's app, with the others added: (team name, apps by role)."""
    (owner, _, _), *rest = members.values()
    team = name("acme")
    await owner.create_team(team)
    for role, (app, username, _) in list(members.items())[1:]:
        await owner.add_member(team, username, "writer")
    return team


def valid_ids(app, conv_id: str) -> set:
    row = app.chat.store.conv(conv_id)
    return {i for i, *_ in unpack(row.judge_state, max_size=1 << 26)["valid"]}


async def test_a_forged_delete_from_an_insider_deletes_nothing(user, name, proxy, cli):
    alice, bob, carol = [await user(r) for r in ("alice", "bob", "carol")]
    team = await team_of(user, name, {"alice": alice, "bob": bob, "carol": carol})
    a, b, c = alice[0], bob[0], carol[0]
    keep = await a.chat.send(team, "keep me")
    await b.chat.read(team, sync=True)                   # bob is up to date: the team, the log
    # carol (a writer, not an admin) signs a delete of alice's message; the server would refuse
    # to store it, so the attacker serves it itself, as the next message
    row = await c.chat.conv(team)
    await c.chat.sync_conv(row)
    entry = OutboxRow(outbox_id=os.urandom(16).hex(), conv_id=row.conv_id,
                      payload={"body": make_body("delete", targets=[keep.msg_id]), "deletes": [keep.msg_id],
                               "compose_time": 1})
    post = seal_entry(c.chat, row, entry, await send_keys(c.chat, row.team_id), [])["post"]
    forged = {"v": 1, "conv_id": row.conv_id, "msg_id": keep.msg_id + 1, "ctime": 1, "key_gen": post["key_gen"],
              "ek_gen": None, "header": post["header"], "body": post["body"], "hints": post["hints"],
              "superseded_by": None}
    proxy.set("json", match=MESSAGES,
              fn=lambda page: {**page, "messages": page["messages"] + [forged]}
              if all(m["msg_id"] < forged["msg_id"] for m in page["messages"]) else page)
    before = b.store.snapshot()
    view = await b.chat.read(team, sync=True)
    assert proxy.tampered
    assert [(m.text, m.status) for m in view.messages][0] == ("keep me", "ok")
    assert [(p.msg_id, p.code) for p in view.problems] == [(keep.msg_id + 1, "CHAT_FORGED_SUPERSEDE")]
    assert b.store.snapshot() == before and valid_ids(b, row.conv_id) == {keep.msg_id}
    assert await b.chat.search("keep") and (await b.chat.store.aio.message(row.conv_id, keep.msg_id)).deleted_by is None
    rc, out, err = await cli(b.home, "chat", "read", team, "--local")
    assert rc == 3 and "CHAT_FORGED_SUPERSEDE" in err and "keep me" in out
    proxy.clear()
    # the conversation goes on: the next honest message (the server's msg_id 2) reads
    await a.chat.send(team, "still here")
    view = await b.chat.read(team, sync=True)
    assert [m.text for m in view.messages if m.status == "ok"] == ["keep me"]
    assert any(p.code == "CHAT_DUPLICATE_MSG_ID" for p in view.problems) or \
        any(p.code == "CHAT_ORDER" for p in view.problems) or view.messages[-1].status != "ok"


async def test_a_dropped_message_is_reported_as_a_gap(user, name, proxy, cli):
    alice, bob = await user("alice"), await user("bob")
    a, b = alice[0], bob[0]
    dm = f"{alice[1]},{bob[1]}"
    for text in ("one", "two (dropped)", "three"):
        await a.chat.send(dm, text)
    proxy.set("json", match=MESSAGES,
              fn=lambda page: {**page, "messages": [m for m in page["messages"] if m["msg_id"] != 2]})
    view = await b.chat.read(dm, sync=True)
    assert proxy.tampered
    assert [m.text for m in view.messages] == ["one", "three"]
    assert [(p.msg_id, p.code) for p in view.problems] == [(2, "CHAT_GAP")]
    rc, _out, err = await cli(b.home, "chat", "read", dm, "--local")
    assert rc == 3 and "CHAT_GAP" in err


async def test_a_withheld_body_shows_as_withheld(user, name, proxy):
    alice, bob = await user("alice"), await user("bob")
    a, b = alice[0], bob[0]
    dm = f"{alice[1]},{bob[1]}"
    await a.chat.send(dm, "you will not see this")
    await a.chat.send(dm, "but this")
    proxy.set("json", match=MESSAGES,
              fn=lambda page: {**page, "messages": [{**m, "body": None} if m["msg_id"] == 1 else m
                                                    for m in page["messages"]]})
    view = await b.chat.read(dm, sync=True)
    assert [(m.msg_id, m.status, m.text) for m in view.messages] == [(1, "withheld", None), (2, "ok", "but this")]
    assert [(p.msg_id, p.code) for p in view.problems] == [(1, "CHAT_WITHHELD")]
    assert await b.chat.search("see") == []


async def test_listed_channels_and_inbox_entries_that_do_not_derive_are_ignored(user, name, proxy):
    alice, bob = await user("alice"), await user("bob")
    team = await team_of(user, name, {"alice": alice, "bob": bob})
    a, b = alice[0], bob[0]
    await a.chat.send(team, "general stuff")
    team_id = (await b.teams.team(team, badges=False)).team_id
    bogus = {"conv_id": os.urandom(16).hex(), "team_id": team_id, "topic_type": 1, "topic_id": os.urandom(16).hex(),
             "last_msg_id": 5, "vers": 10**9}
    proxy.set("json", match=r"^/v1/teams/[0-9a-f]{32}/channels$",
              fn=lambda body: {**body, "convs": body["convs"] + [bogus]})
    proxy.add("json", match=r"^/v1/chat/inbox$", fn=lambda body: {**body, "convs": body["convs"] + [bogus]})
    chans = await b.chat.channels(team)
    assert proxy.tampered
    assert [c.name for c in chans] == [f"{team}#general"]
    listed = await b.chat.conversations(sync=True)
    assert bogus["conv_id"] not in {c.conv_id for c in listed}
    assert await b.chat.store.aio.conv(bogus["conv_id"]) is None


async def test_a_channel_named_general_does_not_take_general(user, name, proxy):
    alice, bob, carol = [await user(r) for r in ("alice", "bob", "carol")]
    team = await team_of(user, name, {"alice": alice, "bob": bob, "carol": carol})
    a, b, c = alice[0], bob[0], carol[0]
    await a.chat.send(team, "the real general")
    await b.chat.create_channel(f"{team}#lobby")
    await b.chat.rename_channel(f"{team}#lobby", "general")        # an insider tries to shadow #general
    names = sorted(v.channel for v in await c.chat.channels(team))
    assert "general" in names and len(names) == 2 and names.count("general") == 1
    view = await c.chat.read(f"{team}#general", sync=True)
    assert [m.text for m in view.messages] == ["the real general"]


async def test_two_channels_claiming_one_name_are_ambiguous(user, name, proxy):
    alice, bob, carol = [await user(r) for r in ("alice", "bob", "carol")]
    team = await team_of(user, name, {"alice": alice, "bob": bob, "carol": carol})
    a, b, c = alice[0], bob[0], carol[0]
    made = await a.chat.create_channel(f"{team}#plans")
    await b.chat.create_channel(f"{team}#other")
    await b.chat.rename_channel(f"{team}#other", "plans")            # now two channels say #plans
    try:
        await c.chat.read(f"{team}#plans", sync=True)
        raise AssertionError("an ambiguous channel name was resolved")
    except errors.Conflict as e:
        assert made.conv_id in str(e)
    view = await c.chat.read(f"{team}#{made.conv_id}", sync=True)     # by id: exactly that one
    assert view.conv.conv_id == made.conv_id


async def test_a_message_acknowledged_then_not_served_is_failed_with_retry_not_gone(user, name, proxy):
    """The server answers alice's post with a msg_id, then never serves her message (a page
    without it, bob's next message after it). Her sent entry was dropped once the cursor
    passed its msg_id, whatever was stored there: her message vanished from her own view with
    nothing but a gap to show. Now it stays, failed, saying it was not delivered, with Retry,
    which sends it as a new message (its old id's answer would be #3 again, behind the cursor)."""
    alice, bob = await user("alice"), await user("bob")
    a, b = alice[0], bob[0]
    dm = f"{alice[1]},{bob[1]}"
    await a.chat.send(dm, "one")
    await b.chat.read(dm, sync=True)
    await b.chat.send(dm, "two, from bob")               # alice's cursor stays at 1: her next sync fetches
    proxy.set("json", match=MESSAGES,
              fn=lambda page: {**page, "messages": [m for m in page["messages"] if m["msg_id"] != 3]}
              if "messages" in page else page)
    sent = await a.chat.send(dm, "three, dropped")
    assert sent.msg_id == 3
    await b.chat.send(dm, "four, from bob")
    view = await a.chat.read(dm, sync=True)
    assert proxy.tampered
    assert [(p.msg_id, p.code) for p in view.problems] == [(3, "CHAT_GAP")]
    last = view.messages[-1]
    assert (last.msg_id, last.text, last.status) == (None, "three, dropped", "failed")
    assert "not delivered" in last.error and "#3" in last.error
    proxy.clear()
    retried = await a.chat.retry(last.outbox_id)       # a new message: the old id's #3 is behind her cursor
    assert retried.state == "sent" and retried.msg_id == 5 and retried.outbox_id != last.outbox_id
    for app in (a, b):                                   # both passed #3 while it was hidden: a gap each
        view = await app.chat.read(dm, sync=True)
        assert [(m.msg_id, m.text, m.status) for m in view.messages] == [
            (1, "one", "ok"), (2, "two, from bob", "ok"), (4, "four, from bob", "ok"), (5, "three, dropped", "ok")]
        assert [(p.msg_id, p.code) for p in view.problems] == [(3, "CHAT_GAP")]
