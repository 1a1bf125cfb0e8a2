"""Per-user keys (PUK): one 32-byte seed per generation, shared by a user's devices.

Derivation follows Keybase (go/libkb per_user_key.go, DeriveFromSecret):
HMAC-SHA256 with the *seed as the key* and the reason string as the message,

    signing    Ed25519 seed     = HMAC-SHA256(seed, "Derived-User-NaCl-EdDSA-1")
    encryption Curve25519 secret = HMAC-SHA256(seed, "Derived-User-NaCl-DH-1")
    secretbox  key              = HMAC-SHA256(seed, "Derived-User-NaCl-SecretBox-1")

so our PUK KIDs are the ones Keybase would compute from the same seed. Keybase
uses the secretbox key to chain the previous generation's seed; we do too,
under a domain-separated subkey (see core/boxes.py).

Seed boxes carry a seed to one device: NaCl box from a fresh ephemeral key to
the device's Curve25519 subkey, with the generation and the recipient inside
the sealed plaintext, so the server cannot relabel a box for another
generation or device. An ephemeral sender authenticates nobody: anyone can box
*some* seed to a device. The proof that a seed is the user's is that its
derived keys equal the PUK KIDs on the verified sigchain, so callers pass
those KIDs to open_seed_box / decrypt_prev_seed (or call PerUserKey.check).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import nacl.exceptions
import nacl.public

from .boxes import secretbox_open, secretbox_seal
from .derive import USER, check_generation, check_seed, derive_keys, derive_secret
from .encoding import pack, unpack
from .errors import BadKID, BadPerUserKey, DecryptionError, EncodingError
from .keys import EncryptionKeyPair, SigningKeyPair, kid_hex

SEED_SIZE = 32
NONCE_SIZE = nacl.public.Box.NONCE_SIZE  # 24
REASON_SIGNING, REASON_ENCRYPTION, REASON_SECRETBOX = USER.signing, USER.encryption, USER.secretbox

SEED_BOX_VERSION = 1
SEED_BOX_CONTEXT = "kbapp-puk-seed-box-v1"
PREV_BOX_VERSION = 1
PREV_BOX_CONTEXT = b"kbapp-puk-prev-seed-v1"
MAX_BOX_SIZE = 1024
MAX_GENERATION = 1 << 31


def derive_from_secret(seed: bytes, reason: bytes) -> bytes:
    """Keybase's DeriveFromSecret: HMAC-SHA256(key=seed, message=reason) (core/derive.py)."""
    return derive_secret(seed, reason, USER)


def _check_generation(generation: object) -> int:
    return check_generation(generation, USER)


def _check_seed(seed: object) -> bytes:
    return check_seed(seed, USER)


def _same_kid(expected: bytes | str, actual: bytes) -> bool:
    try:
        return kid_hex(expected) == actual.hex()
    except BadKID:
        return False


@dataclass(frozen=True)
class PerUserKey:
    """One generation of a user's keys, all derived from `seed`."""

    generation: int
    seed: bytes = field(repr=False)
    signing: SigningKeyPair = field(repr=False)
    encryption: EncryptionKeyPair = field(repr=False)
    secretbox_key: bytes = field(repr=False)

    @classmethod
    def derive(cls, seed: bytes, generation: int) -> "PerUserKey":
        seed, signing, encryption, secretbox_key = derive_keys(seed, USER)
        return cls(generation=_check_generation(generation), seed=seed, signing=signing,
                   encryption=encryption, secretbox_key=secretbox_key)

    @property
    def signing_kid(self) -> bytes:
        return self.signing.kid

    @property
    def encryption_kid(self) -> bytes:
        return self.encryption.kid

    def check(self, *, signing_kid: bytes | str | None = None,
              encryption_kid: bytes | str | None = None) -> "PerUserKey":
        """Raise BadPerUserKey unless the derived keys are the ones the chain names."""
        if signing_kid is not None and not _same_kid(signing_kid, self.signing.kid):
            raise BadPerUserKey(f"PUK generation {self.generation}: signing key differs from the chain's")
        if encryption_kid is not None and not _same_kid(encryption_kid, self.encryption.kid):
            raise BadPerUserKey(f"PUK generation {self.generation}: encryption key differs from the chain's")
        return self


def _check_bytes(name: str, value: object, size: int) -> bytes:
    if not isinstance(value, (bytes, bytearray)) or len(value) != size:
        raise ValueError(f"{name} must be {size} bytes")
    return bytes(value)


def _unpack_map(data: object, what: str) -> dict:
    if not isinstance(data, (bytes, bytearray)):
        raise BadPerUserKey(f"{what} is not bytes")
    try:
        obj = unpack(bytes(data), max_size=MAX_BOX_SIZE, max_depth=2)
    except EncodingError as e:
        raise BadPerUserKey(f"{what} is malformed: {e}") from None
    if not isinstance(obj, dict):
        raise BadPerUserKey(f"{what} is not a map")
    return obj


def box_seed(seed: bytes, generation: int, recipient_enc_public: bytes, *,
             ephemeral_secret: bytes, nonce: bytes) -> bytes:
    """Seal a PUK seed for one device's encryption key.

    `ephemeral_secret` (32) and `nonce` (24) must be fresh random bytes.
    """
    seed = _check_seed(seed)
    generation = _check_generation(generation)
    recipient_enc_public = _check_bytes("recipient_enc_public", recipient_enc_public, 32)
    eph = nacl.public.PrivateKey(_check_bytes("ephemeral_secret", ephemeral_secret, 32))
    nonce = _check_bytes("nonce", nonce, NONCE_SIZE)
    plaintext = pack({"ctx": SEED_BOX_CONTEXT, "gen": generation, "seed": seed,
                      "to": recipient_enc_public})
    sealed = nacl.public.Box(eph, nacl.public.PublicKey(recipient_enc_public)).encrypt(plaintext, nonce)
    return pack({"ct": bytes(sealed.ciphertext), "eph": bytes(eph.public_key), "nonce": nonce,
                 "v": SEED_BOX_VERSION})


