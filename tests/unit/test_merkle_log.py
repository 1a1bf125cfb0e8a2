"""MerkleLog against a naive RFC 6962 reference; every proof of every small tree."""

from __future__ import annotations

import hashlib

import pytest

from kbapp.core.errors import ConsistencyProofError, InclusionProofError
from kbapp.core.merkle import (
    EMPTY_ROOT,
    MerkleLog,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

N = 70
DATA = [f"leaf {i}".encode() for i in range(N)]


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1 MTH, straight from the definition."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = _k(len(leaves))
    return hashlib.sha256(b"\x01" + ref_root(leaves[:k]) + ref_root(leaves[k:])).digest()


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = _k(len(leaves))
    if m < k:
        return ref_path(m, leaves[:k]) + [ref_root(leaves[k:])]
    return ref_path(m - k, leaves[k:]) + [ref_root(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [ref_root(leaves)]
    k = _k(n)
    if m <= k:
        return ref_subproof(m, leaves[:k], whole) + [ref_root(leaves[k:])]
    return ref_subproof(m - k, leaves[k:], False) + [ref_root(leaves[:k])]


@pytest.fixture(scope="module")
def log() -> MerkleLog:
    log = MerkleLog()
    for i, d in enumerate(DATA):
        assert log.append(d) == i
    return log


@pytest.fixture(scope="module")
def ref_roots() -> list[bytes]:
    return [ref_root(DATA[:n]) for n in range(N + 1)]


def test_hashes():
    assert EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()


def test_roots_of_every_size(log, ref_roots):
    assert log.size == len(log) == N
    assert MerkleLog().root() == EMPTY_ROOT
    for n in range(N + 1):
        assert log.root(n) == ref_roots[n], n
    assert log.root() == ref_roots[N]


def test_growing_log_roots(ref_roots):
    log = MerkleLog()
    for n, d in enumerate(DATA, 1):
        log.append(d)
        assert log.root() == ref_roots[n]


def test_leaf_hash_at(log):
    for i, d in enumerate(DATA):
        assert log.leaf_hash_at(i) == leaf_hash(d)
    with pytest.raises(IndexError):
        log.leaf_hash_at(N)


def test_every_inclusion_proof(log, ref_roots):
    for size in range(1, N + 1):
        for i in range(size):
            proof = log.inclusion_proof(i, size)
            assert proof == ref_path(i, DATA[:size]), (i, size)
            verify_inclusion(leaf_hash(DATA[i]), i, size, proof, ref_roots[size])
            assert root_from_inclusion_proof(leaf_hash(DATA[i]), i, size, proof) == ref_roots[size]


def test_every_consistency_proof(log, ref_roots):
    for n in range(1, N + 1):
        for m in range(1, n + 1):
            proof = log.consistency_proof(m, n)
            assert proof == ref_subproof(m, DATA[:n], True), (m, n)
            verify_consistency(m, n, proof, ref_roots[m], ref_roots[n])
    assert log.consistency_proof(5) == log.consistency_proof(5, N)


def test_from_leaf_hashes_matches(log):
    for n in (0, 1, 2, 3, 7, 8, 9, 33, N):
        rebuilt = MerkleLog.from_leaf_hashes(leaf_hash(d) for d in DATA[:n])
        assert rebuilt.size == n
        assert rebuilt.root() == log.root(n)
        if n:
            assert rebuilt.inclusion_proof(n - 1) == log.inclusion_proof(n - 1, n)
        rebuilt.append(b"more")  # keeps working after a rebuild
        grown = MerkleLog.from_leaf_hashes(leaf_hash(d) for d in DATA[:n])
        grown.append_hash(leaf_hash(b"more"))
        assert rebuilt.root() == grown.root() == ref_root(DATA[:n] + [b"more"])


def test_truncate(log):
    copy = MerkleLog.from_leaf_hashes(log.leaf_hash_at(i) for i in range(N))
    for size in (N, 64, 63, 33, 1, 0):
        copy.truncate(size)
        assert copy.size == size and copy.root() == log.root(size)
    copy.append(DATA[0])
    assert copy.root() == log.root(1)
    with pytest.raises(ValueError):
        copy.truncate(2)


def test_bad_arguments(log):
    with pytest.raises(ValueError):
        log.root(N + 1)
    with pytest.raises(ValueError):
        log.inclusion_proof(5, 5)
    with pytest.raises(ValueError):
        log.consistency_proof(0, 5)
    with pytest.raises(ValueError):
        log.consistency_proof(6, 5)
    with pytest.raises(ValueError):
        log.append_hash(b"short")


def _flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 1]) + h[1:]


def test_tampered_inclusion_proofs_fail(log, ref_roots):
    size, i = 45, 17
    proof = log.inclusion_proof(i, size)
    lh, root = leaf_hash(DATA[i]), ref_roots[size]
    bad_cases = [
        (lh, i, size, proof[:-1], root),  # truncated
        (lh, i, size, proof + [proof[0]], root),  # extended
        (lh, i, size, [proof[1], proof[0]] + proof[2:], root),  # reordered
        (lh, i + 1, size, proof, root),  # other index
        (lh, i, 2 * size, proof, root),  # other size (same-shaped sizes give the same root)
        (leaf_hash(DATA[i + 1]), i, size, proof, root),  # other leaf
        (lh, i, size, proof, ref_roots[size - 1]),  # other root
        (lh, i, size, proof[:1] + [b"\x00" * 31] + proof[2:], root),  # malformed hash
        (lh, size, size, proof, root),  # index out of range
        (lh, -1, size, proof, root),
        (lh[:31], i, size, proof, root),
    ]
    for k in range(len(proof)):
        bad_cases.append((lh, i, size, proof[:k] + [_flip(proof[k])] + proof[k + 1:], root))
    for case in bad_cases:
        with pytest.raises(InclusionProofError):
            verify_inclusion(*case)


def test_tampered_consistency_proofs_fail(log, ref_roots):
    m, n = 13, 61
    proof = log.consistency_proof(m, n)
    r1, r2 = ref_roots[m], ref_roots[n]
    bad_cases = [
        (m, n, proof[:-1], r1, r2),
        (m, n, proof + [proof[0]], r1, r2),
        (m, n, proof[::-1], r1, r2),
        (m + 1, n, proof, r1, r2),
        (m, 2 * n, proof, r1, r2),
        (m, n, proof, r2, r1),
        (m, n, proof, ref_roots[m + 1], r2),
        (m, n, proof, r1, ref_roots[n - 1]),
        (n, m, proof, r2, r1),
        (m, n, [], r1, r2),
        (0, n, proof, EMPTY_ROOT, r2),
        (m, m, proof, r1, r1),
        (m, m, [], r1, r2),
    ]
    for k in range(len(proof)):
        bad_cases.append((m, n, proof[:k] + [_flip(proof[k])] + proof[k + 1:], r1, r2))
    for case in bad_cases:
        with pytest.raises(ConsistencyProofError):
            verify_consistency(*case)
    verify_consistency(m, m, [], r1, r1)
    verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)


def test_fork_is_caught():
    """A server that rewrites leaf 3 cannot prove consistency with the old tree."""
    honest, forked = MerkleLog(), MerkleLog()
    for i in range(20):
        honest.append(DATA[i])
        forked.append(b"evil" if i == 3 else DATA[i])
    for m in range(4, 20):
        with pytest.raises(ConsistencyProofError):
            verify_consistency(m, 20, forked.consistency_proof(m, 20), honest.root(m), forked.root())
