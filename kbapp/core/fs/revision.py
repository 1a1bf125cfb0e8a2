"""Folder revisions: the signed, hash-chained metadata of each change to a folder.

A revision is a canonical msgpack map (sorted keys, exactly the fields of `Revision`) signed
by the writer's device with the prefix `kbapp-fs-revision-v1`; the envelope
`pack([revision bytes, signature])` is what the server stores, and its SHA-256 is the
revision id that the next revision's `prev` and the transparency map's folder head name.
What the server may see is in the clear (folder, number, prev, writer, checkpoint, sizes);
the root pointer and the list of operations travel in `private`, sealed under a key derived
from the folder's kbfs key (in a public folder they are in the clear, still signed).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import nacl.exceptions
import nacl.secret

from ..encoding import pack, unpack
from ..errors import (BadBlock, BadDirectory, BadKID, BadPathName, BadRevision, BadRevisionSignature, BadSignature,
                      EncodingError, FolderUnknownKeyGen, TreeTooDeep)
from ..keys import ED25519_KID_TYPE, SigningKeyPair, parse_kid, sign_detached, verify_detached
from .blocks import BlockPointer
from .dirs import Entry, check_entry
from .names import KIND_CODES, check_path

PREFIX_REVISION = b"kbapp-fs-revision-v1"
FOLDER_ID_CONTEXT = b"kbapp-folder-id-v1\0"
MD_KEY_CONTEXT = b"kbapp-fs-md-key-v1\0"
VERSION = 1
ID_SIZE = 16
NONCE = 24
MAX_OPS = 10_000
MAX_PRIVATE = 4 << 20
MAX_REVISION = MAX_PRIVATE + 4096
MAX_ENVELOPE = MAX_REVISION + 128
MAX_INT = (1 << 53) - 1
OPS = ("write", "mkdir", "rm", "rename", "setattr")
ATTRS = ("exec", "mtime")


def folder_id_for(team_id: bytes | str, kind_code: int) -> bytes:
    """SHA-256("kbapp-folder-id-v1\\0" || team id || kind byte)[:16]: derived, never chosen."""
    tid = bytes.fromhex(team_id) if isinstance(team_id, str) else bytes(team_id)
    if len(tid) != ID_SIZE or kind_code not in KIND_CODES.values():
        raise BadRevision("a folder id derives from a 16-byte team id and a folder kind")
    return hashlib.sha256(FOLDER_ID_CONTEXT + tid + bytes([kind_code])).digest()[:ID_SIZE]


def md_key(kbfs_key: bytes, folder_id: bytes) -> bytes:
    """The key sealing a revision's private part: HMAC-SHA512(kbfs key, context || folder id)[:32]."""
    return hmac.new(bytes(kbfs_key), MD_KEY_CONTEXT + bytes(folder_id), "sha512").digest()[:32]


