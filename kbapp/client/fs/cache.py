"""The persistent block cache of encrypted folders: verified ciphertext blocks, size-capped, LRU.

Blocks a read fetched (each hashed to its id first) and blocks the journal uploaded are kept
under `<profile>/fs-cache/<id[:2]>/<id>` so a listing or a re-read needs no server round
trip. Only sealed bytes are on disk; a block is content-addressed, so a damaged or swapped
file is caught by the hash check on every read (it counts as absent) and the core checks it
again when it opens it. Recency is the file's mtime (touched on a hit), so the order
survives restarts; the cap is `fs.cache_max_bytes` (default 1 GiB). Not a durability store:
files are replaced atomically but not fsynced (a lost block is fetched again).

Beside a directory block, its *listing* (`<id>.l`: the entries the core's `read_dir` returned
after checking every name and pointer) is kept so a big directory lists without decrypting
and re-checking 10,000 entries. A listing is our own verified output, trusted like the
journal's judge state (the profile is ours); it goes when its block is evicted, and its
bytes count toward the cap with its block's (a listing can be larger than the block: 10,000
entries), so the cap bounds what the cache really holds on disk.
"""

from __future__ import annotations

import hashlib
import os

import msgpack

from kbapp.core.fs.blocks import BlockPointer
from kbapp.core.fs.dirs import Entry
from collections import OrderedDict
from pathlib import Path

from kbapp.core import errors

DIR = "fs-cache"
DEFAULT_MAX = 1 << 30


class DiskBlockCache:
    def __init__(self, home: Path, max_bytes: int = DEFAULT_MAX):
        self.dir = Path(home) / DIR
        self.max_bytes = int(max_bytes)
        self._lru: OrderedDict[str, int] = OrderedDict()     # id -> size (block + listing), oldest first
        self._listed: dict[str, int] = {}                     # id -> bytes of its listing file
        self.total = 0
        self.hits = self.misses = 0

    def open(self) -> "DiskBlockCache":
        """Index what is on disk, oldest first (blocking: call it off the event loop)."""
        found, listings = [], {}
        if self.dir.exists():
            for sub in self.dir.iterdir():
                if sub.is_dir():
                    for p in sub.iterdir():
                        if len(p.name) == 64 and not p.name.startswith("."):
                            st = p.stat()
                            found.append((st.st_mtime_ns, p.name, st.st_size))
                        elif len(p.name) == 66 and p.name.endswith(".l"):
                            listings[p.name[:64]] = p
        for _m, name, size in sorted(found):
            extra = listings.pop(name).stat().st_size if name in listings else 0
            self._lru[name] = size + extra
            if extra:
                self._listed[name] = extra
            self.total += size + extra
        for orphan in listings.values():                      # a listing whose block is gone
            orphan.unlink(missing_ok=True)
        self._evict()
        return self

    def _path(self, block_id: str) -> Path:
        if len(block_id) != 64 or any(c not in "0123456789abcdef" for c in block_id):
            raise errors.EncodingError("a block id is 64 lowercase hex digits")
        return self.dir / block_id[:2] / block_id

    def __contains__(self, block_id: str) -> bool:
        return block_id in self._lru

    def get(self, block_id: str) -> bytes | None:
        """The block's bytes if kept and still hashing to its id; else None (and forgotten)."""
        if block_id not in self._lru:
            self.misses += 1
            return None
        path = self._path(block_id)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = None
        if data is None or hashlib.sha256(data).hexdigest() != block_id:
            self._forget(block_id)
            self.misses += 1
            return None
        self._lru.move_to_end(block_id)
        try:
            os.utime(path)
        except OSError:
            pass
        self.hits += 1
        return data

    def put(self, block_id: str, data: bytes) -> None:
        """Keep a block whose bytes hash to its id (checked here: the cache never holds a lie)."""
        if block_id in self._lru:
            self._lru.move_to_end(block_id)
            return
        if hashlib.sha256(data).hexdigest() != block_id:
            raise errors.BlockIdMismatch("a cached block's id is the SHA-256 of its bytes")
        path = self._path(block_id)
        self._mkdirs(path)
        tmp = path.with_name(f".{block_id}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
        self._add(block_id, len(data))

    def adopt(self, block_id: str, src: Path) -> None:
        """Move a journal block file in (an uploaded block: it is verified ours, by its hash)."""
        if block_id in self._lru:
            return
        path = self._path(block_id)
        self._mkdirs(path)
        size = src.stat().st_size
        os.replace(src, path)
        self._add(block_id, size)

    def get_listing(self, block_id: str) -> dict | None:
        """The verified entries of the directory block `block_id`, if listed before (and the
        block is still kept)."""
        if block_id not in self._lru:
            return None
        try:
            raw = self._path(block_id).with_suffix(".l").read_bytes()
            rows = msgpack.unpackb(raw, raw=False, use_list=True, strict_map_key=True)
            out = {}
            for name, typ, p, size, mtime, writer, target in rows:
                ptr = None if p is None else BlockPointer(p[1], p[2], p[3], p[4], p[0])
                out[name] = Entry(name, typ, ptr, size, mtime, writer, target)
            return out
        except (OSError, ValueError, TypeError, IndexError, msgpack.UnpackException):
            return None

    def put_listing(self, block_id: str, entries: dict) -> None:
        if block_id not in self._lru:
            return
        path = self._path(block_id).with_suffix(".l")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        raw = msgpack.packb([e.to_wire() for e in entries.values()], use_bin_type=True)
        tmp.write_bytes(raw)
        os.replace(tmp, path)
        grew = len(raw) - self._listed.get(block_id, 0)       # counted with its block (the cap)
        self._listed[block_id] = len(raw)
        self._lru[block_id] += grew
        self.total += grew
        self._lru.move_to_end(block_id)
        self._evict()

    def _mkdirs(self, path: Path) -> None:
        for d in (self.dir, path.parent):
            d.mkdir(exist_ok=True, mode=0o700)

    def _add(self, block_id: str, size: int) -> None:
        self._lru[block_id] = size
        self.total += size
        self._evict()

    def _forget(self, block_id: str) -> None:
        size = self._lru.pop(block_id, None)
        self._listed.pop(block_id, None)
        if size is not None:
            self.total -= size
        for p in (self._path(block_id), self._path(block_id).with_suffix(".l")):
            try:
                p.unlink()
            except FileNotFoundError:
                pass

    def _evict(self) -> None:
        while self.total > self.max_bytes and self._lru:
            self._forget(next(iter(self._lru)))
