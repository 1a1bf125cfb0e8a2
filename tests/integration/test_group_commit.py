"""Group commit (kbapp/server/group_commit.py): user chain writes that queued for the write
lock are stored in one epoch, each still judged on its own.

Attacker's side: a hostile write in a group (a stranger's link under a victim's uid, a
signup claiming another signup's key) gets its own typed error and stores nothing,
and the honest writes of the same group are stored all the same."""

from __future__ import annotations

import asyncio
import os
import random

import pytest

from kbapp.bench.chains import _ChainWriter
from kbapp.client.chainops import signup_links
from kbapp.core import errors
from kbapp.core.keys import DeviceKeys, SigningKeyPair
from kbapp.core.puk import PerUserKey
from kbapp.core.sigchain import build_link
from kbapp.core.transparency import ChainTail, map_key
from kbapp.core.uid import device_id, uid_for
from kbapp.server.chains import stored_tail
from kbapp.server.db import make_engine, normalise_url, upgrade
from kbapp.server.group_commit import GroupCommit
from kbapp.server.service import Service, load_or_create_server_key


def _service(data_dir) -> Service:
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(normalise_url(os.environ.get("KBAPP_GC_DB"), data_dir))
    upgrade(engine)
    key = load_or_create_server_key(data_dir)
    return Service(engine, key, f"kbapp.local/{bytes(key.verify_key).hex()[:16]}")


def _signup(name: str, keys: DeviceKeys | None = None) -> tuple[str, dict]:
    keys = keys or DeviceKeys.from_seeds(os.urandom(32), os.urandom(32))
    links = signup_links(uid=uid_for(name), username=name, keys=keys, device_id=device_id(os.urandom(16)),
                         device_name="laptop", puk=PerUserKey.derive(os.urandom(32), 1),
                         ctime=1_800_000_000, merkle_root=None)
    return uid_for(name), {"uid": uid_for(name), "username": name, "links": links}


def _root(service: Service) -> dict:
    return {"size": service.log.size, "hash": service.log.root(service.log.size).hex()}


async def _queued(service: Service, group: GroupCommit, writes: list[tuple[str, dict, bool]]) -> list:
    """Queue every write while the lock is held (as behind a long post), then let go."""
    async with service.lock:
        tasks = []
        for uid, body, signup in writes:
            batch = service.prepare(uid, body, signup=signup)
            tasks.append(asyncio.create_task(group.append(uid, body, signup=signup, batch=batch)))
        await asyncio.sleep(0.05)
    return await asyncio.gather(*tasks, return_exceptions=True)


def _tail_in_map(service: Service, uid: str) -> ChainTail | None:
    value = service.view.map.get(map_key("user", uid))
    return None if value is None else ChainTail.decode(value)


def test_writes_queued_behind_the_lock_make_one_epoch(tmp_path):
    service = _service(tmp_path / "server")
    poster = _ChainWriter(random.Random(3), "poster", lambda: _root(service))
    first = {"uid": poster.uid, "username": poster.username, "links": poster.take(8)}
    service.append_links(poster.uid, first, signup=True, batch=service.prepare(poster.uid, first, signup=True))
    signups = [_signup(f"grp{i}{os.urandom(2).hex()}") for i in range(6)]
    post = {"links": poster.take(16)}
    size = service.log.size
    group = GroupCommit(service)
    got = asyncio.run(_queued(service, group, [(u, b, True) for u, b in signups] + [(poster.uid, post, False)]))
    assert all(isinstance(r, dict) for r in got), got
    assert group.groups == 1 and group.writes == 7
    assert service.log.size == size + 1                      # one leaf, one signed checkpoint
    assert {r["log_size"] for r in got} == {size + 1}
    for uid, _ in signups:
        assert _tail_in_map(service, uid).seqno == 3
    assert _tail_in_map(service, poster.uid).seqno == 24
    with service.engine.connect() as conn:
        assert stored_tail(conn, poster.uid)[0] == 24
    assert service.chains.get(poster.uid).tail_seqno == 24   # the next post starts from it
    nxt = {"links": poster.take(4)}
    assert service.append_links(poster.uid, nxt, signup=False,
                                batch=service.prepare(poster.uid, nxt, signup=False))["seqno"] == 28
    service.engine.dispose()


