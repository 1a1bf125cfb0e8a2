"""The chat outbox's state machine (kbapp/client/chat/outbox.py): pending -> sending ->
sent | pending again with backoff (server unreachable, 5xx, 429) | failed (refused: retryable
by hand, unless refused for good: 403, 409, not a writer), exactly once through the server's outbox_id idempotency, and recovery of an
entry a crash left in `sending`. The end-to-end version, with a real server that is
down and comes back, is tests/integration/test_chat_e2e.py."""

from __future__ import annotations

import pytest

from kbapp.client.chat.outbox import Outbox, backoff
from kbapp.client.chat.store import ChatStore, ConvRow
from kbapp.core import errors

CONV = "c" * 32


class Clock:
    def __init__(self):
        self.now = 1_000_000

    def __call__(self):
        return self.now


class Server:
    """Idempotent on outbox_id, like the real one; `down` raises NetworkError;
    `lose_answer` stores the message but the answer never arrives."""

    def __init__(self):
        self.messages: dict[str, int] = {}
        self.posts = 0
        self.down = False
        self.lose_answer = False
        self.refuse: errors.KbappError | None = None

    async def send(self, entry) -> int:
        self.posts += 1
        if self.down:
            raise errors.NetworkError("connection refused")
        if self.refuse is not None:
            raise self.refuse
        msg_id = self.messages.setdefault(entry.outbox_id, len(self.messages) + 1)
        if self.lose_answer:
            self.lose_answer = False
            raise errors.NetworkError("connection reset after the post")
        return msg_id


@pytest.fixture
def parts(tmp_path):
    store = ChatStore(tmp_path / "chat.sqlite3")
    store.put_conv(ConvRow(conv_id=CONV, team_id="d" * 32, topic_type=1, topic_id="e" * 32, kind="implicit",
                           team_name="alice,bob"))
    clock, server = Clock(), Server()
    yield Outbox(store, server.send, clock=clock), store, clock, server
    store.close()


def test_backoff_grows_and_caps():
    assert [backoff(n) for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert backoff(50) == 300


async def test_down_then_up_is_sent_exactly_once(parts):
    box, store, clock, server = parts
    server.down = True
    await box.add(CONV, "1" * 32, {"kind": "text", "text": "hi"})
    [e] = await box.flush()
    assert e.state == "pending" and e.attempts == 1 and e.next_try == clock.now + 2 and "NETWORK" in e.last_error
    assert await box.flush() == []                 # not due yet
    server.down = False
    server.lose_answer = True                      # posted, but the answer is lost
    clock.now += 2
    [e] = await box.flush()
    assert e.state == "pending" and e.attempts == 2 and e.next_try == clock.now + 4
    clock.now += 4
    [e] = await box.flush()
    assert e.state == "sent" and e.msg_id == 1 and e.attempts == 3
    assert server.messages == {"1" * 32: 1}        # one message, whatever the number of posts
    assert await box.flush() == []


async def test_a_failure_that_may_pass_goes_to_failed_and_retry_puts_it_back(parts):
    box, store, clock, server = parts
    server.refuse = errors.ServerError("server refused: bad request", 400, "BAD_REQUEST")
    await box.add(CONV, "2" * 32, {"kind": "text", "text": "hi"})
    [e] = await box.flush()
    assert e.state == "failed" and "bad request" in e.last_error and e.retryable
    assert await box.flush(force=True) == []       # failed entries wait for the user
    server.refuse = None
    await box.retry("2" * 32)
    [e] = await box.flush()
    assert e.state == "sent"
    with pytest.raises(errors.NotFound):
        await box.retry("2" * 32)                  # a sent one is not retried


@pytest.mark.parametrize("refusal", [
    errors.ChatPostNotAllowed("server refused: not a writer", 403, "CHAT_POST_NOT_ALLOWED"),
    errors.ServerError("server refused: forbidden", 403, "FORBIDDEN"),
    errors.Conflict("outbox id already used"),                                   # the client's 409
    errors.PostNotAllowed("you are a reader in acme: only writers can post"),   # our own load's verdict
])
async def test_a_refusal_for_good_is_failed_and_not_retryable(parts, refusal):
    box, store, clock, server = parts
    server.refuse = refusal
    await box.add(CONV, "5" * 32, {"kind": "text", "text": "hi"})
    [e] = await box.flush()
    assert e.state == "failed" and not e.retryable and refusal.code in e.last_error
    server.refuse = None
    with pytest.raises(errors.OutboxRefused):
        await box.retry("5" * 32)                  # the same bytes again cannot pass
    assert await box.flush(force=True) == [] and server.posts == 1
    assert (await store.aio.outbox_get("5" * 32)).state == "failed"


async def test_5xx_is_retried(parts):
    box, store, clock, server = parts
    server.refuse = errors.ServerError("boom", 502, "")
    await box.add(CONV, "3" * 32, {"kind": "text", "text": "hi"})
    [e] = await box.flush()
    assert e.state == "pending" and e.retryable


async def test_an_entry_left_sending_by_a_crash_goes_back_to_pending(parts):
    box, store, clock, server = parts
    await box.add(CONV, "4" * 32, {"kind": "text", "text": "hi"})
    store.outbox_update("4" * 32, expect=("pending",), state="sending")   # the process died mid-post
    fresh = Outbox(store, server.send, clock=clock)
    [e] = await fresh.flush()
    assert e.state == "sent" and server.posts == 1


async def test_order_is_kept_and_a_down_server_stops_the_flush(parts):
    box, store, clock, server = parts
    for i in range(3):
        clock.now += 1
        await box.add(CONV, f"{i}" * 32, {"kind": "text", "text": str(i)})
    server.down = True
    out = await box.flush()
    assert len(out) == 1 and server.posts == 1     # one failed try is enough to know
    server.down = False
    clock.now += 10
    out = await box.flush()
    assert [e.state for e in out] == ["sent"] * 3
    assert [server.messages[f"{i}" * 32] for i in range(3)] == [1, 2, 3]
