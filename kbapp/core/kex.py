"""Adding a device with a short-lived secret phrase (Keybase's "kex" idea).

The existing device shows a 9-word phrase (99 bits); the user types it on the
new device. Both derive the same secret, hence a mailbox channel on the server
and a secretbox key. Messages are end-to-end encrypted and authenticated by
that key, so the server (which relays them) can delay or drop them but never
read, forge or replay one into another run.

Three messages: the existing device's `offer` (which account, which key will
sign), the new device's `reply` (its sibkey link, written and reverse-signed
by itself but to be signed by the offering key, and its subkey link), and
`done` once the existing device has posted the links.
"""

from __future__ import annotations

import hashlib
import hmac

from .boxes import secretbox_open, secretbox_seal
from .encoding import pack, unpack
from .errors import DecryptionError, EncodingError

CONTEXT = b"kbapp-kex-v1"
ROLES = ("offer", "reply", "done")
MAX_MESSAGE = 16 * 1024


def channel_id(secret: bytes) -> str:
    """The mailbox name: reveals nothing about the phrase."""
    return hashlib.sha256(b"kbapp-kex-channel\x00" + secret).hexdigest()


def _key(secret: bytes) -> bytes:
    return hmac.new(secret, b"kbapp-kex-box", hashlib.sha256).digest()


def seal_message(secret: bytes, role: str, body: dict, nonce: bytes) -> bytes:
    if role not in ROLES:
        raise ValueError(f"unknown kex role {role!r}")
    return secretbox_seal(_key(secret), pack({"role": role, "body": body}), nonce, CONTEXT)


def open_message(secret: bytes, sealed: bytes) -> tuple[str, dict] | None:
    """(role, body), or None for a message that is not from a holder of the phrase."""
    try:
        plain = secretbox_open(_key(secret), sealed, CONTEXT)
    except DecryptionError:
        return None
    obj = unpack(plain, max_size=MAX_MESSAGE, max_depth=8)
    if not isinstance(obj, dict) or obj.get("role") not in ROLES or not isinstance(obj.get("body"), dict):
        raise EncodingError("malformed provisioning message")
    return obj["role"], obj["body"]