def test_a_hostile_write_in_a_group_spoils_nothing_else(tmp_path):
    service = _service(tmp_path / "server")
    victim = _ChainWriter(random.Random(4), "victim", lambda: _root(service))
    first = {"uid": victim.uid, "username": victim.username, "links": victim.take(8)}
    service.append_links(victim.uid, first, signup=True, batch=service.prepare(victim.uid, first, signup=True))
    with service.engine.connect() as conn:
        tail = stored_tail(conn, victim.uid)
    mallory = SigningKeyPair.from_seed(os.urandom(32))
    forged = {"links": [build_link(mallory, uid=victim.uid, username=victim.username, eldest_kid=victim.eldest.kid,
                                   seqno=tail[0] + 1, prev=bytes.fromhex(tail[1]), link_type="track",
                                   ctime=1_800_000_000, body_fields={"track": {"basics": {"username": "m"}}},
                                   merkle_root=_root(service))]}
    keys = DeviceKeys.from_seeds(os.urandom(32), os.urandom(32))
    honest = [_signup(f"hon{i}{os.urandom(2).hex()}") for i in range(3)]
    owner_uid, owner_body = _signup("keyowner" + os.urandom(2).hex(), keys)
    thief_uid, thief_body = _signup("keythief" + os.urandom(2).hex(), keys)     # the same device keys
    post = {"links": victim.take(4)}
    writes = [(victim.uid, forged, False), (honest[0][0], honest[0][1], True), (owner_uid, owner_body, True),
              (thief_uid, thief_body, True), (honest[1][0], honest[1][1], True), (victim.uid, post, False),
              (honest[2][0], honest[2][1], True)]
    group = GroupCommit(service)
    prepared = []
    for uid, body, signup in writes:                # the forged link is refused before the lock
        try:
            service.prepare(uid, body, signup=signup)
        except errors.KbappError as e:
            prepared.append(e)
    assert [type(e) for e in prepared] == [errors.InvalidSibkey]
    got = asyncio.run(_queued(service, group, writes[1:]))
    by_uid = dict(zip([w[0] for w in writes[1:]], got))
    assert isinstance(by_uid[thief_uid], errors.Conflict)       # its key is the owner's
    assert _tail_in_map(service, thief_uid) is None
    with service.engine.connect() as conn:
        assert stored_tail(conn, thief_uid) == (0, None)
    for uid in [h[0] for h in honest] + [owner_uid]:
        assert isinstance(by_uid[uid], dict), by_uid[uid]
        assert _tail_in_map(service, uid).seqno == 3
    assert by_uid[victim.uid]["seqno"] == tail[0] + 4
    assert _tail_in_map(service, victim.uid).seqno == tail[0] + 4
    service.engine.dispose()


def test_two_writes_of_one_account_never_share_an_epoch(tmp_path):
    """The second waits for the next group and is judged on the first's result: the same
    seqno twice (a replay, or two devices racing) is refused, not stored twice."""
    service = _service(tmp_path / "server")
    w = _ChainWriter(random.Random(5), "twice", lambda: _root(service))
    first = {"uid": w.uid, "username": w.username, "links": w.take(8)}
    service.append_links(w.uid, first, signup=True, batch=service.prepare(w.uid, first, signup=True))
    post = {"links": w.take(4)}
    group = GroupCommit(service)
    got = asyncio.run(_queued(service, group, [(w.uid, post, False), (w.uid, post, False)]))
    assert isinstance(got[0], dict) and got[0]["seqno"] == 12
    assert isinstance(got[1], errors.KbappError) and got[1].code in ("WRONG_SEQNO", "WRONG_PREV")
    assert group.groups == 2
    service.engine.dispose()


