"""Attachments from the attacker's side: a server (or a colluding sender) that serves
other bytes than were uploaded. Each attack gives its typed error; a download leaves the
destination as it was and no partial file, and the client's trusted state is unchanged.

The codec cases build the hostile blob directly (core/chat/signencrypt.py); the server
cases rewrite the blob file on the real server's disk (the attacker runs the server).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import nacl.bindings
import pytest

from kbapp.client.app import App
from kbapp.client.chat import transfer
from kbapp.core import errors
from kbapp.core.chat import signencrypt as se

C, P = se.CHUNK, se.PACKET
SIZE = 4 * C + 1234               # five packets: four full ones and a short last one


def packets(blob: bytes) -> list[bytes]:
    return [blob[i:i + P] for i in range(0, len(blob), P)]


@pytest.fixture(scope="module")
def sealed():
    k = se.AttachmentKeys.generate(os.urandom)
    data = os.urandom(SIZE)
    blob, enc_hash = se.encrypt(k, data)
    return k, data, blob, enc_hash


def decode(k, blob: bytes, enc_hash: bytes, size: int | None = SIZE) -> bytes:
    dec = se.Decoder(k.reader(), enc_hash=enc_hash, size=size)
    return b"".join(dec.chunks(blob[i:i + 65536] for i in range(0, len(blob), 65536)))


# --- the codec: hostile bytes, with the reader's size known and not -------------------


@pytest.mark.parametrize("size", [SIZE, None])
def test_swapped_and_reordered_chunks(sealed, size):
    k, _, blob, h = sealed
    p = packets(blob)
    with pytest.raises(errors.AttachmentReordered):
        decode(k, b"".join([p[1], p[0], *p[2:]]), h, size)
    with pytest.raises(errors.AttachmentReordered):
        decode(k, b"".join([p[0], p[2], p[3], p[1], p[4]]), h, size)
    with pytest.raises(errors.AttachmentReordered):        # a chunk repeated in another's place
        decode(k, b"".join([p[0], p[1], p[1], p[3], p[4]]), h, size)


@pytest.mark.parametrize("size", [SIZE, None])
def test_truncated(sealed, size):
    k, _, blob, h = sealed
    for cut in (4 * P, 2 * P, 0, P + 7):        # at packet boundaries, or too little for a packet
        with pytest.raises(errors.AttachmentTruncated):
            decode(k, blob[:cut], h, size)
    # a byte short of the end: named as such when the size is known, else it does not open
    with pytest.raises(errors.AttachmentTruncated if size else errors.AttachmentTampered):
        decode(k, blob[:-1], h, size)


def test_dropped_middle_chunk_is_caught(sealed):
    k, _, blob, h = sealed
    p = packets(blob)
    with pytest.raises(errors.AttachmentReordered):
        decode(k, b"".join([p[0], *p[2:]]), h, None)


@pytest.mark.parametrize("size", [SIZE, None])
def test_extra_data_after_the_last_chunk(sealed, size):
    k, _, blob, h = sealed
    for extra in (b"\0", os.urandom(P + 5)):
        with pytest.raises((errors.AttachmentTrailingData, errors.AttachmentTampered)) as e:
            decode(k, blob + extra, h, size)
        if size is not None:                      # the size says where the last packet ends
            assert type(e.value) is errors.AttachmentTrailingData


def test_packet_from_another_attachment(sealed):
    k, _, blob, h = sealed
    other = se.encrypt(se.AttachmentKeys.generate(os.urandom), os.urandom(SIZE))[0]
    p, q = packets(blob), packets(other)
    with pytest.raises(errors.AttachmentTampered):
        decode(k, b"".join([p[0], q[1], *p[2:]]), h)
    with pytest.raises(errors.AttachmentTampered):
        decode(k, other, h)


@pytest.mark.parametrize("where", [0, P + 100, 4 * P + 90, len(b"") - 1])
def test_bit_flipped(sealed, where):
    k, _, blob, h = sealed
    bad = bytearray(blob)
    bad[where] ^= 0x01
    with pytest.raises(errors.AttachmentTampered):
        decode(k, bytes(bad), h)


def test_member_with_the_key_cannot_forge_a_chunk(sealed):
    """A reader holds the secretbox key, not the one-time signing key: a chunk it seals
    with a made-up signature opens but does not verify."""
    k, _, blob, h = sealed
    cnonce = se.chunk_nonce(k.nonce, 1)
    forged = nacl.bindings.crypto_secretbox(os.urandom(64) + b"evil" * (C // 4), cnonce, k.key)
    p = packets(blob)
    with pytest.raises(errors.AttachmentTampered):
        decode(k, b"".join([p[0], forged, *p[2:]]), None)


def test_blob_replaced_by_another_made_with_the_same_keys(sealed):
    """A sender who kept the keys made a second, valid blob (another enc_hash): every
    chunk opens, the hash the message names does not match."""
    k, _, blob, h = sealed
    other, other_hash = se.encrypt(k, os.urandom(SIZE))
    assert other_hash != h
    with pytest.raises(errors.AttachmentHashMismatch):
        decode(k, other, h)


# --- a lying server: the blob file rewritten on its disk ---------------------------------


@pytest.fixture
async def sender(world, name, tmp_path):
    """A user signed up straight on the session's real server (blobs do not pass the proxy)."""
    app = App(tmp_path / "sender")
    await app.open()
    await app.signup(name("sender"), device_name="sender-laptop", server_url=world.server.url)
    yield app
    await app.close()


