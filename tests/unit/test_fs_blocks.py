"""KBFS block crypto v2 (core/fs/blocks.py): padding, keys, ids, round trips, strict opening."""

from __future__ import annotations

import hashlib
import hmac

import nacl.secret
import pytest

from kbapp.core import errors
from kbapp.core.encoding import pack, unpack
from kbapp.core.fs.blocks import (BLOCK_SIZE, DATA, INDIRECT, MAX_DATA, ZERO_HALF, BlockPointer, block_key_nonce,
                                  dedup_key, dedup_tag, open_block, pad, padded_size, seal_block, unpad)

KEY, HALF = b"\x11" * 32, b"\x22" * 32
VECTOR_ID = "22e207fe1f423f93a17368d07f05e463bc67e507dbc1d89e813394810e5fe577"


@pytest.mark.parametrize("n,size", [(0, 256), (1, 256), (252, 256), (253, 512), (1000, 1024),
                                    (65532, 65536), (65533, 131072), (MAX_DATA, BLOCK_SIZE)])
def test_padding_is_the_next_power_of_two_from_256(n, size):
    data = bytes(range(256)) * (n // 256) + bytes(n % 256)
    padded = pad(data)
    assert padded_size(n) == size == len(padded)
    assert padded[:4] == n.to_bytes(4, "little") and unpad(padded) == data


def test_a_block_over_512k_is_refused():
    with pytest.raises(errors.BadBlock):
        pad(bytes(MAX_DATA + 1))


def test_the_vector_against_raw_primitives():
    """K = HMAC-SHA512(folder key, half); secretbox(K[:32], K[32:56], u32le(len) || data || 0s); id = SHA-256."""
    data = b"hello, kbfs"
    ptr, stored = seal_block(data, kind=DATA, folder_key=KEY, key_gen=1, half=HALF)
    k = hmac.new(KEY, HALF, "sha512").digest()
    assert block_key_nonce(KEY, HALF) == (k[:32], k[32:56])
    plain = len(data).to_bytes(4, "little") + data + bytes(256 - 4 - len(data))
    assert stored == nacl.secret.SecretBox(k[:32]).encrypt(plain, k[32:56]).ciphertext
    assert ptr.id == hashlib.sha256(stored).digest() and ptr.id.hex() == VECTOR_ID
    assert (ptr.kind, ptr.key_gen, ptr.half, ptr.size, len(stored)) == (DATA, 1, HALF, 11, 272)
    assert open_block(ptr, stored, {1: KEY}) == data


def test_public_blocks_are_clear_with_the_same_id_rule():
    ptr, stored = seal_block(b"hello, kbfs", kind=DATA, folder_key=None)
    assert stored == pad(b"hello, kbfs") and ptr.id == hashlib.sha256(stored).digest()
    assert (ptr.key_gen, ptr.half) == (0, ZERO_HALF)
    assert open_block(ptr, stored, None) == b"hello, kbfs"
    with pytest.raises(errors.BadBlock):                   # a clear block in a private folder
        open_block(ptr, stored, {1: KEY})
    eptr, estored = seal_block(b"x", kind=DATA, folder_key=KEY, key_gen=1, half=HALF)
    with pytest.raises(errors.BadBlock):                   # an encrypted block in a public folder
        open_block(eptr, estored, None)


def test_pointer_wire_round_trip_and_strictness():
    ptr, _ = seal_block(b"abc", kind=DATA, folder_key=KEY, key_gen=3, half=HALF)
    assert BlockPointer.from_wire(unpack(pack(ptr.to_wire()))) == ptr
    w = ptr.to_wire()
    for bad in ([9] + w[1:], w[:1] + [b"x"] + w[2:], w[:2] + [-1] + w[3:], w[:3] + [ZERO_HALF] + w[4:],
                w[:2] + [0] + w[3:], w[:4] + [MAX_DATA + 1], w[:4] + [True], w[:4], "x"):
        with pytest.raises(errors.BadBlock):
            BlockPointer.from_wire(bad)
    big = BlockPointer.from_wire([INDIRECT] + w[1:4] + [1 << 40])
    assert big.size == 1 << 40


def test_each_half_gives_another_key_and_an_unknown_generation_is_typed():
    a, sa = seal_block(b"same", kind=DATA, folder_key=KEY, key_gen=1, half=HALF)
    b, sb = seal_block(b"same", kind=DATA, folder_key=KEY, key_gen=1, half=b"\x33" * 32)
    assert a.id != b.id and sa != sb
    with pytest.raises(errors.FolderUnknownKeyGen):
        open_block(a, sa, {2: KEY})
    with pytest.raises(ValueError):
        seal_block(b"x", kind=DATA, folder_key=KEY, key_gen=1, half=None)


def test_dedup_tags_are_keyed_per_folder():
    d1, d2 = dedup_key(KEY), dedup_key(b"\x12" * 32)
    assert dedup_tag(d1, b"photo") == dedup_tag(d1, b"photo") != dedup_tag(d2, b"photo")
    assert dedup_tag(d1, b"photo") != hashlib.sha256(b"photo").digest()


@pytest.mark.parametrize("padded", [
    (300).to_bytes(4, "little") + bytes(252),                       # length larger than the block
    (0xFFFFFFFF).to_bytes(4, "little") + bytes(252),
    (3).to_bytes(4, "little") + b"abc" + bytes(248) + b"\x01",      # non-zero padding
    (3).to_bytes(4, "little") + b"abc" + bytes(505),                # 512 for 3 bytes: not canonical
    bytes(100),                                                     # under the minimum
    bytes(BLOCK_SIZE * 2),                                          # over the maximum
])
def test_unpad_is_strict(padded):
    with pytest.raises(errors.BadPadding):
        unpad(padded)


def test_folder_error_codes_are_stable_unique_and_exported():
    from kbapp.core import errors_fs
    classes = [getattr(errors_fs, n) for n in errors_fs.__all__]
    codes = [c.code for c in classes]
    assert len(set(codes)) == len(codes) and all(c.startswith("FS") for c in codes)
    assert all(getattr(errors, n) is getattr(errors_fs, n) for n in errors_fs.__all__)
    others = {c.code for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.KbappError)
              and c not in classes}
    assert not others & set(codes)
    assert all(issubclass(c, errors.VerificationError) for c in classes if c is not errors.BadFolderName)
