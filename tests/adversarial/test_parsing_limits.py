"""(h) Answers built to exhaust or crash the client: 20 MB bodies (with and
without a Content-Length), JSON nested 100 000 deep, deep msgpack in a
signature packet, and malformed base64 / msgpack / types inside a lookup
bundle; including malformed data that the server *signs and proves* (its own
log, its own key), so that only the content parsers are left to catch it.

Each gives its typed error quickly (every call runs under a timeout: no hang),
never an untyped exception, and changes nothing the client trusts.
"""

from __future__ import annotations

import os

import pytest

from kbapp.core import errors
from kbapp.core.encoding import b64encode, canonical_json
from kbapp.core.keys import SigningKeyPair
from kbapp.core.sigchain.build import sign_inner
from kbapp.core.transparency import map_key
from kbapp.core.uid import uid_for

from evil import ForgedLog, deep_json

BIG = 20 << 20


@pytest.fixture
async def target(user, clients):
    """(bob, alice's name): alice was verified once (the control), by someone else: bob
    has not looked yet, so he asks for her whole chain (a client that verified a chain
    asks only for links after its tail: client/chainfetch.py)."""
    _, name, _ = await user("alice")
    await (await clients("control")).identify(name)
    return await clients("bob"), name


def _oversize() -> bytes:
    return b'{"links": ["' + b"x" * BIG + b'"]}'


