"""Key pairs, KIDs and NaCl signature packets in Keybase's encoding.

A KID is `01 <type> <32-byte public key> 0a`: type 0x20 for Ed25519 signing
keys, 0x21 for Curve25519 encryption keys. A signature packet is a base64
msgpack map; version 1 signs the payload itself (what Keybase's vectors use),
version 2 signs `prefix || 0x00 || payload` so that a signature made for one
purpose can never be replayed as another.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import nacl.bindings
import nacl.exceptions
import nacl.public
import nacl.signing

from .encoding import b64decode, b64encode, hexdecode, pack, unpack
from .errors import BadKID, BadSignature, EncodingError

ED25519_KID_TYPE = 0x20
CURVE25519_KID_TYPE = 0x21
KID_SUFFIX = 0x0A
SIG_TAG = 514  # Keybase's PacketTagSignature
SIG_TYPE_ED25519 = 32
HASH_TYPE_SHA256 = 10
SIG_ID_SUFFIX = b"\x0f"
MAX_SIG_PACKET = 256 * 1024

# Context prefixes: one per purpose, never reused.
PREFIX_SIGCHAIN = b"kbapp-sigchain-link-v1"
PREFIX_REVERSE_SIG = b"kbapp-sigchain-reverse-v1"


@dataclass(frozen=True)
class KID:
    kind: int
    public: bytes

    @property
    def raw(self) -> bytes:
        return bytes([0x01, self.kind]) + self.public + bytes([KID_SUFFIX])

    @property
    def hex(self) -> str:
        return self.raw.hex()


def make_kid(kind: int, public: bytes) -> bytes:
    return bytes([0x01, kind]) + public + bytes([KID_SUFFIX])


def parse_kid(kid: bytes | str) -> KID:
    if isinstance(kid, str):
        try:
            kid = hexdecode(kid)
        except EncodingError:
            raise BadKID(f"KID is not hex: {kid[:80]!r}") from None
    if not isinstance(kid, (bytes, bytearray)) or len(kid) != 35:
        raise BadKID("KID must be 35 bytes")
    if kid[0] != 0x01 or kid[-1] != KID_SUFFIX or kid[1] not in (ED25519_KID_TYPE, CURVE25519_KID_TYPE):
        raise BadKID(f"unknown KID format {bytes(kid[:2]).hex()}..{bytes(kid[-1:]).hex()}")
    return KID(kid[1], bytes(kid[2:34]))


def kid_hex(kid: bytes | str) -> str:
    return parse_kid(kid).hex


class SigningKeyPair:
    """An Ed25519 key pair (a device's sibkey, a PUK signing key, ...)."""

    kind = ED25519_KID_TYPE

    def __init__(self, key: nacl.signing.SigningKey):
        self._key = key
        self.public = bytes(key.verify_key)
        self.kid = make_kid(ED25519_KID_TYPE, self.public)

    @classmethod
    def from_seed(cls, seed: bytes) -> "SigningKeyPair":
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        return cls(nacl.signing.SigningKey(seed))

    @property
    def seed(self) -> bytes:
        return bytes(self._key)

    @property
    def nacl(self) -> nacl.signing.SigningKey:
        return self._key

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message).signature


class EncryptionKeyPair:
    """A Curve25519 key pair (a device's subkey, a PUK encryption key, ...)."""

    kind = CURVE25519_KID_TYPE

    def __init__(self, key: nacl.public.PrivateKey):
        self.private = key
        self.public = bytes(key.public_key)
        self.kid = make_kid(CURVE25519_KID_TYPE, self.public)

    @classmethod
    def from_seed(cls, seed: bytes) -> "EncryptionKeyPair":
        if len(seed) != 32:
            raise ValueError("a Curve25519 secret is 32 bytes")
        return cls(nacl.public.PrivateKey(seed))

    @property
    def seed(self) -> bytes:
        return bytes(self.private)


@dataclass(frozen=True)
class DeviceKeys:
    """A device's two keys: the sibkey signs, the subkey receives boxes."""

    sibkey: SigningKeyPair
    subkey: EncryptionKeyPair

    @classmethod
    def from_seeds(cls, sign_seed: bytes, enc_seed: bytes) -> "DeviceKeys":
        return cls(SigningKeyPair.from_seed(sign_seed), EncryptionKeyPair.from_seed(enc_seed))

    def seeds(self) -> tuple[bytes, bytes]:
        return self.sibkey.seed, self.subkey.seed


@dataclass(frozen=True)
class SigInfo:
    kid: bytes
    payload: bytes
    version: int
    prefix: bytes | None


def _prefixed(prefix: bytes | None, payload: bytes) -> bytes:
    return payload if prefix is None else prefix + b"\x00" + payload


def signed_message(prefix: bytes | None, payload: bytes) -> bytes:
    """The exact bytes a packet's Ed25519 signature covers (for batch verifiers)."""
    return _prefixed(prefix, payload)


