"""Merkle map: membership / non-membership proofs, tampering, canonical shape."""

from __future__ import annotations

import hashlib
import random

import pytest

from kbapp.core.errors import EncodingError, MapProofError
from kbapp.core.merkle import EMPTY_HASH, MapProof, MerkleMap, verify_map_proof


def K(n: int) -> bytes:
    return hashlib.sha256(b"key %d" % n).digest()


def with_bits(prefix: str, rest: int = 0) -> bytes:
    """A key starting with the given bit string, then filled from `rest`."""
    bits = prefix + format(rest, "0256b")[len(prefix):]
    return int(bits, 2).to_bytes(32, "big")


def ref_root(pairs: dict[bytes, bytes], depth: int = 0) -> bytes:
    """Reference: the definition of the canonical tree, recursively."""
    if not pairs:
        return hashlib.sha256(b"\x12").digest()
    if len(pairs) == 1:
        (k, v), = pairs.items()
        return hashlib.sha256(b"\x10" + k + hashlib.sha256(v).digest()).digest()
    left = {k: v for k, v in pairs.items() if not (k[depth // 8] >> (7 - depth % 8)) & 1}
    right = {k: v for k, v in pairs.items() if k not in left}
    return hashlib.sha256(b"\x11" + ref_root(left, depth + 1) + ref_root(right, depth + 1)).digest()


def roundtrip(p: MapProof) -> MapProof:
    q = MapProof.from_wire(p.to_wire())
    assert q == p
    return q


def test_empty_map():
    m = MerkleMap()
    assert len(m) == 0 and m.root() == EMPTY_HASH == ref_root({})
    p = roundtrip(m.prove(K(1)))
    assert p.siblings == () and p.leaf_key is None
    verify_map_proof(m.root(), K(1), None, p)
    with pytest.raises(MapProofError):
        verify_map_proof(m.root(), K(1), b"v", p)


def test_single_key_is_a_shortcut_at_the_root():
    m = MerkleMap()
    m.set(K(1), b"one")
    assert m.root() == ref_root({K(1): b"one"})
    p = m.prove(K(1))
    assert p.siblings == ()
    verify_map_proof(m.root(), K(1), b"one", p)
    absent = m.prove(K(2))
    verify_map_proof(m.root(), K(2), None, absent)
    with pytest.raises(MapProofError):
        verify_map_proof(m.root(), K(1), None, p)


def test_membership_and_values():
    m = MerkleMap()
    pairs = {K(i): b"value %d" % i for i in range(50)}
    for k, v in pairs.items():
        m.set(k, v)
    assert len(m) == 50 and m.root() == ref_root(pairs)
    for k, v in pairs.items():
        assert m.get(k) == v and k in m
        verify_map_proof(m.root(), k, v, roundtrip(m.prove(k)))
    assert m.get(K(99)) is None
    assert list(m.items()) == sorted(pairs.items())
    m.set(K(3), b"new")
    assert m.get(K(3)) == b"new" and len(m) == 50
    verify_map_proof(m.root(), K(3), b"new", m.prove(K(3)))


def test_absent_beside_a_shortcut_with_a_long_shared_prefix():
    m = MerkleMap()
    a = with_bits("1" * 200 + "0", 1)
    absent = with_bits("1" * 200 + "1", 2)
    m.set(a, b"A")
    m.set(K(7), b"other")
    p = roundtrip(m.prove(absent))
    assert p.leaf_key == a  # the path ends at a's shortcut leaf
    verify_map_proof(m.root(), absent, None, p)
    for wrong in (b"A", b"x"):
        with pytest.raises(MapProofError):
            verify_map_proof(m.root(), absent, wrong, p)
    # now add a key that shares 200 bits with a: a chain of 200 nodes appears
    b = with_bits("1" * 200 + "1", 3)
    m.set(b, b"B")
    pairs = {a: b"A", K(7): b"other", b: b"B"}
    assert m.root() == ref_root(pairs)
    for k, v in pairs.items():
        proof = roundtrip(m.prove(k))
        assert len(proof.siblings) == (201 if k != K(7) else 1)
        verify_map_proof(m.root(), k, v, proof)
    p = m.prove(absent)
    verify_map_proof(m.root(), absent, None, p)
    # a key that leaves the chain early ends at an EMPTY child
    off_chain = with_bits("1" * 100 + "0", 4)
    p = roundtrip(m.prove(off_chain))
    assert p.leaf_key is None and len(p.siblings) == 101
    verify_map_proof(m.root(), off_chain, None, p)


def test_keys_differing_only_in_the_last_bit():
    m = MerkleMap()
    a, b = with_bits("0" * 255 + "0"), with_bits("0" * 255 + "1")
    m.set(a, b"a")
    m.set(b, b"b")
    assert m.root() == ref_root({a: b"a", b: b"b"})
    for k, v in ((a, b"a"), (b, b"b")):
        p = roundtrip(m.prove(k))
        assert len(p.siblings) == 256
        verify_map_proof(m.root(), k, v, p)
        with pytest.raises(MapProofError):
            verify_map_proof(m.root(), k, None, p)


def test_wrong_value_root_key_and_proof():
    m = MerkleMap()
    for i in range(30):
        m.set(K(i), b"v%d" % i)
    root, p = m.root(), m.prove(K(5))
    with pytest.raises(MapProofError):
        verify_map_proof(root, K(5), b"v6", p)  # wrong value
    with pytest.raises(MapProofError):
        verify_map_proof(root, K(5), None, p)  # claim absence of a present key
    with pytest.raises(MapProofError):
        verify_map_proof(bytes(32), K(5), b"v5", p)  # wrong root
    with pytest.raises(MapProofError):
        verify_map_proof(root, K(6), b"v5", p)  # proof for another key
    with pytest.raises(MapProofError):
        verify_map_proof(root, K(6), b"v6", p)
    with pytest.raises(MapProofError):
        verify_map_proof(root, K(5), b"v5", m.prove(K(6)))
    with pytest.raises(MapProofError):
        verify_map_proof(root, K(100), None, p)  # absence with a leaf off the path
    old_root = root
    m.set(K(5), b"changed")
    with pytest.raises(MapProofError):
        verify_map_proof(old_root, K(5), b"changed", m.prove(K(5)))  # stale root


def test_tampered_siblings_fail():
    m = MerkleMap()
    for i in range(40):
        m.set(K(i), b"v%d" % i)
    root = m.root()
    for key, value in ((K(9), b"v9"), (K(1000), None)):
        p = m.prove(key)
        verify_map_proof(root, key, value, p)
        s = list(p.siblings)
        for d in range(len(s)):
            bad = s[:d] + [bytes([s[d][0] ^ 1]) + s[d][1:]] + s[d + 1:]
            with pytest.raises(MapProofError):
                verify_map_proof(root, key, value, MapProof(tuple(bad), p.leaf_key, p.leaf_value_hash))
        for bad in (s[:-1], s + [s[0]], [EMPTY_HASH] + s, s + [EMPTY_HASH], s[::-1]):
            with pytest.raises(MapProofError):
                verify_map_proof(root, key, value, MapProof(tuple(bad), p.leaf_key, p.leaf_value_hash))
        if p.leaf_key is not None:
            other_vh = hashlib.sha256(b"other").digest()
            with pytest.raises(MapProofError):
                verify_map_proof(root, key, value, MapProof(p.siblings, p.leaf_key, other_vh))
            with pytest.raises(MapProofError):
                verify_map_proof(root, key, value, MapProof(p.siblings))


def test_absence_cannot_be_faked_by_hiding_a_leaf():
    """Swapping the found leaf for EMPTY (or another key) must not verify."""
    m = MerkleMap()
    for i in range(20):
        m.set(K(i), b"v")
    p = m.prove(K(4))
    with pytest.raises(MapProofError):
        verify_map_proof(m.root(), K(4), None, MapProof(p.siblings))
    q = m.prove(K(5))
    with pytest.raises(MapProofError):
        verify_map_proof(m.root(), K(4), None, MapProof(p.siblings, q.leaf_key, q.leaf_value_hash))


def test_root_independent_of_insertion_order_and_delete():
    rng = random.Random(1234)
    pairs = {rng.randbytes(32): rng.randbytes(rng.randrange(0, 40)) for _ in range(300)}
    keys = list(pairs)
    roots = set()
    for _ in range(3):
        rng.shuffle(keys)
        m = MerkleMap()
        for k in keys:
            m.set(k, pairs[k])
        roots.add(m.root())
    assert roots == {ref_root(pairs)}
    assert MerkleMap.from_items(pairs.items()).root() == ref_root(pairs)
    # deleting keys gives the tree built without them
    rng.shuffle(keys)
    for k in keys[:150]:
        assert m.delete(k)
        del pairs[k]
    assert not m.delete(keys[0])
    assert len(m) == 150 and m.root() == MerkleMap.from_items(pairs.items()).root()
    for k in keys[150:]:
        m.delete(k)
    assert len(m) == 0 and m.root() == EMPTY_HASH


def test_delete_collapses_long_chain():
    a, b = with_bits("0" * 255 + "0"), with_bits("0" * 255 + "1")
    c = with_bits("1", 5)
    m = MerkleMap()
    m.set(c, b"x")
    m.set(a, b"a")
    m.set(b, b"b")
    m.delete(b)
    assert m.root() == ref_root({c: b"x", a: b"a"})
    assert len(m.prove(a).siblings) == 1  # back to a shortcut beside c


def test_property_random_maps():
    rng = random.Random(20240601)
    for trial in range(20):
        m, pairs = MerkleMap(), {}
        for _ in range(rng.randrange(0, 60)):
            k = rng.randbytes(32)
            if pairs and rng.random() < 0.3:  # near-collisions: share a random prefix
                base = rng.choice(list(pairs))
                cut = rng.randrange(1, 32)
                k = base[:cut] + rng.randbytes(32 - cut)
            pairs[k] = rng.randbytes(8)
            m.set(k, pairs[k])
        for k in rng.sample(list(pairs), len(pairs) // 4):
            m.delete(k)
            del pairs[k]
        root = m.root()
        assert root == ref_root(pairs), trial
        for k, v in pairs.items():
            verify_map_proof(root, k, v, roundtrip(m.prove(k)))
        for _ in range(10):
            k = rng.randbytes(32)
            verify_map_proof(root, k, None, roundtrip(m.prove(k)))
            with pytest.raises(MapProofError):
                verify_map_proof(root, k, b"x", m.prove(k))


def test_bad_arguments():
    m = MerkleMap()
    with pytest.raises(ValueError):
        m.set(b"short", b"v")
    with pytest.raises(TypeError):
        m.set(K(1), "str")
    with pytest.raises(MapProofError):
        verify_map_proof(m.root(), b"short", None, m.prove(K(1)))
    with pytest.raises(MapProofError):
        verify_map_proof(m.root()[:5], K(1), None, m.prove(K(1)))
    with pytest.raises(MapProofError):
        verify_map_proof(m.root(), K(1), None, {"siblings": [], "leaf": None})


@pytest.mark.parametrize("wire", [
    None,
    [],
    {},
    {"siblings": []},
    {"siblings": [], "leaf": None, "extra": 1},
    {"siblings": "", "leaf": None},
    {"siblings": [""] * 257, "leaf": None},
    {"siblings": ["AAAA"], "leaf": None},
    {"siblings": ["!" * 44], "leaf": None},
    {"siblings": [None], "leaf": None},
    {"siblings": [], "leaf": {"key": "00" * 32}},
    {"siblings": [], "leaf": {"key": "zz" * 32, "value_hash": "A" * 43 + "="}},
    {"siblings": [], "leaf": {"key": "00" * 31, "value_hash": "A" * 43 + "="}},
    {"siblings": [], "leaf": {"key": 5, "value_hash": "A" * 43 + "="}},
    {"siblings": [], "leaf": {"key": "00" * 32, "value_hash": "AAAA"}},
    {"siblings": [], "leaf": "x"},
])
def test_from_wire_rejects_malformed(wire):
    with pytest.raises(EncodingError):
        MapProof.from_wire(wire)


def test_snapshot_is_untouched_by_later_sets_and_deletes():
    """The server answers lookups from a snapshot while a writer changes the map: the
    snapshot's root, values and proofs must stay those of the moment it was taken."""
    rng = random.Random(7)
    m = MerkleMap()
    pairs = {K(i): b"v%d" % i for i in range(200)}
    for k, v in pairs.items():
        m.set(k, v)
    snap = m.snapshot()
    root = snap.root()
    for i in range(200):                      # rewrite, delete and add, in random order
        op = rng.random()
        if op < 0.4:
            m.set(K(i), b"new %d" % i)
        elif op < 0.7:
            m.delete(K(i))
        else:
            m.set(K(1000 + i), b"extra")
    assert m.root() != root
    assert snap.root() == root == ref_root(pairs)
    assert len(snap) == 200
    for k, v in list(pairs.items())[::17]:
        assert snap.get(k) == v
        verify_map_proof(root, k, v, snap.prove(k))
    verify_map_proof(root, K(1001), None, snap.prove(K(1001)))
