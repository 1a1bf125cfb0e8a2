"""Attachments to and from the server's blob store, streamed, memory flat.

`upload(api, path)` signencrypts a file with one-time keys (core/chat/signencrypt.py)
and streams it to `POST /v1/blobs`; the returned `AttachmentRef` (keys, hash, size,
name, mime) goes into the message body and nowhere else. `download(api, ref, dest)`
streams the blob back, checks every chunk before a byte of it is written, and checks
the whole ciphertext's hash at the end; `fetch_chunk` reads one chunk alone (a seek).

One pass on upload: the blob id is the SHA-256 of the ciphertext (content addressing:
one id, one content). The server hashes what arrives and keeps it under that hash, which
its answer names; the client hashes what it sent and refuses an answer naming another id
(BlobMismatch), so the id in the message is always the hash of the bytes the keys sealed.
(Before, a first pass encrypted only to learn the id for `PUT /v1/blobs/{id}`: twice the
client's work.) The file is read once, so a file changing under the upload cannot make the
id and the bytes disagree; a file that shrank is an error.

File reads, encryption and decryption run in worker threads; the event loop (the GUI's)
only moves bytes. Both ways are pipelined: on upload a few packets are sealed at once on
two threads while the current one is sent (each packet is a pure function of its index);
on download the next batch is read while the current one's packets are opened on two
threads, its bytes hashed beside them, and written (the Decoder keeps the order and the
checks: the outcome is the sequential one). At most a handful of 1 MiB packets are in
memory.
`progress(done, total)` is called on the event loop; `cancel` (a threading.Event) or
cancelling the task stops it: nothing is kept on the server, no partial file is left.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import mimetypes
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from kbapp.core import errors
from kbapp.core.chat import signencrypt as se
from kbapp.core.chat.body import make_body

from ..local_read import identity, open_regular

Progress = Callable[[int, int], None]
READ = se.CHUNK                  # bytes read from the file at a time
PUT_TRIES = 4                    # a stale read token once, the per-device upload rate a few times
MAX_WAIT = 10                    # seconds of Retry-After an upload waits out
DEFAULT_MIME = "application/octet-stream"


@dataclass(frozen=True)
class AttachmentRef:
    """What a reader needs to fetch and check an attachment: the attachment body's fields."""

    blob_id: str          # hex of enc_hash: the server's name for the ciphertext
    enc_hash: bytes
    size: int             # plaintext bytes
    key: bytes
    verify_pub: bytes
    nonce: bytes
    name: str
    mime: str

    def keys(self) -> se.AttachmentKeys:
        return se.AttachmentKeys(self.key, self.verify_pub, self.nonce)

    @property
    def sealed_size(self) -> int:
        return se.sealed_size(self.size)

    def to_body(self, meta: dict | None = None) -> dict:
        """The attachment body's fields (core/chat/body.py; `preview` is the caller's)."""
        return {"blob_id": self.blob_id, "enc_hash": self.enc_hash, "size": self.size, "key": self.key,
                "verify_pub": self.verify_pub, "nonce": self.nonce, "name": self.name, "mime": self.mime,
                "meta": dict(meta or {})}

    @classmethod
    def from_body(cls, body: dict) -> "AttachmentRef":
        """From a verified attachment body (its fields were checked by core/chat/body.py)."""
        ref = cls(body["blob_id"], bytes(body["enc_hash"]), int(body["size"]), bytes(body["key"]),
                  bytes(body["verify_pub"]), bytes(body["nonce"]), str(body.get("name", "")),
                  str(body.get("mime", DEFAULT_MIME)))
        if ref.enc_hash.hex() != ref.blob_id or ref.size < 0:
            raise errors.EncodingError("an attachment's blob id is the hex of its enc_hash")
        ref.keys()                                   # the key sizes
        return ref


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise errors.Cancelled("the transfer was cancelled")


def _guess_mime(name: str) -> str:
    """The file's type by its name, if the attachment body takes it; else octet-stream."""
    mime = (mimetypes.guess_type(name)[0] or DEFAULT_MIME).lower()
    try:
        _check_body_fields(name, mime)
    except errors.InvalidChatInput:
        return DEFAULT_MIME
    return mime


