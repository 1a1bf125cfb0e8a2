"""C2SP signed notes and checkpoints: interop vector, round trip, tampering, strict parsing."""

from __future__ import annotations

import base64
import hashlib

import nacl.signing
import pytest

from kbapp.core.errors import CheckpointError, EncodingError
from kbapp.core.merkle import (
    Checkpoint,
    key_fingerprint,
    key_id,
    open_note,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
    verifier_key,
    verify_checkpoint,
)

# Go's golang.org/x/mod/sumdb/note example key and signed note.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = GO_TEXT + ("\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2p"
                     "ZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")

ORIGIN = "kbapp.test/log"
NAME = "kbapp.test/log"
ROOT = hashlib.sha256(b"root").digest()
SK = nacl.signing.SigningKey(bytes(range(32)))
PUB = bytes(SK.verify_key)
OTHER = nacl.signing.SigningKey(bytes(range(1, 33)))


def test_go_sumdb_note_vector():
    seed = base64.b64decode(GO_SKEY.split("+", 4)[4])
    sk = nacl.signing.SigningKey(seed[1:])
    pub = bytes(sk.verify_key)
    assert verifier_key("PeterNeumann", pub) == GO_VKEY
    assert parse_verifier_key(GO_VKEY) == ("PeterNeumann", pub)
    assert key_id("PeterNeumann", pub).hex() == "c74f20a3"
    assert sign_note(GO_TEXT, "PeterNeumann", sk) == GO_NOTE
    assert open_note(GO_NOTE, "PeterNeumann", pub) == GO_TEXT


def test_checkpoint_round_trip():
    note = sign_checkpoint(ORIGIN, 12345, ROOT, NAME, SK)
    assert note.startswith(f"{ORIGIN}\n12345\n{base64.b64encode(ROOT).decode()}\n\n\u2014 {NAME} ")
    cp = verify_checkpoint(note, NAME, PUB, origin=ORIGIN)
    assert cp == Checkpoint(ORIGIN, 12345, ROOT, (), note)
    assert verify_checkpoint(note.encode(), NAME, PUB).text == note
    ext = sign_checkpoint(ORIGIN, 0, ROOT, NAME, SK, extensions=("epoch 7", "x"))
    assert verify_checkpoint(ext, NAME, PUB).extensions == ("epoch 7", "x")
    assert verify_checkpoint(ext, NAME, PUB).size == 0


def test_other_signatures_are_ignored_but_needed_ours():
    note = sign_checkpoint(ORIGIN, 5, ROOT, NAME, SK)
    text = note[:note.index("\n\n") + 1]
    witness = sign_note(text, "witness.example", OTHER)
    cosigned = note + witness[len(text) + 1:]
    assert verify_checkpoint(cosigned, NAME, PUB).size == 5
    assert verify_checkpoint(cosigned, "witness.example", bytes(OTHER.verify_key)).size == 5
    with pytest.raises(CheckpointError, match="not signed by"):
        verify_checkpoint(witness, NAME, PUB)


def test_wrong_key_or_origin():
    note = sign_checkpoint(ORIGIN, 5, ROOT, NAME, SK)
    with pytest.raises(CheckpointError, match="different key"):
        verify_checkpoint(note, NAME, bytes(OTHER.verify_key))  # same name, other key
    with pytest.raises(CheckpointError, match="not signed by"):
        verify_checkpoint(note, "other.name", PUB)
    with pytest.raises(CheckpointError, match="is for log"):
        verify_checkpoint(note, NAME, PUB, origin="another/log")
    # a signature made by another key but labelled with our key ID
    forged_sig = OTHER.sign(note[:note.index("\n\n") + 1].encode()).signature
    forged = note[:note.index("\u2014")] + f"\u2014 {NAME} " + base64.b64encode(key_id(NAME, PUB) + forged_sig).decode() + "\n"
    with pytest.raises(CheckpointError, match="does not verify"):
        verify_checkpoint(forged, NAME, PUB)


