"""The chat header: every field a reader judges a message by, signed by the sending device.

A canonical msgpack map (sorted keys) with exactly the fields of `Header`. It signs what
Keybase left unsigned (supersedes, deletes, reply/thread, nonce, eldest seqno, device, body
hash, prev pointers, the sender's log checkpoint and team seqno), so the server can only
drop or reorder whole messages, and the reader notices that too. `parse_header` refuses any
other shape, and any encoding other than the canonical one, before anything else reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from ..encoding import pack, unpack
from ..errors import BadChatMessage, BadKID, EncodingError
from ..keys import ED25519_KID_TYPE, parse_kid
from .body import DELETING, KINDS, MAX_MSG_ID, MAX_PADDED, MAX_TARGETS, SMALL_STEP, SUPERSEDING
from .ids import ID_SIZE, check_topic_type, conv_id_for

VERSION = 1
MAX_PREV = 10
MAX_HEADER = 2048                    # packed header plaintext
MIN_LIFETIME, MAX_LIFETIME = 30, 7 * 24 * 3600
MAX_INT = (1 << 53) - 1
NONCE_SIZE = 16


@dataclass(frozen=True)
class Header:
    v: int
    conv_id: bytes
    team_id: bytes
    topic_type: int
    topic_id: bytes
    type: str
    prev: tuple[tuple[int, bytes], ...]
    sender_uid: bytes
    sender_eldest_seqno: int
    sender_kid: bytes
    key_gen: int
    body_hash: bytes
    body_len: int
    checkpoint: tuple[int, bytes]
    team_seqno: int
    supersedes: int | None
    deletes: tuple[int, ...]
    reply_to: int | None
    thread_root: int | None
    ephemeral: dict | None           # {"lifetime": seconds, "ek_gen": n}
    nonce: bytes
    outbox_id: bytes
    compose_time: int

    # -- handy views (kept: a sync asks each header for them a dozen times) ------------
    @cached_property
    def uid(self) -> str:
        return self.sender_uid.hex()

    @cached_property
    def kid(self) -> str:
        return self.sender_kid.hex()

    @property
    def lifetime(self) -> int | None:
        return None if self.ephemeral is None else self.ephemeral["lifetime"]

    def to_map(self) -> dict:
        """The msgpack map that gets signed (lists, not tuples; keys sorted by pack_header)."""
        m = {f: getattr(self, f) for f in FIELDS}          # (not asdict: it deep-copies every bytes)
        m["prev"] = [[i, h] for i, h in self.prev]
        m["checkpoint"] = list(self.checkpoint)
        m["deletes"] = list(self.deletes)
        m["ephemeral"] = None if self.ephemeral is None else dict(self.ephemeral)
        return m


FIELDS = tuple(Header.__dataclass_fields__)
FIELD_SET = frozenset(FIELDS)
SORTED_FIELDS = sorted(FIELDS)
SORTED_EPHEMERAL = ["ek_gen", "lifetime"]


def _bad(msg: str) -> BadChatMessage:
    return BadChatMessage(f"chat header: {msg}")


def _int(v: object, what: str, lo: int = 0, hi: int = MAX_INT) -> int:
    if type(v) is not int or not lo <= v <= hi:
        raise _bad(f"{what} is an integer from {lo} to {hi}")
    return v


def _opt_id(v: object, what: str) -> int | None:
    return None if v is None else _int(v, what, 1, MAX_MSG_ID)


def _b(v: object, what: str, size: int) -> bytes:
    if not isinstance(v, (bytes, bytearray)) or len(v) != size:
        raise _bad(f"{what} is {size} bytes")
    return v if type(v) is bytes else bytes(v)


def _prev(v: object) -> tuple[tuple[int, bytes], ...]:
    if not isinstance(v, (list, tuple)) or len(v) > MAX_PREV:
        raise _bad(f"prev is a list of at most {MAX_PREV} [msg_id, header_hash]")
    out = []
    for p in v:
        if not isinstance(p, (list, tuple)) or len(p) != 2:
            raise _bad("a prev pointer is [msg_id, header_hash]")
        out.append((_int(p[0], "a prev msg_id", 1, MAX_MSG_ID), _b(p[1], "a prev header hash", 32)))
    ids = [i for i, _ in out]
    if ids != sorted(set(ids)):
        raise _bad("prev pointers are in ascending msg_id order, each once")
    return tuple(out)


def _ephemeral(v: object) -> dict | None:
    if v is None:
        return None
    if not isinstance(v, dict) or set(v) != {"lifetime", "ek_gen"}:
        raise _bad("ephemeral is {lifetime, ek_gen} or nil")
    return {"lifetime": _int(v["lifetime"], "lifetime", MIN_LIFETIME, MAX_LIFETIME),
            "ek_gen": _int(v["ek_gen"], "ek_gen", 1, 1 << 31)}


_BYTE_FIELDS = (("conv_id", ID_SIZE), ("team_id", ID_SIZE), ("topic_id", ID_SIZE), ("sender_uid", ID_SIZE),
                ("body_hash", 32), ("nonce", NONCE_SIZE), ("outbox_id", ID_SIZE))
_INT_FIELDS = (("sender_eldest_seqno", 1, MAX_INT), ("key_gen", 1, 1 << 31), ("body_len", SMALL_STEP, MAX_PADDED),
               ("team_seqno", 1, MAX_INT), ("compose_time", 0, MAX_INT))
_OPT_IDS = ("supersedes", "reply_to", "thread_root")


def check_header(m: object) -> Header:
    """A Header from a map with exactly the right fields and types; BadChatMessage otherwise.

    Table-driven, each field checked inline (a sync checks every header it stores: the
    function-per-field version cost about as much as the secretbox and hashes together)."""
    if not isinstance(m, dict) or m.keys() != FIELD_SET:
        raise _bad(f"a header has exactly the fields {sorted(FIELDS)}")
    if m["v"] != VERSION or type(m["v"]) is not int:
        raise _bad(f"unknown header version {m['v']!r}")
    if not isinstance(m["type"], str) or m["type"] not in KINDS:
        raise _bad(f"unknown message type {str(m['type'])[:32]!r}")
    try:
        kid = parse_kid(m["sender_kid"] if isinstance(m["sender_kid"], (bytes, bytearray)) else b"")
    except BadKID:
        raise _bad("sender_kid is a 35-byte KID") from None
    if kid.kind != ED25519_KID_TYPE:
        raise _bad("sender_kid is an Ed25519 signing KID")
    cp = m["checkpoint"]
    if not isinstance(cp, (list, tuple)) or len(cp) != 2:
        raise _bad("checkpoint is [size, root]")
    deletes = m["deletes"]
    if not isinstance(deletes, (list, tuple)) or len(deletes) > MAX_TARGETS:
        raise _bad(f"deletes is a list of at most {MAX_TARGETS} msg_ids")
    vals = {"v": VERSION, "type": m["type"], "sender_kid": bytes(m["sender_kid"])}
    for f, size in _BYTE_FIELDS:
        x = m[f]
        vals[f] = x if type(x) is bytes and len(x) == size else _b(x, f, size)
    for f, lo, hi in _INT_FIELDS:
        x = m[f]
        vals[f] = x if type(x) is int and lo <= x <= hi else _int(x, f, lo, hi)
    for f in _OPT_IDS:
        x = m[f]
        vals[f] = x if x is None or (type(x) is int and 1 <= x <= MAX_MSG_ID) else _opt_id(x, f)
    vals["topic_type"] = _topic_type(m["topic_type"])
    vals["prev"] = _prev(m["prev"])
    vals["checkpoint"] = (_int(cp[0], "checkpoint size", 1), _b(cp[1], "checkpoint root", 32))
    vals["deletes"] = tuple(_int(x, "a deleted msg_id", 1, MAX_MSG_ID) for x in deletes)
    vals["ephemeral"] = _ephemeral(m["ephemeral"])
    h = object.__new__(Header)       # every field checked above; the frozen __init__'s 23
    h.__dict__.update(vals)          # object.__setattr__ calls were a quarter of this function
    _check_consistent(h)
    return h


def _topic_type(v: object) -> int:
    try:
        return check_topic_type(v)
    except BadChatMessage as e:
        raise _bad(str(e)) from None


@lru_cache(maxsize=256)
def _conv_id(team_id: bytes, topic_type: int, topic_id: bytes) -> bytes:
    """conv_id_for, kept (a pure function; a sync derives the same one for every header)."""
    return conv_id_for(team_id, topic_type, topic_id)


def _check_consistent(h: Header) -> None:
    """The rules a header keeps on its own: derivable conv_id, supersedes/deletes by type."""
    if h.conv_id != _conv_id(h.team_id, h.topic_type, h.topic_id):
        raise _bad("conv_id does not derive from team_id, topic_type and topic_id")
    if (h.supersedes is not None) != (h.type in SUPERSEDING):
        raise _bad(f"supersedes is set exactly for {sorted(SUPERSEDING)}")
    if bool(h.deletes) != (h.type in DELETING):
        raise _bad(f"deletes is set exactly for {sorted(DELETING)}")
    if list(h.deletes) != sorted(set(h.deletes)):
        raise _bad("deletes are in ascending order, each once (the server's hint is sorted too)")
    if h.body_len % SMALL_STEP:
        raise _bad("body_len is a padded size")


def build_header(**fields: Any) -> Header:
    """A checked Header from keyword fields (v defaults to 1; lists for prev/deletes are fine)."""
    fields.setdefault("v", VERSION)
    fields.setdefault("supersedes", None)
    fields.setdefault("deletes", [])
    if isinstance(fields["deletes"], (list, tuple)) and all(type(t) is int for t in fields["deletes"]):
        fields["deletes"] = sorted(fields["deletes"])
    fields.setdefault("reply_to", None)
    fields.setdefault("thread_root", None)
    fields.setdefault("ephemeral", None)
    fields.setdefault("prev", [])
    return check_header(fields)


def pack_header(h: Header) -> bytes:
    """Canonical bytes: the map's keys sorted, nested maps too."""
    m = h.to_map()
    if m["ephemeral"] is not None:
        m["ephemeral"] = {k: m["ephemeral"][k] for k in sorted(m["ephemeral"])}
    data = pack({k: m[k] for k in sorted(m)})
    if len(data) > MAX_HEADER:
        raise _bad(f"over {MAX_HEADER} bytes")
    return data


def parse_header(data: bytes) -> Header:
    """A Header from its exact canonical bytes (anything else is refused: no malleability)."""
    if not isinstance(data, (bytes, bytearray)) or len(data) > MAX_HEADER:
        raise _bad(f"a packed header is at most {MAX_HEADER} bytes")
    try:
        m = unpack(bytes(data), max_size=MAX_HEADER, max_depth=None)     # check_header checks the exact shape
    except EncodingError as e:
        raise _bad(str(e)) from None
    h = check_header(m)
    # canonical = keys in sorted order (the map's order as decoded), then the same bytes when
    # packed again: what pack_header(h) == data checks, without building the map anew
    eph = m["ephemeral"]
    if list(m) != SORTED_FIELDS or (eph is not None and list(eph) != SORTED_EPHEMERAL) or pack(m) != data:
        raise _bad("not the canonical encoding")
    return h
