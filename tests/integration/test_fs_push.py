"""Folder push hints end to end: a real server records `team:<id>` kind `folder` subject
`<folder id>:<revision>` with each accepted revision; a member's push channel hands it to
`app.files` (client/fs/hints.py), which marks the folder stale so the next read syncs. A
stranger who read a public folder keeps a working push channel (that team's topic is not his).
"""

from __future__ import annotations

import asyncio

import pytest

from kbapp.client import sync as push
from kbapp.client.fs.hints import FolderHinted, parse
from kbapp.core.fs.names import split_path

from e2e_support import signup_all

pytestmark = pytest.mark.timeout(180)
FOLDER = "/private/alice,bob"


async def online(app):
    runner = push.attach(app)
    runner.start()
    for _ in range(150):
        if runner.state == push.State.ONLINE:
            return runner
        await asyncio.sleep(0.1)
    raise AssertionError("the push channel did not come online")


async def first(q, kind, pred=lambda ev: True, timeout: float = 20):
    async def loop():
        while True:
            ev = await q.get()
            if isinstance(ev, kind) and pred(ev):
                return ev
    return await asyncio.wait_for(loop(), timeout)


async def test_a_revision_reaches_the_other_member_as_a_hint_and_marks_the_folder_stale(server_factory, tmp_path,
                                                                                      apps):
    srv = server_factory()
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    await alice.files.write(f"{FOLDER}/a.txt", b"one")
    assert await bob.files.read(f"{FOLDER}/a.txt") == b"one"
    fid = (await bob.files._folder(split_path(FOLDER)[0])).folder_id
    runner = await online(bob)
    assert any(t.startswith("team:") for t in runner.topics)
    q = bob.events.subscribe()
    try:
        await alice.files.write(f"{FOLDER}/a.txt", b"two")
        ev = await first(q, FolderHinted, lambda ev: ev.folder_id == fid)
        assert ev.revision == 2
        synced = bob.files.fs.synced[fid]
        assert synced.at == 0.0 and synced.judge.state.head_rev == 1     # stale: the next read syncs
        assert await bob.files.read(f"{FOLDER}/a.txt") == b"two"
    finally:
        bob.events.unsubscribe(q)
        await runner.stop()


async def test_a_stranger_reading_a_public_folder_keeps_his_push_channel(server_factory, tmp_path, apps):
    srv = server_factory()
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    await alice.files.write("/public/alice/hello.txt", b"hello")
    await alice.files.write(f"{FOLDER}/a.txt", b"one")
    assert await bob.files.read(f"{FOLDER}/a.txt") == b"one"
    assert await bob.files.read("/public/alice/hello.txt") == b"hello"     # alice's team now in bob's store
    fid = (await bob.files._folder(split_path(FOLDER)[0])).folder_id
    runner = await online(bob)
    q = bob.events.subscribe()
    try:
        await alice.files.write(f"{FOLDER}/a.txt", b"two")
        ev = await first(q, FolderHinted, lambda ev: ev.folder_id == fid)
        assert ev.revision == 2
    finally:
        bob.events.unsubscribe(q)
        await runner.stop()


def test_malformed_folder_hints_are_ignored():
    fid = "ab" * 16
    assert parse(f"team:{'cd' * 16}", "folder", f"{fid}:7") == (fid, 7)
    for topic, kind, subject in [(f"team:{'cd' * 16}", "chat", f"{fid}:7"), ("user:x", "folder", f"{fid}:7"),
                                 (f"team:{'cd' * 16}", "folder", f"{fid}:0"),
                                 (f"team:{'cd' * 16}", "folder", f"{fid}:-1"),
                                 (f"team:{'cd' * 16}", "folder", f"{fid[:-1]}:7"),
                                 (f"team:{'cd' * 16}", "folder", f"{fid}:7:8"),
                                 (f"team:{'cd' * 16}", "folder", f"{fid}:{'9' * 40}")]:
        assert parse(topic, kind, subject) is None, (topic, kind, subject)