def _check_body_fields(name: str, mime: str) -> None:
    """InvalidChatInput now, before any work, for a name or type the attachment body refuses
    (a path, control characters, over 255 bytes...): core/chat/body.py is the one rule."""
    zero = bytes(32)
    try:
        make_body("attachment", blob_id=zero.hex(), enc_hash=zero, size=0, key=zero, verify_pub=zero,
                  nonce=bytes(16), name=name, mime=mime)
    except errors.BadChatMessage as e:          # the user's own file name, not a lie: not exit 3
        raise errors.InvalidChatInput(f"this file cannot be sent under its name ({e}); rename it first") from None


AHEAD = 3                # packets being read and sealed at once (worker threads)
_SEALERS = ThreadPoolExecutor(2, thread_name_prefix="kbapp-attach-seal")
OPEN_BATCH = 2 * se.PACKET       # download bytes handed to the Decoder at a time (opened on two threads)
_OPENERS = ThreadPoolExecutor(2, thread_name_prefix="kbapp-attach-open")


class _Sealer:
    """One encryption pass over the file, packets in order, with up to AHEAD of them read
    and sealed at once on two worker threads: a packet is `seal_chunk(keys, i, chunk i)`,
    a pure function of its index (Ed25519, SHA-512 and secretbox release the GIL), so the
    packets, and their SHA-256 (`enc_hash`, taken in order), are the Encoder's. Reads
    exactly `size` bytes: a file that shrank is an error."""

    def __init__(self, path: Path, keys: se.AttachmentKeys, size: int, expect: tuple[int, int] | None = None):
        f = open_regular(path, expect)   # not through a symlink swapped in, never a fifo's wait
        self.fd = os.dup(f.fileno())
        f.close()
        self.keys, self.size = keys, size
        self.count = se.packet_count(size)
        self.hash = hashlib.sha256()
        self.jobs: collections.deque = collections.deque()
        self.queued = 0          # packets handed to the workers
        self.sealed = 0          # ciphertext bytes given out

    def _seal(self, index: int) -> bytes:
        start = index * se.CHUNK
        n = se.CHUNK if index < self.count - 1 else self.size - start
        chunk = os.pread(self.fd, n, start) if n else b""
        if len(chunk) != n:
            raise errors.AttachmentFileChanged("the file shrank during the upload")
        packet = se.seal_chunk(self.keys, index, chunk)
        return packet

    @property
    def done(self) -> bool:
        return self.queued == self.count and not self.jobs

    async def next(self) -> bytes | None:
        """The next packet (None after the last); `done` is true once the last was given."""
        loop = asyncio.get_running_loop()
        while self.queued < self.count and len(self.jobs) < AHEAD:
            self.jobs.append(loop.run_in_executor(_SEALERS, self._seal, self.queued))
            self.queued += 1
        if not self.jobs:
            return None
        packet = await self.jobs.popleft()
        await asyncio.to_thread(self.hash.update, packet)     # in order: next() calls are
        self.sealed += len(packet)
        return packet

    async def close(self) -> None:
        """Wait for the workers to let go of the file (a thread is not stopped by cancelling
        its future), then close it."""
        for job in self.jobs:
            await _settle(job)
        self.jobs.clear()
        if self.fd >= 0:              # (twice: by the body's end and by upload())
            os.close(self.fd)
            self.fd = -1


