"""Keybase's sigchain link format, parsed from what the untrusted server serves.

A link is an inner payload (compact JSON, sorted keys) and a NaCl signature
packet. Signature version 1 signs the inner JSON itself; version 2 signs a
msgpack *outer link* `[2, seqno, prev, curr, type, seq_type,
ignore_if_unsupported, (high_skip_seqno, high_skip_hash)]` whose `curr` is
SHA-256 of the inner JSON. The link id is SHA-256 of whatever was signed. A
stub `{"s2": base64 outer}` hides the inner link but still chains by hash.

The server's own metadata (`payload_hash`, `sig_id`, `kid`, `ctime`, `seqno`,
`prev`) is never read: everything is recomputed from the signed bytes.

Context-prefix rule: a link whose inner `body.version` is >= 3 is kbapp's own
and MUST be a signature packet v2 carrying PREFIX_SIGCHAIN (its reverse sigs:
PREFIX_REVERSE_SIG); a link with `body.version` 1 or 2 is Keybase's and must be
a plain v1 packet. The version sits inside the signed payload, so neither kind
can be passed off as the other, and no signature kbapp makes for another
purpose can ever verify as a chain link.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import msgpack
import orjson

from ..encoding import b64decode, canonical_json, loads_json
from ..errors import (
    BadChainLink,
    BadKID,
    BadSignature,
    EncodingError,
    MismatchedField,
    TooLarge,
)
from ..keys import (
    ED25519_KID_TYPE,
    PREFIX_SIGCHAIN,
    SIG_ID_SUFFIX,
    decode_sig_packet,
    decode_sig_packet_raw,
    parse_kid,
    signed_message,
)

# --- caps: everything below comes from the untrusted server ------------------

MAX_PAYLOAD_JSON = 64 * 1024
MAX_SIG = 96 * 1024          # base64 chars; a v1 packet embeds its payload
MAX_OUTER = 512
MAX_STUB = 1024
MAX_INNER_DEPTH = 16
MAX_SEQNO = (1 << 53) - 1
MAX_TIME = (1 << 63) - 1
MAX_NAME = 256

KBAPP_BODY_VERSION = 3       # body.version of every link kbapp writes
SEQ_TYPE_PUBLIC = 1


class LinkType(IntEnum):
    """Keybase's SigchainV2Type numbers (go/libkb/chain_link_v2.go)."""

    NONE = 0
    ELDEST = 1
    WEB_SERVICE_BINDING = 2
    TRACK = 3
    UNTRACK = 4
    REVOKE = 5
    CRYPTOCURRENCY = 6
    ANNOUNCEMENT = 7
    DEVICE = 8
    WEB_SERVICE_BINDING_WITH_REVOKE = 9
    CRYPTOCURRENCY_WITH_REVOKE = 10
    SIBKEY = 11
    SUBKEY = 12
    PGP_UPDATE = 13
    PER_USER_KEY = 14
    WALLET_STELLAR = 15
    TEAM_ROOT = 33
    TEAM_NEW_SUBTEAM = 34
    TEAM_CHANGE_MEMBERSHIP = 35
    TEAM_ROTATE_KEY = 36
    TEAM_LEAVE = 37
    TEAM_SUBTEAM_HEAD = 38
    TEAM_RENAME_SUBTEAM = 39
    TEAM_INVITE = 40
    TEAM_RENAME_UP_POINTER = 41
    TEAM_DELETE_ROOT = 42
    TEAM_DELETE_SUBTEAM = 43
    TEAM_DELETE_UP_POINTER = 44
    # 45 is retired (legacy TLF upgrade)
    TEAM_SETTINGS = 46
    TEAM_KBFS_SETTINGS = 47
    TEAM_BOT_SETTINGS = 48


