"""The folder server (kbapp/server/folders.py, routes/folders.py) from the outside: real server
processes on 127.0.0.1, SQLite and PostgreSQL, real users, teams, team keys, sealed blocks and
signed envelopes (core/fs), raw HTTP and the client API.

What the server must get right is what it can check: blocks hash to their ids and are served
only under a folder that holds them, to its readers (anyone for a public folder); revisions
signed by the token's user and live device, a writer of the team; revisions numbered by
compare-and-swap (two writers on one head: one wins, the loser gets 409 with the head and
nothing of it is stored); the head in the transparency map in the same epoch, proven to
readers; quotas; typed errors, never a 5xx.
"""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest
from sqlalchemy import func, select

from kbapp.core import errors
from kbapp.core.encoding import b64decode
from kbapp.core.fs.revision import open_envelope
from kbapp.server import db as server_db
from kbapp.server.folder_tables import folder_blocks, folder_revisions

from e2e_support import signup_all
from fs_server_support import FolderHTTP, Writer, code, verify_head

pytestmark = pytest.mark.timeout(300)


def ok(r, status: int = 200) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    return r.json() if r.headers.get("content-type", "").startswith("application/json") else {}


def refused(r, status: int, error: str) -> None:
    assert r.status_code == status and code(r) == error, (r.status_code, r.text)


def count(server, db_url, table, folder_id: str) -> int:
    engine = server_db.make_engine(server_db.normalise_url(db_url, server.data_dir))
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(table).where(table.c.folder_id == folder_id)).scalar()
    finally:
        engine.dispose()


def hints(server, db_url, team_id: str) -> list[str]:
    """Subjects of the folder push hints recorded for the team's topic."""
    engine = server_db.make_engine(server_db.normalise_url(db_url, server.data_dir))
    t = server_db.push_events
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(t.c.subject).where((t.c.topic == f"team:{team_id}") & (t.c.kind == "folder"))
                                     .order_by(t.c.cursor)).scalars())
    finally:
        engine.dispose()


async def team_of(apps, tmp_path, url, roles: dict, names=("alice",)):
    users = await signup_all(apps, tmp_path, url, tuple(dict.fromkeys((*names, *roles))))
    view = await users["alice"].create_team("acme")
    for name, role in roles.items():
        await users["alice"].add_member("acme", name, role)
    return users, view.team_id


