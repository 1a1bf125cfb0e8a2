"""Key derivation from a shared seed: the one HMAC rule behind per-user and per-team keys
(and later folder keys).

A generation's seed derives its signing (Ed25519), encryption (Curve25519) and secretbox
keys as HMAC(key=seed, message=reason), one reason per key. Users and teams differ only in
their `Context`: Keybase's reason strings, the hash (SHA-256 for users, SHA-512 cut to 32
bytes for teams), and the typed error a bad seed or generation raises. Keeping one
function means one place that refuses short seeds, blank seeds and bad generations.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from .errors import BadPerUserKey, BadTeamKey, KbappError
from .keys import EncryptionKeyPair, SigningKeyPair

SEED_SIZE = 32
MAX_GENERATION = 1 << 31


@dataclass(frozen=True)
class Context:
    """What one kind of key (users', teams') derives with."""

    name: str                    # "PUK", "team key": for messages
    digest: str                  # hashlib name
    signing: bytes               # reasons
    encryption: bytes
    secretbox: bytes
    error: type[KbappError]


USER = Context("PUK", "sha256", b"Derived-User-NaCl-EdDSA-1", b"Derived-User-NaCl-DH-1",
               b"Derived-User-NaCl-SecretBox-1", BadPerUserKey)
TEAM = Context("team key", "sha512", b"Keybase-Derived-Team-NaCl-EdDSA-1", b"Keybase-Derived-Team-NaCl-DH-1",
               b"Keybase-Derived-Team-NaCl-SecretBox-1", BadTeamKey)


def derive_secret(seed: bytes, reason: bytes, ctx: Context) -> bytes:
    """HMAC-<ctx.digest>(key=seed, message=reason), its first 32 bytes."""
    if not isinstance(seed, (bytes, bytearray)) or len(seed) != SEED_SIZE:
        raise ValueError(f"a {ctx.name} seed is {SEED_SIZE} bytes")
    if not isinstance(reason, bytes) or len(reason) < 8:
        raise ValueError("a derivation reason is at least 8 bytes")
    return hmac.new(bytes(seed), reason, ctx.digest).digest()[:32]


def check_seed(seed: object, ctx: Context) -> bytes:
    if not isinstance(seed, (bytes, bytearray)) or len(seed) != SEED_SIZE:
        raise ctx.error(f"a {ctx.name} seed is {SEED_SIZE} bytes")
    if not any(seed):
        raise ctx.error(f"refusing a blank (all-zero) {ctx.name} seed")
    return bytes(seed)


def check_generation(generation: object, ctx: Context) -> int:
    if type(generation) is not int or not 1 <= generation <= MAX_GENERATION:
        raise ctx.error(f"a {ctx.name} generation is an integer from 1, not {generation!r}")
    return generation


def derive_keys(seed: object, ctx: Context) -> tuple[bytes, SigningKeyPair, EncryptionKeyPair, bytes]:
    """(seed, signing pair, encryption pair, secretbox key) of a checked seed."""
    seed = check_seed(seed, ctx)
    return (seed, SigningKeyPair.from_seed(derive_secret(seed, ctx.signing, ctx)),
            EncryptionKeyPair.from_seed(derive_secret(seed, ctx.encryption, ctx)),
            derive_secret(seed, ctx.secretbox, ctx))