# Inner `body.type` strings. The two *_WITH_REVOKE types share their base
# type's name: the outer type says whether the body revokes something.
TYPE_BY_NAME: dict[str, LinkType] = {
    "eldest": LinkType.ELDEST,
    "web_service_binding": LinkType.WEB_SERVICE_BINDING,
    "track": LinkType.TRACK,
    "untrack": LinkType.UNTRACK,
    "revoke": LinkType.REVOKE,
    "cryptocurrency": LinkType.CRYPTOCURRENCY,
    "announcement": LinkType.ANNOUNCEMENT,
    "device": LinkType.DEVICE,
    "sibkey": LinkType.SIBKEY,
    "subkey": LinkType.SUBKEY,
    "pgp_update": LinkType.PGP_UPDATE,
    "per_user_key": LinkType.PER_USER_KEY,
    "wallet.stellar": LinkType.WALLET_STELLAR,
    "team.root": LinkType.TEAM_ROOT,
    "team.new_subteam": LinkType.TEAM_NEW_SUBTEAM,
    "team.change_membership": LinkType.TEAM_CHANGE_MEMBERSHIP,
    "team.rotate_key": LinkType.TEAM_ROTATE_KEY,
    "team.leave": LinkType.TEAM_LEAVE,
    "team.subteam_head": LinkType.TEAM_SUBTEAM_HEAD,
    "team.rename_subteam": LinkType.TEAM_RENAME_SUBTEAM,
    "team.invite": LinkType.TEAM_INVITE,
    "team.rename_up_pointer": LinkType.TEAM_RENAME_UP_POINTER,
    "team.delete_root": LinkType.TEAM_DELETE_ROOT,
    "team.delete_subteam": LinkType.TEAM_DELETE_SUBTEAM,
    "team.delete_up_pointer": LinkType.TEAM_DELETE_UP_POINTER,
    "team.settings": LinkType.TEAM_SETTINGS,
    "team.kbfs": LinkType.TEAM_KBFS_SETTINGS,
    "team.bot_settings": LinkType.TEAM_BOT_SETTINGS,
}
NAME_BY_TYPE: dict[LinkType, str] = {t: n for n, t in TYPE_BY_NAME.items()}
NAME_BY_TYPE[LinkType.WEB_SERVICE_BINDING_WITH_REVOKE] = "web_service_binding"
NAME_BY_TYPE[LinkType.CRYPTOCURRENCY_WITH_REVOKE] = "cryptocurrency"

# Keybase's IsSupportedUserType (NONE included: it is "known", hence never stubbable).
USER_TYPES = frozenset(LinkType(i) for i in range(0, 16))
TEAM_TYPES = frozenset(t for t in LinkType if t >= 33)
# Known user types whose content nothing depends on for keys: Keybase lets
# the server hide (stub) these; every other known type needs its signature.
STUBBABLE_USER_TYPES = frozenset({LinkType.TRACK, LinkType.UNTRACK, LinkType.ANNOUNCEMENT})


def allow_stubbing(link_type: int) -> bool:
    """Keybase's rule for user chains: unknown types and track/untrack/announcement."""
    return link_type not in USER_TYPES or link_type in STUBBABLE_USER_TYPES


def stub_type_supported(link: "ChainLink") -> bool:
    """Keybase's CHAIN_LINK_STUBBED_UNSUPPORTED rule, for user chains: a stub whose
    type is not a user link type must be marked ignore_if_unsupported. (Keybase
    also lets team types through; kbapp does not: unstubbed, such a link would be
    refused in a user chain, so its stub is too.)"""
    return link.link_type in USER_TYPES or link.ignore_if_unsupported


def v2_type_for(type_name: str, *, has_revokes: bool, ignore_if_unsupported: bool) -> int:
    """The outer type number an inner `body.type` must carry (NONE: unknown, ignorable)."""
    t = TYPE_BY_NAME.get(type_name)
    if t is None:
        if not ignore_if_unsupported:
            raise BadChainLink(f"unknown link type {type_name[:64]!r}")
        if has_revokes:   # it could be stubbed, hiding the revocation
            raise BadChainLink(f"a link of unknown type {type_name[:64]!r} may not revoke anything")
        return LinkType.NONE
    if has_revokes:
        if t == LinkType.WEB_SERVICE_BINDING:
            return LinkType.WEB_SERVICE_BINDING_WITH_REVOKE
        if t == LinkType.CRYPTOCURRENCY:
            return LinkType.CRYPTOCURRENCY_WITH_REVOKE
        if allow_stubbing(t):
            # A stubbable link must never carry revocations, or the server
            # could hide a revocation by stubbing it.
            raise BadChainLink(f"a {type_name} link may not revoke anything")
    return t


def body_has_revokes(body: dict) -> bool:
    rev = body.get("revoke")
    if not isinstance(rev, dict):
        return False
    if rev.get("sig_id") is not None or rev.get("kid") is not None:
        return True
    return any(isinstance(rev.get(k), list) and rev[k] for k in ("sig_ids", "kids"))


