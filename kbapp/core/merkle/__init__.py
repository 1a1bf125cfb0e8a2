"""Transparency-log core: RFC 6962 log, sparse Merkle map, signed checkpoints.

Pure logic (no I/O, clock or network). See docs/architecture.md.
"""

from .log import (
    EMPTY_ROOT,
    MerkleLog,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from .note import (
    Checkpoint,
    VerifierKey,
    key_fingerprint,
    key_id,
    open_note,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
    verifier_key,
    verify_checkpoint,
)
from .smt import EMPTY_HASH, MapProof, MerkleMap, verify_map_proof

__all__ = [
    "Checkpoint",
    "VerifierKey",
    "key_fingerprint",
    "key_id",
    "open_note",
    "parse_verifier_key",
    "sign_checkpoint",
    "sign_note",
    "verifier_key",
    "verify_checkpoint",
    "EMPTY_HASH",
    "MapProof",
    "MerkleMap",
    "verify_map_proof",
    "EMPTY_ROOT",
    "MerkleLog",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]
