"""The server's fast paths (docs/benchmarks.md, "Server under load") keep every check.

* A refused post that read the stored tail just before the owner's post committed made
  the server play the owner's whole chain back (the cached state was newer than the tail
  it was asked for): 4 attackers racing one poster cost seconds of CPU at 8,000 links, and
  every other user's request waited for it. Now such a post costs the links it carries.
* Read tokens are verified once per token and cached: a cached token still expires, and
  still stops working when its device is revoked (the live sibkeys are read each time).
"""

from __future__ import annotations

import os
import random

import pytest

from kbapp.bench.chains import _ChainWriter
from kbapp.client.chainops import signup_links
from kbapp.core import errors
from kbapp.core.keys import DeviceKeys, SigningKeyPair
from kbapp.core.puk import PerUserKey
from kbapp.core.sigchain import build_link
from kbapp.core.tokens import MAX_LIFETIME, make_read_token
from kbapp.core.uid import device_id, uid_for
from kbapp.server import service as service_module
from kbapp.server.chains import stored_tail
from kbapp.server.db import make_engine, normalise_url, upgrade
from kbapp.server.service import Service, load_or_create_server_key
from kbapp.server.team_access import ReadAccess


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def _service(data_dir, clock=None) -> Service:
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(normalise_url(None, data_dir))
    upgrade(engine)
    key = load_or_create_server_key(data_dir)
    kw = {"clock": clock} if clock is not None else {}
    return Service(engine, key, f"kbapp.local/{bytes(key.verify_key).hex()[:16]}", **kw)


def _post(service: Service, writer: _ChainWriter, n: int, *, signup: bool = False) -> None:
    writer.merkle_root = lambda: {"size": service.log.size, "hash": service.log.root(service.log.size).hex()}
    body = {"uid": writer.uid, "username": writer.username, "links": writer.take(n)}
    service.append_links(writer.uid, body, signup=signup, batch=service.prepare(writer.uid, body, signup=signup))


def test_a_refused_post_racing_the_owners_post_does_not_replay_the_chain(tmp_path, monkeypatch):
    service = _service(tmp_path / "server")
    owner = _ChainWriter(random.Random(11), "racer", lambda: None)
    _post(service, owner, 64, signup=True)
    for _ in range(4):
        _post(service, owner, 64)
    with service.engine.connect() as conn:
        stale = stored_tail(conn, owner.uid)        # what the attacker's validation read...
    _post(service, owner, 16)                       # ...just before the owner's post committed
    with service.engine.connect() as conn:
        tail_before = stored_tail(conn, owner.uid)
    assert service.chains.get(owner.uid).tail_seqno == tail_before[0] == 336

    mallory = SigningKeyPair.from_seed(os.urandom(32))
    root = {"size": service.log.size, "hash": service.log.root(service.log.size).hex()}
    link = build_link(mallory, uid=owner.uid, username=owner.username, eldest_kid=owner.eldest.kid,
                      seqno=stale[0] + 1, prev=bytes.fromhex(stale[1]), link_type="track", ctime=1_700_000_500,
                      body_fields={"track": {"basics": {"username": "mallory"}}}, merkle_root=root)
    reads = iter([stale])                           # the interleaving: the first tail read is the stale one
    real = service_module.stored_tail
    monkeypatch.setattr(service_module, "stored_tail", lambda conn, uid: next(reads, None) or real(conn, uid))

    played = service.chains.links_played
    with pytest.raises(errors.KbappError):
        service.prepare(owner.uid, {"links": [link]}, signup=False)
    # It cost its own link at most, not the 336 stored ones.
    assert service.chains.links_played - played <= 1
    with service.engine.connect() as conn:
        assert stored_tail(conn, owner.uid) == tail_before
    assert service.chains.get(owner.uid).tail_seqno == 336
    service.engine.dispose()


def _signed_up(service: Service) -> tuple[str, DeviceKeys]:
    name = "tok" + os.urandom(3).hex()
    keys = DeviceKeys.from_seeds(os.urandom(32), os.urandom(32))
    links = signup_links(uid=uid_for(name), username=name, keys=keys, device_id=device_id(os.urandom(16)),
                         device_name="laptop", puk=PerUserKey.derive(os.urandom(32), 1),
                         ctime=int(service.clock()), merkle_root=None)
    body = {"uid": uid_for(name), "username": name, "links": links}
    service.append_links(uid_for(name), body, signup=True, batch=service.prepare(uid_for(name), body, signup=True))
    return uid_for(name), keys


