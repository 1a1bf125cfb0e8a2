"""Per-user keys: derivation (Keybase's HMAC order), seed boxes, prev-seed chains."""

import hashlib
import hmac

import pytest

from kbapp.core.boxes import secretbox_open, secretbox_seal
from kbapp.core.encoding import pack, unpack
from kbapp.core.errors import BadPerUserKey, DecryptionError
from kbapp.core.keys import EncryptionKeyPair, SigningKeyPair
from kbapp.core.puk import (
    PerUserKey,
    box_seed,
    decrypt_prev_seed,
    derive_from_secret,
    encrypt_prev_seed,
    open_seed_box,
    recover_all,
)


def seed(n: int) -> bytes:
    return hashlib.sha256(b"test seed %d" % n).digest()


def rnd(label: str, size: int) -> bytes:
    return hashlib.sha512(label.encode()).digest()[:size]


DEVICE_A = EncryptionKeyPair.from_seed(seed(100))
DEVICE_B = EncryptionKeyPair.from_seed(seed(101))


def seal(s=seed(1), gen=1, to=DEVICE_A, tag="x"):
    return box_seed(s, gen, to.public, ephemeral_secret=rnd("eph" + tag, 32), nonce=rnd("n" + tag, 24))


# --- derivation -----------------------------------------------------------------


def test_derivation_is_hmac_keyed_by_seed():
    s = seed(1)
    puk = PerUserKey.derive(s, 1)
    sign = hmac.new(s, b"Derived-User-NaCl-EdDSA-1", hashlib.sha256).digest()
    dh = hmac.new(s, b"Derived-User-NaCl-DH-1", hashlib.sha256).digest()
    sbox = hmac.new(s, b"Derived-User-NaCl-SecretBox-1", hashlib.sha256).digest()
    assert puk.signing.public == SigningKeyPair.from_seed(sign).public
    assert puk.encryption.public == EncryptionKeyPair.from_seed(dh).public
    assert puk.secretbox_key == sbox
    # not the reverse order (key = reason), which Keybase uses for other things
    assert sbox != hmac.new(b"Derived-User-NaCl-SecretBox-1", s, hashlib.sha256).digest()
    assert puk.signing_kid.hex().startswith("0120") and puk.signing_kid.hex().endswith("0a")
    assert puk.encryption_kid.hex().startswith("0121")
    assert derive_from_secret(s, b"Derived-User-NaCl-DH-1") == dh


def test_derivation_deterministic_and_distinct():
    a, b = PerUserKey.derive(seed(1), 1), PerUserKey.derive(seed(1), 2)
    assert a.signing.public == b.signing.public and a.generation == 1 and b.generation == 2
    c = PerUserKey.derive(seed(2), 1)
    assert c.signing.public != a.signing.public and c.secretbox_key != a.secretbox_key
    assert seed(1).hex() not in repr(a)  # secrets stay out of logs


@pytest.mark.parametrize("bad_seed", [b"", b"\x01" * 31, b"\x01" * 33, bytes(32), "x" * 32, None])
def test_bad_seeds(bad_seed):
    with pytest.raises(BadPerUserKey):
        PerUserKey.derive(bad_seed, 1)


@pytest.mark.parametrize("gen", [0, -1, True, 1.0, "1", None, 1 << 40])
def test_bad_generations(gen):
    with pytest.raises(BadPerUserKey):
        PerUserKey.derive(seed(1), gen)


def test_check_against_chain_kids():
    puk = PerUserKey.derive(seed(1), 1)
    puk.check(signing_kid=puk.signing_kid, encryption_kid=puk.encryption_kid.hex())
    other = PerUserKey.derive(seed(2), 1)
    with pytest.raises(BadPerUserKey):
        puk.check(signing_kid=other.signing_kid)
    with pytest.raises(BadPerUserKey):
        puk.check(encryption_kid=other.encryption_kid.hex())
    with pytest.raises(BadPerUserKey):
        puk.check(encryption_kid="not a kid")


# --- seed boxes -------------------------------------------------------------------


def test_seed_box_round_trip():
    box = seal()
    assert open_seed_box(box, DEVICE_A, 1) == seed(1)
    puk = PerUserKey.derive(seed(1), 1)
    assert open_seed_box(box, DEVICE_A, 1, expected_signing_kid=puk.signing_kid,
                         expected_encryption_kid=puk.encryption_kid.hex()) == seed(1)
    assert seed(1) not in box
    outer = unpack(box)
    assert outer["eph"] == bytes(EncryptionKeyPair.from_seed(rnd("ephx", 32)).public)
    assert seal() == box  # deterministic given the caller's randomness
    assert seal(tag="y") != box


