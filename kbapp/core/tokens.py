"""Short-lived read tokens: a device's signed "I am uid U, reading from server S until T".

Reads that would tell a stranger who is in which team (team chains, key boxes,
member lists, join requests; later chat and folders) need one. The token is a
statement signed by one of the reader's device keys (a sibkey), with its own
context prefix so no other kbapp signature can be passed off as one. It names
the server's origin (a token given to one server is worthless at another),
its issue time and an expiry at most MAX_LIFETIME later (a stolen token is
soon worthless), and a random nonce (two tokens never look alike).

This module checks only what needs no state: shape, signature, origin and
time. Whether the key is a live sibkey of the uid, and whether that uid may
read what it asks for, is the server's to check against the chains it stores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .encoding import b64decode, b64encode, canonical_json, loads_json
from .errors import BadReadToken, EncodingError, VerificationError
from .keys import SigningKeyPair, kid_hex, parse_kid, sign_detached, verify_detached

PREFIX_READ_TOKEN = b"kbapp-read-token-v1"
SCHEME = "KbappRead"              # Authorization: KbappRead <base64 of the token's JSON>
MAX_LIFETIME = 600                # seconds from issue to expiry, at most
MAX_SKEW = 120                    # a token may be issued this far in the server's future
MAX_TOKEN = 1024                  # bytes of the encoded token
_UID_RE = re.compile(r"^[0-9a-f]{32}$")
_NONCE_RE = re.compile(r"^[0-9a-f]{32}$")
_FIELDS = {"ctime", "expires", "kid", "nonce", "origin", "sig", "uid", "v"}


@dataclass(frozen=True)
class ReadToken:
    uid: str
    kid: str              # hex
    origin: str
    ctime: int
    expires: int
    nonce: str


def _message(t: ReadToken) -> bytes:
    return canonical_json({"ctime": t.ctime, "expires": t.expires, "kid": t.kid, "nonce": t.nonce,
                           "origin": t.origin, "uid": t.uid, "v": 1})


def make_read_token(key: SigningKeyPair, *, uid: str, origin: str, ctime: int, lifetime: int,
                    nonce: bytes) -> tuple[str, ReadToken]:
    """(the Authorization header value, the token) for `uid`, signed by its device `key`."""
    if not 0 < lifetime <= MAX_LIFETIME:
        raise ValueError(f"a read token lives 1..{MAX_LIFETIME} s")
    if not isinstance(nonce, (bytes, bytearray)) or len(nonce) != 16:
        raise ValueError("a read token needs 16 random bytes")
    t = ReadToken(uid, kid_hex(key.kid), origin, int(ctime), int(ctime) + lifetime, bytes(nonce).hex())
    sig = sign_detached(key, _message(t), prefix=PREFIX_READ_TOKEN)
    body = {"ctime": t.ctime, "expires": t.expires, "kid": t.kid, "nonce": t.nonce, "origin": t.origin,
            "sig": b64encode(sig), "uid": t.uid, "v": 1}
    return f"{SCHEME} {b64encode(canonical_json(body))}", t


def parse_read_token(header: object) -> tuple[ReadToken, bytes]:
    """The token and its signature from an Authorization header value, or BadReadToken."""
    if not isinstance(header, str) or not header.strip():
        raise BadReadToken("this read needs a read token (Authorization: KbappRead ...)", 401)
    if len(header) > MAX_TOKEN * 2:
        raise BadReadToken("the read token is too long", 401)
    scheme, _, value = header.strip().partition(" ")
    if scheme != SCHEME or not value:
        raise BadReadToken(f"the Authorization header is not a {SCHEME} token", 401)
    try:
        body = loads_json(b64decode(value.strip(), max_size=MAX_TOKEN), max_size=MAX_TOKEN, max_depth=2)
    except EncodingError as e:
        raise BadReadToken(f"malformed read token: {e}", 401) from None
    if not isinstance(body, dict) or set(body) != _FIELDS or body.get("v") != 1:
        raise BadReadToken("malformed read token", 401)
    uid, kid, origin, nonce = body["uid"], body["kid"], body["origin"], body["nonce"]
    ctime, expires, sig = body["ctime"], body["expires"], body["sig"]
    if (not isinstance(uid, str) or not _UID_RE.match(uid) or not isinstance(nonce, str)
            or not _NONCE_RE.match(nonce) or not isinstance(origin, str) or not 0 < len(origin) <= 256
            or type(ctime) is not int or type(expires) is not int or not isinstance(sig, str)
            or not isinstance(kid, str)):
        raise BadReadToken("malformed read token", 401)
    try:
        raw_sig = b64decode(sig, max_size=64)
        kid = parse_kid(kid).hex
    except (EncodingError, VerificationError):
        raise BadReadToken("malformed read token key or signature", 401) from None
    return ReadToken(uid, kid, origin, ctime, expires, nonce), raw_sig


def verify_read_token(header: object, *, origin: str, now: int) -> ReadToken:
    """A token signed by the key it names, for this server, live at `now`; or BadReadToken.
    The caller checks that the key is a live sibkey of `uid`."""
    t, sig = parse_read_token(header)
    try:
        verify_detached(parse_kid(t.kid).public, _message(t), sig, prefix=PREFIX_READ_TOKEN)
    except VerificationError:
        raise BadReadToken("the read token's signature does not check out", 401) from None
    if t.origin != origin:
        raise BadReadToken(f"the read token is for another server ({t.origin[:64]!r})", 401)
    if not t.ctime < t.expires <= t.ctime + MAX_LIFETIME:
        raise BadReadToken(f"a read token lives at most {MAX_LIFETIME} s", 401)
    return check_live(t, now)


def check_live(t: ReadToken, now: int) -> ReadToken:
    """The checks of a verified token that depend on the time (a server that cached the
    signature check of a token runs these at each use)."""
    if t.ctime > now + MAX_SKEW:
        raise BadReadToken("the read token is issued in the future", 401)
    if now >= t.expires:
        raise BadReadToken("the read token has expired", 401)
    return t
