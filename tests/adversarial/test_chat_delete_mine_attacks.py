"""delete_mine (a member deletes their own history) from a hostile member's side, and a
server helping one.

Any member may sign a delete_mine that reaches up to a msg_id; it explains the missing
bodies of the SENDER's own content only. So:

* carol's delete_mine reaching over alice's messages: the server drops carol's bodies only
  (alice's stay on the server), and every reader's store and view keep alice's text.
* a colluding server that drops alice's bodies too and serves carol's delete_mine as their
  excuse: the reader rules cover carol's own bodies and show alice's as CHAT_WITHHELD (never
  as deleted); the store keeps them as withheld, `kbapp chat read` exits 3.
* the same, pure (core judge and timeline), also for a team owner's delete_mine.
"""

from __future__ import annotations

from chat_support import ChatWorld

from kbapp.core import errors
from kbapp.core.chat.state import HISTORY_DELETED, OK, WITHHELD
from kbapp.core.chat.timeline import Timeline
from kbapp.core.teams import Role

MESSAGES = r"^/v1/chat/[0-9a-f]{32}/messages$"


# --- pure: the reader rules -----------------------------------------------------------------


def _three(cw: ChatWorld, edit: bool = False) -> None:
    """1 alice, 2 carol, 3 alice's text (or her edit of 1), 4 carol's reaction to 1, 5 carol's
    delete_mine upto 4."""
    cw.send(cw.alice, body_fields={"text": "the contract"})
    cw.send(cw.carol, body_fields={"text": "carol's words"})
    if edit:
        cw.send(cw.alice, "edit", supersedes=1, body_fields={"target": 1, "text": "the contract v2"})
    else:
        cw.send(cw.alice, body_fields={"text": "the terms"})
    cw.send(cw.carol, "reaction", supersedes=1, body_fields={"target": 1, "emoji": "x"})
    cw.send(cw.carol, "delete_mine", body_fields={"upto": 4})


def test_a_delete_mine_does_not_excuse_anothers_dropped_body():
    cw = ChatWorld()
    _three(cw)
    for i in range(4):                            # the server drops every body up to 4
        cw.served[i]["body"] = None
    j = cw.judge()
    vs = j.feed_all(cw.served)
    assert [v.status for v in vs] == [WITHHELD, WITHHELD, WITHHELD, WITHHELD, OK]
    assert vs[4].covers == ((2, HISTORY_DELETED), (4, HISTORY_DELETED))     # carol's own only
    assert j.state.withheld == {1, 3}
    view = Timeline(vs).view(cw.time)
    assert [(p.msg_id, p.code) for p in view.problems] == [(1, errors.Withheld.code), (3, errors.Withheld.code)]


def test_an_honest_delete_mine_hides_only_the_senders_messages():
    cw = ChatWorld()
    _three(cw, edit=True)
    vs = cw.judge().feed_all(cw.served)
    assert all(v.status == OK for v in vs)
    view = Timeline(vs).view(cw.time)
    assert [(i.msg_id, i.text) for i in view.items] == [(1, "the contract v2")]
    assert view.problems == []


def test_an_admins_delete_mine_is_still_her_own_only():
    """alice owns the team (she could delete_history), but her delete_mine excuses only hers."""
    cw = ChatWorld(members={"bob": Role.WRITER})
    cw.send(cw.alice, body_fields={"text": "alice"})
    cw.send(cw.bob, body_fields={"text": "bob"})
    cw.send(cw.alice, "delete_mine", body_fields={"upto": 2})
    cw.served[0]["body"] = cw.served[1]["body"] = None
    vs = cw.judge().feed_all(cw.served)
    assert vs[2].status == OK and vs[2].covers == ((1, HISTORY_DELETED),)
    assert [(p.msg_id, p.code) for p in Timeline(vs).view(cw.time).problems] == [(2, errors.Withheld.code)]


# --- through the real server and a colluding proxy -------------------------------------------


async def _team(user, name):
    people = [await user(r) for r in ("alice", "bob", "carol")]
    team = name("acme")
    await people[0][0].create_team(team)
    for app, username, _ in people[1:]:
        await people[0][0].add_member(team, username, "writer")
    return team, [a for a, _u, _ in people]


async def test_a_members_delete_mine_leaves_anothers_messages(user, name, proxy):
    team, (a, b, c) = await _team(user, name)
    await a.chat.send(team, "alice's plan")
    await c.chat.send(team, "carol's reply")
    await b.chat.read(team, sync=True)                      # bob holds both before the cut
    cut = await c.chat.delete_mine(team)                    # upto = 2: reaches over alice's #1
    assert cut.state == "sent", cut
    row = await b.chat.conv(team)
    served = (await b.ctx.api.chat_messages(row.conv_id, after=0))["messages"]
    assert [m["body"] is not None for m in served] == [True, False, True]   # the server kept alice's body
    view = await b.chat.read(team, sync=True)
    assert [(m.msg_id, m.text) for m in view.messages if m.type == "text"] == [(1, "alice's plan")]
    assert view.problems == []
    m1 = await b.chat.store.aio.message(row.conv_id, 1)
    assert m1.text == "alice's plan" and m1.deleted_by is None
    assert [h.msg_id for h in await b.chat.search("plan")] == [1]


async def test_a_colluding_server_cannot_pass_off_anothers_body_as_deleted(user, name, proxy, cli):
    team, (a, b, c) = await _team(user, name)
    await a.chat.send(team, "alice's plan")
    await c.chat.send(team, "carol's reply")
    await c.chat.delete_mine(team)

    def serve(page):                                        # alice's body "deleted" too
        return {**page, "messages": [{**m, "body": None} if m["msg_id"] == 1 else m for m in page["messages"]]}
    proxy.set("json", match=MESSAGES, fn=serve)
    view = await b.chat.read(team, sync=True)
    assert proxy.tampered
    assert [(p.msg_id, p.code) for p in view.problems] == [(1, "CHAT_WITHHELD")]
    row = await b.chat.conv(team)
    m1 = await b.chat.store.aio.message(row.conv_id, 1)
    assert m1.status == "withheld" and m1.deleted_by is None
    m2 = await b.chat.store.aio.message(row.conv_id, 2)
    assert m2.status == "ok" and m2.deleted_by == 3 and m2.text is None
    rc, _out, err = await cli(b.home, "chat", "read", team, "--local")
    assert rc == 3 and "CHAT_WITHHELD" in err