def test_seed_box_only_opens_for_its_device():
    with pytest.raises(BadPerUserKey, match="does not open"):
        open_seed_box(seal(to=DEVICE_A), DEVICE_B, 1)


def test_seed_box_only_opens_for_its_generation():
    box = seal(seed(3), gen=3)
    assert open_seed_box(box, DEVICE_A, 3) == seed(3)
    for gen in (1, 2, 4):
        with pytest.raises(BadPerUserKey, match="generation"):
            open_seed_box(box, DEVICE_A, gen)


def test_seed_box_not_for_this_device_even_if_it_opens():
    # Someone seals to B's key but DEVICE_A's key is named inside: refused.
    eph = EncryptionKeyPair.from_seed(rnd("e", 32))
    import nacl.public
    inner = pack({"ctx": "kbapp-puk-seed-box-v1", "gen": 1, "seed": seed(1), "to": DEVICE_B.public})
    ct = nacl.public.Box(eph.private, nacl.public.PublicKey(DEVICE_A.public)).encrypt(inner, rnd("n", 24))
    forged = pack({"ct": ct.ciphertext, "eph": eph.public, "nonce": rnd("n", 24), "v": 1})
    with pytest.raises(BadPerUserKey, match="another device"):
        open_seed_box(forged, DEVICE_A, 1)


def test_seed_box_with_a_foreign_seed_fails_the_chain_check():
    # The server can box any seed it likes to our device: the chain's KIDs catch it.
    real = PerUserKey.derive(seed(1), 1)
    forged = seal(seed(666))
    assert open_seed_box(forged, DEVICE_A, 1) == seed(666)  # opens, but...
    with pytest.raises(BadPerUserKey, match="differs from the chain"):
        open_seed_box(forged, DEVICE_A, 1, expected_encryption_kid=real.encryption_kid)
    with pytest.raises(BadPerUserKey, match="differs from the chain"):
        open_seed_box(forged, DEVICE_A, 1, expected_signing_kid=real.signing_kid.hex())


def test_tampered_seed_box_fails():
    box = seal()
    outer = unpack(box)
    for i in range(len(outer["ct"])):
        ct = bytearray(outer["ct"])
        ct[i] ^= 0x01
        with pytest.raises(BadPerUserKey):
            open_seed_box(pack({**outer, "ct": bytes(ct)}), DEVICE_A, 1)
    for field, value in [("nonce", rnd("other", 24)), ("eph", DEVICE_B.public), ("v", 2),
                         ("nonce", b"short"), ("eph", b"\x00" * 32), ("ct", "text"), ("ct", b"")]:
        with pytest.raises(BadPerUserKey):
            open_seed_box(pack({**outer, field: value}), DEVICE_A, 1)
    for missing in outer:
        with pytest.raises(BadPerUserKey):
            open_seed_box(pack({k: v for k, v in outer.items() if k != missing}), DEVICE_A, 1)


@pytest.mark.parametrize("junk", [b"", b"\xc1", b"\x00" * 5000, pack([1, 2, 3]), pack({"v": 1}),
                                  "text", None, pack({"a": {"b": {"c": 1}}})])
def test_junk_seed_boxes(junk):
    with pytest.raises(BadPerUserKey):
        open_seed_box(junk, DEVICE_A, 1)


def test_box_seed_argument_checks():
    with pytest.raises(BadPerUserKey):
        box_seed(bytes(32), 1, DEVICE_A.public, ephemeral_secret=rnd("e", 32), nonce=rnd("n", 24))
    with pytest.raises(BadPerUserKey):
        box_seed(seed(1), 0, DEVICE_A.public, ephemeral_secret=rnd("e", 32), nonce=rnd("n", 24))
    with pytest.raises(ValueError):
        box_seed(seed(1), 1, DEVICE_A.public, ephemeral_secret=rnd("e", 31), nonce=rnd("n", 24))
    with pytest.raises(ValueError):
        box_seed(seed(1), 1, DEVICE_A.public, ephemeral_secret=rnd("e", 32), nonce=rnd("n", 23))
    with pytest.raises(ValueError):
        box_seed(seed(1), 1, DEVICE_A.kid, ephemeral_secret=rnd("e", 32), nonce=rnd("n", 24))


# --- prev-seed chain -------------------------------------------------------------


def make_chain(n: int):
    puks = {g: PerUserKey.derive(seed(g), g) for g in range(1, n + 1)}
    prevs = {g: encrypt_prev_seed(puks[g], seed(g - 1), rnd(f"prev{g}", 24)) for g in range(2, n + 1)}
    kids = {g: (p.signing_kid, p.encryption_kid.hex()) for g, p in puks.items()}
    return puks, prevs, kids


