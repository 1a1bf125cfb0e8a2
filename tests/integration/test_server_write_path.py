"""The write path's shortcuts (docs/benchmarks.md, "Server under load") store what the
whole recomputation would: a post writes only the statements (proofs, follows) that
changed, its links' JSON is encoded before the write lock, and its keys are checked in
one query. After every post of a long realistic history (proofs, follows, device
revocations, PUK rotations) the stored rows equal those of a fresh playback."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from kbapp.bench.chains import _ChainWriter
from kbapp.core import errors
from kbapp.core.proofs import chain_statements
from kbapp.core.sigchain import verify_chain
from kbapp.server import db
from kbapp.server.db import make_engine, normalise_url, upgrade
from kbapp.core.keys import kid_hex
from kbapp.server.service import Service, _kids, _statement_rows, load_or_create_server_key


def _service(data_dir) -> Service:
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(normalise_url(None, data_dir))
    upgrade(engine)
    key = load_or_create_server_key(data_dir)
    return Service(engine, key, f"kbapp.local/{bytes(key.verify_key).hex()[:16]}")


def _stored(service: Service, uid: str) -> tuple[list, list, set]:
    with service.engine.connect() as conn:
        rows = conn.execute(select(db.statements).where(db.statements.c.uid == uid)
                            .order_by(db.statements.c.seqno)).all()
        wires = Service.chain_wires(conn, uid)
        kids = set(conn.execute(select(db.keys.c.kid).where(db.keys.c.uid == uid)).scalars())
    return [dict(r._mapping) for r in rows], wires, kids


def test_statements_links_and_keys_match_a_full_recomputation(tmp_path):
    service = _service(tmp_path / "server")
    writer = _ChainWriter(random.Random(21), "history",
                          lambda: {"size": service.log.size, "hash": service.log.root(service.log.size).hex()})
    sizes = [3, 16, 40, 7, 64, 1, 33, 64, 16, 50]
    for i, n in enumerate(sizes):
        body = {"uid": writer.uid, "username": writer.username, "links": writer.take(n)}
        service.append_links(writer.uid, body, signup=(i == 0),
                             batch=service.prepare(writer.uid, body, signup=(i == 0)))
        rows, wires, kids = _stored(service, writer.uid)
        state = verify_chain(wires, uid=writer.uid, username=writer.username)
        want = sorted(_statement_rows(writer.uid, chain_statements(state)), key=lambda r: r["seqno"])
        assert rows == want, f"after post {i}"
        assert state.tail_seqno == sum(sizes[:i + 1])
        assert {kid_hex(k) for k in _kids(state)} <= kids      # every key the chain holds is registered
    counts = writer.counts
    assert counts.get("track", 0) and counts.get("web_service_binding", 0), counts   # the history has both
    assert rows, "a history with proofs and follows stores statements"
    service.engine.dispose()


def test_a_key_of_another_user_is_still_refused(tmp_path):
    """The one-query key check keeps the rule: a key already registered to another user is a 409."""
    service = _service(tmp_path / "server")
    first = _ChainWriter(random.Random(3), "first", lambda: None)
    body = {"uid": first.uid, "username": first.username, "links": first.take(3)}
    service.append_links(first.uid, body, signup=True, batch=service.prepare(first.uid, body, signup=True))
    # the same key material under another name: its links name the same keys
    twin = _ChainWriter(random.Random(3), "second", lambda: None)
    body = {"uid": twin.uid, "username": twin.username, "links": twin.take(3)}
    with pytest.raises(errors.Conflict, match="another user"):
        service.append_links(twin.uid, body, signup=True)
    with service.engine.connect() as conn:
        assert conn.execute(select(db.users).where(db.users.c.uid == twin.uid)).first() is None
    service.engine.dispose()


def test_statement_change_when_a_proof_is_revoked_or_a_follow_dropped():
    """The general path (a revocation or a reset rebuilds the lists): only what differs."""
    from kbapp.core.proofs import FollowClaim, ProofClaim
    from kbapp.server.service import _statement_change

    def proof(seqno, name):
        return ProofClaim("github", name, "web_service_binding", "ab" * 32, seqno, None)

    def follow(seqno, uid):
        return FollowClaim(uid, "x", seqno, None, {})

    a, b, c, d = proof(3, "a"), proof(5, "b"), proof(9, "c"), proof(12, "d")
    f1, f2, f2_newer = follow(4, "1" * 32), follow(6, "2" * 32), follow(11, "2" * 32)
    old = ([a, b, c], {f1.uid: f1, f2.uid: f2})
    # b revoked (a new list without it), d added; f1 untracked, f2 tracked again later
    gone, added = _statement_change("u" * 32, old, ([a, c, d], {f2.uid: f2_newer}))
    assert gone == [4, 5, 6]
    assert sorted((r["seqno"], r["kind"], r["name"]) for r in added) == [(11, "follow", "2" * 32), (12, "proof", "d")]
    # the usual case: the old list extended, the follows kept
    gone, added = _statement_change("u" * 32, old, ([a, b, c, d], dict(old[1])))
    assert gone == [] and [r["seqno"] for r in added] == [12]
