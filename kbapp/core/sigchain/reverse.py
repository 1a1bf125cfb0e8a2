"""Reverse signatures: the one check for every chain (users' sibkeys and PUKs, teams' PTKs,
and later folders).

A link that delegates to a new key (a sibkey, a per-user or per-team key) must also be
signed by that key: the new key signs the very link with its `reverse_sig` field null
(Keybase's rule), so nobody can claim a key they do not hold. kbapp's own links sign it
with the reverse-signature context prefix; Keybase's without one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..encoding import canonical_json
from ..errors import BadChainLink, EncodingError, KbappError
from ..keys import PREFIX_REVERSE_SIG, decode_sig_packet, signed_message
from .links import MAX_SIG, load_inner


def check_reverse_sig(payload: dict, path: tuple[str, ...], kid: bytes, *, ours: bool, verifier: Any,
                      fail: Callable[[str], KbappError]) -> None:
    """`payload[path...]` holds `reverse_sig`, a signature by `kid` over `payload` with that
    field null. `verifier.ok(kid, message, sig)` checks Ed25519 (the chain's cached one);
    `fail(reason)` makes the caller's typed error (raised here)."""
    sec = _at(payload, path)
    rsig = sec.get("reverse_sig")
    if not isinstance(rsig, str) or len(rsig) > MAX_SIG:
        raise fail("has no reverse signature")
    expected_json = canonical_json(_with_null(payload, path))
    try:
        body = decode_sig_packet(rsig)["body"]
    except EncodingError as e:
        raise fail(f"malformed reverse signature: {e}") from None
    if body["key"] != kid:
        raise fail(f"reverse signature by another key than {kid.hex()}")
    want_prefix = PREFIX_REVERSE_SIG if ours else None
    if body.get("prefix") != want_prefix:
        raise fail("reverse signature made for another context")
    signed = body.get("payload") or b""
    if signed:
        try:
            same = canonical_json(load_inner(signed)) == expected_json
        except (EncodingError, BadChainLink) as e:
            raise fail(f"reverse signature payload: {e}") from None
        if not same:
            raise fail("reverse signature signs another payload")
    else:
        signed = expected_json
    if len(body["sig"]) != 64 or not verifier.ok(kid, signed_message(want_prefix, signed), body["sig"]):
        raise fail("reverse signature does not verify")


def _at(payload: dict, path: tuple[str, ...]) -> dict:
    node = payload
    for key in path:
        node = node[key]
    return node


def _with_null(node: dict, path: tuple[str, ...]) -> dict:
    """A copy of `node` with `reverse_sig` null at `path` (copying only along the path)."""
    out = dict(node)
    if len(path) == 0:
        out["reverse_sig"] = None
    else:
        out[path[0]] = _with_null(node[path[0]], path[1:])
    return out
