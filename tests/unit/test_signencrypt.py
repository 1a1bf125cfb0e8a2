"""Chat attachments' chunked sign-then-encrypt (kbapp/core/chat/signencrypt.py)."""

from __future__ import annotations

import hashlib
import os

import pytest

from kbapp.core import errors
from kbapp.core.chat import signencrypt as se


def keys(seed: int = 1) -> se.AttachmentKeys:
    stream = hashlib.shake_256(bytes([seed])).digest(80)
    parts = iter([stream[:32], stream[32:64], stream[64:80]])
    return se.AttachmentKeys.generate(lambda n: next(parts)[:n])


SIZES = [0, 1, 1000, se.CHUNK - 1, se.CHUNK, se.CHUNK + 1, 2 * se.CHUNK, 2 * se.CHUNK + 17]


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_sizes_and_layout(size):
    k = keys()
    data = os.urandom(size)
    blob, enc_hash = se.encrypt(k, data)
    assert len(blob) == se.sealed_size(size) and se.plain_size(len(blob)) == size
    assert enc_hash == hashlib.sha256(blob).digest()
    assert se.packet_count(size) == size // se.CHUNK + 1          # always a short last packet
    assert se.decrypt(k.reader(), blob, enc_hash=enc_hash) == data
    # fed in odd pieces, with and without the size known
    for size_known in (None, size):
        dec = se.Decoder(k.reader(), enc_hash=enc_hash, size=size_known)
        pieces = (blob[i:i + 99991] for i in range(0, len(blob), 99991))
        assert b"".join(dec.chunks(pieces)) == data
        assert dec.enc_hash == enc_hash


def test_encoding_is_deterministic_given_the_keys():
    """The client encrypts twice (first pass: the blob id) and must get the same bytes."""
    data = os.urandom(se.CHUNK + 5)
    assert se.encrypt(keys(), data) == se.encrypt(keys(), data)
    assert se.encrypt(keys(2), data)[1] != se.encrypt(keys(), data)[1]


def test_encoder_takes_any_piece_sizes():
    data = os.urandom(3 * se.CHUNK + 3)
    enc = se.Encoder(keys())
    blob = b"".join(enc.packets(data[i:i + 12345] for i in range(0, len(data), 12345)))
    assert (blob, enc.enc_hash) == se.encrypt(keys(), data)
    assert enc.size == len(data) and enc.sealed == len(blob)
    with pytest.raises(errors.EncodingError):
        enc.finish()


def test_seek_opens_any_chunk_alone():
    size = 3 * se.CHUNK + 10
    k = keys()
    data = os.urandom(size)
    blob, _ = se.encrypt(k, data)
    for i in range(se.packet_count(size)):
        start, stop = se.packet_range(i, size)
        assert se.open_packet(k.reader(), i, blob[start:stop]) == data[i * se.CHUNK:(i + 1) * se.CHUNK]
    with pytest.raises(errors.EncodingError):
        se.packet_range(4, size)


def test_readers_cannot_seal():
    with pytest.raises(errors.EncodingError):
        se.Encoder(keys().reader())
    with pytest.raises(errors.EncodingError):
        se.AttachmentKeys(b"k" * 31, b"v" * 32, b"n" * 16)


def test_plain_size_refuses_impossible_lengths():
    with pytest.raises(errors.AttachmentTruncated):
        se.plain_size(se.OVERHEAD - 1)
    with pytest.raises(errors.AttachmentTruncated):
        se.plain_size(se.PACKET + 3)
