"""Canonical encodings, with hard caps on everything we parse.

Inner sigchain links are compact JSON with sorted keys (Keybase's format), outer
links and signature packets are msgpack. Every parser here refuses oversize or
deeply nested input before doing real work, because all of it may come from the
untrusted server.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import msgpack
import orjson

from .errors import EncodingError, TooDeep, TooLarge

MAX_SIZE = 1 << 20
MAX_DEPTH = 32




def canonical_json(obj: Any) -> bytes:
    """Compact JSON with sorted keys, UTF-8: the exact bytes we sign.

    orjson writes the same bytes as `json.dumps(sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)` for what we sign (strings,
    integers, lists, objects; tests compare them) at a third of the cost,
    which matters: chain playback re-encodes every link to check it.
    """
    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError) as e:
        raise EncodingError(f"cannot encode as canonical JSON: {e}") from None


def check_depth(obj: Any, max_depth: int = MAX_DEPTH) -> None:
    """Raise TooDeep if containers nest deeper than max_depth (iteratively).

    Only containers go on the stack: this runs on every parsed packet, so it
    stays cheap next to the signature checks that follow.
    """
    seqs = (list, tuple)
    stack = [(obj, 1)] if isinstance(obj, (dict, list, tuple)) else []
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise TooDeep(f"nesting deeper than {max_depth}")
        depth += 1
        if isinstance(item, dict):
            for k, v in item.items():
                if isinstance(v, (dict, list, tuple)):
                    stack.append((v, depth))
                if isinstance(k, seqs):
                    stack.append((k, depth))
        elif isinstance(item, seqs):
            for v in item:
                if isinstance(v, (dict, list, tuple)):
                    stack.append((v, depth))


def _check_size(data: bytes | str, max_size: int) -> None:
    if len(data) > max_size:
        raise TooLarge(f"{len(data)} bytes is over the limit of {max_size}")


def loads_json(data: bytes | str, *, max_size: int = MAX_SIZE, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON under size and depth caps.

    orjson stops at 1024 levels by itself, so deep input fails fast there; our
    tighter cap is then checked on the (size-capped) result. It also refuses
    NaN, lone surrogates and integers beyond 64 bits, which json would accept.
    """
    _check_size(data, max_size)
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise EncodingError(f"JSON is not UTF-8: {e}") from None
    else:
        text = data
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        if "depth" in str(e).lower() or "recursion" in str(e).lower():
            raise TooDeep(f"JSON nests deeper than {max_depth}") from None
        raise EncodingError(f"malformed JSON: {e}") from None
    check_depth(obj, max_depth)
    return obj


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def unpack(data: bytes, *, max_size: int = MAX_SIZE, max_depth: int | None = MAX_DEPTH) -> Any:
    """msgpack under caps. `max_depth=None` leaves depth to msgpack's own stack
    limit, for callers that check the exact shape they expect right after."""
    if not isinstance(data, (bytes, bytearray)):
        raise EncodingError("msgpack input must be bytes")
    _check_size(data, max_size)
    try:
        obj = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=False,
            max_bin_len=max_size,
            max_str_len=max_size,
            max_array_len=max_size // 2 + 1,
            max_map_len=max_size // 4 + 1,
            max_ext_len=0,
        )
    except (msgpack.StackError, RecursionError):
        raise TooDeep("msgpack nests deeper than its parser allows") from None
    except (ValueError, TypeError, msgpack.UnpackException) as e:
        raise EncodingError(f"malformed msgpack: {e or type(e).__name__}") from None
    if max_depth is not None:
        check_depth(obj, max_depth)
    return obj


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str | bytes, *, max_size: int = MAX_SIZE) -> bytes:
    """Strict standard base64 (padding required, no stray characters)."""
    if not isinstance(text, (str, bytes)):
        raise EncodingError("base64 input must be a string")
    _check_size(text, max_size * 4 // 3 + 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise EncodingError(f"malformed base64: {e}") from None


def hexdecode(text: str, *, length: int | None = None) -> bytes:
    if not isinstance(text, str):
        raise EncodingError("hex input must be a string")
    try:
        out = bytes.fromhex(text)
    except ValueError:
        raise EncodingError(f"malformed hex: {text[:40]!r}") from None
    if length is not None and len(out) != length:
        raise EncodingError(f"expected {length} bytes of hex, got {len(out)}")
    return out