def open_seed_box(box: bytes, recipient: EncryptionKeyPair, expected_generation: int, *,
                  expected_signing_kid: bytes | str | None = None,
                  expected_encryption_kid: bytes | str | None = None) -> bytes:
    """The seed in a box made by box_seed, or BadPerUserKey.

    Fails if the box is malformed, is not for `recipient`, is for another
    generation, or (when the chain's PUK KIDs are passed, as they should be)
    holds a seed whose keys are not the user's.
    """
    expected_generation = _check_generation(expected_generation)
    outer = _unpack_map(box, "PUK seed box")
    if outer.get("v") != SEED_BOX_VERSION:
        raise BadPerUserKey(f"unsupported PUK seed box version {outer.get('v')!r}")
    eph, nonce, ct = outer.get("eph"), outer.get("nonce"), outer.get("ct")
    if not (isinstance(eph, bytes) and len(eph) == 32 and isinstance(nonce, bytes)
            and len(nonce) == NONCE_SIZE and isinstance(ct, bytes)):
        raise BadPerUserKey("PUK seed box fields are missing or the wrong size")
    try:
        plaintext = nacl.public.Box(recipient.private, nacl.public.PublicKey(eph)).decrypt(ct, nonce)
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        raise BadPerUserKey("PUK seed box does not open with this device's key") from None
    inner = _unpack_map(bytes(plaintext), "PUK seed box contents")
    if inner.get("ctx") != SEED_BOX_CONTEXT:
        raise BadPerUserKey("PUK seed box has the wrong context")
    if inner.get("to") != recipient.public:
        raise BadPerUserKey("PUK seed box was sealed for another device")
    if inner.get("gen") != expected_generation:
        raise BadPerUserKey(
            f"PUK seed box is for generation {inner.get('gen')!r}, expected {expected_generation}")
    seed = _check_seed(inner.get("seed"))
    PerUserKey.derive(seed, expected_generation).check(
        signing_kid=expected_signing_kid, encryption_kid=expected_encryption_kid)
    return seed


def encrypt_prev_seed(new_puk: PerUserKey, prev_seed: bytes, nonce: bytes) -> bytes:
    """Seal generation n-1's seed under generation n's secretbox key.

    Stored beside generation n, so whoever holds the newest seed unrolls the
    whole history while a device removed before the rotation learns nothing new.
    """
    if new_puk.generation < 2:
        raise BadPerUserKey("generation 1 has no previous seed")
    prev_seed = _check_seed(prev_seed)
    plaintext = pack({"gen": new_puk.generation - 1, "seed": prev_seed})
    sealed = secretbox_seal(new_puk.secretbox_key, plaintext, nonce, PREV_BOX_CONTEXT)
    return pack({"box": sealed, "v": PREV_BOX_VERSION})


def decrypt_prev_seed(new_puk: PerUserKey, prev_box: bytes, *,
                      expected_signing_kid: bytes | str | None = None,
                      expected_encryption_kid: bytes | str | None = None) -> bytes:
    """Generation n-1's seed from the prev box stored with generation n, or BadPerUserKey."""
    if new_puk.generation < 2:
        raise BadPerUserKey("generation 1 has no previous seed")
    outer = _unpack_map(prev_box, "PUK prev box")
    if outer.get("v") != PREV_BOX_VERSION or not isinstance(outer.get("box"), bytes):
        raise BadPerUserKey("PUK prev box has an unknown version or no box")
    try:
        plaintext = secretbox_open(new_puk.secretbox_key, outer["box"], PREV_BOX_CONTEXT)
    except DecryptionError:
        raise BadPerUserKey(
            f"PUK prev box does not open with generation {new_puk.generation}'s key") from None
    inner = _unpack_map(plaintext, "PUK prev box contents")
    prev_generation = new_puk.generation - 1
    if inner.get("gen") != prev_generation:
        raise BadPerUserKey(
            f"PUK prev box holds generation {inner.get('gen')!r}, expected {prev_generation}")
    seed = _check_seed(inner.get("seed"))
    PerUserKey.derive(seed, prev_generation).check(
        signing_kid=expected_signing_kid, encryption_kid=expected_encryption_kid)
    return seed


def recover_all(newest: PerUserKey, prev_boxes: Mapping[int, bytes], *,
                expected_kids: Mapping[int, tuple[bytes | str, bytes | str]] | None = None,
                ) -> dict[int, PerUserKey]:
    """Every generation from `newest` down to 1.

    `prev_boxes[g]` is the prev box stored with generation g (it holds g-1).
    `expected_kids[g]` = (signing_kid, encryption_kid) from the verified chain;
    when given, every generation's keys (newest included) must match.
    """
    expected_kids = expected_kids or {}
    if newest.generation in expected_kids:
        newest.check(signing_kid=expected_kids[newest.generation][0],
                     encryption_kid=expected_kids[newest.generation][1])
    out = {newest.generation: newest}
    current = newest
    while current.generation > 1:
        box = prev_boxes.get(current.generation)
        if box is None:
            raise BadPerUserKey(f"missing the prev box for PUK generation {current.generation}")
        sign_kid, enc_kid = expected_kids.get(current.generation - 1, (None, None))
        seed = decrypt_prev_seed(current, box, expected_signing_kid=sign_kid,
                                 expected_encryption_kid=enc_kid)
        current = PerUserKey.derive(seed, current.generation - 1)
        out[current.generation] = current
    return out
