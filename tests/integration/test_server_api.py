"""The server's HTTP API, against a real `kbapp server` process on 127.0.0.1.

Limits (413, 429), typed errors (400 with a code, 404, 409), and the
transparency endpoints: every proof the server serves must verify with
kbapp.core.merkle against checkpoints signed by the key /v1/server names.
"""

from __future__ import annotations

import json
import os
import time

import httpx
import pytest

from kbapp.client import chainops
from kbapp.core import errors
from kbapp.core.encoding import b64decode, b64encode
from kbapp.core.keys import DeviceKeys, EncryptionKeyPair, kid_hex
from kbapp.core.merkle.log import leaf_hash, verify_consistency, verify_inclusion
from kbapp.core.merkle.note import key_fingerprint, parse_verifier_key, verify_checkpoint
from kbapp.core.puk import PerUserKey, box_seed
from kbapp.core.transparency import LogLeaf, map_key, verify_lookup
from kbapp.core.uid import device_id as make_device_id, uid_for

from e2e_support import LaunchedServer

pytestmark = pytest.mark.timeout(120)

USERS = ("alice", "bob", "carol", "dave")


def signup_body(username: str, *, uid: str | None = None, box_kid: str | None = None,
                box_generation: int = 1) -> dict:
    """A well-formed signup (eldest + subkey + PUK 1, one PUK box), made without App."""
    keys = DeviceKeys.from_seeds(os.urandom(32), os.urandom(32))
    seed = os.urandom(32)
    links = chainops.signup_links(uid=uid_for(username), username=username, keys=keys,
                                  device_id=make_device_id(os.urandom(16)), device_name="dev",
                                  puk=PerUserKey.derive(seed, 1), ctime=int(time.time()), merkle_root=None)
    box = box_seed(seed, 1, keys.subkey.public, ephemeral_secret=os.urandom(32), nonce=os.urandom(24))
    return {"uid": uid or uid_for(username), "username": username, "links": links,
            "puk_boxes": [{"generation": box_generation, "device_kid": box_kid or kid_hex(keys.subkey.kid),
                           "box": b64encode(box)}]}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """One server for this module, with a few users signed up."""
    server = LaunchedServer(tmp_path_factory.mktemp("api") / "server")
    try:
        for name in USERS:
            r = httpx.post(server.url + "/v1/signup", json=signup_body(name), timeout=10)
            assert r.status_code == 200, r.text
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def client(srv):
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def info(client):
    return client.get("/v1/server").json()


def error_of(resp: httpx.Response, status: int) -> str:
    assert resp.status_code == status, (resp.status_code, resp.text)
    err = resp.json()["error"]
    assert isinstance(err["message"], str) and err["message"]
    return err["code"]


def signed_checkpoint(client, info, size: int | None = None):
    params = {"size": size} if size is not None else None
    note = client.get("/v1/checkpoint", params=params).json()["note"]
    return verify_checkpoint(note, info["key_name"], b64decode(info["public_key"]), origin=info["origin"])


def log_size(client, info) -> int:
    return signed_checkpoint(client, info).size


# -- server key and checkpoints -----------------------------------------------------------


def test_checkpoint_is_signed_by_the_advertised_key(client, info):
    pub = b64decode(info["public_key"])
    assert len(pub) == 32
    vkey = parse_verifier_key(info["vkey"])
    assert vkey.name == info["key_name"] and vkey.public_key == pub
    assert info["fingerprint"] == key_fingerprint(pub)
    cp = signed_checkpoint(client, info)
    assert cp.size == 1 + len(USERS)  # genesis + one epoch per signup
    assert cp.origin == info["origin"]
    # Each older size keeps its own signed checkpoint.
    for size in range(1, cp.size + 1):
        assert signed_checkpoint(client, info, size).size == size
    # Tampering with the note (or checking it against another key) fails.
    note = client.get("/v1/checkpoint").json()["note"]
    lines = note.split("\n")
    lines[1] = str(int(lines[1]) + 1)
    with pytest.raises(errors.CheckpointError):
        verify_checkpoint("\n".join(lines), info["key_name"], pub, origin=info["origin"])
    with pytest.raises(errors.CheckpointError):
        verify_checkpoint(note, info["key_name"], os.urandom(32), origin=info["origin"])
    assert error_of(client.get("/v1/checkpoint", params={"size": 10_000}), 404) == "NOT_FOUND"
    assert error_of(client.get("/v1/checkpoint", params={"size": "-1"}), 400) == "BAD_ENCODING"


# -- limits ----------------------------------------------------------------------------------


def test_body_over_one_mib_is_413(client, info):
    size = log_size(client, info)
    big = b'{"uid": "' + b"a" * (1 << 20) + b'"}'
    resp = client.post("/v1/signup", content=big, headers={"content-type": "application/json"})
    assert error_of(resp, 413) == "TOO_LARGE"
    # Without a Content-Length (chunked), the cap applies while the body streams in.
    resp = client.post("/v1/signup", content=iter([big[i:i + 65536] for i in range(0, len(big), 65536)]))
    assert error_of(resp, 413) == "TOO_LARGE"
    # Exactly 1 MiB is read (and refused for what it says, not for its size).
    body = b'{"uid": 5}'
    body += b" " * ((1 << 20) - len(body))
    assert error_of(client.post("/v1/signup", content=body), 400) == "BAD_ENCODING"
    assert log_size(client, info) == size
    assert client.get("/v1/server").status_code == 200


