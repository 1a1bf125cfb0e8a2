"""Chat attachments: Keybase's signencrypt (go/chat/signencrypt) with our prefix. Pure.

Why this shape: an attachment is streamed (memory stays flat for a 2 GiB file), read
back from any chunk (seek), and every chunk is both sealed and signed, so that:

* each asset has its own one-time keys (a secretbox key, an Ed25519 key, a 16-byte
  nonce), kept only inside the message body: deleting the body shreds the blob;
* plaintext is cut into 1 MiB chunks; chunk i is sealed with nonce `nonce || u64be(i)`,
  so a chunk moved to another place, or taken from another attachment, does not open;
* packet i = secretbox(sig || chunk) with sig = Ed25519 over
  `prefix || 0x00 || enc_key || chunk_nonce || SHA-512(chunk)`: the signature is hidden
  from the server, and a member holding the secretbox key still cannot forge chunks;
* the last chunk is always short (possibly empty): a stream cut at a packet boundary
  lacks it, so truncation is caught; bytes after it are refused;
* every packet but the last has the same size (`PACKET`), so chunk i is at byte
  `i * PACKET` of the blob (`packet_range`), and `open_packet` opens it alone;
* `enc_hash` = SHA-256 of all the ciphertext = the blob id the server stores it under,
  named in the signed message: a blob swapped for another is caught at the end even if
  its packets open (a sender who kept the keys could have made a second one).

No I/O here: the client reads files and talks to the server (client/chat/transfer.py).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import nacl.bindings
import nacl.exceptions
import nacl.signing

from kbapp.core import errors
from kbapp.core.keys import SigningKeyPair, sign_detached, verify_detached

PREFIX = b"kbapp-chat-attachment-v1"
CHUNK = 1 << 20                                   # plaintext bytes per packet
SIG = 64
MAC = nacl.bindings.crypto_secretbox_MACBYTES     # 16
OVERHEAD = SIG + MAC                              # 80 bytes a packet adds to its chunk
PACKET = CHUNK + OVERHEAD
KEY = 32
NONCE = 16
REORDER_WINDOW = 16       # packets tried either side of a bad one, to tell "moved" from "altered"


@dataclass(frozen=True)
class AttachmentKeys:
    """One asset's one-time keys. The sender holds `sign_seed`; readers get the rest."""

    key: bytes                       # secretbox key
    verify_pub: bytes                # Ed25519 public key of the one-time signer
    nonce: bytes                     # 16 bytes; chunk i's nonce is nonce || u64be(i)
    sign_seed: bytes | None = None   # only the encoder has it

    def __post_init__(self):
        if not (isinstance(self.key, bytes) and len(self.key) == KEY):
            raise errors.EncodingError("an attachment key is 32 bytes")
        if not (isinstance(self.verify_pub, bytes) and len(self.verify_pub) == 32):
            raise errors.EncodingError("an attachment verify key is 32 bytes")
        if not (isinstance(self.nonce, bytes) and len(self.nonce) == NONCE):
            raise errors.EncodingError("an attachment nonce is 16 bytes")

    @classmethod
    def generate(cls, rng: Callable[[int], bytes]) -> "AttachmentKeys":
        """Fresh keys from the caller's randomness (core draws none itself)."""
        seed = rng(32)
        signer = SigningKeyPair.from_seed(seed)
        return cls(key=rng(KEY), verify_pub=signer.public, nonce=rng(NONCE), sign_seed=seed)

    def reader(self) -> "AttachmentKeys":
        """The keys without the signing seed: what goes into the message body."""
        return AttachmentKeys(self.key, self.verify_pub, self.nonce)


def chunk_nonce(nonce: bytes, index: int) -> bytes:
    return nonce + struct.pack(">Q", index)


def _sig_input(key: bytes, cnonce: bytes, chunk: bytes) -> bytes:
    return key + cnonce + hashlib.sha512(chunk).digest()


