"""Grow-only chains: the one rule (core/chains.py check_grows) the client holds user and team
chains to; here on real signed chains from the identity bench's builder."""

from types import SimpleNamespace

import pytest

from kbapp.bench.chains import build_bench_chain
from kbapp.client.identify import Identifier
from kbapp.core import errors
from kbapp.core.chains import check_grows
from kbapp.core.sigchain import link_id_hex


@pytest.fixture(scope="module")
def chains():
    a = build_bench_chain(40)
    b = build_bench_chain(40, seed=2)
    return a, b


def ids(links):
    return lambda n: link_id_hex(links[n - 1])


def test_growth_from_our_tail_is_accepted(chains):
    links = chains[0][1]
    assert check_grows(len(links), ids(links), {10: link_id_hex(links[9])}) is True
    assert check_grows(10, ids(links), {10: link_id_hex(links[9])}) is False
    assert check_grows(len(links), ids(links), {}) is True


def test_a_shorter_chain_is_a_rollback(chains):
    links = chains[0][1]
    with pytest.raises(errors.RollbackDetected, match="ends at link 9"):
        check_grows(9, ids(links), {10: link_id_hex(links[9])})


def test_another_link_where_we_verified_one_is_a_fork(chains):
    links, other = chains[0][1], chains[1][1]
    with pytest.raises(errors.ForkDetected, match="team chain link 1 differs"):
        check_grows(len(other), ids(other), {i: link_id_hex(links[i - 1]) for i in range(1, 11)}, what="team chain")


def test_the_user_identify_path_uses_it(chains):
    links, other = chains[0][1], chains[1][1]
    prev = SimpleNamespace(tail_seqno=10, tail_link_id=link_id_hex(links[9]))
    grown = SimpleNamespace(tail_seqno=len(links))
    assert Identifier._check_growth(prev, links, grown) is True
    with pytest.raises(errors.ForkDetected):
        Identifier._check_growth(prev, other, SimpleNamespace(tail_seqno=len(other)))
    with pytest.raises(errors.RollbackDetected):
        Identifier._check_growth(prev, links, SimpleNamespace(tail_seqno=5))
