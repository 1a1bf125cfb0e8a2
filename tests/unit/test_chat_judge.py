"""The chat reader (core/chat judge + timeline) on honest conversations: real team chains,
real keys; incremental feeding, persisted state, and what the view shows."""

from __future__ import annotations

import dataclasses

from chat_support import ChatWorld

from kbapp.core import errors
from kbapp.core.chat.judge import ConversationJudge
from kbapp.core.chat.seal import exploding_body_key
from kbapp.core.chat.state import EXPLODED, NO_KEY, OK, WITHHELD, JudgeState, Verdict
from kbapp.core.chat.timeline import Timeline
from kbapp.core.encoding import pack, unpack
from kbapp.core.teams import Role


def _text(cw, user, text, **kw):
    return cw.send(user, body_fields={"text": text}, **kw)


def _edit(cw, user, target, text):
    return cw.send(user, "edit", supersedes=target, body_fields={"target": target, "text": text})


def _delete(cw, user, *targets):
    return cw.send(user, "delete", deletes=list(targets), body_fields={"targets": list(targets)})


def _react(cw, user, target, emoji):
    return cw.send(user, "reaction", supersedes=target, body_fields={"target": target, "emoji": emoji})


def test_an_honest_conversation_folds_into_its_view():
    cw = ChatWorld()
    _text(cw, cw.alice, "hi all")                                   # 1
    _text(cw, cw.bob, "hello", reply_to=1)                          # 2
    _edit(cw, cw.bob, 2, "hello alice")                             # 3
    _react(cw, cw.carol, 1, ":wave:")                               # 4
    _react(cw, cw.bob, 1, ":wave:")                                 # 5
    _react(cw, cw.bob, 1, ":wave:")                                 # 6 (counted once)
    _text(cw, cw.carol, "a thread", thread_root=1)                  # 7
    _text(cw, cw.bob, "oops")                                       # 8
    _delete(cw, cw.bob, 8)                                          # 9
    _react(cw, cw.alice, 2, ":+1:")                                 # 10
    _delete(cw, cw.alice, 10)                                       # 11: reaction removed
    cw.send(cw.alice, "metadata", body_fields={"name": "general", "topic": "all things"})     # 12
    cw.send(cw.alice, "pin", body_fields={"target": 2})             # 13
    cw.send(cw.bob, "headline", body_fields={"text": "be nice"})    # 14
    cw.send(cw.carol, "join")                                       # 15
    j = cw.judge()
    vs = j.feed_all(cw.served)
    assert [v.status for v in vs] == [OK] * 15, [(v.msg_id, v.code, str(v.error)) for v in vs if not v.ok]
    view = Timeline(vs).view(cw.time)
    by = {i.msg_id: i for i in view.items}
    assert sorted(by) == [1, 2, 7, 12, 14, 15]
    assert by[2].text == "hello alice" and by[2].edited_by == 3 and by[2].reply_to == 1
    assert by[1].reactions == {":wave:": [cw.carol.uid, cw.bob.uid]} and by[2].reactions == {}
    assert view.threads == {1: [7]} and [i.msg_id for i in view.main()] == [1, 2, 12, 14, 15]
    assert [i.msg_id for i in view.thread(1)] == [1, 7]
    assert (view.name, view.topic, view.headline, view.pins) == ("general", "all things", "be nice", [2])
    assert by[2].pinned and view.problems == []


def test_incremental_feeding_with_persisted_state_agrees_with_one_pass():
    cw = ChatWorld()
    for n in range(6):
        _text(cw, (cw.alice, cw.bob, cw.carol)[n % 3], f"m{n}")
    _edit(cw, cw.alice, 1, "m0 edited")
    one = cw.judge()
    whole = one.feed_all(cw.served)
    first = cw.judge()
    part = first.feed_all(cw.served[:4])
    saved = unpack(pack(first.state.to_dict()))                     # what the client would store
    records = [unpack(pack(v.to_record())) for v in part]
    second = cw.judge(state=JudgeState.from_dict(saved))
    rest = second.feed_all(cw.served[4:])
    assert [v.status for v in part + rest] == [v.status for v in whole] == [OK] * 7
    assert second.state.to_dict() == one.state.to_dict()
    again = Timeline([Verdict.from_record(r) for r in records] + rest).view(cw.time)
    assert [(i.msg_id, i.text) for i in again.items] == \
        [(i.msg_id, i.text) for i in Timeline(whole).view(cw.time).items]
    assert again.items[0].text == "m0 edited"