# --- outer link -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OuterLink:
    version: int
    seqno: int
    prev: bytes | None
    curr: bytes
    link_type: int
    seq_type: int
    ignore_if_unsupported: bool
    high_skip_seqno: int | None
    high_skip_hash: bytes | None
    raw: bytes = field(repr=False)


def _hash32(v: Any, what: str) -> bytes | None:
    if v is None or (type(v) is bytes and len(v) == 32):
        return v
    raise BadChainLink(f"outer link {what} is not a 32-byte hash")


def parse_outer(raw: bytes) -> OuterLink:
    """Decode an outer link v2 (5 to 9 fields: older links lack the later ones)."""
    if len(raw) > MAX_OUTER:
        raise TooLarge(f"outer link of {len(raw)} bytes")
    try:   # direct: every field is type-checked below, so no depth walk is needed
        arr = msgpack.unpackb(raw, raw=False, max_bin_len=MAX_OUTER, max_str_len=MAX_OUTER,
                              max_array_len=16, max_map_len=16, max_ext_len=0)
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as e:
        raise EncodingError(f"malformed outer link: {e}") from None
    if type(arr) is not list or not 5 <= len(arr) <= 9:
        raise BadChainLink("outer link is not an array of 5 to 9 fields")
    arr = arr + [None] * (9 - len(arr))
    version, seqno, prev, curr, link_type, seq_type, ignore, hs_seqno, hs_hash = arr
    if type(version) is not int or version != 2:
        raise BadChainLink(f"outer link version {version!r}")
    if type(seqno) is not int or not 1 <= seqno <= MAX_SEQNO:
        raise BadChainLink("outer link seqno out of range")
    if type(link_type) is not int or not 0 <= link_type < 1 << 16:
        raise BadChainLink("outer link type out of range")
    if curr is None:
        raise BadChainLink("outer link has no curr hash")
    seq_type = seq_type or SEQ_TYPE_PUBLIC      # absent or 0: public, as Keybase reads it
    if type(seq_type) is not int or not 0 < seq_type < 1 << 16:
        raise BadChainLink("outer link seq_type out of range")
    ignore = False if ignore is None else ignore
    if type(ignore) is not bool:
        raise BadChainLink("outer link ignore_if_unsupported is not a boolean")
    if hs_seqno is not None and (type(hs_seqno) is not int or not 0 <= hs_seqno <= MAX_SEQNO):
        raise BadChainLink("outer link high_skip_seqno out of range")
    return OuterLink(2, seqno, _hash32(prev, "prev"), _hash32(curr, "curr"), link_type, seq_type,
                     ignore, hs_seqno, _hash32(hs_hash, "high_skip_hash"), bytes(raw))


# --- the parsed link ------------------------------------------------------------


@dataclass(slots=True, eq=False)
class ChainLink:
    """One link, parsed and checked against itself. Treat it as read-only.

    Not yet checked: that its signer may sign (verify_chain does that) and the
    Ed25519 signature itself (`signed_message` and `signature` are its inputs).
    Stubs carry only the outer fields.
    """

    seqno: int
    prev: bytes | None
    link_id: bytes
    link_type: int                   # body.type's number (NONE if unknown); a stub's outer type
    stubbed: bool = False
    sig_version: int = 2
    seq_type: int = SEQ_TYPE_PUBLIC
    ignore_if_unsupported: bool = False
    outer: OuterLink | None = None
    type_name: str | None = None     # inner body.type
    body_version: int = 0
    payload: dict | None = field(default=None, repr=False)
    payload_json: str | None = field(default=None, repr=False)
    sig: str | None = field(default=None, repr=False)
    sig_id: bytes | None = None
    signer: bytes | None = None      # raw KID of the signature packet (== body.key.kid)
    uid: str | None = None
    username: str | None = None
    eldest_kid: bytes | None = None  # body.key.eldest_kid, when present
    ctime: int | None = None
    expire_in: int | None = None
    prefix: bytes | None = None
    signed_message: bytes = field(default=b"", repr=False)
    signature: bytes = field(default=b"", repr=False)

    @property
    def link_id_hex(self) -> str:
        return self.link_id.hex()

    @property
    def sig_id_hex(self) -> str | None:
        return None if self.sig_id is None else self.sig_id.hex()

    @property
    def body(self) -> dict:
        return {} if self.payload is None else self.payload["body"]

    @property
    def is_ours(self) -> bool:
        return self.body_version >= KBAPP_BODY_VERSION


_KIDS: dict[Any, bytes] = {}


