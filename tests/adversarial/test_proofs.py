"""(g) Proofs for the wrong tree: inclusion proofs for another size or leaf,
consistency proofs for other sizes, and leaves that do not hash to the signed
checkpoint in a full audit (`kbapp log verify`).

Every proof here is a genuine one, taken from the real server for another
question than the one the client asked, except where noted.

An inclusion proof that does not check is an InclusionProofError. A
consistency proof that does not check means the server cannot show that its
new checkpoint extends the one the client trusts, while both are signed by it:
the client reports that as ForkDetected (the ConsistencyProofError behind it
is folded in; docs/threat-model.md, "sign two different logs").
"""

from __future__ import annotations

import pytest

from kbapp.core import errors
from kbapp.core.encoding import b64decode, b64encode
from kbapp.core.transparency import LogLeaf
from kbapp.core.uid import uid_for


@pytest.fixture
async def grown(user, clients, proxy):
    """bob verified alice at log size m; then alice added two paper keys (size
    m + 2). Returns (bob, alice's name, m, n, the lookup bob got at size m)."""
    app, name, _ = await user("alice")
    bob = await clients("bob")
    await bob.identify(name)
    m = bob.store.checkpoint().size
    old_lookup = proxy.record()[f"/v1/lookup/user/{uid_for(name)}"].json()
    await app.create_paperkey()
    await app.create_paperkey()
    n = m + 2
    assert proxy.upstream_json("/v1/lookup/user/" + uid_for(name))["leaf_index"] == n - 1
    return bob, name, m, n, old_lookup


def _inclusion(proxy, index: int, size: int) -> list:
    return proxy.upstream_json("/v1/log/inclusion", index=index, size=size)["proof"]


def _leaf(proxy, index: int) -> str:
    return proxy.upstream_json("/v1/log/leaves", start=index, end=index + 1)["leaves"][0]


INCLUSION_CASES = {
    # the bundle from size m (the old map value), under today's checkpoint
    "old-bundle": lambda p, b, m, n, old: {**old, "checkpoint": b["checkpoint"]},
    # ...claiming to be the newest leaf
    "old-bundle-as-newest": lambda p, b, m, n, old: {**old, "checkpoint": b["checkpoint"], "leaf_index": n - 1},
    # the newest leaf with the proof of leaf n-2 in the tree of size n-1
    "proof-for-size-minus-1": lambda p, b, m, n, old: {**b, "inclusion": _inclusion(p, n - 2, n - 1)},
    # the newest leaf and its proof, said to be at index n-2
    "wrong-leaf-index": lambda p, b, m, n, old: {**b, "leaf_index": n - 2},
    # another leaf's data at the newest index
    "another-leaf": lambda p, b, m, n, old: {**b, "leaf_data": _leaf(p, n - 2)},
    # one hash short, one hash too many
    "proof-truncated": lambda p, b, m, n, old: {**b, "inclusion": b["inclusion"][:-1]},
    "proof-extended": lambda p, b, m, n, old: {**b, "inclusion": b["inclusion"] + b["inclusion"][:1]},
}


@pytest.mark.parametrize("case", list(INCLUSION_CASES))
async def test_inclusion_proof_for_the_wrong_tree(grown, proxy, detected, case):
    bob, name, m, n, old = grown
    rewrite = INCLUSION_CASES[case]
    proxy.set("lookup", uid=uid_for(name), fn=lambda b: rewrite(proxy, b, m, n, old))
    await detected(bob, errors.InclusionProofError, bob.identify(name))
    assert proxy.tampered
    proxy.clear()
    assert (await bob.identify(name)).chain_length == 7        # control


CONSISTENCY_CASES = {
    "from-size-minus-1": dict(sizes=lambda a, b: (a - 1, b)),
    "to-size-minus-1": dict(sizes=lambda a, b: (a, b - 1)),
    "from-size-plus-1": dict(sizes=lambda a, b: (a + 1, b)),
    "empty": dict(proof=[]),
}


@pytest.mark.parametrize("case", list(CONSISTENCY_CASES))
async def test_consistency_proof_for_other_sizes(grown, proxy, detected, cli, case):
    bob, name, m, n, _ = grown
    proxy.set("consistency", **CONSISTENCY_CASES[case])
    err = await detected(bob, errors.ForkDetected, bob.identify(name))
    assert f"size {n} does not extend the one of size {m}" in str(err)
    await detected(bob, errors.ForkDetected, bob.verify_log())
    if case == "empty":
        rc, _, stderr = await cli(bob.home, "id", name)
        assert rc == 3 and "VERIFICATION FAILED (FORK)" in stderr
    assert proxy.tampered
    proxy.clear()
    await bob.identify(name)                                    # control


async def test_malformed_consistency_proof(grown, proxy, detected):
    bob, name, *_ = grown
    proxy.set("consistency", proof=["not base64!"])
    await detected(bob, errors.EncodingError, bob.identify(name))
    proxy.set("consistency", proof=[b64encode(b"short")])
    await detected(bob, errors.EncodingError, bob.identify(name))


async def test_audit_with_leaves_that_do_not_match(grown, proxy, detected, cli):
    """`kbapp log verify` downloads every leaf: one swapped with its neighbour,
    or one rewritten with the right epoch (another map root)."""
    bob, name, m, n, _ = grown
    await bob.verify_log()                                       # control
    genuine = LogLeaf.decode(b64decode(_leaf(proxy, 1)))

    def swap(body):
        body["leaves"][1], body["leaves"][2] = body["leaves"][2], body["leaves"][1]
        return body

    proxy.set("json", match="^/v1/log/leaves$", fn=swap)
    await detected(bob, errors.InclusionProofError, bob.verify_log(), match="leaf 1 claims epoch 2")

    forged = LogLeaf(1, bytes(32), genuine.ctime).encode()
    proxy.set("json", match="^/v1/log/leaves$",
              fn=lambda body: {**body, "leaves": [body["leaves"][0], b64encode(forged), *body["leaves"][2:]]})
    await detected(bob, errors.ForkDetected, bob.verify_log())
    rc, _, stderr = await cli(bob.home, "log", "verify")
    assert rc == 3 and "VERIFICATION FAILED (FORK)" in stderr