def test_prev_pointers_name_the_last_valid_messages():
    cw = ChatWorld()
    for n in range(4):
        _text(cw, cw.alice, f"m{n}")
    j = cw.judge()
    j.feed_all(cw.served)
    assert [p[0] for p in j.prev_pointers(3)] == [2, 3, 4]
    assert j.prev_pointers(1)[0][1] == cw.sealed[4].header_hash


def test_deleted_edited_and_exploded_bodies_may_be_missing():
    cw = ChatWorld()
    _text(cw, cw.bob, "secret")                                     # 1, deleted by bob
    _text(cw, cw.carol, "typo")                                     # 2, edited by carol
    _text(cw, cw.bob, "boom", ephemeral={"lifetime": 30, "ek_gen": 1})   # 3, exploding
    _text(cw, cw.carol, "spam")                                     # 4, deleted by admin alice
    _delete(cw, cw.bob, 1)
    _edit(cw, cw.carol, 2, "fixed")
    _delete(cw, cw.alice, 4)
    for i in (1, 2, 3, 4):
        cw.served[i - 1]["body"] = None                             # the server dropped them, as allowed
    j = cw.judge(now=cw.time + 3600)
    vs = j.feed_all(cw.served)
    assert [v.status for v in vs] == [WITHHELD, WITHHELD, EXPLODED, WITHHELD, OK, OK, OK]
    assert vs[4].covers == ((1, "deleted"),) and vs[5].covers == ((2, "superseded"),)
    assert vs[6].covers == ((4, "deleted"),) and j.state.withheld == set()
    view = Timeline(vs).view(cw.time + 3600)
    assert [(i.msg_id, i.text) for i in view.items] == [(2, "fixed")] and view.problems == []


def test_delete_history_by_an_admin_covers_what_came_before():
    cw = ChatWorld()
    _text(cw, cw.bob, "old 1")
    _text(cw, cw.carol, "old 2")
    cw.send(cw.alice, "delete_history", body_fields={"upto": 2})
    _text(cw, cw.bob, "new")
    cw.served[0]["body"] = cw.served[1]["body"] = None
    vs = cw.judge().feed_all(cw.served)
    assert vs[2].covers == ((1, "history_deleted"), (2, "history_deleted"))
    view = Timeline(vs).view(cw.time)
    assert [i.text for i in view.items] == ["new"] and view.problems == []


def test_an_exploding_message_opens_with_its_ephemeral_key_and_leaves_the_view_in_time():
    cw = ChatWorld()
    ek = b"e" * 32                          # the team ephemeral key of ek_gen 1 (its boxes come later)
    _text(cw, cw.bob, "now you see me", ephemeral={"lifetime": 60, "ek_gen": 1},
          body_k=exploding_body_key(ek, cw.conv_id))
    t0 = cw.sealed[1].header.compose_time
    v = cw.judge(now=t0 + 10, ek_keys={1: ek}).feed_all(cw.served)[0]
    assert v.status == OK and v.body["text"] == "now you see me"
    assert [i.text for i in Timeline([v]).view(t0 + 10).items] == ["now you see me"]
    assert Timeline([v]).view(t0 + 61).items == []
    late = cw.judge(now=t0 + 61, ek_keys={1: ek}).feed_all(cw.served)[0]
    assert late.status == EXPLODED and late.body is None          # no plaintext once exploded
    assert cw.judge(now=t0 + 10).feed_all(cw.served)[0].status == NO_KEY
    other = cw.judge(now=t0 + 10, ek_keys={1: b"f" * 32}).feed_all(cw.served)[0]
    assert other.code == errors.BadBody.code


