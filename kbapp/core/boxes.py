"""Domain-separated NaCl secretbox.

XSalsa20-Poly1305 has no associated data, so a ciphertext made for one
purpose would open under the same key for any other. Here every use names a
context and the box is sealed under HMAC-SHA256(key, "kbapp-secretbox-v1" 0x00
context): a box from one context fails to open in another with the same key.
The nonce comes from the caller (core has no randomness) and travels in front
of the ciphertext.
"""

from __future__ import annotations

import hashlib
import hmac

import nacl.exceptions
import nacl.secret

from .errors import DecryptionError, EncodingError

KEY_SIZE = nacl.secret.SecretBox.KEY_SIZE  # 32
NONCE_SIZE = nacl.secret.SecretBox.NONCE_SIZE  # 24
MAC_SIZE = nacl.secret.SecretBox.MACBYTES  # 16
OVERHEAD = NONCE_SIZE + MAC_SIZE

_SUBKEY_PREFIX = b"kbapp-secretbox-v1\x00"


def _check_bytes(name: str, value: object, size: int | None = None) -> bytes:
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"{name} must be bytes")
    if size is not None and len(value) != size:
        raise ValueError(f"{name} must be {size} bytes, not {len(value)}")
    return bytes(value)


def _subkey(key: bytes, context: bytes) -> bytes:
    key = _check_bytes("key", key, KEY_SIZE)
    context = _check_bytes("context", context)
    if not context:
        raise ValueError("a secretbox context is a non-empty byte string")
    return hmac.new(key, _SUBKEY_PREFIX + context, hashlib.sha256).digest()


def secretbox_seal(key: bytes, plaintext: bytes, nonce: bytes, context: bytes) -> bytes:
    """nonce || secretbox(plaintext) under the context's subkey of `key`.

    `nonce` must be 24 fresh random bytes: never reuse one with the same key.
    """
    plaintext = _check_bytes("plaintext", plaintext)
    nonce = _check_bytes("nonce", nonce, NONCE_SIZE)
    box = nacl.secret.SecretBox(_subkey(key, context))
    return bytes(box.encrypt(plaintext, nonce))


def secretbox_open(key: bytes, sealed: bytes, context: bytes) -> bytes:
    """Open what secretbox_seal made; DecryptionError if key, context or bytes differ."""
    subkey = _subkey(key, context)
    if not isinstance(sealed, (bytes, bytearray)):
        raise EncodingError("a secretbox is bytes")
    if len(sealed) < OVERHEAD:
        raise DecryptionError(f"a secretbox is at least {OVERHEAD} bytes, got {len(sealed)}")
    try:
        return bytes(nacl.secret.SecretBox(subkey).decrypt(bytes(sealed)))
    except nacl.exceptions.CryptoError:
        raise DecryptionError(
            f"secretbox for {context.decode(errors='replace')!r} does not open") from None