def parse_kid_field(value: Any, what: str) -> bytes:
    """A KID (hex or raw) from a link, as raw bytes; memoised, chains repeat a few keys."""
    try:
        return _KIDS[value]
    except (KeyError, TypeError):
        pass
    if not isinstance(value, (str, bytes)):
        raise BadChainLink(f"{what} is not a KID")
    try:
        raw = parse_kid(value).raw
    except BadKID as e:
        raise BadChainLink(f"{what}: {e}") from None
    if len(_KIDS) >= 4096:
        _KIDS.clear()
    _KIDS[value] = raw
    return raw


def load_inner(payload_json: bytes) -> dict:
    """Inner JSON under the verifier's caps (the depth prescan runs only when needed)."""
    if len(payload_json) > MAX_PAYLOAD_JSON:
        raise TooLarge(f"payload_json of {len(payload_json)} bytes (limit {MAX_PAYLOAD_JSON})")
    try:
        text = payload_json.decode("utf-8")
    except UnicodeDecodeError:
        raise EncodingError("payload_json is not UTF-8") from None
    if text.count("{") + text.count("[") > MAX_INNER_DEPTH:
        payload = loads_json(text, max_size=MAX_PAYLOAD_JSON, max_depth=MAX_INNER_DEPTH)
    else:
        try:
            payload = orjson.loads(text)
        except orjson.JSONDecodeError as e:
            raise EncodingError(f"malformed payload_json: {e}") from None
    if type(payload) is not dict:
        raise BadChainLink("inner link is not a JSON object")
    return payload


def _hex32(v: Any, what: str) -> bytes | None:
    if v is None:
        return None
    if type(v) is str and len(v) == 64:
        try:
            return bytes.fromhex(v)
        except ValueError:
            pass
    raise BadChainLink(f"{what} is not a 32-byte hex hash")