# -- operations and the private part ---------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One high-level change, for history and conflict resolution. write, rename and setattr
    carry the entry as it ended up (so a merge can replay them without the other branch)."""

    op: str
    path: tuple[str, ...]
    to: tuple[str, ...] | None = None
    entry: Entry | None = None
    attr: str | None = None

    def to_wire(self) -> dict:
        m = {"op": self.op, "path": list(self.path)}
        if self.to is not None:
            m["to"] = list(self.to)
        if self.entry is not None:
            m["entry"] = self.entry.to_wire()
        if self.attr is not None:
            m["attr"] = self.attr
        return {k: m[k] for k in sorted(m)}


_OP_FIELDS = {"write": {"entry"}, "mkdir": set(), "rm": set(), "rename": {"to", "entry"},
              "setattr": {"entry", "attr"}}


def check_op(m: object) -> Op:
    if not isinstance(m, dict) or m.get("op") not in OPS:
        raise BadRevision("an op is a map with a known 'op'")
    kind = m["op"]
    if set(m) != {"op", "path"} | _OP_FIELDS[kind]:
        raise BadRevision(f"a {kind} op has exactly {sorted({'op', 'path'} | _OP_FIELDS[kind])}")
    try:
        path = check_path(m["path"])
        to = check_path(m["to"]) if "to" in m else None
        entry = check_entry(m["entry"]) if "entry" in m else None
    except (BadPathName, TreeTooDeep, BadDirectory, BadBlock) as e:
        raise BadRevision(f"{kind} op: {e}") from None
    if not path or (to is not None and not to):
        raise BadRevision("an op names a path below the folder root")
    if entry is not None and entry.name != (to or path)[-1]:
        raise BadRevision("an op's entry is named like the path it ends at")
    attr = m.get("attr")
    if kind == "setattr" and attr not in ATTRS:
        raise BadRevision(f"setattr changes one of {ATTRS}")
    return Op(kind, path, to, entry, attr)


@dataclass(frozen=True)
class Private:
    root: BlockPointer                # the root directory
    ops: tuple[Op, ...] = ()


def pack_private(p: Private) -> bytes:
    if len(p.ops) > MAX_OPS:
        raise BadRevision(f"a revision lists at most {MAX_OPS} ops (the journal splits bigger changes)")
    data = pack([VERSION, p.root.to_wire(), [o.to_wire() for o in p.ops]])
    if len(data) > MAX_PRIVATE - NONCE - 16:
        raise BadRevision(f"a revision's private part is at most {MAX_PRIVATE} bytes")
    return data


def parse_private(data: bytes) -> Private:
    try:
        obj = unpack(data, max_size=MAX_PRIVATE, max_depth=None)
    except EncodingError as e:
        raise BadRevision(f"private part: {e}") from None
    if not isinstance(obj, list) or len(obj) != 3 or obj[0] != VERSION or not isinstance(obj[2], list):
        raise BadRevision("a private part is [1, root pointer, [op, ...]]")
    if len(obj[2]) > MAX_OPS:
        raise BadRevision(f"a revision lists at most {MAX_OPS} ops")
    try:
        root = BlockPointer.from_wire(obj[1])
    except BadBlock as e:
        raise BadRevision(f"root pointer: {e}") from None
    p = Private(root, tuple(check_op(o) for o in obj[2]))
    if pack_private(p) != bytes(data):
        raise BadRevision("a private part is not in its canonical encoding")
    return p


# -- the revision ----------------------------------------------------------------------


class SignedByWriter:
    """What a signed folder object (a revision, a collection request) says of its writer:
    `writer` is {"uid": 16 B, "eldest_seqno": n, "kid": 35 B}, a field of the dataclass."""

    @property
    def uid(self) -> str:
        return self.writer["uid"].hex()

    @property
    def kid(self) -> str:
        return self.writer["kid"].hex()

    @property
    def eldest_seqno(self) -> int:
        return self.writer["eldest_seqno"]


@dataclass(frozen=True)
class Revision(SignedByWriter):
    v: int
    folder_id: bytes
    team_id: bytes
    kind: int
    revision: int
    prev: bytes | None                # the previous revision's id; None for revision 1
    key_gen: int                      # the team's kbfs key generation; 0 in a public folder
    writer: dict                      # {"uid": 16 B, "eldest_seqno": n, "kid": 35 B}
    checkpoint: tuple[int, bytes]     # [size, root] of the writer's latest verified log checkpoint
    team_seqno: int                   # the team chain the writer verified
    private: bytes                    # sealed [1, root pointer, ops] (clear in a public folder)
    ctime: int                        # the writer's clock: shown, never trusted for ordering


    @property
    def public(self) -> bool:
        return self.kind == KIND_CODES["public"]


FIELDS = tuple(Revision.__dataclass_fields__)


def _int(v: object, what: str, lo: int = 0, hi: int = MAX_INT) -> int:
    if type(v) is not int or not lo <= v <= hi:
        raise BadRevision(f"{what} is an integer from {lo} to {hi}")
    return v


def _b(v: object, what: str, size: int) -> bytes:
    if not isinstance(v, bytes) or len(v) != size:
        raise BadRevision(f"{what} is {size} bytes")
    return v


def check_revision(m: object) -> Revision:
    """A Revision from a map with exactly the right fields and types; BadRevision otherwise."""
    if not isinstance(m, dict) or set(m) != set(FIELDS):
        raise BadRevision(f"a revision has exactly the fields {sorted(FIELDS)}")
    if m["v"] != VERSION or type(m["v"]) is not int:
        raise BadRevision(f"unknown revision version {m['v']!r}")
    kind = _int(m["kind"], "kind", 1, 3)
    folder_id, team_id = _b(m["folder_id"], "folder_id", ID_SIZE), _b(m["team_id"], "team_id", ID_SIZE)
    if folder_id != folder_id_for(team_id, kind):
        raise BadRevision("folder_id does not derive from team_id and kind")
    rev = _int(m["revision"], "revision", 1)
    prev = None if m["prev"] is None else _b(m["prev"], "prev", 32)
    if (prev is None) != (rev == 1):
        raise BadRevision("prev is nil exactly in revision 1")
    key_gen = _int(m["key_gen"], "key_gen", 0, 1 << 31)
    if (key_gen == 0) != (kind == KIND_CODES["public"]):
        raise BadRevision("key_gen is 0 exactly in a public folder")
    w = m["writer"]
    if not isinstance(w, dict) or set(w) != {"uid", "eldest_seqno", "kid"}:
        raise BadRevision("writer is {uid, eldest_seqno, kid}")
    try:
        kid = parse_kid(w["kid"] if isinstance(w["kid"], bytes) else b"")
    except BadKID:
        raise BadRevision("the writer's kid is a 35-byte KID") from None
    if kid.kind != ED25519_KID_TYPE:
        raise BadRevision("the writer's kid is an Ed25519 signing KID")
    writer = {"uid": _b(w["uid"], "writer uid", 16), "eldest_seqno": _int(w["eldest_seqno"], "eldest_seqno", 1),
              "kid": w["kid"]}
    cp = m["checkpoint"]
    if not isinstance(cp, list) or len(cp) != 2:
        raise BadRevision("checkpoint is [size, root]")
    private = m["private"]
    if not isinstance(private, bytes) or len(private) > MAX_PRIVATE:
        raise BadRevision(f"private is at most {MAX_PRIVATE} bytes")
    return Revision(VERSION, folder_id, team_id, kind, rev, prev, key_gen, writer,
                    (_int(cp[0], "checkpoint size", 1), _b(cp[1], "checkpoint root", 32)),
                    _int(m["team_seqno"], "team_seqno", 1), private, _int(m["ctime"], "ctime"))


def pack_revision(r: Revision) -> bytes:
    m = {f: getattr(r, f) for f in FIELDS}
    m["writer"] = {k: r.writer[k] for k in sorted(r.writer)}
    m["checkpoint"] = list(r.checkpoint)
    return pack({k: m[k] for k in sorted(m)})


def parse_revision(data: bytes) -> Revision:
    if not isinstance(data, (bytes, bytearray)) or len(data) > MAX_REVISION:
        raise BadRevision(f"a packed revision is at most {MAX_REVISION} bytes")
    try:
        m = unpack(bytes(data), max_size=MAX_REVISION, max_depth=None)
    except EncodingError as e:
        raise BadRevision(str(e)) from None
    r = check_revision(m)
    if pack_revision(r) != bytes(data):
        raise BadRevision("not the canonical encoding")
    return r


# -- signing, ids, sealing --------------------------------------------------------------


@dataclass(frozen=True)
class SignedRevision:
    revision: Revision
    raw: bytes                        # the signed, canonical revision bytes
    sig: bytes
    envelope: bytes                   # pack([raw, sig]): what the server stores

    @property
    def id(self) -> bytes:
        return revision_id(self.envelope)


def revision_id(envelope: bytes) -> bytes:
    return hashlib.sha256(envelope).digest()


def sign_revision(r: Revision, device: SigningKeyPair) -> SignedRevision:
    if device.kid != r.writer["kid"]:
        raise ValueError("the revision names another device than the one signing it")
    raw = pack_revision(check_revision({f: getattr(r, f) if f != "checkpoint" else list(r.checkpoint)
                                        for f in FIELDS}))
    sig = sign_detached(device, raw, prefix=PREFIX_REVISION)
    return SignedRevision(r, raw, sig, pack([raw, sig]))


def open_envelope(envelope: bytes) -> SignedRevision:
    """Parse and check the signature with the revision's own writer kid (whether that key is
    the writer's, live, and a writer's of the team is the judge's question)."""
    if not isinstance(envelope, (bytes, bytearray)) or len(envelope) > MAX_ENVELOPE:
        raise BadRevision(f"a revision envelope is at most {MAX_ENVELOPE} bytes")
    try:
        pair = unpack(bytes(envelope), max_size=MAX_ENVELOPE, max_depth=None)
    except EncodingError as e:
        raise BadRevision(f"envelope: {e}") from None
    if (not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[0], bytes)
            or not isinstance(pair[1], bytes) or len(pair[1]) != 64):
        raise BadRevision("an envelope is [revision bytes, 64-byte signature]")
    if pack(pair) != bytes(envelope):
        raise BadRevision("an envelope is not in its canonical encoding")
    r = parse_revision(pair[0])
    try:
        verify_detached(parse_kid(r.writer["kid"]).public, pair[0], pair[1], prefix=PREFIX_REVISION)
    except BadSignature:
        raise BadRevisionSignature(f"revision {r.revision}'s signature does not verify with its writer kid") from None
    return SignedRevision(r, pair[0], pair[1], bytes(envelope))


