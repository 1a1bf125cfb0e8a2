"""parse_header's canonical check (keys in sorted order as decoded, then the same bytes when
packed again) refuses every re-encoding of a signed header that pack_header(h) == data refused:
keys out of order at either level, a non-minimal integer, a byte string sent as text."""

from __future__ import annotations

import pytest

from kbapp.core import errors
from kbapp.core.chat.header import build_header, pack_header, parse_header
from kbapp.core.encoding import pack

from test_chat_format import _fields


def _header():
    return build_header(**_fields(reply_to=1, ephemeral={"lifetime": 60, "ek_gen": 2}, compose_time=1))


def test_the_canonical_bytes_parse():
    h = _header()
    assert parse_header(pack_header(h)) == h


def test_nested_keys_out_of_order_are_refused():
    m = _header().to_map()
    m["ephemeral"] = {"lifetime": 60, "ek_gen": 2}                     # sorted would be ek_gen, lifetime
    with pytest.raises(errors.BadChatMessage, match="canonical"):
        parse_header(pack({k: m[k] for k in sorted(m)}))


def test_a_non_minimal_integer_is_refused():
    data = pack_header(_header())
    wide = data.replace(b"\xaccompose_time\x01", b"\xaccompose_time\xcc\x01")   # 1 as uint8
    assert wide != data
    with pytest.raises(errors.BadChatMessage, match="canonical"):
        parse_header(wide)


def test_a_wider_length_prefix_is_refused():
    data = pack_header(_header())
    wide = data.replace(b"\xa4type\xa4text", b"\xa4type\xd9\x04text")         # str8 for a fixstr
    assert wide != data
    with pytest.raises(errors.BadChatMessage, match="canonical"):
        parse_header(wide)