def _sha256(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def _parse_stub(s2: Any) -> ChainLink:
    if not isinstance(s2, str) or len(s2) > MAX_STUB:
        raise EncodingError("stub must be a short base64 string")
    outer = parse_outer(b64decode(s2, max_size=MAX_OUTER))
    return ChainLink(seqno=outer.seqno, prev=outer.prev, link_id=_sha256(outer.raw),
                     link_type=outer.link_type, stubbed=True, sig_version=2,
                     seq_type=outer.seq_type, ignore_if_unsupported=outer.ignore_if_unsupported,
                     outer=outer)


def _signed_payload(wire: dict) -> tuple[int, bytes, bytes, dict, bytes, bytes | None]:
    """(sig_version, packet bytes, signed bytes, packet body, payload_json, outer-or-None)."""
    sig = wire.get("sig")
    if type(sig) is not str:
        raise EncodingError("link signature missing")
    if len(sig) > MAX_SIG:
        raise TooLarge(f"link signature of {len(sig)} characters (limit {MAX_SIG})")
    sig_version = wire.get("sig_version")
    if sig_version is None:
        sig_version = 1
    if type(sig_version) is not int or sig_version not in (1, 2):
        raise BadChainLink(f"unsupported sig_version {sig_version!r}")
    raw, packet = decode_sig_packet_raw(sig)
    pbody = packet["body"]
    signed = pbody.get("payload")
    if not signed:   # (Keybase's packets say detached=true, yet carry the payload)
        raise BadChainLink("a link's signature packet must carry what it signs")
    pj = wire.get("payload_json")
    if sig_version == 1 and pj is None:
        return 1, raw, signed, pbody, signed, None
    if type(pj) is not str:
        raise EncodingError("payload_json missing")
    if len(pj) > MAX_PAYLOAD_JSON:
        raise TooLarge(f"payload_json of {len(pj)} characters (limit {MAX_PAYLOAD_JSON})")
    try:
        pj_bytes = pj.encode("utf-8")
    except UnicodeEncodeError:
        raise EncodingError("payload_json is not valid Unicode") from None
    if len(pj_bytes) > MAX_PAYLOAD_JSON:
        raise TooLarge(f"payload_json of {len(pj_bytes)} bytes (limit {MAX_PAYLOAD_JSON})")
    if sig_version == 1:
        if pj_bytes != signed:
            raise BadSignature("payload_json is not the payload that was signed")
        return 1, raw, signed, pbody, pj_bytes, None
    return 2, raw, signed, pbody, pj_bytes, signed


def _check_signer(pbody: dict, sig_version: int, body_version: int, kid: bytes, seqno: int, payload: dict,
                  pj_bytes: bytes) -> tuple[bytes, bytes | None]:
    """(signer KID, context prefix): an Ed25519 signature by body.key.kid, in the sigchain
    context for kbapp's links (over canonical JSON), without one for Keybase's."""
    signer = parse_kid_field(pbody["key"], "signature key")
    if signer[1] != ED25519_KID_TYPE or len(pbody["sig"]) != 64:
        raise BadSignature(f"link {seqno}: not an Ed25519 signature")
    prefix = pbody.get("prefix")
    if body_version >= KBAPP_BODY_VERSION:
        if sig_version != 2 or prefix != PREFIX_SIGCHAIN:
            raise BadSignature(f"link {seqno}: a kbapp link must be signed with the sigchain context prefix")
        if pj_bytes != canonical_json(payload):
            raise BadChainLink(f"link {seqno}: a kbapp link's JSON must be canonical")
    elif prefix is not None:
        raise BadSignature(f"link {seqno}: a Keybase (body.version {body_version}) link has a context prefix")
    if kid != signer:
        raise MismatchedField(f"link {seqno}: signed by {signer.hex()}, but body.key.kid is {kid.hex()}")
    return signer, prefix


def parse_link(wire: Any) -> ChainLink:
    """Parse one served link (full or stub) and check it against itself.

    Raises EncodingError / BadChainLink (malformed), BadSignature (payload_json
    is not what was signed, the packet is for the wrong context, or the outer
    seqno / prev is not the inner's) and MismatchedField (another outer field
    disagrees with the inner, or the signer is not body.key.kid).
    """
    if type(wire) is not dict:
        raise EncodingError("a link must be a JSON object")
    if "s2" in wire:
        return _parse_stub(wire["s2"])
    sig_version, raw, signed, pbody, pj_bytes, outer_raw = _signed_payload(wire)
    outer = None
    if outer_raw is not None:
        outer = parse_outer(outer_raw)
        if outer.curr != _sha256(pj_bytes):
            raise BadSignature(f"link {outer.seqno}: payload_json does not hash to the signed curr")

    payload = load_inner(pj_bytes)
    body = payload.get("body")
    key = body.get("key") if type(body) is dict else None
    if type(key) is not dict:
        raise BadChainLink("inner link has no body.key")
    type_name, body_version = body.get("type"), body.get("version")
    seqno, ctime, expire_in = payload.get("seqno"), payload.get("ctime"), payload.get("expire_in")
    seq_type = payload.get("seq_type", SEQ_TYPE_PUBLIC) or SEQ_TYPE_PUBLIC
    ignore = payload.get("ignore_if_unsupported", False)
    uid, username = key.get("uid"), key.get("username")
    if type(type_name) is not str or not 0 < len(type_name) <= MAX_NAME:
        raise BadChainLink("inner body.type must be a short string")
    if type(body_version) is not int or not 0 < body_version < 1 << 16:
        raise BadChainLink("inner body.version must be a small positive integer")
    if type(seqno) is not int or not 0 < seqno <= MAX_SEQNO:
        raise BadChainLink("inner seqno out of range")
    for name, v in (("ctime", ctime), ("expire_in", expire_in)):
        if type(v) is not int or not 0 <= v <= MAX_TIME:
            raise BadChainLink(f"inner {name} must be a non-negative integer")
    if type(seq_type) is not int or not 0 < seq_type < 1 << 16:
        raise BadChainLink("inner seq_type out of range")
    if type(ignore) is not bool:
        raise BadChainLink("ignore_if_unsupported must be a boolean")
    if payload.get("tag") != "signature":
        raise BadChainLink("inner link tag is not 'signature'")
    for name, v in (("uid", uid), ("username", username)):
        if type(v) is not str or not 0 < len(v) <= MAX_NAME:
            raise BadChainLink(f"inner body.key.{name} must be a short string")
    prev = _hex32(payload.get("prev"), "inner prev")
    kid = parse_kid_field(key.get("kid"), "body.key.kid")
    eldest = key.get("eldest_kid")
    if eldest is not None:
        eldest = parse_kid_field(eldest, "body.key.eldest_kid")

    signer, prefix = _check_signer(pbody, sig_version, body_version, kid, seqno, payload, pj_bytes)

    has_revokes = body_has_revokes(body)
    if outer is None:
        link_type = TYPE_BY_NAME.get(type_name, LinkType.NONE)
        if has_revokes and link_type == LinkType.WEB_SERVICE_BINDING:
            link_type = LinkType.WEB_SERVICE_BINDING_WITH_REVOKE
        elif has_revokes and link_type == LinkType.CRYPTOCURRENCY:
            link_type = LinkType.CRYPTOCURRENCY_WITH_REVOKE
    else:
        link_type = _check_outer(outer, payload, seqno=seqno, prev=prev, type_name=type_name,
                                 has_revokes=has_revokes, seq_type=seq_type, ignore=ignore)

    return ChainLink(
        seqno=seqno, prev=prev, link_id=_sha256(signed), link_type=link_type,
        sig_version=sig_version, seq_type=seq_type, ignore_if_unsupported=ignore, outer=outer,
        type_name=type_name, body_version=body_version, payload=payload,
        payload_json=wire.get("payload_json") or pj_bytes.decode("utf-8"), sig=wire["sig"],
        sig_id=_sha256(raw) + SIG_ID_SUFFIX, signer=signer, uid=uid.lower(), username=username,
        eldest_kid=eldest, ctime=ctime, expire_in=expire_in, prefix=prefix,
        signed_message=signed if prefix is None else signed_message(prefix, signed),
        signature=pbody["sig"])


def _check_outer(outer: OuterLink, payload: dict, *, seqno: int, prev: bytes | None,
                 type_name: str, has_revokes: bool, seq_type: int, ignore: bool) -> int:
    """Keybase's AssertFields: the signed outer link must say what the inner says.

    Returns the inner's type number: NONE for an unknown type that may be
    ignored, whatever number its outer link carries.
    """
    def bad(what: str, o: Any, i: Any) -> MismatchedField:
        return MismatchedField(f"link {seqno}: outer {what} {o!r} != inner {i!r}")

    # Keybase's vectors (bad_v2_seqno_mismatch, bad_v2_prev_mismatch) call these two
    # VERIFY_FAILED: the signature was made over another position than the inner claims.
    if outer.seqno != seqno:
        raise BadSignature(f"link {seqno}: outer seqno {outer.seqno} != inner {seqno}")
    if outer.prev != prev:
        raise BadSignature(f"link {seqno}: outer prev {outer.prev and outer.prev.hex()} "
                           f"!= inner {prev and prev.hex()}")
    expected = v2_type_for(type_name, has_revokes=has_revokes, ignore_if_unsupported=ignore)
    if not (expected == LinkType.NONE and ignore) and outer.link_type != expected:
        raise bad("type", outer.link_type, f"{type_name} ({int(expected)})")
    if outer.seq_type != seq_type:
        raise bad("seq_type", outer.seq_type, seq_type)
    if outer.ignore_if_unsupported != ignore:
        raise bad("ignore_if_unsupported", outer.ignore_if_unsupported, ignore)
    hs = payload.get("high_skip")
    if hs is None:
        hs_seqno = hs_hash = None
    elif type(hs) is dict:
        hs_seqno, hs_hash = hs.get("seqno"), _hex32(hs.get("hash"), "inner high_skip.hash")
        if type(hs_seqno) is not int or not 0 <= hs_seqno <= MAX_SEQNO:
            raise BadChainLink("inner high_skip.seqno out of range")
    else:
        raise BadChainLink("inner high_skip is not an object")
    if outer.high_skip_seqno != hs_seqno or outer.high_skip_hash != hs_hash:
        raise bad("high_skip", (outer.high_skip_seqno, outer.high_skip_hash), (hs_seqno, hs_hash))
    return expected


def link_id(wire: dict) -> bytes:
    """SHA-256 of what a link's signature covers (its outer link for v2): its id.

    Cheap, for links already verified; parse_link checks everything else.
    """
    if not isinstance(wire, dict):
        raise EncodingError("a link must be a JSON object")
    if "s2" in wire:
        s2 = wire["s2"]
        if not isinstance(s2, str) or len(s2) > MAX_STUB:
            raise EncodingError("stub must be a short base64 string")
        return _sha256(b64decode(s2, max_size=MAX_OUTER))
    sig = wire.get("sig")
    if not isinstance(sig, str) or len(sig) > MAX_SIG:
        raise EncodingError("link signature missing or too large")
    signed = decode_sig_packet(sig)["body"].get("payload") or b""
    if not signed:
        raise BadChainLink("a link's signature packet must carry what it signs")
    return _sha256(signed)


def link_id_hex(wire: dict) -> str:
    return link_id(wire).hex()
