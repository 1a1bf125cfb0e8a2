"""Canonical JSON must be byte-identical to the stdlib's sorted compact form,
since links built with one are checked with the other by older clients."""

import json
import random

import pytest

from kbapp.core import errors
from kbapp.core.encoding import b64decode, canonical_json, loads_json, pack, unpack


def stdlib(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def random_value(rng, depth=0):
    kind = rng.randrange(7 if depth < 4 else 4)
    if kind == 0:
        return rng.randrange(-2**63, 2**63)
    if kind == 1:
        return "".join(chr(rng.choice([rng.randrange(0x20, 0x7f), rng.randrange(0, 0x20), 0x7f, 0xe9,
                                        0x2028, 0x1f600, ord('"'), ord("\\")])) for _ in range(rng.randrange(8)))
    if kind == 2:
        return rng.choice([None, True, False])
    if kind == 3:
        return ""
    if kind in (4, 5):
        return {random_value(rng, 9) if False else f"k{rng.randrange(50)}": random_value(rng, depth + 1)
                for _ in range(rng.randrange(5))}
    return [random_value(rng, depth + 1) for _ in range(rng.randrange(5))]


def test_canonical_json_matches_the_stdlib():
    rng = random.Random(7)
    for _ in range(3000):
        obj = random_value(rng)
        assert canonical_json(obj) == stdlib(obj)
        assert loads_json(canonical_json(obj)) == obj


@pytest.mark.parametrize("text", ['{"a":NaN}', '{"a":"\\ud800"}', '{"a":1', "[" * 10 + "]" * 9,
                                  b"\xff\xfe"])
def test_bad_json_is_a_typed_error(text):
    with pytest.raises(errors.EncodingError):
        loads_json(text)


def test_depth_and_size_caps():
    with pytest.raises(errors.TooDeep):
        loads_json("[" * 33 + "]" * 33)
    with pytest.raises(errors.TooDeep):
        loads_json("[" * 100_000 + "]" * 100_000, max_size=1 << 20)
    with pytest.raises(errors.TooLarge):
        loads_json("[" + "1," * 600_000 + "1]")
    with pytest.raises(errors.TooDeep):
        unpack(pack([[[[[1]]]]]), max_depth=3)
    with pytest.raises(errors.TooDeep):
        unpack(b"\x91" * 5000 + b"\x01", max_depth=None)  # msgpack's own stack limit
    with pytest.raises(errors.EncodingError):
        b64decode("not base64!")