@pytest.mark.postgres
def test_group_commit_on_postgresql(tmp_path, monkeypatch):
    url = os.environ.get("KBAPP_TEST_PG_URL")
    if not url:
        pytest.skip("KBAPP_TEST_PG_URL not set")
    from kbapp.bench.server_load import _fresh_pg_database

    db, drop = _fresh_pg_database(url)
    monkeypatch.setenv("KBAPP_GC_DB", db)
    try:
        test_writes_queued_behind_the_lock_make_one_epoch(tmp_path / "a")
        test_a_group_is_written_one_statement_per_table_with_the_rows_of_each_alone(tmp_path / "b")
    finally:
        drop()


def test_one_account_flooding_the_queue_does_not_push_others_back(tmp_path):
    """A hostile (or just busy) account queues many writes before anyone else's: each epoch
    takes one write per account, so the others' writes go in the very next epoch instead of
    after all of that account's (with the lock alone, in arrival order, they came last)."""
    service = _service(tmp_path / "server")
    hog = _ChainWriter(random.Random(6), "hog", lambda: _root(service))
    first = {"uid": hog.uid, "username": hog.username, "links": hog.take(8)}
    service.append_links(hog.uid, first, signup=True, batch=service.prepare(hog.uid, first, signup=True))
    posts = [{"links": hog.take(4)} for _ in range(5)]
    others = [_signup(f"fair{i}{os.urandom(2).hex()}") for i in range(3)]
    size = service.log.size
    group = GroupCommit(service)

    async def run():
        async with service.lock:
            tasks = [asyncio.create_task(group.append(hog.uid, p, signup=False, batch=None)) for p in posts]
            await asyncio.sleep(0.01)
            tasks += [asyncio.create_task(group.append(u, b, signup=True, batch=service.prepare(u, b, signup=True)))
                      for u, b in others]
            await asyncio.sleep(0.05)
        return await asyncio.gather(*tasks, return_exceptions=True)

    got = asyncio.run(run())
    assert all(isinstance(r, dict) for r in got), got
    assert [r["log_size"] for r in got[5:]] == [size + 1] * 3          # in the first epoch after the lock
    assert [r["log_size"] for r in got[:5]] == [size + 1 + i for i in range(5)]
    assert _tail_in_map(service, hog.uid).seqno == 8 + 20
    service.engine.dispose()


def test_a_write_whose_request_went_away_while_queued_is_not_stored(tmp_path):
    service = _service(tmp_path / "server")
    uid, body = _signup("gone" + os.urandom(2).hex())
    other_uid, other_body = _signup("stays" + os.urandom(2).hex())
    group = GroupCommit(service)

    async def run():
        async with service.lock:
            gone = asyncio.create_task(group.append(uid, body, signup=True, batch=service.prepare(uid, body, signup=True)))
            stays = asyncio.create_task(group.append(other_uid, other_body, signup=True, batch=None))
            await asyncio.sleep(0.01)
            gone.cancel()                       # the client disconnected while its write queued
            await asyncio.sleep(0.01)
        return await stays

    assert asyncio.run(run())["seqno"] == 3
    assert _tail_in_map(service, uid) is None and _tail_in_map(service, other_uid).seqno == 3
    with service.engine.connect() as conn:
        assert stored_tail(conn, uid) == (0, None)
    service.engine.dispose()