async def upload(api, path: Path | str, *, name: str | None = None, mime: str | None = None,
                 rng: Callable[[int], bytes] = os.urandom, progress: Progress | None = None,
                 cancel: threading.Event | None = None) -> AttachmentRef:
    """Encrypt and upload the file; its AttachmentRef. `progress(done, total)` counts bytes
    of ciphertext sent. Refused before any work when the
    file is over the server's size cap or the account's quota (TooLarge,
    BlobQuotaExceeded; the server checks both again), or when the message body would refuse
    its name or type (InvalidChatInput)."""
    path = Path(path)
    name = name if name is not None else path.name
    mime = mime or _guess_mime(name)
    _check_body_fields(name, mime)
    with open_regular(path) as f:        # a regular file (typed refusal otherwise), never a fifo's wait
        info = os.fstat(f.fileno())
    size, expect = info.st_size, identity(info)
    sealed_total = se.sealed_size(size)
    info = await api.blob_quota()
    if isinstance(info.get("max_size"), int) and sealed_total > info["max_size"]:
        raise errors.TooLarge(f"{path.name} is {size} bytes; this server takes attachments up to "
                              f"{info['max_size']} bytes (encrypted)")
    if isinstance(info.get("used"), int) and isinstance(info.get("quota"), int) \
            and info["used"] + sealed_total > info["quota"]:
        raise errors.BlobQuotaExceeded(f"{path.name} would take this account over its quota of "
                                       f"{info['quota']} bytes ({info['used']} used)")
    keys = se.AttachmentKeys.generate(rng)
    enc_hash = await _send(api, path, keys, size, progress, cancel, expect)
    r = keys.reader()
    return AttachmentRef(enc_hash.hex(), enc_hash, size, r.key, r.verify_pub, r.nonce, name, mime)


async def _send(api, path: Path, keys: se.AttachmentKeys, size: int, progress, cancel,
                expect: tuple[int, int] | None = None) -> bytes:
    """POST the sealed file (tried again for a stale token or the upload rate); its enc_hash,
    checked to be the id the server stored it under."""
    total = se.sealed_size(size)
    fresh_token = True
    for attempt in range(1, PUT_TRIES + 1):
        sealer = _Sealer(path, keys, size, expect)   # each try its own pass (the body is a one-shot stream)
        try:
            ans = await api.blob_post(_send_pass(sealer, progress, total, cancel), total)
            break
        except errors.BadReadToken:
            if not fresh_token:    # a fresh token refused too: not a stale token
                raise
            fresh_token = False
        except errors.RateLimited as e:
            # over the per-device upload rate (a burst of files): wait as told, if not long
            if attempt == PUT_TRIES or e.retry_after > MAX_WAIT:
                raise
            await asyncio.sleep(e.retry_after)
        finally:
            await sealer.close()
    enc_hash = sealer.hash.digest()
    if not sealer.done or not isinstance(ans, dict) or ans.get("blob_id") != enc_hash.hex():
        raise errors.BlobMismatch("the server named the upload by another id than its content's SHA-256")
    return enc_hash


async def _send_pass(sealed: _Sealer, progress, total: int, cancel: threading.Event | None):
    """The upload's body: the one encryption pass, packet by packet. Raising here aborts the
    request, so the server never gets the whole body and keeps nothing."""
    try:
        while (packet := await sealed.next()) is not None:
            _check(cancel)
            yield packet             # (the next packets are being sealed meanwhile)
            if progress is not None:
                progress(sealed.sealed, total)
    finally:
        await sealed.close()


async def _settle(work: asyncio.Future | None) -> None:
    """Wait for a worker's step to end (a thread is not stopped by cancelling its future);
    its outcome is dropped: the transfer is failing or done already."""
    if work is None:
        return
    if not work.done():
        await asyncio.wait([work])
    if not work.cancelled():
        work.exception()


