"""Usernames, user ids and device ids.

A uid is a hash of the lowercased username (Keybase's rule for users created
after Feb 2015: SHA-256(name)[:15] + 0x19), so anyone can check that a uid
belongs to a name without asking the server. Device ids are random and end in
0x18, again as Keybase does, so the two kinds of id can never be confused.
"""

from __future__ import annotations

import hashlib
import re

from .errors import BadUsername, EncodingError

USERNAME_MIN = 2
USERNAME_MAX = 16
UID_LEN = 16
UID_SUFFIX = 0x19
DEVICE_ID_LEN = 16
DEVICE_ID_SUFFIX = 0x18

_USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9_]*")
_HEX_RE = re.compile(r"[0-9a-f]*")


def check_username(name: object) -> str:
    """Return the normalised (lowercase) username, or raise BadUsername.

    Case is folded (people type `Alice`), but nothing else is rewritten:
    anything outside a-z, 0-9 and `_` is refused rather than guessed at.
    Like Keybase, `_` may not lead or be doubled (so names stay readable and
    `__`-prefixed names stay free for internal use).
    """
    if not isinstance(name, str):
        raise BadUsername("a username is a string")
    # Lowercase ASCII only: str.lower() would map e.g. the Kelvin sign to 'k'.
    folded = name.translate(_ASCII_LOWER)
    if not USERNAME_MIN <= len(folded) <= USERNAME_MAX:
        raise BadUsername(
            f"a username has {USERNAME_MIN} to {USERNAME_MAX} characters, not {len(folded)}")
    if folded.startswith("_"):
        raise BadUsername("a username may not start with '_'")
    if not _USERNAME_RE.fullmatch(folded):
        raise BadUsername(
            f"{name!r}: a username uses only letters a-z, digits and '_'")
    if "__" in folded:
        raise BadUsername("a username may not contain '__' (Keybase's rule)")
    return folded


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def uid_for(username: str) -> str:
    """The uid (32 hex digits) that a username maps to."""
    name = check_username(username)
    digest = hashlib.sha256(name.encode("ascii")).digest()
    return (digest[: UID_LEN - 1] + bytes([UID_SUFFIX])).hex()


def check_uid(uid: object) -> str:
    """Validate a uid's form (16 bytes, lowercase hex, user suffix)."""
    if not isinstance(uid, str) or len(uid) != 2 * UID_LEN or not _HEX_RE.fullmatch(uid):
        raise EncodingError(f"a uid is {2 * UID_LEN} lowercase hex digits")
    if int(uid[-2:], 16) != UID_SUFFIX:
        raise EncodingError(f"a uid ends in {UID_SUFFIX:02x}")
    return uid


def uid_matches(uid: str, username: str) -> bool:
    """True when uid is the one username hashes to (no server trust needed)."""
    try:
        return uid_for(username) == uid
    except BadUsername:
        return False


def device_id(random16: bytes) -> str:
    """A new device id (32 hex digits) from 16 caller-supplied random bytes.

    The last byte is replaced by the 0x18 suffix, leaving 120 random bits.
    """
    if not isinstance(random16, (bytes, bytearray)) or len(random16) != DEVICE_ID_LEN:
        raise ValueError(f"device_id needs {DEVICE_ID_LEN} random bytes")
    return (bytes(random16[: DEVICE_ID_LEN - 1]) + bytes([DEVICE_ID_SUFFIX])).hex()


def check_device_id(did: object) -> str:
    """Validate a device id's form (16 bytes, lowercase hex, device suffix)."""
    if not isinstance(did, str) or len(did) != 2 * DEVICE_ID_LEN or not _HEX_RE.fullmatch(did):
        raise EncodingError(f"a device id is {2 * DEVICE_ID_LEN} lowercase hex digits")
    if int(did[-2:], 16) != DEVICE_ID_SUFFIX:
        raise EncodingError(f"a device id ends in {DEVICE_ID_SUFFIX:02x}")
    return did
