"""Push hints in batches (`/v1/push?...&batch=1`): several hints in one `hints` frame.

Each hint used to be one frame per listener (one JSON encoding, one WebSocket frame, one
socket write each): with 100 listeners that is most of what a chat post costs the server.
A listener that asks for batches gets what queued for it meanwhile in one frame; one that
does not gets the `hint` frames it always got. Same hints, same order, none lost.
"""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest
from httpx_ws import WebSocketUpgradeError, aconnect_ws

from kbapp.bench.chat_load import _post_body
from kbapp.core.chat.ids import conv_id_hex
from kbapp.core.tokens import parse_read_token

pytestmark = pytest.mark.timeout(120)
POSTS = 120


async def _hear(ws, n: int) -> tuple[list[dict], list[dict]]:
    """(the chat hints, the frames) until n chat hints came."""
    hints, frames = [], []
    while len(hints) < n:
        frame = await asyncio.wait_for(ws.receive_json(), 20)
        frames.append(frame)
        got = frame.get("hints", []) if frame.get("type") == "hints" else [frame]
        hints += [h for h in got if h.get("type") == "hint" and h.get("kind") == "chat"]
    return hints, frames


async def test_batched_and_single_listeners_hear_the_same_hints(server, tmp_path, apps):
    alice = await apps(tmp_path / "alice")
    await alice.signup("alice", device_name="a1", server_url=server.url)
    team_id = (await alice.create_team("batchers")).team_id
    token = await alice.api.read_tokens.header()
    t, _ = parse_read_token(token)
    topics = [os.urandom(16).hex() for _ in range(4)]
    convs = [conv_id_hex(team_id, 1, topic) for topic in topics]
    push = f"{server.url}/v1/push?topics=team:{team_id}"
    auth = {"Authorization": token}

    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=30) as http:
        async def post(i: int) -> None:
            r = await http.post(f"/v1/chat/{convs[i % 4]}/messages", json=_post_body(t.uid, t.kid, team_id, topics[i % 4]))
            assert r.status_code == 200, r.text

        async with aconnect_ws(push + "&batch=1", http, headers=auth) as batched, \
                aconnect_ws(push, http, headers=auth) as single:
            assert (await batched.receive_json())["type"] == "ready"
            assert (await single.receive_json())["type"] == "ready"
            await asyncio.gather(*(post(i) for i in range(POSTS)))
            (b_hints, b_frames), (s_hints, s_frames) = await asyncio.gather(_hear(batched, POSTS),
                                                                            _hear(single, POSTS))

        # The same hints, in cursor order, each once, with their subjects
        assert b_hints == s_hints
        cursors = [h["cursor"] for h in b_hints]
        assert cursors == sorted(set(cursors)) and len(cursors) == POSTS
        assert {h["subject"].split(":")[0] for h in b_hints} == set(convs)
        # A listener that did not ask gets one hint a frame; one that asked, fewer frames
        assert all(f["type"] == "hint" for f in s_frames) and len(s_frames) == POSTS
        assert any(f["type"] == "hints" for f in b_frames) and len(b_frames) < POSTS
        assert all(len(f.get("hints", [f])) <= 32 for f in b_frames)

        # batch= is 0 or 1
        with pytest.raises(WebSocketUpgradeError) as refused:
            async with aconnect_ws(push + "&batch=yes", http, headers=auth):
                pass
        assert refused.value.response.status_code == 400


def test_the_client_takes_a_hostile_hints_frame_hint_by_hint():
    """A `hints` frame from a hostile server: each element is judged as a frame of its own
    (malformed ones and foreign topics dropped), at most 64 taken, nothing nested."""
    from kbapp.client.sync import frames_of, parse_message

    topics = frozenset({"team:" + "a" * 32})
    good = {"type": "hint", "cursor": 5, "topic": "team:" + "a" * 32, "kind": "chat", "subject": "x:1"}
    frame = {"type": "hints", "hints": [good, "junk", None, {"type": "hints", "hints": [good]},
                                        {**good, "topic": "team:" + "b" * 32}, {**good, "cursor": -1}]}
    parsed = [parse_message(one, topics) for one in frames_of(frame)]
    assert parsed == [("hint", 5, "team:" + "a" * 32, "chat"), None, None, None, None, None]
    assert frames_of({"type": "hints", "hints": [good] * 500}) == [good] * 64
    assert frames_of({"type": "hints", "hints": "nope"}) == []
    assert frames_of(good) == [good]