def _oversize_chunks():
    yield b'{"links": ["'
    chunk = b"x" * (1 << 20)
    for _ in range(BIG // len(chunk)):
        yield chunk
    yield b'"]}'


@pytest.mark.parametrize("path", ["/v1/chain/", "/v1/checkpoint"])
@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
async def test_oversize_answer(target, proxy, detected, path, streamed):
    bob, name = target
    proxy.set("raw", match=f"^{path}", body=_oversize_chunks if streamed else _oversize())
    err = await detected(bob, errors.TooLarge, bob.identify(name))
    assert "over" in str(err)
    assert proxy.tampered
    proxy.clear()
    await bob.identify(name)                                    # control


@pytest.mark.parametrize("path", ["/v1/chain/", "/v1/lookup/", "/v1/checkpoint"])
async def test_deeply_nested_answer(target, proxy, detected, cli, path):
    bob, name = target
    proxy.set("raw", match=f"^{path}", body=deep_json(100_000))
    await detected(bob, errors.TooDeep, bob.identify(name))
    if path == "/v1/chain/":
        rc, _, stderr = await cli(bob.home, "id", name)
        assert rc == 1 and "TOO_DEEP" in stderr                  # malformed, not a proven lie
    proxy.clear()
    await bob.identify(name)


def _deep_msgpack_sig(links):
    # A signature packet of 40 000 nested msgpack arrays (small enough for the
    # base64 size cap, so that the unpacker's depth cap is what stops it).
    links[0] = {**links[0], "sig": b64encode(b"\x91" * 40_000 + b"\xc0")}
    return links


def _deep_inner_json(links):
    # A link signed (by the attacker's own key) over a payload nested 5 000 deep:
    # the signature is valid, the inner JSON must still be refused.
    key = SigningKeyPair.from_seed(os.urandom(32))
    payload = b'{"body":' + deep_json(5_000) + b'}'
    links[0] = sign_inner(key, payload, seqno=1, prev=None, link_type=1, ctime=0)
    return links


CHAIN_CASES = {
    "links-not-a-list": (lambda links: "links", errors.EncodingError),
    "link-not-an-object": (lambda links: [7] + links[1:], errors.EncodingError),
    "sig-not-base64": (lambda links: [{**links[0], "sig": "%%%%"}] + links[1:], errors.EncodingError),
    "sig-not-msgpack": (lambda links: [{**links[0], "sig": b64encode(b"\xc1" * 64)}] + links[1:],
                        errors.EncodingError),
    # (msgpack's own stack limit stops it first: reported as malformed msgpack)
    "sig-deep-msgpack": (_deep_msgpack_sig, errors.TooDeep),
    "payload-json-not-a-string": (lambda links: [{**links[0], "payload_json": 12}] + links[1:],
                                  errors.EncodingError),
    "signed-deep-inner-json": (_deep_inner_json, errors.TooDeep),
}


@pytest.mark.parametrize("case", list(CHAIN_CASES))
async def test_malformed_chain(target, proxy, detected, case):
    bob, name = target
    rewrite, error = CHAIN_CASES[case]
    proxy.set("json", match=f"^/v1/chain/{uid_for(name)}$", fn=lambda body: {**body, "links": rewrite(body["links"])})
    await detected(bob, error, bob.identify(name))
    assert proxy.tampered


BUNDLE_CASES = {
    "leaf-data-not-base64": ({"leaf_data": "not*base64"}, errors.EncodingError),
    "leaf-data-a-number": ({"leaf_data": 12}, errors.EncodingError),
    "inclusion-not-base64": ({"inclusion": ["@@@@"]}, errors.EncodingError),
    "inclusion-short-hash": ({"inclusion": [b64encode(b"abc")]}, errors.EncodingError),
    "inclusion-a-string": ({"inclusion": "AAAA"}, errors.EncodingError),
    "inclusion-too-long": ({"inclusion": [b64encode(bytes(32))] * 65}, errors.EncodingError),
    "map-proof-missing": ({"map_proof": None}, errors.EncodingError),
    "map-proof-sibling-not-base64": ({"map_proof": {"siblings": ["*" * 44], "leaf": None}}, errors.EncodingError),
    "map-proof-deep": ({"map_proof": {"siblings": [[[[[]]]]], "leaf": None}}, errors.EncodingError),
    "value-not-base64": ({"value": "!!"}, errors.EncodingError),
    "leaf-index-a-string": ({"leaf_index": "0"}, errors.InclusionProofError),
    "checkpoint-garbage": ({"checkpoint": "hello\n"}, errors.CheckpointError),
    "checkpoint-missing": ({"checkpoint": None}, errors.CheckpointError),
}


@pytest.mark.parametrize("case", list(BUNDLE_CASES))
async def test_malformed_lookup_bundle(target, proxy, detected, case):
    bob, name = target
    change, error = BUNDLE_CASES[case]
    proxy.set("lookup", uid=uid_for(name), fn=lambda b: {**b, **change})
    await detected(bob, error, bob.identify(name))
    assert proxy.tampered


async def test_lookup_bundle_not_an_object(target, proxy, detected):
    bob, name = target
    proxy.set("raw", match="^/v1/lookup/", body=b'["a", "list"]')
    await detected(bob, errors.EncodingError, bob.identify(name), match="not a JSON object")


SIGNED_GARBAGE = {
    # the newest leaf itself is not msgpack
    "leaf-not-msgpack": (dict(raw_leaf=b"\xc1\xc1\xc1"), errors.EncodingError),
    # the newest leaf nests deeper than a leaf may
    "leaf-deep-msgpack": (dict(raw_leaf=b"\x91" * 100 + b"\xc0"), errors.TooDeep),
    # the map value for alice is not msgpack / is oversize
    "value-not-msgpack": ("value", b"\xc1\xff\x00garbage", errors.EncodingError),
    "value-oversize": ("value", b"\xc4" + bytes([255]) + bytes(255) + b"\x00" * 10, errors.TooLarge),
    "value-wrong-shape": ("value", canonical_json({"seqno": 1}), errors.EncodingError),
}


@pytest.mark.parametrize("case", list(SIGNED_GARBAGE))
async def test_signed_and_proven_garbage(target, world, proxy, detected, case):
    """The server's own log extension: a consistent, signed checkpoint whose
    newest leaf (or alice's map value in it) is garbage. Every proof checks."""
    bob, name = target
    spec = SIGNED_GARBAGE[case]
    log = ForgedLog.of(world.server)
    if spec[0] == "value":
        log.append({map_key("user", uid_for(name)): spec[1]})
    else:
        log.append(**spec[0])
    error = spec[-1]
    proxy.set("forged_log", log=log)
    await detected(bob, error, bob.identify(name))
    assert proxy.tampered
    proxy.clear()
    await bob.identify(name)