def test_a_new_generation_after_a_rotation_is_accepted_and_the_old_one_refused():
    cw = ChatWorld()
    _text(cw, cw.bob, "gen 1")
    cw.team.rotate(cw.alice)
    _text(cw, cw.bob, "gen 2")
    vs = cw.judge().feed_all(cw.served)
    assert [v.status for v in vs] == [OK, OK] and vs[1].header.key_gen == 2


def test_a_reader_may_not_post():
    cw = ChatWorld(members={"bob": Role.READER, "carol": Role.WRITER})
    _text(cw, cw.bob, "I only read")
    vs = cw.judge().feed_all(cw.served)
    assert vs[0].code == errors.SenderNotMember.code


def test_in_an_implicit_team_owners_delete_only_their_own():
    cw = ChatWorld()
    _text(cw, cw.bob, "mine")
    _delete(cw, cw.alice, 1)                    # alice owns the team: fine in a real team
    assert [v.status for v in cw.judge().feed_all(cw.served)] == [OK, OK]
    j = cw.judge(team=dataclasses.replace(cw.team.state, implicit=True))   # a DM: every member is an owner
    vs = j.feed_all(cw.served)
    assert vs[1].code == errors.ForgedSupersede.code


def test_gaps_are_reported_not_fatal():
    cw = ChatWorld()
    for n in range(5):
        _text(cw, cw.alice, f"m{n}")
    del cw.served[1:3]
    vs = cw.judge().feed_all(cw.served)
    assert [v.status for v in vs] == [OK, OK, OK] and vs[1].gap == (2, 3)
    view = Timeline(vs).view(cw.time)
    assert [(p.msg_id, p.code) for p in view.problems] == [(2, errors.MessageGap.code)]


def test_needs_names_unknown_checkpoints_and_the_highest_team_seqno():
    cw = ChatWorld()
    _text(cw, cw.alice, "x")
    cw.team.change(cw.alice, {"carol": Role.ADMIN})
    _text(cw, cw.bob, "y")
    j = cw.judge(known_checkpoints={(1, b"")})
    seqno, unknown = j.needs(cw.served)
    assert seqno == cw.team.state.seqno == 2
    assert unknown == {s.header.checkpoint for s in cw.sealed.values()} and len(unknown) == 2
    assert j.state.to_dict() == ConversationJudge(conv_id=cw.conv_id, team=cw.team.state, chat_keys={},
                                                  key_at=cw.w.user_key_at, known_checkpoints=set(),
                                                  now=0).state.to_dict()        # needs() changed nothing


def test_a_delete_of_several_in_any_order_matches_the_servers_sorted_hint():
    cw = ChatWorld()
    _text(cw, cw.bob, "a")
    _text(cw, cw.bob, "b")
    w = _delete(cw, cw.bob, 2, 1)                   # the body says [2, 1]; header and hint [1, 2]
    assert w["hints"]["deletes"] == [1, 2]
    vs = cw.judge().feed_all(cw.served)
    assert [v.status for v in vs] == [OK, OK, OK] and Timeline(vs).view(cw.time).items == []


def test_a_thread_hangs_only_under_an_earlier_text_or_file():
    """A member's reply threaded under a pin, a join or a missing message would be hidden from
    the conversation yet counted unread (found by an attacker): refused, shown as refused."""
    cw = ChatWorld()
    _text(cw, cw.alice, "root")                                     # 1
    cw.send(cw.alice, "pin", body_fields={"target": 1})             # 2
    cw.send(cw.carol, "join")                                       # 3
    _text(cw, cw.bob, "@alice hidden under the pin", thread_root=2)  # 4
    _text(cw, cw.bob, "hidden under a join", thread_root=3)         # 5
    _text(cw, cw.bob, "a real thread reply", thread_root=1)         # 6
    vs = cw.judge().feed_all(cw.served)
    assert [v.status for v in vs[:3]] == [OK] * 3 and vs[5].status == OK
    assert [type(v.error) for v in vs[3:5]] == [errors.ForgedSupersede] * 2
    view = Timeline(vs).view(cw.time)
    assert view.threads == {1: [6]}
