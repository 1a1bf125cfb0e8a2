"""Paper keys and provisioning phrases: BIP39 English words.

Paper key (13 words, 143 bits, written down by the user and never stored):

    | label: 22 bits (words 1-2) | secret: 117 bits | checksum: 4 bits |

The first two words are the paper key's public name (Keybase shows them as the
paper device's name), so they are not counted as secret: 117 secret bits
remain, Keybase's figure. The last 4 bits are a checksum (the first 4 bits of
SHA-256 over the other 139 bits, domain separated), the same size BIP39 uses
for 12 words. A typo almost always lands outside the 2048-word list and is
named; one that hits another valid word, or two swapped words, is caught with
probability 15/16; the rest derive keys that match no sibkey on the chain.

The phrase is stretched with argon2id (PyNaCl's "interactive" limits: 2 passes
over 64 MiB, about 0.16 s per derivation here). With 117 unknown bits the KDF
is not what makes guessing hopeless; it is defence in depth should a future
phrase be shorter. The salt is fixed (a domain string), so a phrase derives
the same keys on every machine without a server round trip.

Provisioning phrase (9 words, 99 bits, all secret, no checksum): shown on one
device and typed into another within minutes to add it; it is never stored,
and 99 random bits are beyond offline guessing, so HMAC-SHA256 suffices.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import hmac
import unicodedata

import nacl.pwhash

from .errors import BadPaperKey
from .keys import DeviceKeys

WORD_BITS = 11

PAPER_WORDS = 13
PAPER_LABEL_BITS = 22
PAPER_SECRET_BITS = 117
PAPER_CHECKSUM_BITS = 4
PAPER_RANDOM_BITS = PAPER_LABEL_BITS + PAPER_SECRET_BITS  # 139
PAPER_ENTROPY_BYTES = (PAPER_RANDOM_BITS + 7) // 8  # 18

PROVISION_WORDS = 9
PROVISION_BITS = PROVISION_WORDS * WORD_BITS  # 99
PROVISION_ENTROPY_BYTES = (PROVISION_BITS + 7) // 8  # 13

MAX_PHRASE_CHARS = 1000

PAPER_DOMAIN = b"kbapp-paper-key-v1"
PAPER_SALT = hashlib.sha256(PAPER_DOMAIN + b" argon2id salt").digest()[: nacl.pwhash.argon2id.SALTBYTES]
PAPER_OPSLIMIT = nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE
PAPER_MEMLIMIT = nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE
PROVISION_DOMAIN = b"kbapp-provision-phrase-v1"

KIND_PAPER = "paper"
KIND_PROVISION = "provision"
_WORD_COUNTS = {KIND_PAPER: PAPER_WORDS, KIND_PROVISION: PROVISION_WORDS}

# PAPER_RANDOM_BITS + PAPER_CHECKSUM_BITS == PAPER_WORDS * WORD_BITS (143); a test pins it.


@functools.lru_cache(maxsize=1)
def wordlist() -> tuple[str, ...]:
    """The BIP39 English list (2048 words, unique in their first 4 letters)."""
    from mnemonic import Mnemonic

    words = tuple(Mnemonic("english").wordlist)
    if len(words) != 1 << WORD_BITS:
        raise RuntimeError("the BIP39 English wordlist must have 2048 words")
    return words


@functools.lru_cache(maxsize=1)
def _word_index() -> dict[str, int]:
    return {w: i for i, w in enumerate(wordlist())}


def _int_to_words(value: int, count: int) -> list[str]:
    words = wordlist()
    mask = (1 << WORD_BITS) - 1
    return [words[(value >> (WORD_BITS * (count - 1 - i))) & mask] for i in range(count)]


def _words_to_int(words: list[str]) -> int:
    index = _word_index()
    value = 0
    for w in words:
        value = (value << WORD_BITS) | index[w]
    return value


def _take_bits(entropy: bytes, nbytes: int, bits: int) -> int:
    if not isinstance(entropy, (bytes, bytearray)):
        raise TypeError("entropy must be bytes")
    if len(entropy) < nbytes:
        raise ValueError(f"need at least {nbytes} bytes of entropy, got {len(entropy)}")
    return int.from_bytes(entropy[:nbytes], "big") >> (8 * nbytes - bits)


def _paper_checksum(random_part: int) -> int:
    digest = hashlib.sha256(
        PAPER_DOMAIN + b"\x00checksum\x00" + random_part.to_bytes(PAPER_ENTROPY_BYTES, "big")).digest()
    return digest[0] >> (8 - PAPER_CHECKSUM_BITS)


def new_paper_phrase(entropy: bytes) -> str:
    """A fresh paper key phrase from >= 18 random bytes (the first 139 bits are used)."""
    random_part = _take_bits(entropy, PAPER_ENTROPY_BYTES, PAPER_RANDOM_BITS)
    value = (random_part << PAPER_CHECKSUM_BITS) | _paper_checksum(random_part)
    return " ".join(_int_to_words(value, PAPER_WORDS))


def new_provision_phrase(entropy: bytes) -> str:
    """A fresh provisioning phrase from >= 13 random bytes (the first 99 bits are used)."""
    value = _take_bits(entropy, PROVISION_ENTROPY_BYTES, PROVISION_BITS)
    return " ".join(_int_to_words(value, PROVISION_WORDS))


def _suggest(word: str) -> str:
    close = difflib.get_close_matches(word, wordlist(), n=3, cutoff=0.75)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def normalise_phrase(text: str, kind: str = KIND_PAPER) -> list[str]:
    """The phrase's words, lowercased and split on any whitespace, fully checked.

    Raises BadPaperKey naming the first unknown word (with suggestions), or
    giving the expected and actual word counts, or, for a paper key, saying
    the checksum failed. `kind` is "paper" (13 words) or "provision" (9).
    """
    if kind not in _WORD_COUNTS:
        raise ValueError(f"unknown phrase kind {kind!r}")
    if not isinstance(text, str):
        raise BadPaperKey("a phrase is text")
    if len(text) > MAX_PHRASE_CHARS:
        raise BadPaperKey(f"a phrase is at most {MAX_PHRASE_CHARS} characters")
    words = unicodedata.normalize("NFKC", text).lower().split()
    index = _word_index()
    for pos, word in enumerate(words, 1):
        if word not in index:
            shown = word if len(word) <= 40 else word[:40] + "..."
            raise BadPaperKey(f"word {pos}, {shown!r}, is not in the word list{_suggest(word)}")
    expected = _WORD_COUNTS[kind]
    if len(words) != expected:
        raise BadPaperKey(f"a {kind} phrase has {expected} words, this one has {len(words)}")
    if kind == KIND_PAPER:
        value = _words_to_int(words)
        random_part = value >> PAPER_CHECKSUM_BITS
        if value & ((1 << PAPER_CHECKSUM_BITS) - 1) != _paper_checksum(random_part):
            raise BadPaperKey(
                "the paper key's checksum does not match: a word is mistyped or two words are swapped")
    return words


def paper_key_id(phrase: str) -> str:
    """The paper key's public name: its first two words (not secret, by design)."""
    return " ".join(normalise_phrase(phrase, KIND_PAPER)[:2])


def paper_device_keys(phrase: str) -> DeviceKeys:
    """The paper device's sibkey and subkey. Costs one argon2id run (~0.16 s, 64 MiB)."""
    words = normalise_phrase(phrase, KIND_PAPER)
    master = nacl.pwhash.argon2id.kdf(
        32, " ".join(words).encode("ascii"), PAPER_SALT,
        opslimit=PAPER_OPSLIMIT, memlimit=PAPER_MEMLIMIT)
    sign_seed = hmac.new(master, PAPER_DOMAIN + b"\x00sibkey (Ed25519)", hashlib.sha256).digest()
    enc_seed = hmac.new(master, PAPER_DOMAIN + b"\x00subkey (Curve25519)", hashlib.sha256).digest()
    return DeviceKeys.from_seeds(sign_seed, enc_seed)


def provision_secret(phrase: str) -> bytes:
    """The 32-byte shared secret two devices derive from a provisioning phrase."""
    words = normalise_phrase(phrase, KIND_PROVISION)
    return hmac.new(PROVISION_DOMAIN, " ".join(words).encode("ascii"), hashlib.sha256).digest()