class _PartFile:
    """The download's temporary file next to `dest` (private, never a name that exists),
    renamed over `dest` only once everything checked out; removed otherwise."""

    def __init__(self, dest: Path):
        self.dest = dest
        # a short prefix of the name: a 255-byte name plus the suffix would pass NAME_MAX
        self.path = dest.parent / f".{dest.name[:32]}.{secrets.token_hex(8)}.part"
        if dest.is_dir():        # found before fetching, not by the rename at the very end
            raise errors.AttachmentDestination(f"cannot save to {dest}: it is a folder (name the file)")
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except (FileNotFoundError, NotADirectoryError) as e:
            raise errors.AttachmentDestination(f"cannot save to {dest}: {dest.parent} is not a folder that exists"
                                               ) from e
        except PermissionError as e:
            raise errors.AttachmentDestination(f"cannot save to {dest}: no permission to write in {dest.parent}"
                                               ) from e
        except OSError as e:
            raise errors.AttachmentDestination(f"cannot save to {dest}: {e.strerror or e}") from e
        self.f = os.fdopen(fd, "wb")

    def write(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.f.write(chunk)

    def commit(self) -> None:
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()
        os.replace(self.path, self.dest)

    def discard(self) -> None:
        """Never raises for the disk: on a full disk the close's flush fails again (the file is
        closed anyway), and the temporary file must go all the same."""
        try:
            if not self.f.closed:
                self.f.close()
        except OSError:
            pass
        finally:
            self.path.unlink(missing_ok=True)


async def download(api, ref: AttachmentRef, dest: Path | str, *, progress: Progress | None = None,
                   cancel: threading.Event | None = None) -> Path:
    """Fetch, check and write the attachment to `dest` (replaced atomically, only if every
    check passed: each chunk's seal and signature, order, the short last chunk, the
    size, the ciphertext's hash). On any error `dest` is as it was and no partial file
    is left. `progress(done, total)` counts ciphertext bytes."""
    dest = Path(dest)
    total = ref.sealed_size
    decoder = se.Decoder(ref.keys(), enc_hash=ref.enc_hash, size=ref.size)
    part = _PartFile(dest)

    def feed(batch: bytes) -> None:
        part.write(decoder.update(batch, _OPENERS.map))

    def finish() -> None:
        part.write([decoder.finish()])
        part.commit()

    opening = None               # the batch being opened (one at a time, in order) while the next is read
    try:
        async with api.blob_get(ref.blob_id) as resp:
            _check_length(resp.headers.get("content-length"), total)
            batch, done = bytearray(), 0
            async for piece in resp.aiter_raw():
                _check(cancel)
                batch += piece
                done += len(piece)
                if done > total:
                    raise errors.AttachmentTrailingData("the server sent more bytes than the attachment has")
                if len(batch) >= OPEN_BATCH:
                    if opening is not None:
                        await opening
                    opening = asyncio.ensure_future(asyncio.to_thread(feed, batch))   # (ours no more)
                    batch = bytearray()
                    if progress is not None:
                        progress(done, total)
            if opening is not None:
                await opening
            opening = None
            await asyncio.to_thread(feed, bytes(batch))
        await asyncio.to_thread(finish)
    except OSError as e:                         # the local disk: full, gone, read-only
        await _settle(opening)
        part.discard()
        raise errors.AttachmentDestination(f"cannot save to {dest}: {e.strerror or e}") from None
    except BaseException:
        await _settle(opening)                   # never discard the file under a running write
        part.discard()
        raise
    if progress is not None:
        progress(total, total)
    return dest


def _check_length(header: str | None, total: int) -> None:
    """The announced length against the one the signed size implies: a short or long blob
    is refused before it is read."""
    if header is None or not header.isdigit():
        return
    length = int(header)
    if length < total:
        raise errors.AttachmentTruncated(f"the server has {length} bytes of a {total}-byte attachment")
    if length > total:
        raise errors.AttachmentTrailingData(f"the server has {length} bytes for a {total}-byte attachment")


async def fetch_chunk(api, ref: AttachmentRef, index: int) -> bytes:
    """Plaintext chunk `index` alone (a byte-range read of its packet), checked."""
    start, stop = se.packet_range(index, ref.size)
    async with api.blob_get(ref.blob_id, start, stop) as resp:
        data = bytearray()
        async for piece in resp.aiter_raw():
            data += piece
            if len(data) > stop - start:
                raise errors.AttachmentTrailingData("the server sent more than the chunk asked for")
    if len(data) < stop - start:
        raise errors.AttachmentTruncated(f"chunk {index}: {len(data)} of its {stop - start} bytes")
    return await asyncio.to_thread(se.open_packet, ref.keys(), index, bytes(data),
                                   count=se.packet_count(ref.size))
