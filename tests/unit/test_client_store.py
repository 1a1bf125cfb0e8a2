"""The client's trusted store: one verification is one transaction, and the
newest checkpoint we trusted is never replaced by an older one."""

from __future__ import annotations

import pytest

from kbapp.client.store import Store, TrustedCheckpoint, TrustedIdentity
from kbapp.core import errors


def cp(size: int, fill: int = 1) -> TrustedCheckpoint:
    return TrustedCheckpoint(size, bytes([fill]) * 32, f"note of size {size}\n", 1_700_000_000 + size)


def ident(uid: str = "aa" * 16, tail: int = 3, chain=None) -> TrustedIdentity:
    return TrustedIdentity(uid, "alice", tail, "bb" * 32, "0120" + "cc" * 32 + "0a",
                           chain if chain is not None else [{"seqno": i + 1} for i in range(tail)],
                           {"tail_seqno": tail}, 1_700_000_123)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "client.sqlite3")
    yield s
    s.close()


def test_checkpoint_and_identity_round_trip(store, tmp_path):
    assert store.checkpoint() is None and store.identity("aa" * 16) is None
    store.commit_verified(cp=cp(5), identity=ident())
    assert store.checkpoint() == cp(5)
    assert store.identity("aa" * 16) == ident()
    store.close()
    reopened = Store(tmp_path / "client.sqlite3")  # survives a restart of the app
    try:
        assert reopened.checkpoint() == cp(5) and reopened.identity("aa" * 16) == ident()
    finally:
        reopened.close()


def test_newer_checkpoint_replaces_and_same_size_is_allowed(store):
    store.commit_verified(cp=cp(5))
    store.commit_verified(cp=cp(9, 2))
    assert store.checkpoint() == cp(9, 2)
    store.commit_verified(cp=cp(9, 2))
    assert store.checkpoint() == cp(9, 2)
    assert len(store.snapshot()["checkpoint"]) == 1  # one row: the newest


def test_older_checkpoint_is_refused_and_nothing_else_is_written(store):
    store.commit_verified(cp=cp(9), identity=ident(tail=3))
    before = store.snapshot()
    with pytest.raises(errors.CheckpointMoved):
        store.commit_verified(cp=cp(8, 7), identity=ident(tail=5))
    assert store.snapshot() == before
    assert store.checkpoint().size == 9 and store.identity("aa" * 16).tail_seqno == 3


def test_a_failure_mid_commit_changes_nothing(store):
    store.commit_verified(cp=cp(4), identity=ident(tail=3))
    before = store.snapshot()
    # The checkpoint row is updated first; the identity then fails to serialise.
    with pytest.raises(TypeError):
        store.commit_verified(cp=cp(6, 3), identity=ident(tail=4, chain=[object()]))
    assert store.snapshot() == before
    assert store.checkpoint() == cp(4)
    # A first-ever commit that fails leaves no checkpoint at all.
    other = ident(uid="dd" * 16, chain=[{1, 2}])
    with pytest.raises(TypeError):
        store.commit_verified(identity=other)
    assert store.identity("dd" * 16) is None


def test_identity_is_replaced_not_duplicated(store):
    store.commit_verified(identity=ident(tail=3))
    store.commit_verified(identity=ident(tail=7))
    assert store.identity("aa" * 16).tail_seqno == 7
    assert len(store.snapshot()["identities"]) == 1


def test_settings_set_many_is_all_or_nothing(store):
    store.set_many({"server_url": "http://127.0.0.1:1", "server_origin": "o"})
    with pytest.raises(Exception):
        store.set_many({"server_url": "http://evil", "server_key": None})  # NOT NULL fails second
    assert store.get("server_url") == "http://127.0.0.1:1"
    assert store.get("server_key") is None
    store.delete_setting("server_origin")
    assert store.get("server_origin") is None
