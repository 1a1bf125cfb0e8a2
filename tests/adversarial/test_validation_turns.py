"""Attackers posting under one account's uid, many at once, do not queue ahead of other
accounts' writes on the server's one validation thread (group_commit.FairWorker): every
account with calls waiting gets a turn, so a signup waits for at most one call of the
busy uid, not for all of them (it waited 36 ms at the median behind four attackers and the
account's own 16-link posts in `kbapp bench server-load`)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from kbapp.server.group_commit import FairWorker


async def test_a_signup_is_served_after_one_call_of_a_busy_uid_not_after_all():
    worker = FairWorker("test-validate")
    order: list[str] = []
    gate = threading.Event()

    def call(name: str, wait: bool = False):
        def run():
            if wait:
                gate.wait(10)
            order.append(name)
            return name
        return run

    first = worker.submit("poster", call("poster-0", wait=True))   # holds the thread
    await asyncio.sleep(0.05)
    floods = [worker.submit("poster", call(f"attacker-{i}")) for i in range(6)]
    signup = worker.submit("newcomer", call("signup"))
    gate.set()
    assert await signup == "signup"
    await asyncio.gather(first, *floods)
    assert order.index("signup") == 2          # poster-0, then one of the flood, then the signup
    assert order[:2] == ["poster-0", "attacker-0"]
    assert [n for n in order if n.startswith("attacker")] == [f"attacker-{i}" for i in range(6)]


async def test_errors_reach_their_caller_and_a_cancelled_call_is_skipped():
    worker = FairWorker("test-validate")
    gate = threading.Event()
    ran: list[str] = []

    def fail():
        raise ValueError("refused")

    blocker = worker.submit("a", lambda: gate.wait(10))
    await asyncio.sleep(0.05)
    gone = worker.submit("b", lambda: ran.append("cancelled one ran"))
    gone.cancel()
    bad = worker.submit("c", fail)
    gate.set()
    with pytest.raises(ValueError, match="refused"):
        await bad
    assert await blocker is True
    assert await worker.submit("d", lambda: "after") == "after"
    assert ran == []


async def test_the_worker_keeps_nothing_of_a_finished_call_and_ends_when_idle(monkeypatch):
    """A stopped server's worker must not keep its last call (a request body, a service)
    alive: the thread drops it at once and ends after IDLE_EXIT seconds without work."""
    import gc
    import weakref

    from kbapp.server import group_commit

    monkeypatch.setattr(group_commit, "IDLE_EXIT", 0.2)
    worker = FairWorker("test-validate")

    class Body:
        pass

    body = Body()
    gone = weakref.ref(body)
    import threading

    ran_on = []

    def call(b=body):
        ran_on.append(threading.current_thread())   # the worker's thread, even if it ends soon
        return len([b])

    assert await worker.submit("a", call) == 1
    del call
    thread = ran_on[0]
    assert thread.name == "test-validate"
    del body
    await asyncio.sleep(0.05)
    gc.collect()
    assert gone() is None
    await asyncio.to_thread(thread.join, 10.0)
    assert worker._thread is None and not thread.is_alive()
    assert await worker.submit("a", lambda: "again") == "again"     # a new thread when work comes