async def test_blocks_revisions_cas_and_the_map_head(db_url, server_factory, tmp_path, apps):
    server = server_factory(db=db_url)
    users, tid = await team_of(apps, tmp_path, server.url, {"bob": "writer", "carol": "reader"},
                               names=("alice", "mallory"))
    alice, bob, carol, mallory = (Writer(users[n], server.url, tid) for n in ("alice", "bob", "carol", "mallory"))
    fid = alice.folder_id
    http = FolderHTTP(server.url)
    try:
        # blocks: a writer puts (idempotent), readers get the same bytes, strangers get 404 / 401
        root, blocks, entries = await alice.tree("acme", {"a.txt": b"hello" * 100, "b.bin": os.urandom(3000)})
        await http.put_blocks(alice, blocks)
        ptr, stored = blocks[0]
        bid = ptr.id.hex()
        assert ok(await http.put_block(alice, fid, bid, stored))["new"] is False
        assert (await http.get_block(bob, fid, bid)).content == stored
        assert await users["carol"].api.fs_get_block(fid, bid) == stored
        refused(await http.get_block(mallory, fid, bid), 404, "NOT_FOUND")
        refused(await http.get_block(None, fid, bid), 401, "BAD_READ_TOKEN")
        refused(await http.get_block(bob, fid, "ab" * 32), 404, "NOT_FOUND")
        batch = await users["carol"].api.fs_get_blocks(fid, [p.id.hex() for p, _ in blocks] + ["ab" * 32])
        assert batch["later"] == [] and batch["blocks"].pop("ab" * 32) is None
        assert {k: b64decode(v) for k, v in batch["blocks"].items()} == {p.id.hex(): b for p, b in blocks}
        r = await http.client.post(f"/v1/folders/{fid}/blocks:get", json={"ids": [bid]},
                                   headers={"Authorization": await mallory.token()})
        refused(r, 404, "NOT_FOUND")
        # an id that is not the bytes' hash; a reader or a stranger putting: refused, nothing kept
        other = os.urandom(500)
        refused(await http.put_block(alice, fid, "cd" * 32, other), 400, "FS_BLOCK_MISMATCH")
        refused(await http.put_block(carol, fid, hashlib.sha256(other).hexdigest(), other), 403, "FS_NOT_WRITER")
        refused(await http.put_block(mallory, fid, hashlib.sha256(other).hexdigest(), other), 403, "FS_NOT_WRITER")
        refused(await http.get_block(alice, fid, hashlib.sha256(other).hexdigest()), 404, "NOT_FOUND")
        assert count(server, db_url, folder_blocks, fid) == len(blocks)
        # a folder id the server has never seen needs the team and kind it derives from
        stray = Writer(users["alice"], server.url, tid, kind="private")
        refused(await http.put_block(alice, stray.folder_id, bid, stored), 400, "BAD_ENCODING")
        refused(await http.put_block(alice, stray.folder_id, bid, stored, tid, 3), 400, "FS_FOLDER_ID_MISMATCH")

        # revision 1: stored, the head lands in the transparency map and the lookup proof verifies
        r1 = await alice.revision("acme", 1, None, root, Writer.write_ops(entries))
        answer = ok(await http.post_revision(alice, fid, r1.envelope))
        assert (answer["revision"], answer["id"]) == (1, r1.id.hex())
        head = ok(await http.head(carol, fid))
        proven = verify_head(server.url, fid, head["lookup"])
        assert (head["head"], proven.revision, proven.revision_id) == (1, 1, r1.id.hex())
        assert hints(server, db_url, tid) == [f"{fid}:1"]        # the push hint committed with it

        # a reader cannot post a revision: 403, nothing stored, the head unchanged
        r2c = await carol.revision("acme", 2, r1.id, root)
        refused(await http.post_revision(carol, fid, r2c.envelope), 403, "FS_NOT_WRITER")

        # two writers race on head 1: exactly one wins; the other gets 409 with the head, nothing stored
        ra = await alice.revision("acme", 2, r1.id, root)
        rb = await bob.revision("acme", 2, r1.id, root)
        resp = await asyncio.gather(http.post_revision(alice, fid, ra.envelope), http.post_revision(bob, fid, rb.envelope))
        assert sorted(r.status_code for r in resp) == [200, 409], [r.text for r in resp]
        won, lost, lost_by = (ra, rb, "bob") if resp[0].status_code == 200 else (rb, ra, "alice")
        loser = resp[1] if resp[0].status_code == 200 else resp[0]
        assert code(loser) == "FS_HEAD_MOVED" and (loser.json()["head"], loser.json()["head_id"]) == (2, won.id.hex())
        assert count(server, db_url, folder_revisions, fid) == 2
        # the client API says the same as a typed error carrying the head
        with pytest.raises(errors.FolderHeadMoved) as e:
            await users[lost_by].api.fs_post_revision(fid, lost.envelope)
        assert (e.value.head, e.value.head_id) == (2, won.id.hex())
        # the loser rebases on the winner: revision 3; sending it again answers 409 with its own id
        loser_w = bob if lost_by == "bob" else alice
        r3 = await loser_w.revision("acme", 3, won.id, root)
        assert (await users[lost_by].api.fs_post_revision(fid, r3.envelope))["revision"] == 3
        refused(again := await http.post_revision(loser_w, fid, r3.envelope), 409, "FS_HEAD_MOVED")
        assert again.json()["head_id"] == r3.id.hex()
        # the next number on a prev that is not the head's id (a branch off revision 1): 409 too
        branch = await alice.revision("acme", 4, r1.id, root)
        refused(await http.post_revision(alice, fid, branch.envelope), 409, "FS_HEAD_MOVED")
        assert count(server, db_url, folder_revisions, fid) == 3

        # revisions since=N, paged, each envelope as posted, with the proof of the head they end at
        page = ok(await http.revisions(carol, fid, since=0, limit=2))
        assert [x["revision"] for x in page["revisions"]] == [1, 2] and page["head"] == 3
        assert hints(server, db_url, tid) == [f"{fid}:{n}" for n in (1, 2, 3)]   # none for refused posts
        envs = [b64decode(x["envelope"]) for x in page["revisions"]]
        assert envs == [r1.envelope, won.envelope]
        assert [x["id"] for x in page["revisions"]] == [hashlib.sha256(e).hexdigest() for e in envs]
        rest = await users["carol"].api.fs_revisions(fid, since=2)
        assert [x["revision"] for x in rest["revisions"]] == [3]
        assert open_envelope(b64decode(rest["revisions"][0]["envelope"])).revision.prev == won.id
        assert verify_head(server.url, fid, rest["lookup"]).revision == 3
        assert ok(await http.revisions(carol, fid, since=3))["revisions"] == []
        refused(await http.revisions(mallory, fid), 404, "NOT_FOUND")
        refused(await http.revisions(carol, fid, limit=501), 400, "BAD_ENCODING")
        assert [f["head"] for f in await users["carol"].api.fs_folders(tid)] == [3]

        # a public folder (on alice's implicit team: a named team cannot hold one, FS_PUBLIC_NOT_IMPLICIT):
        # anyone reads blocks and revisions, without a token; only writers write
        named = Writer(users["alice"], server.url, tid, kind="public")
        nroot, nblocks, _ = await named.tree("acme", {"readme": b"public words"})
        refused(await http.put_block(named, named.folder_id, nblocks[0][0].id.hex(), nblocks[0][1], team_id=tid,
                                     kind=2), 400, "FS_PUBLIC_NOT_IMPLICIT")
        itid = (await users["alice"].teams.implicit_team("alice")).team_id
        pub = Writer(users["alice"], server.url, itid, kind="public")
        proot, pblocks, pentries = await pub.tree("acme", {"readme": b"public words"})
        await http.put_blocks(pub, pblocks)
        p1 = await pub.revision("acme", 1, None, proot, Writer.write_ops(pentries))
        ok(await http.post_revision(pub, pub.folder_id, p1.envelope))
        for who in (None, mallory):
            assert (await http.get_block(who, pub.folder_id, pblocks[0][0].id.hex())).content == pblocks[0][1]
            page = ok(await http.revisions(who, pub.folder_id))
            assert [b64decode(x["envelope"]) for x in page["revisions"]] == [p1.envelope]
            assert verify_head(server.url, pub.folder_id, page["lookup"]).revision_id == p1.id.hex()
        m = Writer(users["mallory"], server.url, itid, kind="public")
        refused(await http.post_revision(m, pub.folder_id, (await m.revision("acme", 2, p1.id, proot)).envelope),
                403, "FS_NOT_WRITER")
    finally:
        await http.aclose()


