"""Chat from the attacker's side, pure: what a lying server (or an insider) can do to served
messages, and the reader's typed refusal (core/chat judge). Real team chains and keys.

Every refused message leaves the judge's trusted memory as it was (`unchanged`), and a later
honest message still passes: the reader keeps going.
"""

from __future__ import annotations

import copy

import nacl.secret
import pytest
from chat_support import ChatWorld, root_at

from kbapp.core import errors
from kbapp.core.chat.header import build_header, pack_header
from kbapp.core.chat.ids import TOPIC_TYPE_CHAT, conv_id_for
from kbapp.core.chat.seal import PREFIX_CHAT_HEADER, Sealed
from kbapp.core.chat.state import OK, WITHHELD
from kbapp.core.chat.timeline import Timeline
from kbapp.core.encoding import b64decode, b64encode, pack
from kbapp.core.keys import SigningKeyPair, sign_detached
from kbapp.core.teams import Role


def trusted(j) -> dict:
    d = j.state.to_dict()
    d.pop("last_msg_id")
    return d


def refused(j, wire: dict, error: type) -> None:
    """Feeding `wire` gives exactly `error`, and the judge's trusted memory does not move."""
    before = trusted(j)
    v = j.feed(wire)
    assert v.status == "bad" and type(v.error) is error, (v.status, v.error)
    assert v.header is None and v.body is None                 # nothing of it reaches a view
    assert trusted(j) == before


def honest(cw, n: int = 2):
    for i in range(n):
        cw.send((cw.alice, cw.bob)[i % 2], body_fields={"text": f"m{i}"})
    j = cw.judge()
    assert all(v.status == OK for v in j.feed_all(cw.served))
    return j


def flip(b64: str, at: int) -> str:
    raw = bytearray(b64decode(b64))
    raw[at] ^= 1
    return b64encode(bytes(raw))


# --- the bytes -------------------------------------------------------------------------


@pytest.mark.parametrize("at", [0, 30, -1])
def test_an_altered_header_byte(at):
    cw = ChatWorld()
    j = honest(cw)
    w = cw.send(cw.bob)
    w["header"] = flip(w["header"], at)
    refused(j, w, errors.BadChatHeader)


def test_an_altered_body_byte():
    cw = ChatWorld()
    j = honest(cw)
    w = cw.send(cw.bob)
    w["body"] = flip(w["body"], 40)
    refused(j, w, errors.BadBody)


def test_a_body_taken_from_another_message():
    cw = ChatWorld()
    j = honest(cw)
    w = cw.send(cw.bob, body_fields={"text": "pay bob"})
    w["body"] = cw.served[0]["body"]                           # a valid body of the same conversation
    refused(j, w, errors.BadBody)


@pytest.mark.parametrize("hint,value", [("supersedes", 1), ("deletes", [1]), ("sender_uid", "00" * 16),
                                        ("type", "delete"), ("reply_to", 1), ("lifetime", 60)])
def test_a_hint_that_is_not_the_signed_field(hint, value):
    cw = ChatWorld()
    j = honest(cw)
    w = cw.send(cw.bob)
    w["hints"][hint] = value
    refused(j, w, errors.HintMismatch)


def test_a_wire_key_gen_or_ek_gen_not_the_signed_one():
    cw = ChatWorld()
    j = honest(cw)
    w = cw.send(cw.bob)
    w["ek_gen"] = 1
    refused(j, w, errors.HintMismatch)


# --- replays -----------------------------------------------------------------------------


def test_a_message_replayed_in_the_same_conversation():
    cw = ChatWorld()
    j = honest(cw)
    j.feed(cw.send(cw.bob, body_fields={"text": "send 10 coins"}))
    again = {**copy.deepcopy(cw.served[-1]), "msg_id": cw.served[-1]["msg_id"] + 1}
    refused(j, again, errors.ReplayedMessage)


def test_a_message_replayed_into_another_conversation_of_the_team():
    a, b = ChatWorld(), ChatWorld(topic_id=b"\x42" * 16)        # the same team, two channels
    assert a.team.id == b.team.id and a.conv_id != b.conv_id
    ja = honest(a)
    honest(b)
    w = copy.deepcopy(b.served[0])
    w.update(conv_id=a.conv_id.hex(), msg_id=3)
    refused(ja, w, errors.BadChatHeader)                       # K_h is per conversation: it does not open
    w = copy.deepcopy(b.served[0])
    w["msg_id"] = 4
    refused(ja, w, errors.WrongConversation)                   # served as another conversation's message


def test_an_insider_sealing_one_conversations_header_under_anothers_key():
    cw = ChatWorld()
    j = honest(cw)
    other = conv_id_for(cw.team_id, TOPIC_TYPE_CHAT, b"\x42" * 16)
    s = cw.compose(cw.bob, conv_id=other, topic_id=b"\x42" * 16, keys=cw.keys())   # our K_h, other conv signed
    refused(j, cw.post(s), errors.WrongConversation)


