"""Message bodies: one msgpack map per kind, validated strictly, padded before sealing.

Every field is checked for type and size here so that nothing past this module meets an
unexpected shape from a peer. Bodies are padded (`u32be(len) || data || zeros`) to 256-byte
steps below 4 KiB and 4 KiB steps above, so the server learns a size class, not a length.
"""

from __future__ import annotations

import re
import struct
from typing import Any, Callable

from ..encoding import pack, unpack
from ..errors import BadChatMessage, EncodingError

MAX_BODY = 64 * 1024                 # packed body plaintext
SMALL_STEP, LARGE_STEP = 256, 4096
MAX_PADDED = ((MAX_BODY + 4 + LARGE_STEP - 1) // LARGE_STEP) * LARGE_STEP
MAX_TEXT = 48 * 1024                 # bytes of UTF-8 in one text
MAX_SHORT = 1024                     # topic, headline, file name...
MAX_MENTIONS = 100
MAX_TARGETS = 100
MAX_MSG_ID = (1 << 53) - 1
MAX_SIZE = 1 << 50                   # attachment bytes
MAX_META = 16
_UID_RE = re.compile(r"[0-9a-f]{32}")
_BLOB_RE = re.compile(r"[0-9a-f]{64}")
_CHANNEL_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_ID_LIKE = re.compile(r"[0-9a-f]{32}")
_MIME_RE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")
# C1 controls too: Qt takes U+009C for a separator of "length variants" and paints only the
# text before it ("I agree\x9cI do NOT agree" showed as "I agree"; found in review)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# a file name also never holds format or bidi characters (`invoice\u202efdp.exe`), as in folders
_NAME_FORMAT = re.compile("[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]")


def _bad(msg: str) -> BadChatMessage:
    return BadChatMessage(f"chat body: {msg}")


def check_msg_id(v: object, what: str = "msg_id") -> int:
    if type(v) is not int or not 1 <= v <= MAX_MSG_ID:
        raise _bad(f"{what} is a message id (an integer from 1)")
    return v


def _text(v: object, what: str, *, limit: int = MAX_TEXT, empty: bool = False, lines: bool = True) -> str:
    if not isinstance(v, str):
        raise _bad(f"{what} is a string")
    if len(v.encode("utf-8", "surrogatepass")) > limit:
        raise _bad(f"{what} is over {limit} bytes")
    if not empty and not v.strip():
        raise _bad(f"{what} is empty")
    if (_CONTROL if lines else _ANY_CONTROL).search(v):
        raise _bad(f"{what} holds control characters")
    return v


def _bytes(v: object, what: str, size: int | tuple[int, int]) -> bytes:
    lo, hi = (size, size) if isinstance(size, int) else size
    if not isinstance(v, bytes) or not lo <= len(v) <= hi:
        raise _bad(f"{what} is {size} bytes")
    return v


def _int(v: object, what: str, lo: int = 0, hi: int = MAX_SIZE) -> int:
    if type(v) is not int or not lo <= v <= hi:
        raise _bad(f"{what} is an integer from {lo} to {hi}")
    return v


def _bool(v: object, what: str) -> bool:
    if type(v) is not bool:
        raise _bad(f"{what} is true or false")
    return v


def _ids(v: object, what: str, limit: int = MAX_TARGETS, *, empty: bool = False) -> list[int]:
    if not isinstance(v, list) or len(v) > limit or (not v and not empty):
        raise _bad(f"{what} is a list of 1 to {limit} message ids")
    ids = [check_msg_id(x, what) for x in v]
    if len(set(ids)) != len(ids):
        raise _bad(f"{what} repeats an id")
    return ids


def _mentions(v: object) -> list[str]:
    if not isinstance(v, list) or len(v) > MAX_MENTIONS:
        raise _bad(f"mentions is a list of at most {MAX_MENTIONS} uids")
    for u in v:
        if not isinstance(u, str) or not _UID_RE.fullmatch(u):
            raise _bad("a mention is a 32-hex-digit uid")
    if len(set(v)) != len(v):
        raise _bad("mentions repeat a uid")
    return v


def _file_name(v: object) -> str:
    name = _text(v, "name", limit=255, lines=False)
    if name in (".", "..") or "/" in name or "\\" in name:
        raise _bad("a file name has no path in it")
    if _NAME_FORMAT.search(name):
        raise _bad("a file name holds invisible or direction-changing characters")
    return name


def _meta(v: object) -> dict:
    if not isinstance(v, dict) or len(v) > MAX_META:
        raise _bad(f"meta is a map of at most {MAX_META} entries")
    for k, x in v.items():
        if not isinstance(k, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", k):
            raise _bad("a meta key is a short lowercase name")
        if type(x) is int:
            _int(x, f"meta {k}", -(1 << 53), 1 << 53)
        else:
            _text(x, f"meta {k}", limit=256, empty=True, lines=False)
    return v


def _blob_ref(v: dict, *, preview: bool) -> None:
    if not isinstance(v.get("blob_id"), str) or not _BLOB_RE.fullmatch(v["blob_id"]):
        raise _bad("blob_id is 64 lowercase hex digits")
    if _bytes(v.get("enc_hash"), "enc_hash", 32).hex() != v["blob_id"]:
        raise _bad("blob_id is the hex of enc_hash (signencrypt.py: the blob is stored under it)")
    _int(v.get("size"), "size")
    _bytes(v.get("key"), "key", 32)
    _bytes(v.get("verify_pub"), "verify_pub", 32)
    _bytes(v.get("nonce"), "nonce", 16)
    if not isinstance(v.get("mime"), str) or not _MIME_RE.fullmatch(v["mime"]):
        raise _bad("mime is a lowercase type/subtype")
    _meta(v.get("meta"))
    if not preview:
        _file_name(v.get("name"))


def _preview(v: object) -> None:
    if v is None:
        return
    if not isinstance(v, dict) or set(v) != PREVIEW_FIELDS:
        raise _bad(f"a preview has exactly the fields {sorted(PREVIEW_FIELDS)}")
    _blob_ref(v, preview=True)


PREVIEW_FIELDS = frozenset({"blob_id", "enc_hash", "size", "key", "verify_pub", "nonce", "mime", "meta"})

# kind -> {field: check}
_Check = Callable[[Any], Any]
KINDS: dict[str, dict[str, _Check]] = {
    "text": {"text": lambda v: _text(v, "text"), "mentions": _mentions,
             "channel_mention": lambda v: _bool(v, "channel_mention")},
    "edit": {"target": lambda v: check_msg_id(v, "target"), "text": lambda v: _text(v, "text")},
    "delete": {"targets": lambda v: _ids(v, "targets")},
    "reaction": {"target": lambda v: check_msg_id(v, "target"),
                 "emoji": lambda v: _text(v, "emoji", limit=64, lines=False)},
    "attachment": {**{f: (lambda v: v) for f in PREVIEW_FIELDS}, "name": lambda v: v, "preview": _preview},
    "metadata": {"name": lambda v: _channel_name(v), "topic": lambda v: _text(v, "topic", limit=MAX_SHORT,
                                                                               empty=True)},
    "headline": {"text": lambda v: _text(v, "headline", limit=MAX_SHORT, empty=True)},
    "join": {},
    "leave": {},
    "system": {"text": lambda v: _text(v, "text", limit=MAX_SHORT)},
    "delete_history": {"upto": lambda v: check_msg_id(v, "upto")},
    "delete_mine": {"upto": lambda v: check_msg_id(v, "upto")},       # the sender's own content up to there
    "pin": {"target": lambda v: check_msg_id(v, "target")},
    "unpin": {"target": lambda v: check_msg_id(v, "target")},
}
_KEYS = {kind: frozenset(fields) | {"kind"} for kind, fields in KINDS.items()}     # a body's exact keys, by kind
# What each kind's header must say (header.py checks the header side, judge.py that they agree).
SUPERSEDING = frozenset({"edit", "reaction"})     # header.supersedes = body.target
DELETING = frozenset({"delete"})                  # header.deletes = body.targets


def _channel_name(v: object) -> str:
    if not isinstance(v, str) or not _CHANNEL_RE.fullmatch(v):
        raise _bad("a channel name is 1-40 of a-z, 0-9, '_' and '-', starting with a letter or digit")
    return v


def check_body(body: object) -> dict:
    """The body map if it is exactly one known kind with valid fields; BadChatMessage otherwise."""
    if not isinstance(body, dict):
        raise _bad("a body is a map")
    kind = body.get("kind")
    fields = KINDS.get(kind) if isinstance(kind, str) else None
    if fields is None:
        raise _bad(f"unknown kind {str(kind)[:32]!r}")
    if body.keys() != _KEYS[kind]:
        raise _bad(f"a {kind} body has exactly the fields {sorted(fields)}")
    for name, check in fields.items():
        check(body[name])
    if kind == "attachment":
        _blob_ref(body, preview=False)
    return body


def make_body(kind: str, **fields: Any) -> dict:
    """A checked body of `kind`; text defaults: no mentions, no channel mention."""
    if kind == "text":
        fields.setdefault("mentions", [])
        fields.setdefault("channel_mention", False)
    if kind == "attachment":
        fields.setdefault("preview", None)
        fields.setdefault("meta", {})
    body = check_body({"kind": kind, **fields})
    _compose_rules(body)
    return body


def _compose_rules(body: dict) -> None:
    """What this client no longer writes, though a reader still accepts it from older messages
    (a new device syncing a history must not find honest old messages refused): a channel
    name written like a conversation id (`TEAM#<32 hex>` names a channel by its id), and a
    topic or headline on more than one line (each is shown on one line)."""
    kind = body["kind"]
    if kind == "metadata" and _ID_LIKE.fullmatch(body["name"]):
        raise _bad("a channel name is not 32 hex digits: that is how a conversation id is written")
    one_line = {"metadata": "topic", "headline": "text"}.get(kind)
    if one_line is not None and ("\n" in body[one_line] or "\r" in body[one_line]):
        raise _bad(f"a {kind}'s {one_line} is one line")


def padded_len(n: int) -> int:
    """The padded size of `n` plaintext bytes (with the 4-byte length prefix)."""
    total = n + 4
    step = SMALL_STEP if total <= LARGE_STEP else LARGE_STEP
    return max(SMALL_STEP, -(-total // step) * step)


def pad(data: bytes) -> bytes:
    if len(data) > MAX_BODY:
        raise _bad(f"over {MAX_BODY} bytes")
    size = padded_len(len(data))
    return struct.pack(">I", len(data)) + data + bytes(size - 4 - len(data))


def unpad(padded: bytes) -> bytes:
    """The data inside a padded body; refuses a wrong length, a wrong size class or non-zero padding."""
    if not isinstance(padded, (bytes, bytearray)) or not 4 <= len(padded) <= MAX_PADDED:
        raise _bad("a padded body is 4 bytes to the cap")
    (n,) = struct.unpack(">I", padded[:4])
    if n > MAX_BODY or len(padded) != padded_len(n):
        raise _bad("the padded length is not the size class of the data")
    if padded[4 + n:].lstrip(b"\0"):                    # (in C: any() walks it byte by byte)
        raise _bad("padding is not zeros")
    return bytes(padded[4:4 + n])


def pack_body(body: dict) -> bytes:
    """check, pack (canonical: sorted keys) and pad."""
    return pad(pack(_sorted(check_body(body))))


def unpack_body(padded: bytes) -> dict:
    data = unpad(padded)
    try:
        body = unpack(data, max_size=MAX_BODY, max_depth=None)           # check_body checks the exact shape
    except EncodingError as e:
        raise _bad(str(e)) from None
    return check_body(body)


def _sorted(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _sorted(obj[k]) for k in sorted(obj)}
    if isinstance(obj, (list, tuple)):
        return [_sorted(x) for x in obj]
    return obj
