"""RFC 6962 / RFC 9162 Merkle log: hashing, an append-only tree, proofs.

The server publishes each Merkle-map root as a leaf of this log; clients check
inclusion proofs (the leaf is in the signed tree) and consistency proofs (the
tree only grew), which is what stops the server from rewriting history or
showing different users different trees.

Hashes: leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right),
empty tree = SHA-256(""). Verification follows RFC 9162 sections 2.1.3.2 and
2.1.4.2.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from ..errors import ConsistencyProofError, InclusionProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
MAX_PROOF_LEN = 64  # a tree of fewer than 2**64 leaves never needs more

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + bytes(left) + bytes(right)).digest()


def _check_int(value, what: str, error: type[Exception]) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value >= 1 << 64:
        raise error(f"{what} must be an integer in [0, 2**64), got {value!r}")


def _check_hashes(proof, error: type[Exception]) -> list[bytes]:
    if not isinstance(proof, (list, tuple)):
        raise error("proof must be a list of hashes")
    if len(proof) > MAX_PROOF_LEN:
        raise error(f"proof has {len(proof)} hashes, more than any tree needs")
    for h in proof:
        if not isinstance(h, (bytes, bytearray)) or len(h) != HASH_SIZE:
            raise error("proof holds something that is not a 32-byte hash")
    return [bytes(h) for h in proof]


def root_from_inclusion_proof(leaf_hash: bytes, index: int, size: int, proof: list[bytes]) -> bytes:
    """The root that `proof` implies for leaf `index` of a tree of `size`.

    Raises InclusionProofError when the proof cannot fit that position at all
    (wrong length, index out of range); the caller still compares the root.
    """
    _check_int(index, "leaf index", InclusionProofError)
    _check_int(size, "tree size", InclusionProofError)
    if index >= size:
        raise InclusionProofError(f"leaf index {index} is not below tree size {size}")
    if not isinstance(leaf_hash, (bytes, bytearray)) or len(leaf_hash) != HASH_SIZE:
        raise InclusionProofError("leaf hash must be 32 bytes")
    proof = _check_hashes(proof, InclusionProofError)
    fn, sn = index, size - 1
    r = bytes(leaf_hash)
    for p in proof:
        if sn == 0:
            raise InclusionProofError(f"proof is too long for leaf {index} of a tree of {size}")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InclusionProofError(f"proof is too short for leaf {index} of a tree of {size}")
    return r


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> None:
    """Raise InclusionProofError unless `leaf_hash` is leaf `index` of the tree `root`."""
    got = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if not isinstance(root, (bytes, bytearray)) or not hmac.compare_digest(got, bytes(root)):
        raise InclusionProofError(f"inclusion proof for leaf {index} does not lead to the root of size {size}")


def verify_consistency(size1: int, size2: int, proof: list[bytes], root1: bytes, root2: bytes) -> None:
    """Raise ConsistencyProofError unless tree (size1, root1) is a prefix of (size2, root2).

    A proof from the empty tree proves nothing, so it is refused: a client
    that trusts no checkpoint yet has nothing to compare.
    """
    _check_int(size1, "size1", ConsistencyProofError)
    _check_int(size2, "size2", ConsistencyProofError)
    if not isinstance(root1, (bytes, bytearray)) or not isinstance(root2, (bytes, bytearray)):
        raise ConsistencyProofError("roots must be bytes")
    proof = _check_hashes(proof, ConsistencyProofError)
    if size2 < size1:
        raise ConsistencyProofError(f"the tree shrank from {size1} to {size2}")
    if size1 == size2:
        if proof:
            raise ConsistencyProofError("sizes are equal, so the proof must be empty")
        if size1 == 0 and not hmac.compare_digest(bytes(root1), EMPTY_ROOT):
            raise ConsistencyProofError("the root of an empty tree is SHA-256 of nothing")
        if not hmac.compare_digest(bytes(root1), bytes(root2)):
            raise ConsistencyProofError(f"two different roots for the same size {size1}")
        return
    if size1 == 0:
        raise ConsistencyProofError("a consistency proof from the empty tree proves nothing")
    if not proof:
        raise ConsistencyProofError(f"empty proof from size {size1} to {size2}")
    if len(root1) != HASH_SIZE or len(root2) != HASH_SIZE:
        raise ConsistencyProofError("roots must be 32 bytes")
    if size1 & (size1 - 1) == 0:  # size1 is a perfect subtree: its root starts the path
        proof = [bytes(root1)] + proof
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            raise ConsistencyProofError(f"proof is too long for sizes {size1} -> {size2}")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ConsistencyProofError(f"proof is too short for sizes {size1} -> {size2}")
    if not hmac.compare_digest(fr, bytes(root1)):
        raise ConsistencyProofError(f"proof does not lead to the root of size {size1}")
    if not hmac.compare_digest(sr, bytes(root2)):
        raise ConsistencyProofError(f"proof does not lead to the root of size {size2}")


def _split(n: int) -> int:
    """Largest power of two strictly below n (n >= 2): RFC 6962's k."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleLog:
    """Append-only RFC 6962 tree kept as one bytearray of 32-byte hashes per level.

    Level k holds, in order, the hash of every complete subtree of 2**k leaves
    (level 0 = leaf hashes). That is about 64 bytes per leaf, each append costs
    amortised one node hash, and any node of any earlier tree size is either
    stored or folded from at most log2(n) stored pieces, so roots and proofs
    cost O(log n).
    """

    __slots__ = ("_levels",)

    def __init__(self) -> None:
        self._levels: list[bytearray] = [bytearray()]

    @classmethod
    def from_leaf_hashes(cls, hashes: Iterable[bytes]) -> "MerkleLog":
        """Rebuild from stored leaf hashes, hashing each level in one pass."""
        log = cls()
        level = bytearray()
        for h in hashes:
            if len(h) != HASH_SIZE:
                raise ValueError("leaf hashes must be 32 bytes")
            level += h
        log._levels = [level]
        while len(level) >= 2 * HASH_SIZE:
            mv = memoryview(level)
            parent = bytearray()
            for off in range(0, len(level) - 2 * HASH_SIZE + 1, 2 * HASH_SIZE):
                h = _sha256(b"\x01")
                h.update(mv[off:off + 2 * HASH_SIZE])
                parent += h.digest()
            mv.release()
            log._levels.append(parent)
            level = parent
        return log

    @property
    def size(self) -> int:
        return len(self._levels[0]) // HASH_SIZE

    def __len__(self) -> int:
        return self.size

    def append(self, data: bytes) -> int:
        """Add a leaf holding `data`; return its index."""
        return self.append_hash(leaf_hash(data))

    def append_hash(self, leaf_hash: bytes) -> int:
        """Add a leaf by its hash; return its index."""
        if not isinstance(leaf_hash, (bytes, bytearray)) or len(leaf_hash) != HASH_SIZE:
            raise ValueError("leaf hash must be 32 bytes")
        levels = self._levels
        index = len(levels[0]) // HASH_SIZE
        h = bytes(leaf_hash)
        levels[0] += h
        n, k = index, 0
        while n & 1:  # the new leaf completed a subtree of 2**(k+1) leaves
            left = levels[k][-2 * HASH_SIZE:-HASH_SIZE]
            h = _sha256(b"\x01" + left + h).digest()
            k += 1
            if k == len(levels):
                levels.append(bytearray())
            levels[k] += h
            n >>= 1
        return index

    def truncate(self, size: int) -> None:
        """Drop every leaf from `size` on (undo appends that were not committed)."""
        if not isinstance(size, int) or not 0 <= size <= self.size:
            raise ValueError(f"cannot truncate a log of {self.size} leaves to {size!r}")
        for k, level in enumerate(self._levels):
            del level[(size >> k) * HASH_SIZE:]
        while len(self._levels) > 1 and not self._levels[-1]:
            self._levels.pop()

    def leaf_hash_at(self, index: int) -> bytes:
        if not isinstance(index, int) or not 0 <= index < self.size:
            raise IndexError(f"no leaf {index!r} in a log of {self.size}")
        return self._node(0, index)

    def _node(self, level: int, i: int) -> bytes:
        off = i * HASH_SIZE
        return bytes(self._levels[level][off:off + HASH_SIZE])

    def _hash(self, begin: int, end: int) -> bytes:
        """MTH of leaves [begin, end): a node of the RFC 6962 tree, begin aligned.

        A perfect subtree is one lookup; an incomplete one (on the right edge
        of a tree) is folded right to left from its perfect pieces.
        """
        n = end - begin
        if n & (n - 1) == 0:
            level = n.bit_length() - 1
            return self._node(level, begin >> level)
        pieces = []
        for level in range(n.bit_length() - 1, -1, -1):
            if n >> level & 1:
                pieces.append(self._node(level, begin >> level))
                begin += 1 << level
        h = pieces.pop()
        while pieces:
            h = node_hash(pieces.pop(), h)
        return h

    def _size_arg(self, size: int | None) -> int:
        if size is None:
            return self.size
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= self.size:
            raise ValueError(f"size {size!r} is not in [0, {self.size}]")
        return size

    def root(self, size: int | None = None) -> bytes:
        """Root hash of the tree of the first `size` leaves (default: all)."""
        size = self._size_arg(size)
        return EMPTY_ROOT if size == 0 else self._hash(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 6962 PATH(index, D[0:size]), leaf to root."""
        size = self._size_arg(size)
        if not isinstance(index, int) or not 0 <= index < size:
            raise ValueError(f"leaf index {index!r} is not below tree size {size}")
        proof = []
        begin, end = 0, size
        while end - begin > 1:
            mid = begin + _split(end - begin)
            if index < mid:
                proof.append(self._hash(mid, end))
                end = mid
            else:
                proof.append(self._hash(begin, mid))
                begin = mid
        proof.reverse()
        return proof

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """RFC 6962 PROOF(size1, D[0:size2]), deepest node first."""
        size2 = self._size_arg(size2)
        if not isinstance(size1, int) or not 0 < size1 <= size2:
            raise ValueError(f"no consistency proof from {size1!r} to {size2}")
        proof = []
        begin, end, whole = 0, size2, True
        while size1 != end:
            mid = begin + _split(end - begin)
            if size1 <= mid:
                proof.append(self._hash(mid, end))
                end = mid
            else:
                proof.append(self._hash(begin, mid))
                begin, whole = mid, False
        if not whole:
            proof.append(self._hash(begin, end))
        proof.reverse()
        return proof
