"""The signed collection request: a writer lets the server delete blocks no longer referenced.

Every revision is kept; only blocks go. The server cannot read a tree (a revision's ops and
root travel sealed), so a writer's client walks the trees, lists the blocks referenced only by
revisions <= `upto`, and signs this request with its device key (prefix `kbapp-fs-gc-v1`):
a canonical msgpack map, in the clear, that the server checks and applies (server/folders.py:
`upto` older than the collection delay by the server's clock, below the head, every block held
by the folder and not put again since revision `upto`). It is not a revision op: the server
must read it, and a revision's ops are sealed; readers learn of it as blocks that are no longer
served for old revisions ("collected"), which a server could do anyway by withholding them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..encoding import pack, unpack
from ..errors import BadKID, BadRevision, BadRevisionSignature, BadSignature, EncodingError
from ..keys import ED25519_KID_TYPE, SigningKeyPair, parse_kid, sign_detached, verify_detached
from .revision import SignedByWriter

PREFIX_GC = b"kbapp-fs-gc-v1"
VERSION = 1
MAX_BLOCKS = 4096                   # ids one request lists (a client sends several)
MAX_INT = (1 << 53) - 1
DEFAULT_DELAY = 14 * 24 * 3600      # seconds a revision must be old before its blocks may go
FIELDS = ("blocks", "ctime", "folder_id", "head", "upto", "v", "writer")


@dataclass(frozen=True)
class GcRequest(SignedByWriter):
    folder_id: bytes                # 16 bytes
    upto: int                       # blocks referenced only by revisions <= upto
    head: int                       # the verified head the writer walked (> upto)
    blocks: tuple[bytes, ...]       # 32-byte block ids, sorted, unique
    writer: dict                    # {"uid": 16 B, "eldest_seqno": n, "kid": 35 B}
    ctime: int                      # the writer's clock: shown, never trusted


    def block_ids(self) -> list[str]:
        return [b.hex() for b in self.blocks]


def _int(v: object, what: str, lo: int = 0) -> int:
    if type(v) is not int or not lo <= v <= MAX_INT:
        raise BadRevision(f"gc: {what} is an integer from {lo} to {MAX_INT}")
    return v


def check_gc(m: object) -> GcRequest:
    """A GcRequest from a map with exactly the right fields and types; BadRevision otherwise."""
    if not isinstance(m, dict) or set(m) != set(FIELDS):
        raise BadRevision(f"a gc request has exactly the fields {list(FIELDS)}")
    if m["v"] != VERSION or type(m["v"]) is not int:
        raise BadRevision(f"unknown gc request version {m['v']!r}")
    fid = m["folder_id"]
    if not isinstance(fid, bytes) or len(fid) != 16:
        raise BadRevision("gc: folder_id is 16 bytes")
    upto, head = _int(m["upto"], "upto", 1), _int(m["head"], "head", 1)
    if head <= upto:
        raise BadRevision("gc: the head the writer walked is above upto (the head's blocks are never collected)")
    blocks = m["blocks"]
    if (not isinstance(blocks, list) or not 1 <= len(blocks) <= MAX_BLOCKS
            or any(not isinstance(b, bytes) or len(b) != 32 for b in blocks)):
        raise BadRevision(f"gc: blocks lists 1..{MAX_BLOCKS} 32-byte block ids")
    if blocks != sorted(set(blocks)):
        raise BadRevision("gc: block ids are sorted and unique")
    w = m["writer"]
    if not isinstance(w, dict) or set(w) != {"uid", "eldest_seqno", "kid"}:
        raise BadRevision("gc: writer is {uid, eldest_seqno, kid}")
    try:
        kid = parse_kid(w["kid"] if isinstance(w["kid"], bytes) else b"")
    except BadKID:
        raise BadRevision("gc: the writer's kid is a 35-byte KID") from None
    if kid.kind != ED25519_KID_TYPE:
        raise BadRevision("gc: the writer's kid is an Ed25519 signing KID")
    if not isinstance(w["uid"], bytes) or len(w["uid"]) != 16:
        raise BadRevision("gc: writer uid is 16 bytes")
    writer = {"uid": w["uid"], "eldest_seqno": _int(w["eldest_seqno"], "eldest_seqno", 1), "kid": w["kid"]}
    return GcRequest(fid, upto, head, tuple(blocks), writer, _int(m["ctime"], "ctime"))


def _pack(r: GcRequest) -> bytes:
    m = {"blocks": list(r.blocks), "ctime": r.ctime, "folder_id": r.folder_id, "head": r.head, "upto": r.upto,
         "v": VERSION, "writer": {k: r.writer[k] for k in sorted(r.writer)}}
    return pack(m)


def make_gc(*, folder_id: bytes | str, upto: int, head: int, blocks, device: SigningKeyPair, uid: bytes | str,
            eldest_seqno: int, ctime: int) -> bytes:
    """The signed envelope `pack([request bytes, signature])` a writer posts."""
    fid = bytes.fromhex(folder_id) if isinstance(folder_id, str) else bytes(folder_id)
    ids = sorted({bytes.fromhex(b) if isinstance(b, str) else bytes(b) for b in blocks})
    m = {"blocks": ids, "ctime": ctime, "folder_id": fid, "head": head, "upto": upto, "v": VERSION,
         "writer": {"eldest_seqno": eldest_seqno, "kid": device.kid,
                    "uid": bytes.fromhex(uid) if isinstance(uid, str) else bytes(uid)}}
    raw = _pack(check_gc(m))
    return pack([raw, sign_detached(device, raw, prefix=PREFIX_GC)])


def open_gc(envelope: bytes) -> GcRequest:
    """Parse a posted request and check its signature with its own writer kid (whether that key
    is the writer's, live, and a writer's of the team is the server's question)."""
    max_size = MAX_BLOCKS * 40 + 1024
    if not isinstance(envelope, (bytes, bytearray)) or len(envelope) > max_size:
        raise BadRevision(f"a gc request is at most {max_size} bytes")
    try:
        pair = unpack(bytes(envelope), max_size=max_size, max_depth=None)
        if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[0], bytes) \
                or not isinstance(pair[1], bytes) or len(pair[1]) != 64:
            raise BadRevision("a gc request is [request bytes, 64-byte signature]")
        r = check_gc(unpack(pair[0], max_size=max_size, max_depth=None))
    except EncodingError as e:
        raise BadRevision(f"gc request: {e}") from None
    if pack(pair) != bytes(envelope) or _pack(r) != pair[0]:
        raise BadRevision("a gc request is not in its canonical encoding")
    try:
        verify_detached(parse_kid(r.writer["kid"]).public, pair[0], pair[1], prefix=PREFIX_GC)
    except BadSignature:
        raise BadRevisionSignature("the gc request's signature does not verify with its writer kid") from None
    return r
