"""KBFS block crypto v2: one block of a folder, its pointer, sealing and opening.

Per block the caller gives 32 fresh random bytes, the *half*; K = HMAC-SHA512(key = the
folder's kbfs key of the pointer's generation, msg = half), secretbox key K[:32], nonce
K[32:56]. The plaintext is `u32le(len) || data || zeros` padded to the next power of two
(at least 256 bytes), so the server learns only a size class. The block id is SHA-256 of
the stored bytes, which the server can check on upload and the reader checks on download.

Unlike Keybase, the half lives only in the pointer, inside the encrypted parent (or the
sealed revision for the root): the server never holds it, so it cannot hand a reader a
mismatched one, and a block moved under another pointer fails its id check first.

Public folders store the padded plaintext in the clear with the same id rule and an
all-zero half (key_gen 0): integrity comes from the ids in the signed revision's tree.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import nacl.exceptions
import nacl.secret

from ..errors import BadBlock, BadPadding, BlockIdMismatch, BlockOpenFailed, FolderUnknownKeyGen

BLOCK_SIZE = 512 * 1024               # padded plaintext of a full block
LEN_SIZE = 4
MAX_DATA = BLOCK_SIZE - LEN_SIZE      # data per block: a full block pads to exactly 512 KiB
MIN_PADDED = 256
HALF_SIZE = 32
ID_SIZE = 32
MAC = nacl.secret.SecretBox.MACBYTES  # 16
MAX_STORED = BLOCK_SIZE + MAC
ZERO_HALF = bytes(HALF_SIZE)
MAX_KEY_GEN = 1 << 31
MAX_TREE_BYTES = 1 << 50              # what one pointer may cover (1 PiB)

DATA, INDIRECT = 1, 2                 # pointer kinds: a leaf of bytes, or a list of child pointers
KINDS = frozenset({DATA, INDIRECT})
DEDUP_CONTEXT = b"kbapp-fs-dedup-v1\0"


@dataclass(frozen=True)
class BlockPointer:
    """Where a block is and how to open it: id (SHA-256 of the stored bytes), key_gen (0 in a
    public folder), half, size (logical bytes below it: a data block's length, or the total
    of an indirect block's children) and kind (DATA or INDIRECT)."""

    id: bytes
    key_gen: int
    half: bytes
    size: int
    kind: int

    @property
    def id_hex(self) -> str:
        return self.id.hex()

    def to_wire(self) -> list:
        return [self.kind, self.id, self.key_gen, self.half, self.size]

    @classmethod
    def from_wire(cls, w: object) -> "BlockPointer":
        """A checked pointer from [kind, id, key_gen, half, size]; BadBlock otherwise."""
        if not isinstance(w, (list, tuple)) or len(w) != 5:
            raise BadBlock("a block pointer is [kind, id, key_gen, half, size]")
        kind, bid, gen, half, size = w
        if type(kind) is not int or kind not in KINDS:
            raise BadBlock(f"unknown block kind {kind!r}")
        if not isinstance(bid, bytes) or len(bid) != ID_SIZE:
            raise BadBlock("a block id is 32 bytes")
        if type(gen) is not int or not 0 <= gen <= MAX_KEY_GEN:
            raise BadBlock("a key generation is a small non-negative integer")
        if not isinstance(half, bytes) or len(half) != HALF_SIZE:
            raise BadBlock("a block half is 32 bytes")
        if (gen == 0) != (half == ZERO_HALF):
            raise BadBlock("a clear block (key_gen 0) and only it has an all-zero half")
        if type(size) is not int or not 0 <= size <= (MAX_DATA if kind == DATA else MAX_TREE_BYTES):
            raise BadBlock(f"block size {size!r} out of range")
        return cls(bid, gen, half, size, kind)


# -- padding ---------------------------------------------------------------------------


def padded_size(n: int) -> int:
    """The next power of two that holds u32le(len) and n bytes, at least 256."""
    size = MIN_PADDED
    while size < n + LEN_SIZE:
        size *= 2
    return size


def pad(data: bytes) -> bytes:
    if len(data) > MAX_DATA:
        raise BadBlock(f"a block holds at most {MAX_DATA} bytes")
    return len(data).to_bytes(LEN_SIZE, "little") + bytes(data) + bytes(padded_size(len(data)) - len(data) - LEN_SIZE)


def unpad(padded: bytes) -> bytes:
    """Strict: the length fits, the size is exactly the padded size of that length, and every
    padding byte is zero (one encoding per block: nothing hides in the slack)."""
    if len(padded) < MIN_PADDED or len(padded) > BLOCK_SIZE:
        raise BadPadding(f"a padded block is {MIN_PADDED} to {BLOCK_SIZE} bytes, not {len(padded)}")
    n = int.from_bytes(padded[:LEN_SIZE], "little")
    if n > len(padded) - LEN_SIZE:
        raise BadPadding(f"the length field ({n}) is larger than the block ({len(padded)})")
    if padded_size(n) != len(padded):
        raise BadPadding(f"{n} bytes pad to {padded_size(n)}, not {len(padded)}")
    end = LEN_SIZE + n
    if padded[end:].count(0) != len(padded) - end:
        raise BadPadding("non-zero bytes in the padding")
    return bytes(padded[LEN_SIZE:end])


# -- keys, ids -------------------------------------------------------------------------


def block_key_nonce(folder_key: bytes, half: bytes) -> tuple[bytes, bytes]:
    """K = HMAC-SHA512(folder key, half): (K[:32], K[32:56])."""
    if not isinstance(folder_key, (bytes, bytearray)) or len(folder_key) != 32:
        raise ValueError("a folder key is 32 bytes")
    if not isinstance(half, (bytes, bytearray)) or len(half) != HALF_SIZE:
        raise ValueError("a block half is 32 bytes")
    k = hmac.new(bytes(folder_key), bytes(half), "sha512").digest()
    return k[:32], k[32:56]


def block_id(stored: bytes) -> bytes:
    return hashlib.sha256(stored).digest()


def dedup_key(folder_key: bytes) -> bytes:
    """The key of a client's local dedup map for one folder (never sent anywhere)."""
    return hmac.new(bytes(folder_key), DEDUP_CONTEXT, "sha512").digest()[:32]


def dedup_tag(dkey: bytes, data: bytes) -> bytes:
    """HMAC-SHA256(dedup key, data): the local map's key, so equal plaintexts in one folder
    reuse one block; no cross-folder dedup, and nothing the server could compare."""
    return hmac.new(dkey, data, "sha256").digest()


# -- sealing and opening ---------------------------------------------------------------


def seal_block(data: bytes, *, kind: int, size: int | None = None, folder_key: bytes | None,
               key_gen: int = 0, half: bytes | None = None) -> tuple[BlockPointer, bytes]:
    """(pointer, stored bytes) for `data`. `folder_key` None: a public folder's clear block.
    `size` is the logical size (an indirect block's children's total; a data block's length)."""
    if kind not in KINDS:
        raise BadBlock(f"unknown block kind {kind!r}")
    padded = pad(data)
    if folder_key is None:
        if key_gen != 0 or (half is not None and half != ZERO_HALF):
            raise ValueError("a clear block has key_gen 0 and no half")
        stored, half = padded, ZERO_HALF
    else:
        if type(key_gen) is not int or not 1 <= key_gen <= MAX_KEY_GEN:
            raise ValueError("an encrypted block names its key generation (>= 1)")
        if half is None or half == ZERO_HALF:
            raise ValueError("an encrypted block needs 32 fresh random bytes (its half)")
        key, nonce = block_key_nonce(folder_key, half)
        stored = nacl.secret.SecretBox(key).encrypt(padded, nonce).ciphertext
    if size is None and kind == INDIRECT:
        raise ValueError("an indirect block's size is its children's total: the caller's to give")
    size = len(data) if size is None else size
    if kind == DATA and size != len(data):
        raise ValueError("a data block's size is its length")
    ptr = BlockPointer.from_wire([kind, block_id(stored), key_gen, bytes(half), size])
    return ptr, stored


def check_stored(ptr: BlockPointer, stored: bytes) -> None:
    """The served bytes are the block the pointer names (the server's check, and the reader's first)."""
    if not isinstance(stored, (bytes, bytearray)) or len(stored) > MAX_STORED:
        raise BadBlock(f"a stored block is at most {MAX_STORED} bytes")
    if not hmac.compare_digest(block_id(bytes(stored)), ptr.id):
        raise BlockIdMismatch(f"the served block is not {ptr.id_hex[:16]}… (swapped or replaced)")


def open_block(ptr: BlockPointer, stored: bytes, folder_keys) -> bytes:
    """The block's data, after the id check, the MAC and the strict padding check.
    `folder_keys`: key_gen -> the folder's kbfs key; None for a public folder, whose blocks
    are all clear (and a private folder's never are)."""
    check_stored(ptr, stored)
    if (folder_keys is None) != (ptr.key_gen == 0):
        raise BadBlock("a public folder's blocks are clear (key_gen 0), a private folder's encrypted")
    if folder_keys is None:
        padded = bytes(stored)
    else:
        key = folder_keys.get(ptr.key_gen)
        if key is None:
            raise FolderUnknownKeyGen(f"no folder key of generation {ptr.key_gen}")
        k, nonce = block_key_nonce(key, ptr.half)
        try:
            padded = nacl.secret.SecretBox(k).decrypt(bytes(stored), nonce)
        except nacl.exceptions.CryptoError:
            raise BlockOpenFailed(f"block {ptr.id_hex[:16]}… does not open under its pointer's key") from None
    data = unpad(padded)
    if ptr.kind == DATA and len(data) != ptr.size:
        raise BadBlock(f"a data block of {len(data)} bytes under a pointer saying {ptr.size}")
    return data