def test_a_forced_whole_playback_does_not_hold_up_the_validation_thread(tmp_path):
    """Anyone can make the server play a long chain back whole (a post under its uid when
    its state is not cached, as after a restart): that runs on the shared worker threads,
    so a signup arriving meanwhile is validated at once, not after the playback."""
    from kbapp.server.chains import ChainStates

    service = _service(tmp_path / "server")
    victim = _ChainWriter(random.Random(8), "longchain", lambda: _root(service))
    for i in range(20):
        body = {"uid": victim.uid, "username": victim.username, "links": victim.take(64)}
        service.append_links(victim.uid, body, signup=i == 0, batch=service.prepare(victim.uid, body, signup=i == 0))
    service.chains = ChainStates()                   # a restart: nothing cached
    with service.engine.connect() as conn:
        tail = stored_tail(conn, victim.uid)
    mallory = SigningKeyPair.from_seed(os.urandom(32))
    forged = {"links": [build_link(mallory, uid=victim.uid, username=victim.username, eldest_kid=victim.eldest.kid,
                                   seqno=tail[0] + 1, prev=bytes.fromhex(tail[1]), link_type="track",
                                   ctime=1_800_000_000, body_fields={"track": {"basics": {"username": "m"}}},
                                   merkle_root=_root(service))]}
    uid, body = _signup("quick" + os.urandom(2).hex())
    group = GroupCommit(service)
    done: list[str] = []

    async def run():
        async def attack():
            with pytest.raises(errors.KbappError):
                await group.prepare(victim.uid, forged, signup=False)
            done.append("attack")

        async def signup():
            await asyncio.sleep(0.02)                # after the playback started
            await group.prepare(uid, body, signup=True)
            done.append("signup")
        await asyncio.gather(attack(), signup())

    asyncio.run(run())
    assert done == ["signup", "attack"]
    assert service.chains.links_played >= 1280       # the playback did happen
    service.engine.dispose()


def _statements_of(service: Service, uid: str) -> list[tuple]:
    from sqlalchemy import select

    from kbapp.server import db

    st = db.statements
    with service.engine.connect() as conn:
        rows = conn.execute(select(st.c.seqno, st.c.kind, st.c.service, st.c.name).where(st.c.uid == uid))
        return sorted(tuple(r) for r in rows)


def test_a_group_is_written_one_statement_per_table_with_the_rows_of_each_alone(tmp_path):
    """The rows of a whole group go in one INSERT per table (on PostgreSQL every statement is
    a round trip under the write lock), and they are the rows each write would have stored
    alone: the poster's statements (its follows, changed by this post) match a full rewrite
    from its verified state, the signups' users, links and keys are all there."""
    from sqlalchemy import event, func, select

    from kbapp.core.proofs import chain_statements
    from kbapp.server import db
    from kbapp.server.service import _statement_rows

    service = _service(tmp_path / "server")
    poster = _ChainWriter(random.Random(8), "stmts", lambda: _root(service))
    first = {"uid": poster.uid, "username": poster.username, "links": poster.take(40)}
    service.append_links(poster.uid, first, signup=True, batch=service.prepare(poster.uid, first, signup=True))
    signups = [_signup(f"row{i}{os.urandom(2).hex()}") for i in range(9)]
    post = {"links": poster.take(40)}
    seen: list[str] = []
    event.listen(service.engine, "before_cursor_execute",
                 lambda conn, cur, statement, params, ctx, many: seen.append(" ".join(statement.split()[:3])))
    got = asyncio.run(_queued(service, GroupCommit(service), [(u, b, True) for u, b in signups]
                              + [(poster.uid, post, False)]))
    assert all(isinstance(r, dict) for r in got), got
    for table in ("users", "links", "keys", "map_entries"):
        assert seen.count(f"INSERT INTO {table}") == 1, (table, seen)

    state = service.chains.get(poster.uid)
    assert state.tail_seqno == 80
    expected = sorted((r["seqno"], r["kind"], r["service"], r["name"])
                      for r in _statement_rows(poster.uid, chain_statements(state)))
    assert expected and _statements_of(service, poster.uid) == expected
    with service.engine.connect() as conn:
        for uid, body in signups:
            assert conn.execute(select(func.count()).select_from(db.links).where(db.links.c.uid == uid)).scalar() == 3
            assert conn.execute(select(db.users.c.username).where(db.users.c.uid == uid)).scalar() == body["username"]
            assert conn.execute(select(func.count()).select_from(db.keys).where(db.keys.c.uid == uid)).scalar() >= 2
    service.engine.dispose()

