"""The pure part of proofs: text format, claims in HTML, assertions, follow diffs,
the generic service's JSON paths and the URL rules of the fetcher."""

from __future__ import annotations

import pytest

from kbapp.client.proofs.base import PermanentFailure, ProofConfig, check_url, services
from kbapp.client.proofs.generic import walk_json_path
from kbapp.core.errors import EncodingError
from kbapp.core.proofs import (AssertionPart, Snapshot, check_proof_text, find_proof_claims, follow_diff,
                               parse_assertion, parse_proof_body, proof_body, proof_text)

SIG = "0f" * 32 + "0f"


def test_proof_text_roundtrip_and_html():
    text = proof_text("alice", SIG)
    assert text == f"kbapp proof: I am alice on kbapp, sig {SIG[:32]}"
    assert find_proof_claims(text) == [("alice", SIG[:32])]
    html = "<p>kbapp proof: I am alice on kbapp,<br> sig " + SIG[:32] + "</p>"
    assert find_proof_claims(html) == [("alice", SIG[:32])]
    assert check_proof_text([html], "alice", SIG).state == "ok"
    assert check_proof_text(["nothing"], "alice", SIG).state == "broken"
    assert check_proof_text([proof_text("bob", SIG)], "alice", SIG).state == "changed"
    assert check_proof_text([proof_text("alice", "aa" * 33)], "alice", SIG).state == "changed"


def test_proof_body():
    body = proof_body("github", "alice", "gist")
    assert parse_proof_body(body) == ("github", "alice", "gist")
    with pytest.raises(EncodingError):
        parse_proof_body({"service": {"name": "github"}})


def test_assertions():
    assert parse_assertion("alice") == [AssertionPart("kbapp", "alice")]
    assert parse_assertion("alice@github") == [AssertionPart("github", "alice")]
    assert parse_assertion("alice.dev@dns") == [AssertionPart("dns", "alice.dev")]
    assert parse_assertion("alice@mastodon.social") == [AssertionPart("mastodon", "alice@mastodon.social")]
    assert parse_assertion("Alice.Dev@https") == [AssertionPart("website", "alice.dev")]
    assert parse_assertion("alice@github+alice.dev@https") == [AssertionPart("github", "alice"),
                                                               AssertionPart("website", "alice.dev")]
    assert parse_assertion("a@fb", generic_services={"fb"}) == [AssertionPart("fb", "a")]
    for bad in ("", "a@b@c", "@github", "alice@nosuch", "al ice@github", "alice@mastodon"):
        with pytest.raises(EncodingError):
            parse_assertion(bad)


def test_follow_diff():
    old = Snapshot("k1", {"s1", "s2"}, {"e1"}, {"d1": {"name": "a", "revoked": False},
                                                "d2": {"name": "b", "revoked": False}},
                   {("github", "alice"): {"sig_id": "x", "state": "ok"},
                    ("website", "a.dev"): {"sig_id": "y", "state": "ok"}})
    new = Snapshot("k1", {"s1", "s3"}, {"e1"}, {"d1": {"name": "a", "revoked": False},
                                                "d2": {"name": "b", "revoked": True},
                                                "d3": {"name": "c", "revoked": False}},
                   {("github", "alice"): {"sig_id": "x", "state": "broken"},
                    ("dns", "a.dev"): {"sig_id": "z", "state": "ok"}})
    kinds = {(c.kind, c.subject) for c in follow_diff(old, new)}
    assert kinds == {("proof_broken", "alice@github"), ("proof_removed", "a.dev@website"),
                     ("proof_added", "a.dev@dns"), ("device_revoked", "d2"), ("device_added", "d3"),
                     ("key_added", "s3"), ("key_removed", "s2")}
    assert follow_diff(old, old) == []
    reset = Snapshot("k2")
    assert [c.kind for c in follow_diff(old, reset)] == ["account_reset"]
    temp = Snapshot("k1", old.sibkeys, old.subkeys, old.devices,
                    {**old.proofs, ("github", "alice"): {"sig_id": "x", "state": "temporary"}})
    assert follow_diff(old, temp) == []   # a temporary failure is not a change


def test_json_path_and_urls():
    doc = {"a": {"b": [{"c": "x"}, {"c": "y"}]}}
    assert walk_json_path(doc, "a.b.*.c") == ["x", "y"]
    assert walk_json_path(doc, "a.b.1.c") == ["y"]
    assert walk_json_path(doc, "a.nope") == []
    check_url("https://example.com/x")
    check_url("http://127.0.0.1:8080/x", ["127.0.0.1:8080"])   # opted in (tests)
    with pytest.raises(PermanentFailure):
        check_url("http://127.0.0.1:8080/x")                    # not by default
    with pytest.raises(PermanentFailure):
        check_url("http://example.com/x")
    with pytest.raises(PermanentFailure):
        check_url("file:///etc/passwd")
    with pytest.raises(PermanentFailure):
        check_url('https://<b style="color:green">x</b>/')    # a malformed port, not a crash


def test_registry_and_normalize():
    svcs = services(ProofConfig(generic={"fb": {"url": "https://fb.example/{username}", "regex": "bio:(.*)"}}))
    assert set(svcs) == {"website", "dns", "github", "mastodon", "fb"}
    assert svcs["github"].normalize("Alice") == "alice"
    assert svcs["mastodon"].normalize("@Alice@Mastodon.Social") == "alice@mastodon.social"
    assert svcs["website"].normalize("Alice.Dev.") == "alice.dev"
    for svc, bad in (("github", "-x"), ("website", "not a host"), ("mastodon", "alice"), ("dns", "x")):
        with pytest.raises(EncodingError):
            svcs[svc].normalize(bad)
