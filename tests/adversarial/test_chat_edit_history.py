"""An edited message's history is built only from edits that verified as its sender's
(client/chat/history.py), whatever else the store holds for that message: rows as the
sync stores them when the server passes on a forged edit (refused by the reader rules:
status `bad`), withholds an edit's body (`withheld`), or when an `ok` row names another
sender or another target (what a judge bug would let through: the history does not rely
on the judge alone). The cases fail with the checks of `chain` taken out (the other sender's
edit also with the sender check alone)."""

from __future__ import annotations

import pytest

from kbapp.client.chat.history import chain
from kbapp.client.chat.schema import MessageRow
from kbapp.core import errors

CONV = "c" * 32
ALICE, MALLORY = "a" * 32, "m" * 32


def row(msg_id, *, type="edit", sender=ALICE, status="ok", supersedes=5, body=None, text=None):
    return MessageRow(conv_id=CONV, msg_id=msg_id, status=status, type=type, sender_uid=sender,
                      sender="alice" if sender == ALICE else "mallory", ctime=1000 + msg_id,
                      supersedes=supersedes if type == "edit" else None, body=body, text=text)


TARGET = row(5, type="text", body={"kind": "text", "text": "I owe bob 5"}, text="I owe bob 50")
OWN = row(8, body={"kind": "edit", "target": 5, "text": "I owe bob 50"})


def test_the_senders_own_edits_are_the_versions():
    h = chain(TARGET, [OWN])
    assert [v.text for v in h.versions] == ["I owe bob 5", "I owe bob 50"] and h.versions[-1].current
    assert h.not_shown == 0


@pytest.mark.parametrize("forged", [
    row(9, sender=MALLORY, body={"kind": "edit", "target": 5, "text": "I owe mallory 5000"}),     # another sender
    row(9, status="bad", body={"kind": "edit", "target": 5, "text": "I owe mallory 5000"}),       # refused
    row(9, status="withheld", body=None),                                                          # body withheld
    row(9, body={"kind": "edit", "target": 6, "text": "I owe mallory 5000"}),                     # body names another
    row(4, body={"kind": "edit", "target": 5, "text": "I owe mallory 5000"}),                     # older than its target
    row(9, body={"kind": "edit", "target": 5, "text": ["not", "text"]}),                         # not a text
])
def test_an_edit_that_is_not_the_senders_is_never_a_version(forged):
    h = chain(TARGET, [OWN, forged])
    assert [v.text for v in h.versions] == ["I owe bob 5", "I owe bob 50"]
    assert h.not_shown == 1


def test_no_history_for_a_deleted_or_refused_message():
    for gone in (row(5, type="text", status="bad"), MessageRow(**{**TARGET.__dict__, "deleted_by": 9})):
        with pytest.raises(errors.NotFound):
            chain(gone, [OWN])
