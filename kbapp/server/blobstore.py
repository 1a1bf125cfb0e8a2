"""Where the server keeps opaque blobs (chat attachments, encrypted folder blocks).

The server never reads a blob: clients encrypt before upload and verify after download.
What the store itself guarantees:

* ids are content addresses: the lowercase hex SHA-256 of the bytes. A put whose bytes
  hash to another id keeps nothing (`BlobMismatch`), so one id always names one content
  and a client can check a download against the id it asked for; `put_any` names the
  bytes by their hash itself (a one-pass upload: the client need not know it first);
* an id is checked before it touches a path (64 hex digits, nothing else): no traversal,
  no absolute paths, no dot files (`BadBlobId`);
* a put is streamed (no whole blob in memory) and capped (`TooLarge` as soon as the cap
  is passed, nothing kept);
* a put is atomic: written to a private temporary file, fsynced, renamed into place, its
  folder fsynced. A reader sees the whole blob or none; a crash leaves at most a stray
  temporary file, removed by the next `FilesystemBlobStore` opened on the folder.

`BlobStore` is the interface; `FilesystemBlobStore` the one implementation today. How an
S3-compatible store would implement it: docs/server.md, "Blob store".
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path
from typing import Iterable, Iterator, Protocol

from kbapp.core import errors

BLOB_ID = re.compile(r"[0-9a-f]{64}")
MAX_BLOB = 64 * 1024 * 1024       # per blob, by default: a folder block or an attachment
READ_CHUNK = 1024 * 1024          # a streamed read's piece: each is one hop to a worker thread


def check_blob_id(blob_id: object) -> str:
    """The id if it is 64 lowercase hex digits, else `BadBlobId` (before any path is built)."""
    if not isinstance(blob_id, str) or not BLOB_ID.fullmatch(blob_id):
        raise errors.BadBlobId("a blob id is the 64 lowercase hex digits of a SHA-256")
    return blob_id


def blob_id_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore(Protocol):
    """Content-addressed blobs. Every method checks the id first."""

    max_size: int

    def put(self, blob_id: str, chunks: Iterable[bytes]) -> int:
        """Store the streamed bytes under `blob_id` (their SHA-256); returns their size.
        Storing an id that exists again is allowed (same id, same bytes)."""

    def put_any(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Store the streamed bytes under the id they hash to: (blob_id, size). An upload that
        learns its content address only at its end (the client encrypts once)."""

    def open(self, blob_id: str, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """The blob's bytes [start, stop), a chunk at a time (a ranged read: seeking into an
        attachment); `NotFound` if absent."""

    def size(self, blob_id: str) -> int:
        """Its length in bytes; `NotFound` if absent."""

    def get(self, blob_id: str) -> bytes:
        """The whole blob (small blobs; prefer `open` to stream)."""

    def exists(self, blob_id: str) -> bool: ...

    def delete(self, blob_id: str) -> bool:
        """Remove it; False if it was not there."""


class FilesystemBlobStore:
    """Blobs as files `<root>/<id[:2]>/<id>`; temporary files in `<root>/tmp/`."""

    def __init__(self, root: Path, *, max_size: int = MAX_BLOB):
        self.root = Path(root)
        self.max_size = max_size
        self.tmp = self.root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True, mode=0o700)
        for stray in self.tmp.iterdir():        # a put a crash cut short: never visible, now gone
            stray.unlink(missing_ok=True)

    def _path(self, blob_id: str) -> Path:
        blob_id = check_blob_id(blob_id)
        return self.root / blob_id[:2] / blob_id

    def put(self, blob_id: str, chunks: Iterable[bytes]) -> int:
        return self._put(check_blob_id(blob_id), chunks)[1]

    def put_any(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        return self._put(None, chunks)

    def _put(self, blob_id: str | None, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Write to a private temporary file, hashing; rename it to the hash (which must be
        `blob_id` when one was named)."""
        tmp = self.tmp / secrets.token_hex(16)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            size, digest = self._write(fd, chunks)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        try:
            if blob_id is not None and digest != blob_id:
                raise errors.BlobMismatch(f"the bytes hash to {digest[:16]}…, not to the id {blob_id[:16]}…")
            final = self._path(digest)
            final.parent.mkdir(mode=0o700, exist_ok=True)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(final.parent)
        return digest, size

    def _write(self, fd: int, chunks: Iterable[bytes]) -> tuple[int, str]:
        h, size = hashlib.sha256(), 0
        for chunk in chunks:
            if not isinstance(chunk, (bytes, bytearray, memoryview)):
                raise errors.EncodingError("blob chunks must be bytes")
            size += len(chunk)
            if size > self.max_size:
                raise errors.TooLarge(f"a blob is at most {self.max_size} bytes")
            h.update(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
        return size, h.hexdigest()

    def open(self, blob_id: str, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        path = self._path(blob_id)
        try:
            f = open(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb")
        except FileNotFoundError:
            raise errors.NotFound("no such blob") from None
        if start:
            f.seek(start)
        return _chunks(f, None if stop is None else max(0, stop - start))

    def size(self, blob_id: str) -> int:
        try:
            return os.stat(self._path(blob_id), follow_symlinks=False).st_size
        except FileNotFoundError:
            raise errors.NotFound("no such blob") from None

    def get(self, blob_id: str) -> bytes:
        return b"".join(self.open(blob_id))

    def exists(self, blob_id: str) -> bool:
        return self._path(blob_id).is_file()

    def delete(self, blob_id: str) -> bool:
        path = self._path(blob_id)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(path.parent)
        return True


def _chunks(f, left: int | None = None) -> Iterator[bytes]:
    with f:
        while left is None or left > 0:
            chunk = f.read(READ_CHUNK if left is None else min(READ_CHUNK, left))
            if not chunk:
                return
            if left is not None:
                left -= len(chunk)
            yield chunk


def _fsync_dir(path: Path) -> None:
    """Make a rename or unlink in `path` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
