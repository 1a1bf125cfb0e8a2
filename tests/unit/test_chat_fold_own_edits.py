"""views.fold: our queued edit reads at once on our own message (issue 15's edit flicker),
only while it is queued and only for our own text messages."""

from __future__ import annotations

from kbapp.client.chat.models import ConvView
from kbapp.client.chat.store import MessageRow, OutboxRow
from kbapp.client.chat.views import fold

CONV = ConvView("alice,bob", "c" * 32, "t" * 32, "implicit", "general", "", 0, False, 0, 0)


def _msg(i: int, sender: str, text: str, **kw) -> MessageRow:
    return MessageRow("c" * 32, i, "ok", "text", sender=sender, text=text, body={"kind": "text", "text": text},
                      outbox_id=kw.pop("outbox_id", f"{i:032x}"), **kw)


def _edit(oid: str, target: int, text: str, state: str = "pending", at: int = 1) -> OutboxRow:
    return OutboxRow(oid, "c" * 32, {"body": {"kind": "edit", "target": target, "text": text}}, state=state,
                     created_at=at)


def _texts(tl) -> list[tuple]:
    return [(m.msg_id, m.text, m.edited, m.edit_pending) for m in tl.messages]


def test_a_queued_edit_reads_at_once_the_newest_wins():
    rows = [_msg(1, "alice", "helo"), _msg(2, "bob", "hi")]
    for state in ("pending", "sending", "sent"):
        tl = fold(CONV, rows, [_edit("e1" * 16, 1, "hello", state, 1)], me="alice")
        assert _texts(tl) == [(1, "hello", True, True), (2, "hi", False, False)]
    tl = fold(CONV, rows, [_edit("e2" * 16, 1, "hello!", at=2), _edit("e1" * 16, 1, "hello", at=1)], me="alice")
    assert _texts(tl)[0] == (1, "hello!", True, True)


def test_no_overlay_when_failed_stored_or_not_ours():
    rows = [_msg(1, "alice", "helo"), _msg(2, "bob", "hi")]
    failed = fold(CONV, rows, [_edit("e1" * 16, 1, "hello", "failed")], me="alice")
    assert _texts(failed)[0] == (1, "helo", False, False)          # the failed edit shows as its own line
    assert failed.messages[-1].status == "failed"
    stored = rows + [MessageRow("c" * 32, 3, "ok", "edit", sender="alice", outbox_id="e1" * 16)]
    assert _texts(fold(CONV, stored, [_edit("e1" * 16, 1, "x", "sent")], me="alice"))[0] == (1, "helo", False, False)
    assert _texts(fold(CONV, rows, [_edit("e1" * 16, 2, "x")], me="alice"))[1] == (2, "hi", False, False)