def test_tampered_body():
    note = sign_checkpoint(ORIGIN, 5, ROOT, NAME, SK)
    for bad in (note.replace("\n5\n", "\n6\n"),
                note.replace(ORIGIN, "kbapp.test/lag", 1),
                note.replace(base64.b64encode(ROOT).decode(), base64.b64encode(bytes(32)).decode())):
        with pytest.raises(CheckpointError, match="does not verify"):
            verify_checkpoint(bad, NAME, PUB)
    # a bad signature by our key rejects even if a good one follows
    line = note[note.index("\u2014"):]
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[10] ^= 1
    bad_line = f"\u2014 {NAME} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(CheckpointError):
        verify_checkpoint(note[:note.index("\u2014")] + bad_line + line, NAME, PUB)


def _signed_text(text: str) -> str:
    """Sign arbitrary text with the raw algorithm, bypassing sign_note's checks."""
    sig = SK.sign(text.encode()).signature
    return f"{text}\n\u2014 {NAME} {base64.b64encode(key_id(NAME, PUB) + sig).decode()}\n"


ROOT_B64 = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize("text", [
    f"{ORIGIN}\n05\n{ROOT_B64}\n",  # leading zero
    f"{ORIGIN}\n+5\n{ROOT_B64}\n",
    f"{ORIGIN}\n-1\n{ROOT_B64}\n",
    f"{ORIGIN}\n5.0\n{ROOT_B64}\n",
    f"{ORIGIN}\n0x5\n{ROOT_B64}\n",
    f"{ORIGIN}\n\u0665\n{ROOT_B64}\n",  # Arabic-Indic digit: not ASCII decimal
    f"{ORIGIN}\n 5\n{ROOT_B64}\n",
    f"{ORIGIN}\n18446744073709551616\n{ROOT_B64}\n",  # 2**64
    f"{ORIGIN}\n5\n{base64.b64encode(ROOT[:31]).decode()}\n",  # short root
    f"{ORIGIN}\n5\n{base64.b64encode(ROOT + b'x').decode()}\n",
    f"{ORIGIN}\n5\n{ROOT_B64.rstrip('=')}\n",  # unpadded
    f"{ORIGIN}\n5\n{ROOT_B64[:-2]}B=\n",  # non-canonical trailing bits
    f"{ORIGIN}\n5\n",  # no root
    f"{ORIGIN}\n5\n{ROOT_B64}\n\n",  # blank extension line
    f"\n5\n{ROOT_B64}\n",  # empty origin
    f"{ORIGIN}\r\n5\n{ROOT_B64}\n",  # control character
    f"{ORIGIN}\n5\n{ROOT_B64}\next\tension\n",
])
def test_malformed_checkpoint_bodies(text):
    with pytest.raises(CheckpointError):
        verify_checkpoint(_signed_text(text), NAME, PUB)


def test_well_formed_body_control():
    assert verify_checkpoint(_signed_text(f"{ORIGIN}\n5\n{ROOT_B64}\n"), NAME, PUB).size == 5


GOOD = sign_checkpoint(ORIGIN, 5, ROOT, NAME, SK)
SIG_LINE = GOOD[GOOD.index("\u2014"):]
BODY = GOOD[:GOOD.index("\n\n") + 1]