def test_rate_limit_is_429(server_factory):
    srv = server_factory(name="rate-limited", extra=["--rate", "1"])  # bursts of 400, then 1/s
    statuses = []
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        for _ in range(420):
            resp = c.get("/v1/server")
            statuses.append(resp.status_code)
            if resp.status_code == 429:
                assert resp.json()["error"]["code"] == "RATE_LIMITED"
                break
    assert statuses[-1] == 429, "no 429 after 420 requests at --rate 1"
    assert set(statuses[:-1]) == {200} and len(statuses) >= 390  # the burst went through first


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize("content, code", [
    (b"{", "BAD_ENCODING"),                                   # not JSON
    (b"[1, 2]", "BAD_ENCODING"),                              # not an object
    (b'"text"', "BAD_ENCODING"),
    (b'{"uid": 5}', "BAD_ENCODING"),                          # wrong type
    (json.dumps({"uid": uid_for("zed"), "username": "zed", "links": "nope"}).encode(), "BAD_ENCODING"),
    (json.dumps({"uid": uid_for("zed"), "username": "zed", "links": []}).encode(), "BAD_ENCODING"),
    (json.dumps({"uid": uid_for("zed"), "username": "zed", "links": [1, 2]}).encode(), "BAD_ENCODING"),
    (json.dumps({"uid": uid_for("zed"), "username": "zed", "links": [{}] * 65}).encode(), "BAD_ENCODING"),
    (b'{"a": ' * 40 + b"1" + b"}" * 40, "TOO_DEEP"),
    (b"\xff\xfe{}", "BAD_ENCODING"),                          # not UTF-8
])
def test_malformed_signup_is_400(client, info, content, code):
    size = log_size(client, info)
    resp = client.post("/v1/signup", content=content, headers={"content-type": "application/json"})
    assert error_of(resp, 400) == code
    assert log_size(client, info) == size


def test_chain_that_does_not_verify_is_400(client, info):
    size = log_size(client, info)

    def post(body):
        return client.post("/v1/signup", json=body)

    body = signup_body("mallory")
    links = body["links"]
    assert error_of(post({**body, "links": [links[1], links[0], links[2]]}), 400) == "WRONG_SEQNO"
    assert error_of(post({**body, "links": [links[0], links[2]]}), 400) == "WRONG_SEQNO"
    # A link whose payload was changed after signing, or that carries another link's signature.
    forged = dict(links[0], payload_json=links[0]["payload_json"].replace('"dev"', '"evil"', 1))
    assert forged != links[0]
    assert error_of(post({**body, "links": [forged, links[1], links[2]]}), 400) == "VERIFY_FAILED"
    swapped = dict(links[1], sig=links[2]["sig"])
    assert error_of(post({**body, "links": [links[0], swapped, links[2]]}), 400) == "VERIFY_FAILED"
    # Links signed for another user.
    other = signup_body("trudy")
    assert error_of(post({**body, "links": other["links"]}), 400) == "WRONG_UID"
    # Links appended to an existing chain that do not follow its tail.
    resp = client.post(f"/v1/chain/{uid_for('alice')}/links", json={"links": other["links"][1:]})
    assert error_of(resp, 400) == "WRONG_SEQNO"
    assert log_size(client, info) == size
    assert error_of(client.get("/v1/users/mallory"), 404) == "NOT_FOUND"


def test_signup_uid_must_match_username(client, info):
    size = log_size(client, info)
    resp = client.post("/v1/signup", json=signup_body("oscar", uid=uid_for("olivia")))
    assert error_of(resp, 400) == "WRONG_UID"
    resp = client.post("/v1/signup", json={**signup_body("oscar"), "username": "Not A Name!"})
    assert error_of(resp, 400) == "BAD_USERNAME"
    assert log_size(client, info) == size


def test_puk_box_for_unknown_device_key_is_400(client, info):
    size = log_size(client, info)
    stranger = kid_hex(EncryptionKeyPair.from_seed(os.urandom(32)).kid)
    resp = client.post("/v1/signup", json=signup_body("peggy", box_kid=stranger))
    assert error_of(resp, 400) == "BAD_PER_USER_KEY"
    resp = client.post("/v1/signup", json=signup_body("peggy", box_generation=2))
    assert error_of(resp, 400) == "BAD_PER_USER_KEY"
    assert error_of(client.get("/v1/users/peggy"), 404) == "NOT_FOUND"  # nothing was stored
    assert log_size(client, info) == size
    # The same signup with a proper box goes through.
    assert client.post("/v1/signup", json=signup_body("peggy")).status_code == 200
    assert log_size(client, info) == size + 1


def test_username_taken_is_409(client, info):
    size = log_size(client, info)
    assert error_of(client.post("/v1/signup", json=signup_body("alice")), 409) == "CONFLICT"
    assert log_size(client, info) == size


