"""Merkle map: a sparse Merkle tree over 256-bit keys with shortcut leaves.

The server commits to "user/team id -> chain tail" with this map; a client
gets a proof that the value it was served (or its absence) is what the signed
map root says, so the server cannot show a stale chain to one user only.

Shape: the key's bits, most significant first, pick a path from the root
(0 = left). A subtree holding no key is EMPTY; a subtree holding exactly one
key is that key's leaf, wherever it sits (the "shortcut"); anything else is an
interior node. The tree for a set of keys is therefore unique, holds O(n)
nodes, and an update replaces one path of about log2(n) nodes with new ones
(path copying: nodes are immutable, so `snapshot()` is free and a reader of an
older root is never disturbed by a writer).

Hashes (SHA-256; prefixes 0x1_ keep them apart from the log's 0x00 / 0x01):

    leaf(key, value) = SHA-256(0x10 || key || SHA-256(value))
    node(left, right) = SHA-256(0x11 || left || right)
    EMPTY            = SHA-256(0x12)

No depth goes into a hash: a leaf and a node have different prefixes, a leaf
carries its full key (the verifier checks the key matches the path), and the
verifier folds exactly one sibling per path bit, so a leaf cannot pass for a
node, nor move to another place in the tree.

A proof lists the sibling hashes from the root down to where the key's path
ends, and what it ends at: nothing (EMPTY) or the one leaf found there (its
key and value hash). If that leaf has our key, the key is present; if it is
another key, or nothing, our key is absent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..errors import EncodingError, MapProofError

KEY_SIZE = 32
HASH_SIZE = 32
KEY_BITS = 256
MAX_WIRE_SIBLINGS = KEY_BITS

_LEAF = b"\x10"
_NODE = b"\x11"
EMPTY_HASH = hashlib.sha256(b"\x12").digest()

_sha256 = hashlib.sha256


def value_hash(value: bytes) -> bytes:
    return _sha256(value).digest()


def map_leaf_hash(key: bytes, vhash: bytes) -> bytes:
    return _sha256(_LEAF + key + vhash).digest()


def map_node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(_NODE + left + right).digest()


def _bit(key: bytes, depth: int) -> int:
    return (key[depth >> 3] >> (7 - (depth & 7))) & 1


def _common_prefix_bits(a: bytes, b: bytes) -> int:
    return KEY_BITS - (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_length()


def _check_key(key) -> bytes:
    if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_SIZE:
        raise ValueError("map keys are 32 bytes")
    return bytes(key)


class _Leaf:
    __slots__ = ("key", "value", "hash")

    def __init__(self, key: bytes, value: bytes):
        self.key = key
        self.value = value
        self.hash = map_leaf_hash(key, value_hash(value))


class _Node:
    __slots__ = ("left", "right", "hash")

    def __init__(self, left, right):
        self.left = left
        self.right = right
        self.rehash()

    def rehash(self) -> None:
        left, right = self.left, self.right
        self.hash = _sha256(_NODE + (EMPTY_HASH if left is None else left.hash)
                            + (EMPTY_HASH if right is None else right.hash)).digest()


def _h(node) -> bytes:
    return EMPTY_HASH if node is None else node.hash


@dataclass(frozen=True)
class MapProof:
    """Siblings from the root down, and the leaf (if any) where the path ends."""

    siblings: tuple[bytes, ...]
    leaf_key: bytes | None = None
    leaf_value_hash: bytes | None = None

    def to_wire(self) -> dict:
        """JSON-able form: siblings in base64 ("" for EMPTY), the leaf key in hex."""
        out: dict = {"siblings": ["" if s == EMPTY_HASH else base64.b64encode(s).decode() for s in self.siblings]}
        if self.leaf_key is not None:
            out["leaf"] = {"key": self.leaf_key.hex(),
                           "value_hash": base64.b64encode(self.leaf_value_hash).decode()}
        else:
            out["leaf"] = None
        return out

    @classmethod
    def from_wire(cls, obj) -> "MapProof":
        """Parse untrusted input strictly; raise EncodingError on anything odd."""
        if not isinstance(obj, dict) or set(obj) != {"siblings", "leaf"}:
            raise EncodingError("map proof must be an object with 'siblings' and 'leaf'")
        sibs = obj["siblings"]
        if not isinstance(sibs, list) or len(sibs) > MAX_WIRE_SIBLINGS:
            raise EncodingError(f"map proof siblings must be a list of at most {MAX_WIRE_SIBLINGS}")
        siblings = tuple(EMPTY_HASH if s == "" else _b64_hash(s, "sibling") for s in sibs)
        leaf = obj["leaf"]
        if leaf is None:
            return cls(siblings)
        if not isinstance(leaf, dict) or set(leaf) != {"key", "value_hash"}:
            raise EncodingError("map proof leaf must be null or an object with 'key' and 'value_hash'")
        key = leaf["key"]
        if not isinstance(key, str) or len(key) != 2 * KEY_SIZE:
            raise EncodingError("map proof leaf key must be 64 hex digits")
        try:
            key_bytes = bytes.fromhex(key)
        except ValueError:
            raise EncodingError("map proof leaf key is not hex") from None
        return cls(siblings, key_bytes, _b64_hash(leaf["value_hash"], "leaf value hash"))


def _b64_hash(s, what: str) -> bytes:
    if not isinstance(s, str) or len(s) != 44:
        raise EncodingError(f"map proof {what} must be a base64 32-byte hash")
    try:
        out = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise EncodingError(f"map proof {what} is not base64") from None
    if len(out) != HASH_SIZE:
        raise EncodingError(f"map proof {what} must be 32 bytes")
    return out


def verify_map_proof(root: bytes, key: bytes, value: bytes | None, proof: MapProof) -> None:
    """Raise MapProofError unless the map at `root` holds key -> value (None: key absent)."""
    if not isinstance(proof, MapProof):
        raise MapProofError("not a map proof")
    if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_SIZE:
        raise MapProofError("map keys are 32 bytes")
    if not isinstance(root, (bytes, bytearray)) or len(root) != HASH_SIZE:
        raise MapProofError("map root must be 32 bytes")
    key = bytes(key)
    sibs = proof.siblings
    depth = len(sibs)
    if depth > KEY_BITS or any(not isinstance(s, bytes) or len(s) != HASH_SIZE for s in sibs):
        raise MapProofError("map proof siblings must be at most 256 hashes of 32 bytes")
    if depth and sibs[-1] == EMPTY_HASH:
        # In the canonical tree the node where a path ends always has a
        # non-empty sibling, else its parent would be the shortcut or EMPTY.
        raise MapProofError("map proof is not for the canonical tree (last sibling is empty)")
    if proof.leaf_key is None:
        if proof.leaf_value_hash is not None:
            raise MapProofError("map proof has a value hash but no leaf key")
        if value is not None:
            raise MapProofError("map proof says the key is absent, but a value was expected")
        h = EMPTY_HASH
    else:
        lkey, vh = proof.leaf_key, proof.leaf_value_hash
        if not isinstance(lkey, bytes) or len(lkey) != KEY_SIZE or not isinstance(vh, bytes) or len(vh) != HASH_SIZE:
            raise MapProofError("map proof leaf must have a 32-byte key and value hash")
        if _common_prefix_bits(lkey, key) < depth:
            raise MapProofError("map proof leaf does not lie on the key's path")
        if lkey == key:
            if value is None:
                raise MapProofError("map proof shows the key present, but absence was expected")
            if not hmac.compare_digest(vh, value_hash(value)):
                raise MapProofError("map proof is for a different value of this key")
        elif value is not None:
            raise MapProofError("map proof shows another key where this key would be: it is absent")
        h = map_leaf_hash(lkey, vh)
    for d in range(depth - 1, -1, -1):
        h = map_node_hash(sibs[d], h) if _bit(key, d) else map_node_hash(h, sibs[d])
    if not hmac.compare_digest(h, bytes(root)):
        raise MapProofError("map proof does not lead to the map root")


class MerkleMap:
    """In-memory Merkle map from 32-byte keys to byte values."""

    __slots__ = ("_root", "_len")

    def __init__(self) -> None:
        self._root = None
        self._len = 0

    @classmethod
    def from_items(cls, items: Iterable[tuple[bytes, bytes]]) -> "MerkleMap":
        """Bulk build (server start): each node is hashed once. Later duplicates win."""
        m = cls()
        pairs = {}
        for k, v in items:
            pairs[_check_key(k)] = bytes(v)
        leaves = [_Leaf(k, pairs[k]) for k in sorted(pairs)]
        m._root = _build(leaves, 0, len(leaves), 0)
        m._len = len(leaves)
        return m

    def __len__(self) -> int:
        return self._len

    def __contains__(self, key) -> bool:
        return self.get(key) is not None

    def root(self) -> bytes:
        return _h(self._root)

    def get(self, key: bytes) -> bytes | None:
        key = _check_key(key)
        node, depth = self._root, 0
        while isinstance(node, _Node):
            node = node.right if _bit(key, depth) else node.left
            depth += 1
        if node is not None and node.key == key:
            return node.value
        return None

    def _walk(self, key: bytes) -> tuple[list, object]:
        """The interior nodes on key's path, and what the path ends at."""
        path, node, depth = [], self._root, 0
        while isinstance(node, _Node):
            path.append(node)
            node = node.right if _bit(key, depth) else node.left
            depth += 1
        return path, node

    def _attach(self, key: bytes, path: list, child) -> None:
        """Put child where key's path ends, copying the path above it (nodes are never
        changed in place, so a snapshot taken earlier keeps answering for its root)."""
        for depth in range(len(path) - 1, -1, -1):
            node = path[depth]
            child = _Node(node.left, child) if _bit(key, depth) else _Node(child, node.right)
        self._root = child

    def snapshot(self) -> "MerkleMap":
        """A frozen view of the map as it is now, in O(1): later writes copy paths and
        leave it untouched, so a reader may use it from another thread without a lock."""
        view = MerkleMap.__new__(MerkleMap)
        view._root, view._len = self._root, self._len
        return view

    def set(self, key: bytes, value: bytes) -> None:
        key = _check_key(key)
        if not isinstance(value, (bytes, bytearray)):
            raise TypeError("map values are bytes")
        value = bytes(value)
        path, end = self._walk(key)
        depth = len(path)
        if end is None:
            new = _Leaf(key, value)
            self._len += 1
        elif end.key == key:
            if end.value == value:
                return
            new = _Leaf(key, value)
        else:  # split the shortcut: interior nodes down to where the keys differ
            split = _common_prefix_bits(key, end.key)
            leaf = _Leaf(key, value)
            new = _Node(end, leaf) if _bit(key, split) else _Node(leaf, end)
            for d in range(split - 1, depth - 1, -1):
                new = _Node(None, new) if _bit(key, d) else _Node(new, None)
            self._len += 1
        self._attach(key, path, new)

    def delete(self, key: bytes) -> bool:
        """Remove key; return whether it was there. Collapses back to shortcuts."""
        key = _check_key(key)
        path, end = self._walk(key)
        if end is None or end.key != key:
            return False
        self._len -= 1
        repl = None  # what replaces the subtree at depth i + 1: nothing or one leaf
        for i in range(len(path) - 1, -1, -1):
            node = path[i]
            sib = node.left if _bit(key, i) else node.right
            if isinstance(sib, _Node) or (sib is not None and repl is not None):
                self._attach(key, path[:i + 1], repl)  # node keeps two non-trivial sides
                return True
            repl = sib if repl is None else repl  # node holds at most one leaf: collapse it
        self._root = repl
        return True

    def prove(self, key: bytes) -> MapProof:
        key = _check_key(key)
        sibs, node, depth = [], self._root, 0
        while isinstance(node, _Node):
            if _bit(key, depth):
                sibs.append(_h(node.left))
                node = node.right
            else:
                sibs.append(_h(node.right))
                node = node.left
            depth += 1
        if node is None:
            return MapProof(tuple(sibs))
        return MapProof(tuple(sibs), node.key, value_hash(node.value))

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) pairs in key order."""
        stack = [self._root]
        while stack:
            node = stack.pop()
            if node is None:
                continue
            if isinstance(node, _Leaf):
                yield node.key, node.value
            else:
                stack.append(node.right)
                stack.append(node.left)

    def keys(self) -> Iterator[bytes]:
        return (k for k, _ in self.items())


def _build(leaves: list[_Leaf], lo: int, hi: int, depth: int):
    """Canonical subtree over sorted leaves[lo:hi], all sharing `depth` prefix bits."""
    if lo == hi:
        return None
    if hi - lo == 1:
        return leaves[lo]
    # first leaf whose bit at `depth` is 1 (keys are sorted, so bits are 0...0 1...1)
    a, b = lo, hi
    while a < b:
        mid = (a + b) // 2
        if _bit(leaves[mid].key, depth):
            b = mid
        else:
            a = mid + 1
    return _Node(_build(leaves, lo, a, depth + 1), _build(leaves, a, hi, depth + 1))
