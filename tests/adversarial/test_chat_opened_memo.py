"""The judge keeps what opened() found (a header opened, parsed and its signature checked)
until feed() takes it, so a sync opens each header once. A lying server must gain nothing
from that: the memo is keyed by the exact key and sealed bytes and taken once, and only the
header's own checks are kept; every reader rule still runs on every served message."""

from __future__ import annotations

import copy

from chat_support import ChatWorld

from kbapp.core import errors
from kbapp.core.chat import judge as judge_mod
from kbapp.core.encoding import b64decode, b64encode


def _page(cw, n: int = 3) -> list:
    for i in range(n):
        cw.send((cw.alice, cw.bob)[i % 2], body_fields={"text": f"m{i}"})
    return [copy.deepcopy(w) for w in cw.served]


def test_a_replay_in_the_same_page_after_the_look_ahead():
    cw = ChatWorld()
    page = _page(cw)
    page.append({**copy.deepcopy(page[-1]), "msg_id": page[-1]["msg_id"] + 1})     # the same sealed message again
    j = cw.judge()
    j.needs(page)
    verdicts = j.feed_all(page)
    assert [v.status for v in verdicts[:-1]] == ["ok"] * 3
    assert verdicts[-1].status == "bad" and type(verdicts[-1].error) is errors.ReplayedMessage
    assert len(j.state.nonces) == 3 and not j._opened


def test_an_altered_body_behind_a_header_already_opened():
    cw = ChatWorld()
    page = _page(cw)
    j = cw.judge()
    assert all(j.opened(w) is not None for w in page)                # the look-ahead opened every header
    page[1]["body"] = page[2]["body"]                                 # the server swaps a body after that
    verdicts = j.feed_all(page)
    assert [v.status for v in verdicts] == ["ok", "bad", "ok"] and type(verdicts[1].error) is errors.BadBody
    assert 2 not in j.state.valid


def test_a_header_that_does_not_open_is_never_kept_and_a_served_hint_is_still_checked():
    cw = ChatWorld()
    page = _page(cw, 2)
    sealed = bytearray(b64decode(page[0]["header"]))
    sealed[-1] ^= 1
    forged = {**copy.deepcopy(page[0]), "header": b64encode(bytes(sealed))}
    j = cw.judge()
    assert j.opened(forged) is None and not j._opened
    page[1]["hints"] = {**page[1]["hints"], "reply_to": 1}            # a hint that is not the signed field
    j.needs(page)
    verdicts = j.feed_all(page)
    assert verdicts[0].status == "ok"
    assert verdicts[1].status == "bad" and type(verdicts[1].error) is errors.HintMismatch


def test_the_memo_is_bounded(monkeypatch):
    monkeypatch.setattr(judge_mod, "MEMO", 2)
    cw = ChatWorld()
    page = _page(cw, 4)
    j = cw.judge()
    j.needs(page)
    assert len(j._opened) == 2
    assert [v.status for v in j.feed_all(page)] == ["ok"] * 4 and not j._opened