@pytest.mark.parametrize("note", [
    "",
    BODY,  # no signatures
    BODY + "\n",
    GOOD.rstrip("\n"),  # no final newline
    GOOD + "trailing garbage",
    GOOD + "trailing garbage\n",
    GOOD + "\n",
    BODY + "\n" + SIG_LINE.replace("\u2014", "-"),  # hyphen, not em dash
    BODY + "\n" + SIG_LINE.replace("\u2014 ", "\u2014"),
    BODY + "\n" + SIG_LINE.replace(f" {NAME} ", f"  {NAME} "),
    BODY + "\n" + SIG_LINE.replace(f" {NAME} ", f" {NAME}  "),
    BODY + "\n" + SIG_LINE.replace("=\n", "\n"),  # unpadded signature
    BODY + "\n" + SIG_LINE.replace(NAME, "bad+name"),
    BODY + "\n\u2014 " + NAME + " AAAA\n",  # too short to hold a key ID and signature
    BODY + "\n" + SIG_LINE * 101,  # too many signatures
    BODY + "\n" + SIG_LINE + "x" * (64 * 1024),  # too large
    "\x00" + GOOD,
    GOOD.replace(ORIGIN, ORIGIN + "\ud800"),  # lone surrogate
    b"\xff" + GOOD.encode(),
    None,
    12,
])
def test_malformed_notes(note):
    with pytest.raises(CheckpointError):
        verify_checkpoint(note, NAME, PUB)


def test_verifier_keys():
    vkey = verifier_key(NAME, PUB)
    assert parse_verifier_key(vkey) == (NAME, PUB)
    name, kid, b64 = vkey.split("+", 2)
    for bad in ("", "nokey", f"{name}+{kid}", f"{name}+{kid.upper()}+{b64}", f"{name}+00000000+{b64}",
                f"{name}+{kid}+{b64[:-4]}", f"bad name+{kid}+{b64}", f"{name}+{kid}+AA" + b64[2:], 7):
        with pytest.raises(EncodingError):
            parse_verifier_key(bad)


def test_fingerprint():
    fp = key_fingerprint(PUB)
    assert fp == " ".join(hashlib.sha256(PUB).hexdigest()[i:i + 4] for i in range(0, 32, 4))
    assert key_fingerprint(bytes(OTHER.verify_key)) != fp


def test_signing_refuses_bad_input():
    for args in (("", 1, ROOT), ("a\nb", 1, ROOT), (ORIGIN, -1, ROOT), (ORIGIN, 1 << 64, ROOT),
                 (ORIGIN, True, ROOT), (ORIGIN, 1, ROOT[:31])):
        with pytest.raises(ValueError):
            sign_checkpoint(*args, NAME, SK)
    with pytest.raises(ValueError):
        sign_checkpoint(ORIGIN, 1, ROOT, NAME, SK, extensions=("",))
    with pytest.raises(ValueError):
        sign_checkpoint(ORIGIN, 1, ROOT, "bad name", SK)
    with pytest.raises(TypeError):
        sign_checkpoint(ORIGIN, 1, ROOT, NAME, bytes(32))


def test_embedded_signature_proves_the_servers_word():
    """A link embeds a checkpoint's signature (note_signature); anyone holding the pinned key
    can tell it is the server's on exactly that (origin, size, root), and nothing else."""
    from kbapp.core.merkle.note import note_signature, signed_checkpoint

    key = nacl.signing.SigningKey(b"\x07" * 32)
    pub = bytes(key.verify_key)
    root = b"\x11" * 32
    sig = note_signature(sign_checkpoint("example.org/log", 5, root, "example.org/log", key))
    assert signed_checkpoint("example.org/log", 5, root, sig, "example.org/log", pub)
    assert not signed_checkpoint("example.org/log", 6, root, sig, "example.org/log", pub)
    assert not signed_checkpoint("example.org/log", 5, b"\x12" * 32, sig, "example.org/log", pub)
    assert not signed_checkpoint("other.org/log", 5, root, sig, "example.org/log", pub)
    other = bytes(nacl.signing.SigningKey(b"\x08" * 32).verify_key)
    assert not signed_checkpoint("example.org/log", 5, root, sig, "example.org/log", other)
    for junk in (None, 5, "", "A" * 96, "not base64!", "A" * 500, sig + "\n— x y"):
        assert not signed_checkpoint("example.org/log", 5, root, junk, "example.org/log", pub)
