"""Who may reset an account: the rule an honest server applies before it stores one.

A reset is an eldest link written after the chain's start: it begins a new subchain
and drops every key, device and proof before it. Any key can sign such a link (a
lost account is the reason to write one), so the link alone does not show that the
account's owner wants it. The server therefore takes a reset only with an
authorization: a detached signature, by a sibkey live at the chain's current tail,
over the uid and the id of the new eldest link. It cannot be replayed onto another
reset link or another account, and a revoked device cannot give it.

This protects users from strangers on an honest server. A malicious server can still
store a forged reset; clients see it as a reset (the follow banner says "the account
was reset"), because they verify the chain, not the server's policy.
"""

from __future__ import annotations

from typing import Container

from kbapp.core.encoding import b64decode, b64encode, canonical_json
from kbapp.core.errors import EncodingError, ResetNotAuthorized, VerificationError
from kbapp.core.keys import SigningKeyPair, kid_hex, parse_kid, sign_detached, verify_detached

from .links import link_id_hex

PREFIX_RESET = b"kbapp-account-reset-v1"


def _message(uid: str, eldest_link_id: str) -> bytes:
    return canonical_json({"uid": uid.lower(), "eldest_link_id": eldest_link_id.lower()})


def authorize_reset(key: SigningKeyPair, *, uid: str, eldest_link: dict) -> dict:
    """The `reset_authorization` a live sibkey (a device or paper key) gives one reset link."""
    sig = sign_detached(key, _message(uid, link_id_hex(eldest_link)), prefix=PREFIX_RESET)
    return {"kid": kid_hex(key.kid), "sig": b64encode(sig)}


def check_reset_authorization(live_sibkeys: Container[str], *, uid: str, eldest_link: dict, auth: object) -> None:
    """Raise `ResetNotAuthorized` unless `auth` is the signature over this reset of one of
    `live_sibkeys` (hex kids: the sibkeys of the subchain the reset ends, at its end)."""
    if not isinstance(auth, dict) or not isinstance(auth.get("kid"), str) or not isinstance(auth.get("sig"), str):
        raise ResetNotAuthorized("an account reset needs a reset_authorization signed by one of the "
                                 "account's live device or paper keys")
    try:
        kid = parse_kid(auth["kid"])
        signature = b64decode(auth["sig"], max_size=64)
    except (EncodingError, VerificationError) as e:   # BadKID is a VerificationError
        raise ResetNotAuthorized(f"malformed reset authorization: {e}") from None
    if kid.hex not in live_sibkeys:
        raise ResetNotAuthorized("the reset authorization is signed by a key that is not live on this account")
    try:
        verify_detached(kid.public, _message(uid, link_id_hex(eldest_link)), signature, prefix=PREFIX_RESET)
    except VerificationError:
        raise ResetNotAuthorized("the reset authorization's signature does not cover this reset") from None