async def test_a_revoked_devices_token_writes_and_reads_nothing(server_factory, tmp_path, apps):
    from kbapp.core.paperkey import paper_device_keys

    server = server_factory()
    users, tid = await team_of(apps, tmp_path, server.url, {})
    app = users["alice"]
    phrase = await app.create_paperkey()
    await app.paperkey_shown()
    paper = Writer(app, server.url, tid, device=paper_device_keys(phrase).sibkey)
    http = FolderHTTP(server.url)
    try:
        root, blocks, _ = await paper.tree("acme", {"x": b"x"})
        await http.put_blocks(paper, blocks)
        r1 = await paper.revision("acme", 1, None, root)
        ok(await http.post_revision(paper, paper.folder_id, r1.envelope))
        dev = next(d for d in await app.devices() if d.type == "paper")
        await app.revoke_device(dev.id)
        _, blocks2, _ = await paper.tree("acme", {"y": b"y"})
        refused(await http.put_block(paper, paper.folder_id, blocks2[0][0].id.hex(), blocks2[0][1]), 401,
                "BAD_READ_TOKEN")
        r2 = await paper.revision("acme", 2, r1.id, root)
        refused(await http.post_revision(paper, paper.folder_id, r2.envelope), 401, "BAD_READ_TOKEN")
        refused(await http.get_block(paper, paper.folder_id, blocks[0][0].id.hex()), 401, "BAD_READ_TOKEN")
        refused(await http.revisions(paper, paper.folder_id), 401, "BAD_READ_TOKEN")
        laptop = Writer(app, server.url, tid)
        assert ok(await http.head(laptop, paper.folder_id))["head"] == 1      # her laptop still reads
    finally:
        await http.aclose()


