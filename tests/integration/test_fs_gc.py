"""Collecting a folder's old blocks (core/fs/gc.py, server/folder_gc.py, client/fs/gc.py):
real server processes, real writers, signed collection requests.

The delay is the server's (`--folder-gc-delay`, 14 days by default): the process runs with a
few seconds so the test waits on the real clock; `FolderStore` with a fake clock checks the
default. Blocks go only after the delay, only those the writer lists that no later revision
brought, and the head still reads; the old revisions' blocks are gone ("collected").
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time

import pytest
from sqlalchemy import create_engine, func, insert, select

from kbapp.client.fs.gc import collect, collected, unreferenced
from kbapp.core import errors
from kbapp.core.fs.gc import DEFAULT_DELAY, make_gc, open_gc
from kbapp.core.fs.names import split_path
from kbapp.core.keys import SigningKeyPair
from kbapp.server import db as server_db
from kbapp.server.folder_gc import collect as server_collect
from kbapp.server.folder_tables import folder_blocks, folder_revisions, folders
from kbapp.server.folders import FolderStore

from e2e_support import signup_all

pytestmark = pytest.mark.timeout(300)
FOLDER = "/private/alice,bob"
DELAY = 4


def held(server, folder_id: str) -> set[str]:
    engine = server_db.make_engine(server_db.normalise_url(server.db, server.data_dir))
    try:
        with engine.connect() as conn:
            return set(conn.execute(select(folder_blocks.c.block_id).where(
                folder_blocks.c.folder_id == folder_id)).scalars())
    finally:
        engine.dispose()


def on_disk(server) -> set[str]:
    return {p.name for p in (server.data_dir / "blobs").rglob("*") if p.is_file() and len(p.name) == 64}


async def gc_post(app, folder_id: str, env: bytes) -> dict:
    api = app.ctx.api
    return api._fs_json(*await api._fs("POST", f"/v1/folders/{folder_id}/gc", content=env))


async def test_blocks_go_only_after_the_delay_and_the_head_still_reads(db_url, server_factory, tmp_path, apps):
    server = server_factory(db=db_url, extra=["--folder-gc-delay", str(DELAY)])
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = users["alice"], users["bob"]
    first = os.urandom(600_000)                               # two data blocks and an indirect one
    await alice.files.write(f"{FOLDER}/big.bin", first)                         # revision 1
    await alice.files.write(f"{FOLDER}/big.bin", b"small now")                  # revision 2
    await alice.files.write(f"{FOLDER}/keep.txt", b"kept")                      # revision 3
    t0 = time.monotonic()
    fid = (await alice.files._folder(split_path(FOLDER)[0])).folder_id
    before, disk_before = held(server, fid), on_disk(server)
    _f, head, ids = await unreferenced(alice.files, FOLDER, 1)
    assert head == 3 and len(ids) >= 4 and set(ids) <= before   # big.bin's 3 blocks and revision 1's root

    with pytest.raises(errors.FolderGcTooEarly):
        await collect(alice.files, FOLDER, 1)
    assert held(server, fid) == before and on_disk(server) == disk_before      # nothing went

    await asyncio.sleep(max(0.0, DELAY + 1.2 - (time.monotonic() - t0)))
    out = await collect(alice.files, FOLDER, 1)
    assert out["deleted"] == len(ids) and out["kept"] == [] and out["bytes"] > 600_000
    assert held(server, fid) == before - set(ids)
    assert not set(ids) & on_disk(server)                                       # the bytes left the store
    # the head reads, for the writer and for a reader who never saw revision 1
    assert await bob.files.read(f"{FOLDER}/big.bin") == b"small now"
    assert await bob.files.read(f"{FOLDER}/keep.txt") == b"kept"
    # revision 1's file is collected: not served any more
    with pytest.raises(errors.NotFound):
        await bob.files.read(f"{FOLDER}/big.bin", rev=1)
    # history keeps every revision (their ops stay); the collected one is told apart
    assert [h["revision"] for h in await bob.files.history(f"{FOLDER}/big.bin")] == [1, 2]
    assert await collected(bob.files, FOLDER) == {1}


async def test_a_block_put_again_after_upto_is_kept(server_factory, tmp_path, apps):
    """A writer (or a stale list) names a block a later revision put again: the server keeps it."""
    server = server_factory(extra=["--folder-gc-delay", "0"])
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice = users["alice"]
    await alice.files.write(f"{FOLDER}/a.txt", b"one")                          # revision 1
    await alice.files.write(f"{FOLDER}/b.txt", b"two")                          # revision 2
    f = await alice.files._folder(split_path(FOLDER)[0])
    a_block = [e for e in await alice.files.journal.entries() if e.path[-1] == "a.txt"][0].blocks[0]
    await asyncio.sleep(1.1)
    await alice.ctx.api.fs_put_block(f.folder_id, a_block, alice.files.journal.get_block(a_block))   # put again
    uid, _ = alice.ctx.require_login()
    env = make_gc(folder_id=f.folder_id, upto=1, head=2, blocks=[a_block],
                  device=(await alice.ctx.device_keys()).sibkey, uid=uid, eldest_seqno=1, ctime=0)
    out = await gc_post(alice, f.folder_id, env)
    assert out["deleted"] == 0 and out["kept"] == [a_block]
    assert a_block in held(server, f.folder_id)
    assert await users["bob"].files.read(f"{FOLDER}/a.txt") == b"one"


async def test_collection_requests_the_server_refuses(server_factory, tmp_path, apps):
    server = server_factory(extra=["--folder-gc-delay", "0"])
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob", "carol"))
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    await alice.files.write(f"{FOLDER}/a.txt", b"one")
    await alice.files.write(f"{FOLDER}/a.txt", b"two")
    f = await alice.files._folder(split_path(FOLDER)[0])
    a1 = [e for e in await alice.files.journal.entries() if e.path[-1] == "a.txt"][0].blocks[0]
    before = held(server, f.folder_id)
    alice_uid, _ = alice.ctx.require_login()
    carol_uid, _ = carol.ctx.require_login()
    alice_key = (await alice.ctx.device_keys()).sibkey

    def req(**kw):
        args = dict(folder_id=f.folder_id, upto=1, head=2, blocks=[a1], device=alice_key, uid=alice_uid,
                    eldest_seqno=1, ctime=0)
        args.update(kw)
        return make_gc(**args)
    # carol, no member, signs her own request
    with pytest.raises(errors.FolderNotWriter):
        await gc_post(carol, f.folder_id, req(device=(await carol.ctx.device_keys()).sibkey, uid=carol_uid))
    # alice's request replayed by bob (his token, her signature)
    with pytest.raises(errors.FolderWriterMismatch):
        await gc_post(bob, f.folder_id, req())
    # signed for another folder
    other = (await alice.files._folder(split_path("/private/alice")[0])).folder_id
    with pytest.raises(errors.FolderIdMismatch):
        await gc_post(alice, other, req())
    # a block the folder does not hold, the head's own revision, a forged signature
    with pytest.raises(errors.FolderGcRefused):
        await gc_post(alice, f.folder_id, req(blocks=[hashlib.sha256(b"nope").hexdigest()]))
    with pytest.raises(errors.FolderGcRefused):
        await gc_post(alice, f.folder_id, req(upto=2, head=3))
    forged = bytearray(req())
    forged[-1] ^= 1
    with pytest.raises(errors.ServerError) as e:
        await gc_post(alice, f.folder_id, bytes(forged))
    assert e.value.status == 400
    assert held(server, f.folder_id) == before


def test_the_default_delay_by_the_servers_clock(tmp_path):
    """FolderStore on a real SQLite file with a fake clock: 14 days less a second is too early."""
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    server_db.metadata.create_all(engine)
    now = [1_000_000_000]
    blobs = type("Blobs", (), {"delete": lambda self, i: None})()
    store = FolderStore(engine, lambda: now[0], blobs, 1 << 30, 1 << 30)
    device = SigningKeyPair.from_seed(os.urandom(32))
    uid, team, fid, blk = "11" * 16, "22" * 16, "33" * 16, "44" * 32
    with engine.begin() as conn:
        conn.execute(insert(server_db.team_members).values(team_id=team, uid=uid, role="writer"))
        conn.execute(insert(folders).values(folder_id=fid, team_id=team, kind=1, head=2, head_id="55" * 32,
                                            bytes=100, ctime=now[0]))
        for n in (1, 2):
            conn.execute(insert(folder_revisions).values(folder_id=fid, revision=n, revision_id=f"{n}" * 64,
                                                         writer_uid=uid, writer_kid=device.kid.hex(),
                                                         envelope=b"x", size=1, ctime=now[0]))
        conn.execute(insert(folder_blocks).values(folder_id=fid, block_id=blk, size=100, uploader_uid=uid,
                                                  ctime=now[0]))
    r = open_gc(make_gc(folder_id=fid, upto=1, head=2, blocks=[blk], device=device, uid=uid, eldest_seqno=1,
                        ctime=0))
    now[0] += DEFAULT_DELAY - 1
    with pytest.raises(errors.FolderGcTooEarly):
        server_collect(store, r, now[0], DEFAULT_DELAY)
    now[0] += 1
    assert server_collect(store, r, now[0], DEFAULT_DELAY)["deleted"] == 1
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(folder_blocks)).scalar() == 0
        assert conn.execute(select(folders.c.bytes)).scalar() == 0