def sealed_size(size: int) -> int:
    """Ciphertext bytes of a `size`-byte plaintext: full packets, then the short last one."""
    if size < 0:
        raise ValueError("a size is not negative")
    return (size // CHUNK) * PACKET + (size % CHUNK) + OVERHEAD


def plain_size(sealed: int) -> int:
    """The plaintext size a blob of `sealed` bytes must hold, or AttachmentTruncated when no
    plaintext size gives that many bytes (a last packet shorter than its overhead)."""
    full, rest = divmod(sealed, PACKET)
    if rest < OVERHEAD:
        raise errors.AttachmentTruncated(f"{sealed} bytes is no whole attachment")
    return full * CHUNK + rest - OVERHEAD


def packet_count(size: int) -> int:
    """Packets of a `size`-byte plaintext (the last, short one included)."""
    return size // CHUNK + 1


def packet_range(index: int, size: int) -> tuple[int, int]:
    """[start, stop) of packet `index` in the blob of a `size`-byte plaintext (to seek)."""
    if not 0 <= index < packet_count(size):
        raise errors.EncodingError(f"an attachment of {size} bytes has no chunk {index}")
    start = index * PACKET
    return start, min(start + PACKET, sealed_size(size))


def seal_chunk(keys: AttachmentKeys, index: int, chunk: bytes) -> bytes:
    """Packet `index`: secretbox(sig || chunk) under the chunk's nonce."""
    if keys.sign_seed is None:
        raise errors.EncodingError("sealing needs the one-time signing key")
    if len(chunk) > CHUNK:
        raise errors.EncodingError(f"a chunk is at most {CHUNK} bytes")
    cnonce = chunk_nonce(keys.nonce, index)
    sig = sign_detached(SigningKeyPair.from_seed(keys.sign_seed), _sig_input(keys.key, cnonce, chunk),
                        prefix=PREFIX)
    return nacl.bindings.crypto_secretbox(sig + chunk, cnonce, keys.key)


def _open(keys: AttachmentKeys, index: int, packet: bytes) -> bytes | None:
    """The chunk if the packet opens and its signature holds at `index`, else None."""
    cnonce = chunk_nonce(keys.nonce, index)
    try:
        inner = nacl.bindings.crypto_secretbox_open(packet, cnonce, keys.key)
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        return None
    sig, chunk = inner[:SIG], inner[SIG:]
    try:
        verify_detached(keys.verify_pub, _sig_input(keys.key, cnonce, chunk), sig, prefix=PREFIX)
    except errors.BadSignature:
        return None
    return chunk


def open_packet(keys: AttachmentKeys, index: int, packet: bytes, *, count: int | None = None) -> bytes:
    """Chunk `index` alone (a seek). A packet that does not open at `index` but does at a
    nearby index raises AttachmentReordered; otherwise AttachmentTampered. `count` (the
    number of packets, when known) bounds the indices tried."""
    if not OVERHEAD <= len(packet) <= PACKET:
        raise errors.AttachmentTampered(f"chunk {index}: a packet of {len(packet)} bytes")
    chunk = _open(keys, index, packet)
    if chunk is not None:
        return chunk
    hi = index + REORDER_WINDOW + 1 if count is None else min(count, index + REORDER_WINDOW + 1)
    for j in range(max(0, index - REORDER_WINDOW), hi):
        if j != index and _open(keys, j, packet) is not None:
            raise errors.AttachmentReordered(f"chunk {index} of the attachment holds its chunk {j}")
    raise errors.AttachmentTampered(f"chunk {index} of the attachment does not open (altered, "
                                    "or from another attachment)")


class Encoder:
    """Plaintext pieces of any size in, packets out; `enc_hash` once all were taken."""

    def __init__(self, keys: AttachmentKeys):
        if keys.sign_seed is None:
            raise errors.EncodingError("encoding needs the one-time signing key")
        self.keys = keys
        self._hash = hashlib.sha256()
        self._buf = bytearray()
        self._index = 0
        self._done = False
        self.size = 0            # plaintext bytes taken
        self.sealed = 0          # ciphertext bytes given out

    def _emit(self, chunk: bytes) -> bytes:
        packet = seal_chunk(self.keys, self._index, chunk)
        self._index += 1
        self._hash.update(packet)
        self.sealed += len(packet)
        return packet

    def update(self, data: bytes) -> list[bytes]:
        """The packets `data` completes (zero or more full ones)."""
        if self._done:
            raise errors.EncodingError("the attachment was already finished")
        self.size += len(data)
        self._buf += data
        out = []
        while len(self._buf) >= CHUNK:
            out.append(self._emit(bytes(self._buf[:CHUNK])))
            del self._buf[:CHUNK]
        return out

    def finish(self) -> bytes:
        """The last, short (possibly empty) packet."""
        if self._done:
            raise errors.EncodingError("the attachment was already finished")
        self._done = True
        packet = self._emit(bytes(self._buf))
        self._buf = bytearray()
        return packet

    def packets(self, pieces: Iterable[bytes]) -> Iterator[bytes]:
        """Every packet of the plaintext `pieces`, the last one included."""
        for piece in pieces:
            yield from self.update(piece)
        yield self.finish()

    @property
    def enc_hash(self) -> bytes:
        if not self._done:
            raise errors.EncodingError("enc_hash is known once the attachment is finished")
        return self._hash.digest()


class Decoder:
    """Ciphertext bytes in (cut anywhere), verified plaintext chunks out, in order.

    `finish()` says the stream ended: AttachmentTruncated without the short last packet,
    AttachmentHashMismatch when the ciphertext's SHA-256 is not `enc_hash` (if given).
    Bytes after the last packet raise AttachmentTrailingData."""

    def __init__(self, keys: AttachmentKeys, *, enc_hash: bytes | None = None, size: int | None = None):
        self.keys = keys
        self.expected_hash = enc_hash
        self.expected_size = size
        self._count = None if size is None else packet_count(size)
        self._hash = hashlib.sha256()
        self._buf = bytearray()
        self._index = 0
        self._done = False
        self.size = 0            # plaintext bytes given out

    def _take(self, packet: bytes) -> bytes:
        chunk = open_packet(self.keys, self._index, packet, count=self._count)
        self._index += 1
        self.size += len(chunk)
        if len(chunk) < CHUNK:
            self._done = True
        return chunk

    def _want(self) -> int:
        """Bytes of the next packet: a full one, or exactly the last one when the size is known."""
        if self._count is not None and self._index == self._count - 1:
            return self.expected_size % CHUNK + OVERHEAD
        return PACKET

    def update(self, data: bytes, pmap: Callable = map) -> list[bytes]:
        """The chunks `data` completes. A full-size packet is opened as soon as it is
        whole; a shorter one only at `finish` (it must be the last) unless the size is known.

        `pmap` (e.g. a thread pool's `map`: results in order, the first error in order)
        opens this update's packets, and hashes `data`, side by side: each packet is a pure
        function of its index, so the outcome is the sequential one (the caller's threads;
        this module starts none)."""
        if not data:
            return []
        if self._done:
            raise errors.AttachmentTrailingData("bytes after the attachment's last chunk")
        self._buf += data
        jobs, pos, view = [], 0, memoryview(self._buf)
        while not self._done and len(view) - pos >= self._want():
            want = self._want()
            jobs.append((self._index, bytes(view[pos:pos + want])))
            pos += want
            self._index += 1
            self._done = self._index == self._count
        view.release()
        del self._buf[:pos]

        def work(job):
            if job is None:
                return self._hash.update(data)
            return open_packet(self.keys, job[0], job[1], count=self._count)
        out = list(pmap(work, [None, *jobs]))[1:]
        self.size += sum(map(len, out))
        if self._done and self._buf:
            raise errors.AttachmentTrailingData("bytes after the attachment's last chunk")
        return out

    def finish(self) -> bytes:
        """The last chunk (b"" if `update` already gave it), after the end-of-stream checks."""
        chunk = b""
        if not self._done:
            if len(self._buf) < OVERHEAD or self._count is not None:
                raise errors.AttachmentTruncated(f"the attachment stops after chunk {self._index - 1} "
                                                 "without its short last chunk")
            chunk = self._take(bytes(self._buf))
            self._buf = bytearray()
            if not self._done:
                raise errors.AttachmentTruncated("the attachment stops without its short last chunk")
        if self.expected_size is not None and self.size != self.expected_size:
            raise errors.AttachmentHashMismatch(f"the attachment holds {self.size} bytes, "
                                                f"not the {self.expected_size} its message names")
        if self.expected_hash is not None and self._hash.digest() != self.expected_hash:
            raise errors.AttachmentHashMismatch("the attachment's ciphertext is not the one its message names")
        return chunk

    def chunks(self, data: Iterable[bytes]) -> Iterator[bytes]:
        """Every verified plaintext chunk of the ciphertext pieces `data`, then the checks."""
        for piece in data:
            yield from self.update(piece)
        yield self.finish()

    @property
    def enc_hash(self) -> bytes:
        return self._hash.digest()


def encrypt(keys: AttachmentKeys, data: bytes) -> tuple[bytes, bytes]:
    """(ciphertext, enc_hash) of a small plaintext held in memory (tests, previews)."""
    enc = Encoder(keys)
    blob = b"".join(enc.packets([data]))
    return blob, enc.enc_hash


def decrypt(keys: AttachmentKeys, blob: bytes, *, enc_hash: bytes | None = None) -> bytes:
    """The plaintext of a small blob held in memory, every check made."""
    return b"".join(Decoder(keys, enc_hash=enc_hash).chunks([blob]))
