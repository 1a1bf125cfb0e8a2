"""The judge state as the client stores it (`JudgeState.packed`, v2): packed a page at a time,
only what each page added, and read back to the same memory; the v1 form still loads.

What matters for safety: a judge carried on from the stored state still refuses a replayed
message and a history that disagrees with a prev pointer (the nonces and hashes survive).
"""

from __future__ import annotations

import copy

from chat_support import ChatWorld

from kbapp.core import errors
from kbapp.core.chat.state import JudgeState
from kbapp.core.encoding import pack, unpack


def _stored(state: JudgeState) -> JudgeState:
    return JudgeState.from_dict(unpack(state.packed(), max_size=1 << 26, max_depth=None))


def test_packed_page_by_page_is_the_whole_state_and_a_carried_judge_still_refuses_replays():
    cw = ChatWorld()
    for n in range(9):
        cw.send((cw.alice, cw.bob, cw.carol)[n % 3], body_fields={"text": f"m{n}"})
    cw.served[4]["body"] = None                                 # one withheld: it travels too
    j = cw.judge()
    blobs = []
    for page in (cw.served[:3], cw.served[3:7], cw.served[7:]):
        j.feed_all(page)
        blobs.append(j.state.packed())                           # appends only the page's entries
    fresh = JudgeState.from_dict(unpack(blobs[-1], max_size=1 << 26, max_depth=None))
    assert fresh.to_dict() == j.state.to_dict() and fresh.withheld == {5}
    assert fresh.packed() == blobs[-1]                           # packed at once: the same bytes
    v1 = JudgeState.from_dict(unpack(pack(j.state.to_dict()), max_size=1 << 26, max_depth=None))
    assert v1.to_dict() == j.state.to_dict()                     # the old form still loads

    carried = cw.judge(state=_stored(j.state))
    replay = copy.deepcopy(cw.served[2])
    replay["msg_id"] = 10                                        # the same signed message again
    assert carried.feed(replay).code == errors.ReplayedMessage.code
    forked = cw.judge(state=_stored(j.state))
    lie = cw.compose(cw.bob, prev=[[9, b"\x55" * 32]], body_fields={"text": "after"})
    assert forked.feed(cw.post(lie, 10)).code == errors.PrevMismatch.code