def seal_private(p: Private, *, folder_id: bytes, kbfs_key: bytes | None, nonce: bytes | None) -> bytes:
    """nonce || secretbox(md key, nonce, pack(private)); the packed bytes themselves in public folders."""
    data = pack_private(p)
    if kbfs_key is None:
        return data
    if not isinstance(nonce, bytes) or len(nonce) != NONCE:
        raise ValueError("sealing a revision needs a 24-byte fresh nonce")
    return nonce + nacl.secret.SecretBox(md_key(kbfs_key, folder_id)).encrypt(data, nonce).ciphertext


def open_private(r: Revision, folder_keys) -> Private:
    """The root pointer and ops of a revision (`folder_keys`: generation -> kbfs key; None if public)."""
    if r.public:
        return parse_private(r.private)
    key = (folder_keys or {}).get(r.key_gen)
    if key is None:
        raise FolderUnknownKeyGen(f"no folder key of generation {r.key_gen}")
    try:
        data = nacl.secret.SecretBox(md_key(key, r.folder_id)).decrypt(r.private[NONCE:], r.private[:NONCE])
    except (nacl.exceptions.CryptoError, ValueError):
        raise BadRevision(f"revision {r.revision}'s private part does not open under its key") from None
    return parse_private(data)


def make_revision(*, team_id: bytes | str, kind: int, revision: int, prev: bytes | None, key_gen: int,
                  device: SigningKeyPair, uid: bytes | str, eldest_seqno: int, checkpoint, team_seqno: int,
                  root: BlockPointer, ops=(), ctime: int, kbfs_key: bytes | None = None,
                  nonce: bytes | None = None) -> SignedRevision:
    """Build, seal and sign one revision (what a writer's client uploads)."""
    tid = bytes.fromhex(team_id) if isinstance(team_id, str) else bytes(team_id)
    fid = folder_id_for(tid, kind)
    private = seal_private(Private(root, tuple(ops)), folder_id=fid, kbfs_key=kbfs_key, nonce=nonce)
    r = Revision(VERSION, fid, tid, kind, revision, prev, key_gen,
                 {"uid": bytes.fromhex(uid) if isinstance(uid, str) else bytes(uid), "eldest_seqno": eldest_seqno,
                  "kid": device.kid}, (checkpoint[0], bytes(checkpoint[1])), team_seqno, private, ctime)
    return sign_revision(r, device)
