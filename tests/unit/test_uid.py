"""Usernames, uids and device ids (uid rule checked against Keybase's vectors)."""

import json
from pathlib import Path

import pytest

from kbapp.core.errors import BadUsername, EncodingError, KbappError
from kbapp.core.uid import (
    check_device_id,
    check_uid,
    check_username,
    device_id,
    uid_for,
    uid_matches,
)

CHAINS = Path(__file__).resolve().parents[1] / "vectors" / "keybase-sigchain" / "chains"


def test_uid_reproduces_keybase_vectors():
    files = sorted(CHAINS.glob("*.json"))
    if not files:
        pytest.fail(f"Keybase vectors not found at {CHAINS} (they are part of the repository)")
    for f in files:
        case = json.loads(f.read_text())
        assert uid_for(case["username"]) == case["uid"], f.name


def test_uid_known_value_and_case_folding():
    assert uid_for("max32") == "74c38cf7ceb947f5632045d8ca5d4819"
    assert uid_for("Max32") == uid_for("MAX32") == "74c38cf7ceb947f5632045d8ca5d4819"
    uid = uid_for("alice")
    assert len(uid) == 32 and uid.endswith("19")
    assert uid != uid_for("alicf")
    assert uid_matches(uid, "ALICE")
    assert not uid_matches(uid, "bob")
    assert not uid_matches(uid, "no way")


@pytest.mark.parametrize("name,expected", [
    ("ab", "ab"), ("Alice", "alice"), ("a_b_c", "a_b_c"), ("x1", "x1"), ("0day", "0day"),
    ("a" * 16, "a" * 16), ("trailing_", "trailing_"),
])
def test_good_usernames(name, expected):
    assert check_username(name) == expected


@pytest.mark.parametrize("name", [
    "", "a", "a" * 17, "_ab", "a-b", "a b", "a.b", "al\u00efce", "\u212aelvin", "a__b",
    " alice", "alice\n", None, 5, b"alice",
])
def test_bad_usernames(name):
    with pytest.raises(BadUsername):
        check_username(name)


def test_bad_username_is_typed():
    with pytest.raises(KbappError) as e:
        uid_for("-")
    assert e.value.code == "BAD_USERNAME"


def test_device_id():
    did = device_id(bytes(range(16)))
    assert did == bytes(range(15)).hex() + "18"
    assert check_device_id(did) == did
    assert device_id(b"\xff" * 16).endswith("18")
    for bad in (b"", b"\x00" * 15, b"\x00" * 17, "0" * 16):
        with pytest.raises((ValueError, TypeError)):
            device_id(bad)


def test_id_forms_are_checked():
    check_uid(uid_for("bob"))
    for bad in ("", "zz" * 16, uid_for("bob")[:-2] + "18", uid_for("bob").upper(), None):
        with pytest.raises(EncodingError):
            check_uid(bad)
    with pytest.raises(EncodingError):
        check_device_id(uid_for("bob"))  # a uid is not a device id
