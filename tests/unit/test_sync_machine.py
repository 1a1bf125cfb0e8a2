"""The push channel's reconnect state machine (client/sync.py), with a fake clock."""

from __future__ import annotations

import pytest

from kbapp.client.sync import Backoff, ConnectionStateChanged, Machine, State, parse_message
from kbapp.core import errors


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_backoff_doubles_with_jitter_and_caps():
    lo = Backoff(base=0.5, cap=8.0, rng=lambda: 0.0)     # jitter at its low end: half
    assert [lo.next() for _ in range(7)] == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    hi = Backoff(base=0.5, cap=8.0, rng=lambda: 1.0)
    assert [hi.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    hi.reset()
    assert hi.next() == 0.5
    with pytest.raises(ValueError):
        Backoff(base=0.0)


def test_connect_drop_backoff_reconnect():
    clock = Clock()
    m = Machine(Backoff(base=1.0, cap=30.0, rng=lambda: 1.0), clock)
    assert m.state is State.OFFLINE
    assert m.connecting() == ConnectionStateChanged("connecting")
    assert m.failed() == ConnectionStateChanged("backoff", 1.0)          # first try failed
    with pytest.raises(errors.KbappError):                               # too early
        m.connecting()
    clock.t += 0.5
    assert m.wait() == 0.5
    clock.t += 0.5
    m.connecting()
    assert m.failed().retry_in == 2.0                                    # doubled
    clock.t += 2.0
    m.connecting()
    assert m.connected() == ConnectionStateChanged("online")
    assert m.dropped() == ConnectionStateChanged("offline")              # the server died
    assert m.failed().retry_in == 1.0                                    # reset after online
    clock.t += 1.0
    m.connecting()
    assert m.failed(immediate=True).retry_in == 0.0                      # token expired: at once
    assert m.wait() == 0.0
    assert m.stopped() == ConnectionStateChanged("offline")
    assert m.stopped() is None


def test_impossible_moves_are_refused():
    m = Machine(clock=Clock())
    with pytest.raises(errors.KbappError):
        m.connected()                 # never online without connecting
    m.connecting()
    m.connected()
    with pytest.raises(errors.KbappError):
        m.connecting()                # online: must drop first


def test_server_messages_are_checked():
    topics = frozenset({"user:" + "a" * 32})
    assert parse_message({"type": "hint", "cursor": 5, "topic": "user:" + "a" * 32, "kind": "chain"},
                         topics) == ("hint", 5, "user:" + "a" * 32, "chain")
    assert parse_message({"type": "ready", "cursor": 9}, topics) == ("ready", 9, "", "")
    for bad in [None, [], {"type": "hint", "cursor": "5", "topic": "user:" + "a" * 32, "kind": "chain"},
                {"type": "hint", "cursor": -1, "topic": "user:" + "a" * 32, "kind": "chain"},
                {"type": "hint", "cursor": True, "topic": "user:" + "a" * 32, "kind": "chain"},
                {"type": "hint", "cursor": 5, "topic": "user:" + "b" * 32, "kind": "chain"},   # not ours
                {"type": "hint", "cursor": 5, "topic": "user:" + "a" * 32, "kind": "<b>x</b>"},
                {"type": "other", "cursor": 5}]:
        assert parse_message(bad, topics) is None
