"""Paper key and provisioning phrases: layout, typo detection, tolerance, derivation."""

import hashlib
import random

import pytest

from kbapp.core import paperkey as pk
from kbapp.core.errors import BadPaperKey
from kbapp.core.paperkey import (
    new_paper_phrase,
    new_provision_phrase,
    normalise_phrase,
    paper_device_keys,
    paper_key_id,
    provision_secret,
)

ENTROPY = bytes(range(18))
PHRASE = "abandon amount liar amount expire adjust cage candy arch gather drum bullet abstract"


@pytest.fixture(scope="module")
def phrase_keys():
    return paper_device_keys(PHRASE)  # one argon2id run, shared


def _bits_reference(entropy: bytes) -> str:
    """A second, bit-string implementation of the documented layout."""
    bits = "".join(f"{b:08b}" for b in entropy[:18])[:139]
    digest = hashlib.sha256(b"kbapp-paper-key-v1\x00checksum\x00" + int(bits, 2).to_bytes(18, "big")).digest()
    bits += f"{digest[0]:08b}"[:4]
    words = pk.wordlist()
    return " ".join(words[int(bits[i:i + 11], 2)] for i in range(0, 143, 11))


def test_layout_has_at_least_117_secret_bits():
    assert len(pk.wordlist()) == 2048
    assert pk.PAPER_WORDS * pk.WORD_BITS == 143
    assert pk.PAPER_LABEL_BITS + pk.PAPER_SECRET_BITS + pk.PAPER_CHECKSUM_BITS == 143
    assert pk.PAPER_LABEL_BITS == 2 * pk.WORD_BITS  # the public label is exactly two words
    assert pk.PAPER_SECRET_BITS >= 117
    assert pk.PROVISION_WORDS == 9 and pk.PROVISION_BITS == 99


def test_phrase_from_entropy_matches_reference_layout():
    assert new_paper_phrase(ENTROPY) == PHRASE == _bits_reference(ENTROPY)
    rng = random.Random(1)
    for _ in range(200):
        e = rng.randbytes(18)
        assert new_paper_phrase(e) == _bits_reference(e)


def test_all_random_bits_reach_the_phrase():
    seen = {new_paper_phrase(ENTROPY)}
    for bit in range(pk.PAPER_RANDOM_BITS):
        e = bytearray(ENTROPY)
        e[bit // 8] ^= 0x80 >> (bit % 8)
        seen.add(new_paper_phrase(bytes(e)))
    assert len(seen) == pk.PAPER_RANDOM_BITS + 1
    # bits past the 139th are documented as unused
    assert new_paper_phrase(ENTROPY[:17] + bytes([ENTROPY[17] ^ 0x01])) == PHRASE
    assert new_paper_phrase(ENTROPY + b"more") == PHRASE


def test_short_entropy_refused():
    with pytest.raises(ValueError):
        new_paper_phrase(bytes(17))
    with pytest.raises(ValueError):
        new_provision_phrase(bytes(12))
    with pytest.raises(TypeError):
        new_paper_phrase("x" * 18)


def test_round_trip_and_tolerance():
    words = PHRASE.split()
    assert normalise_phrase(PHRASE) == words
    messy = "  " + "\t".join(w.upper() if i % 2 else w.title() for i, w in enumerate(words)) + " \n"
    assert normalise_phrase(messy) == words
    assert normalise_phrase("\u3000".join(words)) == words  # full-width space (NFKC)
    assert paper_key_id(messy) == "abandon amount"


def test_unknown_word_is_named_with_a_suggestion():
    words = PHRASE.split()
    words[4] = "expyre"
    with pytest.raises(BadPaperKey) as e:
        normalise_phrase(" ".join(words))
    msg = str(e.value)
    assert "word 5" in msg and "'expyre'" in msg and "'expire'" in msg
    with pytest.raises(BadPaperKey) as e:
        normalise_phrase("x" * 500)
    assert "x" * 40 + "..." in str(e.value) and "x" * 41 not in str(e.value)  # long input is cut


@pytest.mark.parametrize("count", [0, 1, 12, 14, 26])
def test_wrong_word_count(count):
    text = " ".join((PHRASE.split() * 3)[:count])
    with pytest.raises(BadPaperKey, match=f"has 13 words, this one has {count}"):
        normalise_phrase(text)


def test_not_text_and_too_long():
    for bad in (None, b"abandon", 13):
        with pytest.raises(BadPaperKey):
            normalise_phrase(bad)
    with pytest.raises(BadPaperKey):
        normalise_phrase("abandon " * 200)
    with pytest.raises(ValueError):
        normalise_phrase(PHRASE, "bogus")


def test_checksum_catches_word_substitutions_and_swaps():
    words = pk.wordlist()
    rng = random.Random(7)
    caught = trials = 0
    for _ in range(40):
        phrase = new_paper_phrase(rng.randbytes(18)).split()
        for pos in range(13):
            wrong = list(phrase)
            wrong[pos] = rng.choice([w for w in words[:64] if w != phrase[pos]])
            trials += 1
            try:
                normalise_phrase(" ".join(wrong))
            except BadPaperKey as e:
                assert "checksum" in str(e)
                caught += 1
        i = rng.randrange(12)
        if phrase[i] != phrase[i + 1]:
            swapped = list(phrase)
            swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
            trials += 1
            try:
                normalise_phrase(" ".join(swapped))
            except BadPaperKey:
                caught += 1
    # a 4-bit checksum misses 1 in 16 on average
    assert caught / trials > 0.88, (caught, trials)


def test_device_keys_deterministic_and_tolerant(phrase_keys):
    assert phrase_keys.sibkey.kid.hex() == (
        "012077392fccd2d25a7ebf288fc5a550e81fa1f6c85f51364e96b2d646675be8c0410a")
    assert phrase_keys.subkey.kid.hex() == (
        "012155271466f75575f550b92b0c07deb89ba35108e64055a7d15bc4274357edcd270a")
    again = paper_device_keys("  " + PHRASE.upper().replace(" ", "   ") + "\n")
    assert again.seeds() == phrase_keys.seeds()
    assert phrase_keys.sibkey.seed != phrase_keys.subkey.seed


def test_different_phrase_different_keys(phrase_keys):
    other = paper_device_keys(new_paper_phrase(bytes(18)))
    assert other.sibkey.public != phrase_keys.sibkey.public
    assert other.subkey.public != phrase_keys.subkey.public


def test_bad_phrase_never_reaches_the_kdf():
    with pytest.raises(BadPaperKey):
        paper_device_keys(PHRASE.replace("abstract", "absurd"))
    with pytest.raises(BadPaperKey):
        paper_key_id("abandon amount")


def test_provision_phrase():
    entropy = bytes(range(13))
    phrase = new_provision_phrase(entropy)
    assert phrase == "abandon amount liar amount expire adjust cage candy arch"
    assert normalise_phrase(phrase, "provision") == phrase.split()
    secret = provision_secret(phrase)
    assert secret.hex() == "2a9e6b8b4293fe9fde106f3e787a9cbb22a6577e918a80e784d58704feaea9c8"
    assert provision_secret(" " + phrase.upper() + " ") == secret
    assert provision_secret(new_provision_phrase(bytes(13))) != secret
    rng = random.Random(3)
    assert len({new_provision_phrase(rng.randbytes(13)) for _ in range(100)}) == 100
    with pytest.raises(BadPaperKey, match="has 9 words"):
        provision_secret(PHRASE)
    with pytest.raises(BadPaperKey, match="has 13 words"):
        paper_key_id(phrase)