async def test_quotas_per_uploader_refuse_with_413_and_keep_nothing(server_factory, tmp_path, apps):
    server = server_factory(extra=["--folder-quota-user", "10000"])
    users, tid = await team_of(apps, tmp_path, server.url, {})
    alice = Writer(users["alice"], server.url, tid)
    http = FolderHTTP(server.url)
    try:
        _, blocks, _ = await alice.tree("acme", {"big": os.urandom(5000), "more": os.urandom(5000)})
        statuses = []
        for ptr, stored in blocks:
            r = await http.put_block(alice, alice.folder_id, ptr.id.hex(), stored, tid, alice.kind)
            statuses.append(r.status_code)
            if r.status_code != 200:
                refused(r, 413, "FS_QUOTA")
                refused(await http.get_block(alice, alice.folder_id, ptr.id.hex()), 404, "NOT_FOUND")
        assert statuses[0] == 200 and 413 in statuses
        blob = server.data_dir / "blobs"
        kept = {p.name for p in blob.rglob("*") if p.is_file() and len(p.name) == 64}
        assert kept == {ptr.id.hex() for (ptr, _), s in zip(blocks, statuses) if s == 200}
    finally:
        await http.aclose()


async def test_writes_are_rate_limited_per_device(server_factory, tmp_path, apps):
    server = server_factory(extra=["--folder-rate", "0.01", "--folder-burst", "2"])
    users, tid = await team_of(apps, tmp_path, server.url, {})
    alice = Writer(users["alice"], server.url, tid)
    http = FolderHTTP(server.url)
    try:
        _, blocks, _ = await alice.tree("acme", {"a": b"a", "b": b"b"})
        got = [await http.put_block(alice, alice.folder_id, p.id.hex(), b, tid, alice.kind) for p, b in blocks[:3]]
        assert [r.status_code for r in got[:2]] == [200, 200]
        refused(got[2], 429, "RATE_LIMITED")
        assert int(got[2].headers["retry-after"]) >= 1
        r1 = await alice.revision("acme", 1, None, blocks[0][0])
        refused(await http.post_revision(alice, alice.folder_id, r1.envelope), 429, "RATE_LIMITED")
        assert ok(await http.head(alice, alice.folder_id))["head"] == 0          # reads are not counted
    finally:
        await http.aclose()


@pytest.mark.postgres
async def test_two_server_processes_race_on_one_head(pg_database, server_factory, tmp_path, apps):
    """Two processes on one PostgreSQL database: the advisory lock of the epoch makes the
    compare-and-swap one at a time across them; each reads the other's head at once."""
    s1 = server_factory(db=pg_database, name="shared")
    s2 = server_factory(db=pg_database, name="shared")      # same data dir: same key, blobs and origin
    users, tid = await team_of(apps, tmp_path, s1.url, {"bob": "writer"})
    alice, bob = Writer(users["alice"], s1.url, tid), Writer(users["bob"], s2.url, tid)
    h1, h2 = FolderHTTP(s1.url), FolderHTTP(s2.url)
    try:
        root, blocks, _ = await alice.tree("acme", {"f": b"1"})
        await h1.put_blocks(alice, blocks)
        assert (await h2.get_block(bob, alice.folder_id, blocks[0][0].id.hex())).content == blocks[0][1]
        prev, fid = None, alice.folder_id
        for n in range(1, 6):
            ra = await alice.revision("acme", n, prev, root)
            rb = await bob.revision("acme", n, prev, root)
            resp = await asyncio.gather(h1.post_revision(alice, fid, ra.envelope),
                                        h2.post_revision(bob, fid, rb.envelope))
            assert sorted(r.status_code for r in resp) == [200, 409], [r.text for r in resp]
            prev = (ra if resp[0].status_code == 200 else rb).id
            lost = next(r for r in resp if r.status_code == 409)
            assert code(lost) == "FS_HEAD_MOVED" and lost.json()["head_id"] == prev.hex()
            for h, who, url in ((h1, alice, s1.url), (h2, bob, s2.url)):
                head = ok(await h.head(who, fid))
                assert head["head"] == n and verify_head(url, fid, head["lookup"]).revision_id == prev.hex()
        page = ok(await h2.revisions(bob, fid))
        envs = [open_envelope(b64decode(x["envelope"])) for x in page["revisions"]]
        assert [e.revision.revision for e in envs] == [1, 2, 3, 4, 5]
        assert all(b.revision.prev == a.id for a, b in zip(envs, envs[1:]))
    finally:
        await h1.aclose()
        await h2.aclose()
