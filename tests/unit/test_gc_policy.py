"""The server's collector policy (kbapp/server/gc_policy.py): what a state that was kept is
frozen out of the collector's passes, and cycles among frozen objects are still freed once
the frozen population has doubled."""

from __future__ import annotations

import gc
import weakref

import pytest

from kbapp.server.gc_policy import GcPolicy


class Node:
    def __init__(self):
        self.me = self          # a reference cycle: only the cyclic collector frees it


@pytest.fixture
def policy():
    p = GcPolicy(check_every=1, regrow=2.0)
    yield p
    p.disable()
    gc.collect()


def test_off_by_default_and_settle_is_a_no_op():
    p = GcPolicy()
    frozen = gc.get_freeze_count()
    p.settle()
    assert not p.enabled and gc.get_freeze_count() == frozen


def test_a_settled_state_is_out_of_full_passes_until_the_frozen_set_doubles(policy):
    policy.enable()
    assert policy.full_passes == 1
    base = gc.get_freeze_count()
    assert base > 0

    cycle = Node()
    gone = weakref.ref(cycle)
    del cycle
    policy.settle()                       # frozen with the rest: a plain full pass skips it
    gc.collect()
    assert gone() is not None and policy.full_passes == 1

    kept = [[i] for i in range(base + 1000)]   # the long-lived heap more than doubles
    policy.settle()
    assert policy.full_passes == 2
    assert gone() is None                 # the doubling's full pass freed the frozen cycle
    assert len(kept) > base


def test_disable_gives_every_object_back_to_the_collector(policy):
    policy.enable()
    cycle = Node()
    gone = weakref.ref(cycle)
    del cycle
    policy.settle()
    policy.disable()
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert gone() is None


def test_a_full_pass_comes_on_time_even_if_the_frozen_set_barely_grows():
    """The doubling counts objects, not bytes: a frozen cycle holding a big buffer is still
    freed within `full_every` seconds."""
    p = GcPolicy(check_every=1, regrow=1000.0, full_every=0.0)
    try:
        p.enable()
        cycle = Node()
        cycle.buffer = bytearray(1 << 20)
        gone = weakref.ref(cycle)
        del cycle
        p.settle()
        assert gone() is None and p.full_passes == 2
    finally:
        p.disable()
        gc.collect()