def test_prev_seed_round_trip():
    puks, prevs, _ = make_chain(2)
    assert decrypt_prev_seed(puks[2], prevs[2]) == seed(1)
    assert seed(1) not in prevs[2]
    assert decrypt_prev_seed(puks[2], prevs[2], expected_signing_kid=puks[1].signing_kid,
                             expected_encryption_kid=puks[1].encryption_kid) == seed(1)
    with pytest.raises(BadPerUserKey, match="differs from the chain"):
        decrypt_prev_seed(puks[2], prevs[2], expected_signing_kid=puks[2].signing_kid)


def test_newest_seed_recovers_all_older_ones():
    puks, prevs, kids = make_chain(5)
    got = recover_all(puks[5], prevs, expected_kids=kids)
    assert sorted(got) == [1, 2, 3, 4, 5]
    assert all(got[g].seed == seed(g) for g in got)
    assert recover_all(puks[1], {}) == {1: puks[1]}
    mid = recover_all(puks[3], prevs)
    assert sorted(mid) == [1, 2, 3]


def test_recover_all_failures():
    puks, prevs, kids = make_chain(4)
    with pytest.raises(BadPerUserKey, match="missing the prev box for PUK generation 3"):
        recover_all(puks[4], {g: b for g, b in prevs.items() if g != 3})
    shuffled = {**prevs, 3: prevs[4]}
    with pytest.raises(BadPerUserKey):
        recover_all(puks[4], shuffled)
    wrong_kids = {**kids, 2: kids[3]}
    with pytest.raises(BadPerUserKey):
        recover_all(puks[4], prevs, expected_kids=wrong_kids)
    with pytest.raises(BadPerUserKey):
        recover_all(PerUserKey.derive(seed(99), 4), prevs, expected_kids=kids)


def test_prev_box_bound_to_its_generation_and_key():
    puks, prevs, _ = make_chain(3)
    with pytest.raises(BadPerUserKey):  # gen 3's box under gen 2's key
        decrypt_prev_seed(puks[2], prevs[3])
    # same seed reused at another generation: the key is the same, the generation inside is not
    relabelled = PerUserKey.derive(seed(3), 4)
    with pytest.raises(BadPerUserKey, match="holds generation 2, expected 3"):
        decrypt_prev_seed(relabelled, prevs[3])
    with pytest.raises(BadPerUserKey):
        encrypt_prev_seed(puks[1], seed(0), rnd("n", 24))
    with pytest.raises(BadPerUserKey):
        decrypt_prev_seed(puks[1], prevs[2])


def test_tampered_prev_box_fails():
    puks, prevs, _ = make_chain(2)
    outer = unpack(prevs[2])
    for i in range(len(outer["box"])):
        b = bytearray(outer["box"])
        b[i] ^= 0x80
        with pytest.raises(BadPerUserKey):
            decrypt_prev_seed(puks[2], pack({**outer, "box": bytes(b)}))
    for junk in (b"", pack({"v": 2, "box": outer["box"]}), pack({"v": 1}), b"\x93\x01\x02\x03"):
        with pytest.raises(BadPerUserKey):
            decrypt_prev_seed(puks[2], junk)


def test_prev_box_is_domain_separated_from_other_secretbox_uses():
    puk = PerUserKey.derive(seed(2), 2)
    inner = pack({"gen": 1, "seed": seed(1)})
    other_use = secretbox_seal(puk.secretbox_key, inner, rnd("n", 24), b"kbapp-some-other-use")
    with pytest.raises(BadPerUserKey):
        decrypt_prev_seed(puk, pack({"box": other_use, "v": 1}))


# --- generic secretbox ------------------------------------------------------------


def test_secretbox_context_separation():
    key = seed(5)
    sealed = secretbox_seal(key, b"hello", rnd("n", 24), b"ctx-a")
    assert sealed[:24] == rnd("n", 24) and len(sealed) == 24 + 16 + 5
    assert secretbox_open(key, sealed, b"ctx-a") == b"hello"
    with pytest.raises(DecryptionError):
        secretbox_open(key, sealed, b"ctx-b")
    with pytest.raises(DecryptionError):
        secretbox_open(seed(6), sealed, b"ctx-a")
    with pytest.raises(DecryptionError):
        secretbox_open(key, sealed[:-1] + bytes([sealed[-1] ^ 1]), b"ctx-a")
    with pytest.raises(DecryptionError):
        secretbox_open(key, sealed[:39], b"ctx-a")
    with pytest.raises(ValueError):
        secretbox_seal(key, b"x", rnd("n", 24), b"")
    with pytest.raises(ValueError):
        secretbox_seal(key[:31], b"x", rnd("n", 24), b"c")
    with pytest.raises(ValueError):
        secretbox_seal(key, b"x", rnd("n", 23), b"c")