def make_sig_packet(key: SigningKeyPair, payload: bytes, *, prefix: bytes | None = None,
                    detached: bool = False) -> str:
    """Sign payload; a prefix makes it a version-2 (domain separated) packet."""
    if prefix is not None and (not prefix or b"\x00" in prefix):
        raise ValueError("a signature prefix is non-empty and has no NUL byte")
    body = {
        "detached": detached,
        "hash_type": HASH_TYPE_SHA256,
        "key": key.kid,
        "payload": b"" if detached else payload,
        "sig": key.sign(_prefixed(prefix, payload)),
        "sig_type": SIG_TYPE_ED25519,
    }
    if prefix is not None:
        body["prefix"] = prefix
    packet = {"body": body, "tag": SIG_TAG, "version": 2 if prefix is not None else 1}
    return b64encode(pack(packet))


def decode_sig_packet(sig: str) -> dict:
    """Parse a packet's structure (no signature check)."""
    return decode_sig_packet_raw(sig)[1]


def decode_sig_packet_raw(sig: str) -> tuple[bytes, dict]:
    """decode_sig_packet, also returning the decoded bytes (sig ids hash them)."""
    raw = b64decode(sig, max_size=MAX_SIG_PACKET)
    packet = unpack(raw, max_size=MAX_SIG_PACKET, max_depth=None)  # the shape is checked below
    if not isinstance(packet, dict) or not isinstance(packet.get("body"), dict):
        raise EncodingError("signature packet is not a map with a body")
    if packet.get("tag") != SIG_TAG:
        raise EncodingError(f"signature packet has tag {packet.get('tag')!r}")
    if packet.get("version") not in (1, 2):
        raise EncodingError(f"unsupported signature packet version {packet.get('version')!r}")
    body = packet["body"]
    for field, kind in (("key", bytes), ("sig", bytes)):
        if not isinstance(body.get(field), kind):
            raise EncodingError(f"signature packet field {field!r} missing or wrong type")
    if body.get("sig_type") != SIG_TYPE_ED25519:
        raise EncodingError(f"unsupported sig_type {body.get('sig_type')!r}")
    if "payload" in body and not isinstance(body["payload"], bytes):
        raise EncodingError("signature packet payload is not bytes")
    prefix = body.get("prefix")
    if packet["version"] == 2:
        if not isinstance(prefix, bytes) or not prefix:
            raise EncodingError("version 2 signature packet without a prefix")
    elif prefix is not None:
        raise EncodingError("version 1 signature packet with a prefix")
    return raw, packet


def open_sig_packet(sig: str, payload: bytes | None = None, *,
                    expect_prefix: bytes | None | bool = False) -> SigInfo:
    """Verify a signature packet and return who signed what.

    `payload` is needed for detached packets and, when given, must equal an
    attached one. `expect_prefix` (when not False) pins the context prefix.
    """
    packet = decode_sig_packet(sig)
    body = packet["body"]
    attached = body.get("payload") or b""
    if payload is None:
        if not attached:
            raise BadSignature("detached signature without a payload")
        payload = attached
    elif attached and attached != payload:
        raise BadSignature("attached payload differs from the expected payload")
    prefix = body.get("prefix")
    if expect_prefix is not False and prefix != expect_prefix:
        raise BadSignature(f"signature made for context {prefix!r}, expected {expect_prefix!r}")
    kid = parse_kid(body["key"])
    if kid.kind != ED25519_KID_TYPE:
        raise BadSignature("signature by a non-signing key")
    if len(body["sig"]) != 64:
        raise BadSignature("signature is not 64 bytes")
    try:
        nacl.signing.VerifyKey(kid.public).verify(_prefixed(prefix, payload), body["sig"])
    except nacl.exceptions.BadSignatureError:
        raise BadSignature("signature does not verify") from None
    return SigInfo(kid=kid.raw, payload=payload, version=packet["version"], prefix=prefix)


def sig_id(sig: str) -> bytes:
    """Keybase's sig id: SHA-256 of the decoded packet, then 0x0f."""
    return hashlib.sha256(b64decode(sig, max_size=MAX_SIG_PACKET)).digest() + SIG_ID_SUFFIX


def verify_detached(public: bytes, message: bytes, signature: bytes, *, prefix: bytes) -> None:
    """Check a raw Ed25519 signature made over prefix || 0x00 || message. The binding is
    called directly (VerifyKey's wrapping costs a fifth of the check, once per chat
    message), so the sizes VerifyKey would check are checked here."""
    if (not isinstance(public, bytes) or len(public) != 32 or not isinstance(signature, (bytes, bytearray))
            or len(signature) != 64):
        raise BadSignature(f"bad {prefix.decode(errors='replace')} signature")
    try:
        nacl.bindings.crypto_sign_open(bytes(signature) + _prefixed(prefix, bytes(message)), public)
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
        raise BadSignature(f"bad {prefix.decode(errors='replace')} signature") from None


def sign_detached(key: SigningKeyPair, message: bytes, *, prefix: bytes) -> bytes:
    return key.sign(_prefixed(prefix, message))