def blob_path(world, blob_id: str) -> Path:
    return world.server.data_dir / "blobs" / blob_id[:2] / blob_id


def _record_blob(world, app, blob_id: str, size: int) -> None:
    """A row in the server's database saying `app`'s account uploaded `blob_id` (the blob
    route serves only chat blobs: ids an upload or a message holds)."""
    from sqlalchemy import insert

    from kbapp.server import blob_tables
    from kbapp.server import db as server_db

    engine = server_db.make_engine(server_db.normalise_url(getattr(world.server, "db", None), world.server.data_dir))
    try:
        with engine.begin() as conn:
            conn.execute(insert(blob_tables.blobs).values(uid=app.ctx.require_login()[0], blob_id=blob_id,
                                                          size=size, ctime=0))
    finally:
        engine.dispose()


@pytest.fixture
async def uploaded(sender, tmp_path):
    src = tmp_path / "photo.bin"
    data = os.urandom(SIZE)
    src.write_bytes(data)
    return await transfer.upload(sender.api, src), data


def swap_chunks(blob: bytes) -> bytes:
    p = packets(blob)
    return b"".join([p[0], p[2], p[1], *p[3:]])


ATTACKS = {
    "swapped": (swap_chunks, errors.AttachmentReordered),
    "truncated": (lambda b: b[:3 * P], errors.AttachmentTruncated),
    "truncated-last": (lambda b: b[:-1], errors.AttachmentTruncated),
    "extra": (lambda b: b + b"\0" * 100, errors.AttachmentTrailingData),
    "bit-flip": (lambda b: b[:P + 5] + bytes([b[P + 5] ^ 4]) + b[P + 6:], errors.AttachmentTampered),
    "other-attachment": (lambda b: se.encrypt(se.AttachmentKeys.generate(os.urandom), os.urandom(SIZE))[0],
                         errors.AttachmentTampered),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
async def test_server_serves_altered_blob(world, sender, uploaded, tmp_path, detected, attack):
    ref, _ = uploaded
    path = blob_path(world, ref.blob_id)
    alter, error = ATTACKS[attack]
    path.write_bytes(alter(path.read_bytes()))
    dest = tmp_path / "out" / "photo.bin"
    dest.parent.mkdir()
    dest.write_bytes(b"what the user had before")
    await detected(sender, error, transfer.download(sender.api, ref, dest))
    assert dest.read_bytes() == b"what the user had before"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["photo.bin"]     # no partial file


async def test_server_serves_a_valid_twin_blob(world, sender, tmp_path, detected):
    """The sender colludes with the server: the same one-time keys, another plaintext: a
    valid blob with another hash, served under the id the message names."""
    k = se.AttachmentKeys.generate(os.urandom)
    honest, honest_hash = se.encrypt(k, os.urandom(SIZE))
    twin, twin_hash = se.encrypt(k, os.urandom(SIZE))
    assert honest_hash != twin_hash and len(honest) == len(twin)
    ref = transfer.AttachmentRef(honest_hash.hex(), honest_hash, SIZE, k.key, k.verify_pub, k.nonce,
                                 "photo.bin", "application/octet-stream")
    path = blob_path(world, ref.blob_id)
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(twin)
    _record_blob(world, sender, ref.blob_id, len(twin))    # the server lists it as an upload, as it would
    dest = tmp_path / "out.bin"
    await detected(sender, errors.AttachmentHashMismatch, transfer.download(sender.api, ref, dest))
    assert not dest.exists() and list(tmp_path.glob(".out.bin.*")) == []


async def test_seek_into_a_swapped_blob(world, sender, uploaded, detected):
    ref, data = uploaded
    assert await transfer.fetch_chunk(sender.api, ref, 2) == data[2 * C:3 * C]
    path = blob_path(world, ref.blob_id)
    path.write_bytes(swap_chunks(path.read_bytes()))
    await detected(sender, errors.AttachmentReordered, transfer.fetch_chunk(sender.api, ref, 2))
    path.write_bytes(path.read_bytes()[:2 * P + 10])
    await detected(sender, errors.AttachmentTruncated, transfer.fetch_chunk(sender.api, ref, 2))


def test_blob_id_is_the_hash_the_message_names(sealed):
    _, _, blob, h = sealed
    assert hashlib.sha256(blob).digest() == h