# --- who sent it ---------------------------------------------------------------------------


def test_a_message_claiming_another_sender():
    cw = ChatWorld()
    j = honest(cw)
    s = cw.compose(cw.bob, sender_uid=bytes.fromhex(cw.alice.uid))   # bob's device, alice's name
    refused(j, cw.post(s), errors.RevokedSenderKey)            # bob's key is no key of alice's


def test_a_message_claiming_another_device():
    cw = ChatWorld()
    j = honest(cw)
    s = cw.compose(cw.bob)
    fields = {k: getattr(s.header, k) for k in s.header.__dataclass_fields__}
    h = build_header(**{**fields, "sender_kid": cw.alice.device.kid})     # alice's device named...
    data = pack_header(h)
    sig = sign_detached(cw.bob.device, data, prefix=PREFIX_CHAT_HEADER)   # ...bob's device signs
    nonce = b"\x07" * 24
    sealed = nonce + nacl.secret.SecretBox(cw.keys().header).encrypt(pack([data, sig]), nonce).ciphertext
    refused(j, cw.post(Sealed(h, sealed, s.sealed_body)), errors.BadChatHeader)


def test_a_removed_member_posting_with_an_old_team_seqno_after_others_moved_on():
    cw = ChatWorld()
    before_removal = cw.team.state                             # carol's last view: writer, key gen 1
    cw.team.change(cw.alice, {"carol": Role.NONE})             # removed, the key rotates
    cw.send(cw.bob, body_fields={"text": "carol is gone"})    # bob has seen the removal (team_seqno 2)
    j = cw.judge()
    assert j.feed(cw.served[0]).status == OK
    stale = cw.compose(cw.carol, key_gen=1, team_seqno=before_removal.seqno, checkpoint=[10, root_at(10)],
                       keys=cw.keys(1))
    refused(j, cw.post(stale), errors.SenderNotMember)
    assert j.feed(cw.send(cw.bob)).status == OK                # the reader carries on


def test_a_revoked_device_posting_with_an_old_checkpoint_after_others_moved_on():
    cw = ChatWorld()
    laptop = SigningKeyPair.from_seed(cw.w.rand(32))
    cw.bob.extra_devices.append(laptop)
    old = cw.checkpoint()                                      # what the laptop had seen
    cw.w.tick()
    cw.bob.revoked_at[laptop.kid.hex()] = cw.w.log_size        # revoked at this log size
    cw.send(cw.alice, body_fields={"text": "after the revocation"})
    j = cw.judge()
    assert j.feed(cw.served[0]).status == OK
    refused(j, cw.post(cw.compose(cw.bob, device=laptop, checkpoint=old)), errors.RevokedSenderKey)
    assert j.feed(cw.send(cw.bob)).status == OK                # bob's phone still speaks


def test_a_stale_key_generation():
    cw = ChatWorld()
    cw.team.rotate(cw.alice)
    j = cw.judge()
    refused(j, cw.post(cw.compose(cw.bob, key_gen=1, keys=cw.keys(1))), errors.StaleKeyGeneration)


def test_an_unknown_key_generation_or_team_seqno():
    cw = ChatWorld()
    j = cw.judge()
    w = cw.send(cw.bob)
    w["key_gen"] = 9
    refused(j, w, errors.UnknownKeyGeneration)
    refused(j, cw.post(cw.compose(cw.bob, team_seqno=cw.team.state.seqno + 1)), errors.UnknownTeamState)


# --- supersedes and deletes ----------------------------------------------------------------


def test_a_forged_edit_of_someone_elses_message():
    cw = ChatWorld()
    j = honest(cw)                                             # 1 alice, 2 bob
    refused(j, cw.send(cw.bob, "edit", supersedes=1, body_fields={"target": 1, "text": "I owe bob"}),
            errors.ForgedSupersede)


def test_a_forged_delete_by_a_writer():
    cw = ChatWorld()
    j = honest(cw)
    refused(j, cw.send(cw.carol, "delete", deletes=[1], body_fields={"targets": [1]}), errors.ForgedSupersede)


@pytest.mark.parametrize("kind,fields", [
    ("edit", {"supersedes": 9, "body_fields": {"target": 9, "text": "x"}}),            # a later message
    ("reaction", {"supersedes": 77, "body_fields": {"target": 77, "emoji": "x"}}),
    ("delete", {"deletes": [2, 40], "body_fields": {"targets": [2, 40]}}),
    ("delete_history", {"body_fields": {"upto": 2}}),                                     # not an admin
    ("text", {"reply_to": 99})])
def test_supersedes_that_point_nowhere_or_overreach(kind, fields):
    cw = ChatWorld()
    j = honest(cw)
    refused(j, cw.send(cw.bob, kind, **fields), errors.ForgedSupersede)


