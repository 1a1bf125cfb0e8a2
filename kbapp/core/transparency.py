"""What the transparency log commits to, and how a client checks a lookup.

The server keeps a Merkle map (`smt.MerkleMap`) from a user or team id to its
chain tail. After every write it appends the new map root to an RFC 6962 log
(leaf i = root of the map at epoch i) and signs a checkpoint of the log. A
lookup is only trusted when its map proof leads to the map root in the *last*
leaf of a checkpoint the client has verified: so the server can neither show
an old tail (that root is not the last leaf) nor a forged one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .encoding import b64decode, hexdecode, pack, unpack
from .errors import ChainTailMismatch, EncodingError, InclusionProofError
from .merkle.log import leaf_hash, verify_inclusion
from .merkle.note import Checkpoint
from .merkle.smt import MapProof, verify_map_proof

LEAF_VERSION = 1
VALUE_VERSION = 1
MAX_PROOF_NODES = 64


def map_key(kind: str, ident: str) -> bytes:
    """The 32-byte map key of a user ('user'), team ('team') or folder ('folder') id."""
    if kind not in ("user", "team", "folder"):
        raise ValueError(f"unknown map key kind {kind!r}")
    return hashlib.sha256(f"kbapp-map-key:{kind}:{ident}".encode()).digest()


@dataclass(frozen=True)
class ChainTail:
    seqno: int
    link_id: str  # hex
    eldest_kid: str  # hex

    def encode(self) -> bytes:
        return pack([VALUE_VERSION, self.seqno, bytes.fromhex(self.link_id), bytes.fromhex(self.eldest_kid)])

    @classmethod
    def decode(cls, data: bytes) -> "ChainTail":
        obj = unpack(data, max_size=256, max_depth=2)
        if (not isinstance(obj, list) or len(obj) != 4 or obj[0] != VALUE_VERSION
                or not isinstance(obj[1], int) or obj[1] < 1
                or not isinstance(obj[2], bytes) or len(obj[2]) != 32
                or not isinstance(obj[3], bytes) or len(obj[3]) != 35):
            raise EncodingError("malformed chain tail in the Merkle map")
        return cls(obj[1], obj[2].hex(), obj[3].hex())


@dataclass(frozen=True)
class FolderHead:
    """A folder's map value: its newest revision number and that revision's id (docs/protocol.md
    "Encrypted folders"): a reader checks the revisions it was served end exactly there."""

    revision: int
    revision_id: str  # hex, 32 bytes

    def encode(self) -> bytes:
        return pack([VALUE_VERSION, self.revision, bytes.fromhex(self.revision_id)])

    @classmethod
    def decode(cls, data: bytes) -> "FolderHead":
        obj = unpack(data, max_size=256, max_depth=2)
        if (not isinstance(obj, list) or len(obj) != 3 or obj[0] != VALUE_VERSION
                or type(obj[1]) is not int or obj[1] < 1
                or not isinstance(obj[2], bytes) or len(obj[2]) != 32):
            raise EncodingError("malformed folder head in the Merkle map")
        return cls(obj[1], obj[2].hex())


@dataclass(frozen=True)
class LogLeaf:
    epoch: int
    map_root: bytes
    ctime: int

    def encode(self) -> bytes:
        return pack([LEAF_VERSION, self.epoch, self.map_root, self.ctime])

    @classmethod
    def decode(cls, data: bytes) -> "LogLeaf":
        obj = unpack(data, max_size=256, max_depth=2)
        if (not isinstance(obj, list) or len(obj) != 4 or obj[0] != LEAF_VERSION
                or not isinstance(obj[1], int) or obj[1] < 0
                or not isinstance(obj[2], bytes) or len(obj[2]) != 32
                or not isinstance(obj[3], int)):
            raise EncodingError("malformed log leaf")
        return cls(obj[1], obj[2], obj[3])


def _proof_list(items, what: str) -> list[bytes]:
    if not isinstance(items, list) or len(items) > MAX_PROOF_NODES:
        raise EncodingError(f"{what} must be a list of at most {MAX_PROOF_NODES} hashes")
    out = [b64decode(x, max_size=64) if isinstance(x, str) else None for x in items]
    if any(h is None or len(h) != 32 for h in out):
        raise EncodingError(f"{what} holds something that is not a 32-byte hash")
    return out


def verify_lookup(bundle: dict, checkpoint: Checkpoint, key: bytes,
                  decode=None) -> tuple[ChainTail | None, LogLeaf]:
    """Check a lookup bundle against a verified checkpoint; return the tail (or, with
    `decode=FolderHead.decode`, a folder head).

    Raises a ProofError subclass or EncodingError; returns (None, leaf) when
    the map proves the key absent.
    """
    if not isinstance(bundle, dict):
        raise EncodingError("lookup bundle is not an object")
    if checkpoint.size < 1:
        raise InclusionProofError("the log is empty: nothing can be looked up")
    index = bundle.get("leaf_index")
    if index != checkpoint.size - 1:
        raise InclusionProofError(
            f"lookup is against leaf {index!r}, not the newest leaf {checkpoint.size - 1} of the checkpoint")
    leaf_data = b64decode(bundle.get("leaf_data", ""), max_size=256)
    proof = _proof_list(bundle.get("inclusion"), "inclusion proof")
    verify_inclusion(leaf_hash(leaf_data), index, checkpoint.size, proof, checkpoint.root)
    leaf = LogLeaf.decode(leaf_data)
    if leaf.epoch != index:
        raise InclusionProofError(f"leaf says epoch {leaf.epoch} but sits at index {index}")
    raw_value = bundle.get("value")
    value = None if raw_value is None else b64decode(raw_value, max_size=256)
    map_proof = MapProof.from_wire(bundle.get("map_proof"))
    verify_map_proof(leaf.map_root, key, value, map_proof)
    return (None if value is None else (decode or ChainTail.decode)(value)), leaf


def check_tail(tail: ChainTail | None, seqno: int, link_id: str, eldest_kid: str) -> None:
    """The chain we played back must end exactly where the map says."""
    if tail is None:
        raise ChainTailMismatch("the Merkle map has no entry for this chain")
    if tail.seqno != seqno or tail.link_id != link_id:
        raise ChainTailMismatch(
            f"chain served ends at seqno {seqno} but the Merkle map says {tail.seqno}"
            if tail.seqno != seqno else "chain tail link id differs from the Merkle map")
    if tail.eldest_kid != eldest_kid:
        raise ChainTailMismatch("eldest key differs from the Merkle map")


def parse_hash_hex(text: str) -> bytes:
    return hexdecode(text, length=32)
