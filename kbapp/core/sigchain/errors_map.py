"""Keybase's sigchain error names (`err_type` in its test vectors) -> our classes.

Keybase's own map is not one-to-one either (go/libkb/chain_test.go); where
Keybase splits hairs we do not (expired vs revoked signer), names share a class.
"""

from __future__ import annotations

from ..errors import (
    BadChainLink,
    BadSignature,
    ChainLinkStubbedUnsupported,
    InvalidSibkey,
    MismatchedField,
    NonexistentKid,
    StubbedFirstLink,
    StubbedSignatureNeeded,
    VerificationError,
    WrongEldest,
    WrongPerUserKeyReverseSig,
    WrongPrev,
    WrongReverseSig,
    WrongSeqno,
    WrongUid,
    WrongUsername,
)

KEYBASE_ERRORS: dict[str, type[VerificationError]] = {
    "WRONG_PREV": WrongPrev,
    "WRONG_SEQNO": WrongSeqno,
    "WRONG_UID": WrongUid,
    "WRONG_USERNAME": WrongUsername,
    "INVALID_SIBKEY": InvalidSibkey,            # signer revoked, never delegated...
    "EXPIRED_SIBKEY": InvalidSibkey,            # ... or expired at the link's ctime (kbapp's links only)
    "NONEXISTENT_KID": NonexistentKid,          # a subkey's parent outside the key family
    "VERIFY_FAILED": BadSignature,              # bad signature, curr != SHA-256(payload_json),
                                                # or outer seqno / prev != the inner's
    "KID_MISMATCH": MismatchedField,            # signer != body.key.kid
    "SIGCHAIN_V2_MISMATCHED_FIELD": MismatchedField,
    "SIGCHAIN_V2_STUBBED_FIRST_LINK": StubbedFirstLink,
    "SIGCHAIN_V2_STUBBED_SIGNATURE_NEEDED": StubbedSignatureNeeded,
    "CHAIN_LINK_STUBBED_UNSUPPORTED": ChainLinkStubbedUnsupported,
    "BAD_CHAIN_LINK": BadChainLink,
    "REVERSE_SIG_VERIFY_FAILED": WrongReverseSig,
    "WRONG_PER_USER_KEY_REVERSE_SIG": WrongPerUserKeyReverseSig,
    "NOT_LATEST_SUBCHAIN": WrongEldest,
    # Not here: SIGCHAIN_V2_MISMATCHED_HASH (we never read the server's payload_hash,
    # so a wrong one cannot fail), and the PGP-only FINGERPRINT_MISMATCH,
    # NO_KEY_WITH_THIS_HASH and CTIME_MISMATCH.
}