def test_a_forged_delete_does_not_excuse_a_dropped_body():
    cw = ChatWorld()
    cw.send(cw.alice, body_fields={"text": "the contract"})
    cw.send(cw.carol, "delete", deletes=[1], body_fields={"targets": [1]})
    cw.served[0]["body"] = None
    vs = cw.judge().feed_all(cw.served)
    assert vs[0].status == WITHHELD and vs[1].code == errors.ForgedSupersede.code and vs[1].covers == ()
    assert [(p.msg_id, p.code) for p in Timeline(vs).view(cw.time).problems] == \
        [(1, errors.Withheld.code), (2, errors.ForgedSupersede.code)]


def test_a_body_withheld_without_a_delete():
    cw = ChatWorld()
    cw.send(cw.alice, body_fields={"text": "the contract"})
    cw.send(cw.bob, body_fields={"text": "agreed"})
    cw.served[0]["body"] = None
    vs = cw.judge().feed_all(cw.served)
    assert vs[0].status == WITHHELD and vs[0].code == errors.Withheld.code and vs[1].status == OK
    view = Timeline(vs).view(cw.time)
    assert [(p.msg_id, p.code) for p in view.problems] == [(1, errors.Withheld.code)]
    assert [(i.msg_id, i.status) for i in view.items] == [(1, WITHHELD), (2, OK)]


# --- checkpoints ---------------------------------------------------------------------------


def test_a_checkpoint_not_known_good():
    cw = ChatWorld()
    j = honest(cw)
    refused(j, cw.post(cw.compose(cw.bob, checkpoint=[cw.w.log_size, b"\x66" * 32])), errors.ForkedCheckpoint)


def test_a_devices_checkpoint_going_backwards():
    cw = ChatWorld()
    for _ in range(3):
        cw.w.tick()
    j = honest(cw)                                             # bob's device at the current size
    refused(j, cw.post(cw.compose(cw.bob, checkpoint=[cw.w.log_size - 2, root_at(cw.w.log_size - 2)])),
            errors.CheckpointRollback)


def test_a_devices_team_seqno_going_backwards():
    cw = ChatWorld()
    cw.team.change(cw.alice, {"carol": Role.ADMIN})
    j = honest(cw)
    refused(j, cw.post(cw.compose(cw.bob, team_seqno=1)), errors.CheckpointRollback)


# --- order and history ---------------------------------------------------------------------


def test_two_members_shown_different_histories():
    cw = ChatWorld()
    cw.send(cw.alice, body_fields={"text": "meet at 5"})
    real = cw.send(cw.bob, body_fields={"text": "ok"})
    cw.send(cw.carol, body_fields={"text": "see you"})       # carol saw [1, 2 = "ok"]
    other = cw.compose(cw.bob, body_fields={"text": "no"}, prev=[[1, cw.sealed[1].header_hash]])
    shown = copy.deepcopy(cw.served)
    swapped = {**cw.post(other), "msg_id": 2}
    shown[1] = swapped                                         # this reader sees bob's other message as 2
    j = cw.judge()
    assert [v.status for v in j.feed_all(shown[:2])] == [OK, OK]
    refused(j, shown[2], errors.PrevMismatch)
    assert real is not swapped


def test_reordered_messages():
    cw = ChatWorld()
    honest(cw, 1)
    cw.send(cw.bob, body_fields={"text": "first"})
    cw.send(cw.carol, body_fields={"text": "second, after first"})   # names 2 in prev
    shown = copy.deepcopy(cw.served)
    shown[1], shown[2] = {**shown[2], "msg_id": 2}, {**shown[1], "msg_id": 3}
    j = cw.judge()
    assert j.feed(shown[0]).status == OK
    refused(j, shown[1], errors.PrevMismatch)                  # "second" says it saw 2 before itself


def test_out_of_order_and_duplicate_msg_ids():
    cw = ChatWorld()
    honest(cw, 3)
    j = cw.judge()
    assert [v.status for v in j.feed_all([cw.served[0], cw.served[2]])] == [OK, OK]
    refused(j, cw.served[1], errors.MessageOrder)              # 2 after 3
    refused(j, cw.served[2], errors.DuplicateMessageId)        # 3 again
    refused(j, {**cw.served[0], "msg_id": 3}, errors.DuplicateMessageId)


def test_a_dropped_message_is_reported_as_a_gap():
    cw = ChatWorld()
    for i in range(4):
        cw.send(cw.alice, body_fields={"text": f"m{i}"})
    shown = [cw.served[0], cw.served[3]]
    vs = cw.judge().feed_all(shown)
    assert [v.status for v in vs] == [OK, OK] and vs[1].gap == (2, 3)
    assert [(p.msg_id, p.code) for p in Timeline(vs).view(cw.time).problems] == [(2, errors.MessageGap.code)]