def test_a_cached_read_token_still_expires(tmp_path):
    clock = Clock()
    service = _service(tmp_path / "server", clock)
    uid, keys = _signed_up(service)
    access = ReadAccess(service)
    header, _ = make_read_token(keys.sibkey, uid=uid, origin=service.origin, ctime=int(clock.now),
                                lifetime=60, nonce=os.urandom(16))
    with service.engine.connect() as conn:
        assert access.device(conn, header)[0].uid == uid       # verified, now cached
        clock.now += 30
        assert access.device(conn, header)[0].uid == uid       # from the cache, still live
        clock.now += 31
        with pytest.raises(errors.BadReadToken, match="expired"):
            access.device(conn, header)
        clock.now -= 61 + MAX_LIFETIME                          # a clock set back: issued in the future
        with pytest.raises(errors.BadReadToken, match="future"):
            access.device(conn, header)
    service.engine.dispose()


def test_a_forged_token_is_never_taken_from_the_cache(tmp_path):
    """A token differing from a cached one in its signature (or anything else) is a new
    key of the cache: verified in full, refused."""
    clock = Clock()
    service = _service(tmp_path / "server", clock)
    uid, keys = _signed_up(service)
    access = ReadAccess(service)
    header, _ = make_read_token(keys.sibkey, uid=uid, origin=service.origin, ctime=int(clock.now),
                                lifetime=60, nonce=os.urandom(16))
    other = SigningKeyPair.from_seed(os.urandom(32))
    forged, _ = make_read_token(other, uid=uid, origin=service.origin, ctime=int(clock.now),
                                lifetime=60, nonce=os.urandom(16))
    with service.engine.connect() as conn:
        access.device(conn, header)
        with pytest.raises(errors.BadReadToken):
            access.device(conn, forged)                         # a key that is not one of uid's
        with pytest.raises(errors.BadReadToken):
            access.device(conn, header[:-6] + "AAAAA=")         # the cached token with another signature
    service.engine.dispose()


def _stranger_link(service: Service, owner: _ChainWriter, seqno: int, prev: str, key=None) -> dict:
    key = key or SigningKeyPair.from_seed(os.urandom(32))
    root = {"size": service.log.size, "hash": service.log.root(service.log.size).hex()}
    return build_link(key, uid=owner.uid, username=owner.username, eldest_kid=owner.eldest.kid,
                      seqno=seqno, prev=bytes.fromhex(prev), link_type="track", ctime=1_700_000_500,
                      body_fields={"track": {"basics": {"username": "mallory"}}}, merkle_root=root)


@pytest.mark.parametrize("case", ["stranger_key", "old_seqno"])
def test_a_strangers_post_is_refused_without_copying_the_chain_state(tmp_path, case):
    """Anyone may post under any uid: a post signed by a key that is not the account's, or
    one that does not continue the stored tail, is refused from the stored state itself,
    before playback copies that state (milliseconds at 8,000 links, for every such post)."""
    service = _service(tmp_path / "server")
    owner = _ChainWriter(random.Random(12), "victim", lambda: None)
    _post(service, owner, 64, signup=True)
    _post(service, owner, 64)
    with service.engine.connect() as conn:
        tail = stored_tail(conn, owner.uid)
    if case == "stranger_key":
        link, want = _stranger_link(service, owner, tail[0] + 1, tail[1]), errors.InvalidSibkey
    else:
        link, want = _stranger_link(service, owner, tail[0], tail[1]), errors.WrongSeqno
    played, size = service.chains.links_played, service.log.size
    with pytest.raises(want):
        service.prepare(owner.uid, {"links": [link]}, signup=False)
    assert service.chains.links_played == played          # refused without a playback
    with service.engine.connect() as conn:
        assert stored_tail(conn, owner.uid) == tail
    assert service.log.size == size and service.chains.get(owner.uid).tail_seqno == tail[0]
    _post(service, owner, 16)                              # the owner still posts
    assert service.chains.get(owner.uid).tail_seqno == tail[0] + 16
    service.engine.dispose()