def test_unknown_user_is_404(client, info):
    nobody = uid_for("nobody")
    assert error_of(client.get("/v1/users/nobody"), 404) == "NOT_FOUND"
    assert error_of(client.get(f"/v1/chain/{nobody}"), 404) == "NOT_FOUND"
    assert error_of(client.post(f"/v1/chain/{nobody}/links", json=signup_body("nobody")), 404) == "NOT_FOUND"
    kid = kid_hex(EncryptionKeyPair.from_seed(os.urandom(32)).kid)
    assert error_of(client.get(f"/v1/keys/{kid}"), 404) == "NOT_FOUND"
    assert error_of(client.get("/v1/lookup/folder/x"), 404) == "NOT_FOUND"
    assert error_of(client.get("/v1/users/Bad Name"), 400) == "BAD_USERNAME"
    # The lookup of an unknown user is a verifiable proof of absence, not a 404.
    bundle = client.get(f"/v1/lookup/user/{nobody}").json()
    tail, _ = verify_lookup(bundle, signed_checkpoint(client, info), map_key("user", nobody))
    assert tail is None
    # ... and a known one proves its chain tail.
    alice = uid_for("alice")
    tail, _ = verify_lookup(client.get(f"/v1/lookup/user/{alice}").json(), signed_checkpoint(client, info),
                            map_key("user", alice))
    assert tail is not None and tail.seqno == len(client.get(f"/v1/chain/{alice}").json()["links"]) == 3
    assert client.get("/v1/users/alice").json() == {"uid": alice, "username": "alice"}


# -- the log -----------------------------------------------------------------------------------


def test_log_leaves_paging(client, info):
    size = log_size(client, info)
    assert size >= 5
    full = client.get("/v1/log/leaves", params={"start": 0, "end": size}).json()
    assert full["start"] == 0 and len(full["leaves"]) == size
    paged = []
    for start in range(0, size, 2):
        page = client.get("/v1/log/leaves", params={"start": start, "end": start + 2}).json()
        assert page["start"] == start
        paged += page["leaves"]
    assert paged == full["leaves"]
    # An end past the log is clipped to it; nothing at or past the end is served.
    assert client.get("/v1/log/leaves", params={"start": 1, "end": size + 50}).json()["leaves"] == full["leaves"][1:]
    assert error_of(client.get("/v1/log/leaves", params={"start": size, "end": size + 5}), 404) == "NOT_FOUND"
    assert error_of(client.get("/v1/log/leaves", params={"start": 3, "end": 3}), 404) == "NOT_FOUND"
    assert error_of(client.get("/v1/log/leaves", params={"start": 0}), 400) == "BAD_ENCODING"
    assert error_of(client.get("/v1/log/leaves", params={"start": "x", "end": 3}), 400) == "BAD_ENCODING"
    for i, item in enumerate(full["leaves"]):
        assert LogLeaf.decode(b64decode(item)).epoch == i


def test_inclusion_and_consistency_proofs_verify(client, info):
    size = log_size(client, info)
    leaves = [b64decode(x) for x in client.get("/v1/log/leaves", params={"start": 0, "end": size}).json()["leaves"]]
    roots = {n: signed_checkpoint(client, info, n).root for n in range(1, size + 1)}
    for n in range(1, size + 1):
        for i in range(n):
            body = client.get("/v1/log/inclusion", params={"index": i, "size": n}).json()
            assert (body["index"], body["size"]) == (i, n)
            verify_inclusion(leaf_hash(leaves[i]), i, n, [b64decode(h) for h in body["proof"]], roots[n])
        for m in range(1, n + 1):
            body = client.get("/v1/log/consistency", params={"first": m, "second": n}).json()
            verify_consistency(m, n, [b64decode(h) for h in body["proof"]], roots[m], roots[n])
    # A proof checked against the wrong root fails (so the checks above mean something).
    body = client.get("/v1/log/inclusion", params={"index": 0, "size": size}).json()
    with pytest.raises(errors.InclusionProofError):
        verify_inclusion(leaf_hash(leaves[1]), 0, size, [b64decode(h) for h in body["proof"]], roots[size])
    body = client.get("/v1/log/consistency", params={"first": 2, "second": size}).json()
    with pytest.raises(errors.ConsistencyProofError):
        verify_consistency(2, size, [b64decode(h) for h in body["proof"]], roots[3], roots[size])
    # Out-of-range or malformed requests.
    for params in ({"first": 0, "second": size}, {"first": 3, "second": 2}, {"first": 1, "second": size + 1}):
        assert error_of(client.get("/v1/log/consistency", params=params), 404) == "NOT_FOUND"
    for params in ({"index": size, "size": size}, {"index": 0, "size": size + 1}):
        assert error_of(client.get("/v1/log/inclusion", params=params), 404) == "NOT_FOUND"
    assert error_of(client.get("/v1/log/consistency", params={"first": 1}), 400) == "BAD_ENCODING"
    assert error_of(client.get("/v1/log/inclusion", params={"index": "1e3", "size": 2}), 400) == "BAD_ENCODING"
