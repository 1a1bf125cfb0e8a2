"""Read tokens (kbapp/core/tokens.py): what a token binds, and every way it is refused."""

from __future__ import annotations

import pytest

from kbapp.core import errors
from kbapp.core.encoding import b64decode, b64encode, canonical_json, loads_json
from kbapp.core.keys import SigningKeyPair, kid_hex
from kbapp.core.tokens import MAX_LIFETIME, MAX_SKEW, make_read_token, verify_read_token

KEY = SigningKeyPair.from_seed(b"\x07" * 32)
UID = "ab" * 16
NOW = 1_800_000_000


def make(**kw) -> str:
    args = {"uid": UID, "origin": "kbapp.test", "ctime": NOW, "lifetime": 300, "nonce": b"\x02" * 16, **kw}
    return make_read_token(KEY, **args)[0]


def edited(header: str, **fields) -> str:
    body = loads_json(b64decode(header.split(" ", 1)[1]))
    return "KbappRead " + b64encode(canonical_json({**body, **fields}))


def test_a_token_names_its_user_key_origin_and_life():
    t = verify_read_token(make(), origin="kbapp.test", now=NOW + 10)
    assert (t.uid, t.kid, t.origin, t.expires - t.ctime) == (UID, kid_hex(KEY.kid), "kbapp.test", 300)
    assert make() != make(nonce=b"\x03" * 16)


@pytest.mark.parametrize("header, now", [
    (None, NOW), ("", NOW), ("Bearer x", NOW), ("KbappRead !!", NOW), ("KbappRead " + b64encode(b"[]"), NOW),
    (make(), NOW + 300),                                   # expired
    (make(), NOW - MAX_SKEW - 1),                          # issued in the server's future
    (edited(make(), uid="cd" * 16), NOW),                  # another uid: the signature no longer holds
    (edited(make(), expires=NOW + 10 ** 6), NOW),          # stretched
    (edited(make(), extra=1), NOW),                        # fields beyond the format
    (make(origin="elsewhere"), NOW),                       # another server
    (make(lifetime=MAX_LIFETIME), NOW + MAX_LIFETIME),
])
def test_refused(header, now):
    with pytest.raises(errors.BadReadToken) as e:
        verify_read_token(header, origin="kbapp.test", now=now)
    assert e.value.status == 401


def test_lifetime_is_capped_when_made():
    with pytest.raises(ValueError):
        make(lifetime=MAX_LIFETIME + 1)
