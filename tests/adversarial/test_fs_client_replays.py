"""The core's folder attacks (test_fs_core_attacks.py) replayed by a lying server against a
real client: `app.files` reads through the evil proxy (evil.py) in front of a real server
process. Each attack ends in a typed error, with the client's trusted store and the judge
state it saved for the folder both unchanged, and nothing written under the client's home
but its own databases.

The server can: answer 404 for a folder (hide it), serve an old page of revisions (rollback),
leave the newest out (hide it), show one reader another genuine revision with the same number
(a fork: it kept a writer's post from the others), swap or alter block bytes, append a
revision signed by a removed writer, answer with a compressed or oversized bomb.
"""

from __future__ import annotations

import gzip
import os
import re

import pytest

from kbapp.core import errors
from kbapp.core.encoding import b64decode, b64encode
from kbapp.core.fs.names import split_path
from kbapp.core.fs.revision import make_revision, open_envelope, open_private

from evil import Answer

pytestmark = pytest.mark.timeout(300)


async def _folder(app, path: str):
    return await app.files._folder(split_path(path)[0])


async def saved(app, path: str):
    f = await _folder(app, path)
    return await (await app.files.open()).folder(f.folder_id)


def home_files(app) -> set:
    """Every file under the client's home but the databases that change on any read."""
    return {p.relative_to(app.home) for p in app.home.rglob("*")
            if p.is_file() and not re.search(r"\.sqlite3(-wal|-shm|-journal)?$", p.name)}


def stale(app) -> None:
    """Forget that the folder was synced moments ago: the next read asks the server (the
    engine serves a recent verified head without a round trip)."""
    for s in app.files.fs.synced.values():
        s.at = s.hinted = 0.0
    app.files._stale()


async def fresh_read(app, path: str) -> bytes:
    stale(app)
    return await app.files.read(path)


async def fs_detected(detected, app, path: str, error, coro):
    """`detected` (trusted store unchanged) plus: the folder's saved judge state unchanged and
    no new file under the client's home. The read goes to the server (not a recent view)."""
    stale(app)
    before, files = await saved(app, path), home_files(app)
    e = await detected(app, error, coro)
    assert await saved(app, path) == before, "the attack changed the folder's saved judge state"
    assert home_files(app) == files, "the attack wrote files under the client's home"
    return e


@pytest.fixture
async def pair(user):
    """alice and bob, their shared folder path, alice's first file read once by bob."""
    alice, a, _ = await user("alice")
    bob, b, _ = await user("bob")
    path = f"/private/{','.join(sorted((a, b)))}"
    await alice.files.write(f"{path}/a.txt", b"one")
    await alice.files.sync(timeout=30)
    assert await fresh_read(bob, f"{path}/a.txt") == b"one"
    return alice, bob, path, a


def revisions_of(fid: str) -> str:
    return f"^/v1/folders/{fid}/revisions$"


# -- a folder hidden by a 404 ----------------------------------------------------------------


async def test_a_folder_hidden_by_a_404_is_caught_by_the_map(user, proxy, detected):
    """bob never read the folder: the server says it does not exist. The map names its head."""
    alice, a, _ = await user("alice")
    bob, b, _ = await user("bob")
    path = f"/private/{','.join(sorted((a, b)))}"
    await alice.files.write(f"{path}/secret-plan.txt", b"hidden from bob")
    await alice.files.sync(timeout=30)
    fid = (await _folder(bob, path)).folder_id
    proxy.set("raw", match=revisions_of(fid), status=404,
              body=b'{"error": {"code": "NOT_FOUND", "message": "no such folder"}}')
    await fs_detected(detected, bob, path, errors.HiddenRevision, bob.files.ls(path))
    assert proxy.tampered >= 1


async def test_a_folder_never_written_is_proven_empty(user, proxy):
    """Not an attack: the same 404 for a folder nobody wrote is proven by the map; ls is empty."""
    alice, a, _ = await user("alice")
    bob, b, _ = await user("bob")
    path = f"/private/{','.join(sorted((a, b)))}"
    assert await bob.files.ls(path) == []
    assert any("/head?" in s and "kind=1" in s for s in proxy.seen)


async def test_a_folder_hidden_with_its_map_entry_refused_is_caught(user, proxy, detected):
    alice, a, _ = await user("alice")
    bob, b, _ = await user("bob")
    path = f"/private/{','.join(sorted((a, b)))}"
    await alice.files.write(f"{path}/a.txt", b"x")
    await alice.files.sync(timeout=30)
    fid = (await _folder(bob, path)).folder_id
    nf = b'{"error": {"code": "NOT_FOUND", "message": "no such folder"}}'
    proxy.set("raw", match=f"^/v1/folders/{fid}/(revisions|head)$", status=404, body=nf)
    await fs_detected(detected, bob, path, errors.HiddenRevision, bob.files.read(f"{path}/a.txt"))


# -- rollback, hidden head, fork ---------------------------------------------------------------


async def test_an_old_page_of_revisions_is_a_rollback(pair, proxy, detected):
    alice, bob, path, _a = pair
    fid = (await _folder(bob, path)).folder_id
    old = [a for k, a in proxy.record().items() if k.startswith(f"/v1/folders/{fid}/revisions?")]
    assert old
    await alice.files.write(f"{path}/a.txt", b"two")
    await alice.files.sync(timeout=30)
    assert await fresh_read(bob, f"{path}/a.txt") == b"two"
    proxy.set("json", match=revisions_of(fid), fn=lambda body: old[-1].json())
    await fs_detected(detected, bob, path, errors.RevisionRollback, bob.files.read(f"{path}/a.txt"))
    assert proxy.tampered >= 1


async def test_the_newest_revision_left_out_is_caught(pair, proxy, detected):
    alice, bob, path, _a = pair
    fid = (await _folder(bob, path)).folder_id
    await alice.files.write(f"{path}/a.txt", b"two")
    await alice.files.sync(timeout=30)
    await alice.files.write(f"{path}/a.txt", b"three: the newest")
    await alice.files.sync(timeout=30)

    def drop_newest(body):
        body["revisions"] = [r for r in body["revisions"] if r["revision"] < body["head"]]
        body["head"] -= 1                       # the page says so too; the map does not
        return body
    proxy.set("json", match=revisions_of(fid), fn=drop_newest)
    await fs_detected(detected, bob, path, errors.HiddenRevision, bob.files.read(f"{path}/a.txt"))


async def test_two_readers_shown_different_heads_the_forked_one_is_caught(user, proxy, detected):
    """The server keeps alice's revision 2 from everyone but carol, and takes bob's revision 2 as
    the head: bob's reads are honest, carol is shown alice's genuine but forked revision 2."""
    alice, a, _ = await user("alice")
    bob, b, _ = await user("bob")
    carol, c, _ = await user("carol")
    path = f"/private/{','.join(sorted((a, b, c)))}"
    await alice.files.write(f"{path}/a.txt", b"one")
    await alice.files.sync(timeout=30)
    assert await fresh_read(carol, f"{path}/a.txt") == b"one"
    fid = (await _folder(alice, path)).folder_id
    kept = []

    async def keep(req, next):                  # swallow alice's post, answer it "accepted"
        if req.method == "POST" and req.path == f"/v1/folders/{fid}/revisions" and not kept:
            kept.append(req.body)
            r = open_envelope(req.body)
            proxy._hit()
            return Answer.of({"folder_id": fid, "revision": r.revision.revision, "id": r.id.hex(),
                              "ctime": 0, "log_size": 1})
        return await next()
    proxy._m_keep = keep
    proxy.set("keep")
    await alice.files.write(f"{path}/alice.txt", b"alice's revision 2")
    await alice.files.sync(timeout=30)
    proxy.clear()
    assert kept
    await bob.files.write(f"{path}/bob.txt", b"bob's revision 2")     # the server's real head
    await bob.files.sync(timeout=30)
    fork = open_envelope(kept[0])

    def forked(body):
        for r in body["revisions"]:
            if r["revision"] == 2:
                r.update(envelope=b64encode(kept[0]), id=fork.id.hex())
        return body
    proxy.set("json", match=revisions_of(fid), fn=forked)
    await fs_detected(detected, carol, path, errors.ForkedFolder, carol.files.read(f"{path}/a.txt"))
    proxy.clear()
    assert await fresh_read(bob, f"{path}/bob.txt") == b"bob's revision 2"


# -- blocks --------------------------------------------------------------------------------------


def _blocks_of(match_fid: str, fn):
    def rewrite(body):
        body["blocks"] = fn(body["blocks"])
        return body
    return {"match": f"^/v1/folders/{match_fid}/blocks:get$", "fn": rewrite}


async def test_a_block_swapped_in_from_another_folder_is_refused(pair, proxy, detected):
    alice, bob, path, a = pair
    await alice.files.write(f"{path}/b.bin", os.urandom(3000))
    await alice.files.sync(timeout=30)
    fid = (await _folder(bob, path)).folder_id
    mine = [e for e in await alice.files.journal.entries() if e.path[-1] == "b.bin"][0].blocks[0]
    # a genuine block of another folder (alice's own /private/alice), served under this id
    await alice.files.write(f"/private/{a}/private.bin", os.urandom(3000))
    await alice.files.sync(timeout=30)
    foreign = [e for e in await alice.files.journal.entries() if e.path[-1] == "private.bin"][0].blocks[0]
    foreign_bytes = alice.files.journal.get_block(foreign)
    stale(bob)
    await bob.files.ls(path)                    # bob has verified the head: only blocks are attacked

    proxy.set("json", **_blocks_of(fid, lambda blocks: {
        k: (b64encode(foreign_bytes) if k == mine else v) for k, v in blocks.items()}))
    await fs_detected(detected, bob, path, errors.BlockIdMismatch, bob.files.read(f"{path}/b.bin"))
    assert proxy.tampered >= 1


async def test_an_altered_block_is_refused(pair, proxy, detected):
    alice, bob, path, _a = pair
    fid = (await _folder(bob, path)).folder_id
    # a file bob never read: a.txt's blocks are in bob's block cache since the fixture read it
    await alice.files.write(f"{path}/fresh.txt", os.urandom(3000))
    await alice.files.sync(timeout=30)
    stale(bob)
    await bob.files.ls(path)                    # bob has verified the head: only blocks are attacked

    def flip(blocks):
        out = {}
        for k, v in blocks.items():
            raw = bytearray(b64decode(v)) if v else None
            if raw:
                raw[len(raw) // 2] ^= 1
            out[k] = None if raw is None else b64encode(bytes(raw))
        return out
    proxy.set("json", **_blocks_of(fid, flip))
    await fs_detected(detected, bob, path, errors.BlockIdMismatch, bob.files.read(f"{path}/fresh.txt"))


async def test_a_decompression_bomb_is_not_inflated(pair, proxy, detected):
    """A 256 MiB run of zeros gzipped (about 256 KiB) with Content-Encoding: gzip: the client
    reads the raw bytes under its cap and never inflates them."""
    alice, bob, path, _a = pair
    fid = (await _folder(bob, path)).folder_id
    await alice.files.write(f"{path}/fresh.txt", os.urandom(3000))     # blocks bob has not cached
    await alice.files.sync(timeout=30)
    stale(bob)
    await bob.files.ls(path)                    # bob has verified the head: only blocks are attacked
    bomb = gzip.compress(b"\0" * (256 << 20), compresslevel=9)

    async def gz(req, next):
        if re.search(f"^/v1/folders/{fid}/blocks:get$", req.path):
            proxy._hit()
            return Answer(200, bomb, "application/json", {"content-encoding": "gzip"})
        return await next()
    proxy._m_gz = gz
    proxy.set("gz")
    await fs_detected(detected, bob, path, errors.EncodingError, bob.files.read(f"{path}/fresh.txt"))
    assert proxy.tampered >= 1


async def test_an_oversized_block_is_refused_before_it_is_decoded(pair, proxy, detected):
    """A padding bomb from the server: 2 MiB for one block id (a block is at most 512 KiB + a
    header); refused by size, never hashed or opened."""
    alice, bob, path, _a = pair
    fid = (await _folder(bob, path)).folder_id
    await alice.files.write(f"{path}/fresh.txt", os.urandom(3000))     # blocks bob has not cached
    await alice.files.sync(timeout=30)
    stale(bob)
    await bob.files.ls(path)                    # bob has verified the head: only blocks are attacked
    proxy.set("json", **_blocks_of(fid, lambda blocks: {k: b64encode(b"\0" * (2 << 20)) for k in blocks}))
    await fs_detected(detected, bob, path, errors.TooLarge, bob.files.read(f"{path}/fresh.txt"))


# -- writers -------------------------------------------------------------------------------------


async def test_a_revision_signed_by_a_removed_writer_is_refused(user, proxy, detected, name):
    """bob wrote to /team/acme, was removed; the server, colluding with him, serves a revision
    he signed afterwards, backdated to a team seqno where he was still a writer."""
    alice, a, _ = await user("alice")
    bob, b, _ = await user("bob")
    team = name("acme").replace("_", "")
    await alice.teams.create_team(team)
    await alice.teams.add_member(team, b, "writer")
    path = f"/team/{team}"
    await bob.files.write(f"{path}/bob.txt", b"bob was a writer")
    await bob.files.sync(timeout=30)
    f_bob = await _folder(bob, path)
    old_seqno, old_gen = f_bob.loaded.state.seqno, f_bob.gen
    bob_sibkey = (await bob.ctx.device_keys()).sibkey
    bob_uid, _ = bob.ctx.require_login()
    await alice.teams.remove_member(team, b)
    await alice.files.write(f"{path}/alice.txt", b"after bob left")
    await alice.files.sync(timeout=30)
    assert await fresh_read(alice, f"{path}/bob.txt") == b"bob was a writer"
    f = await _folder(alice, path)
    page = proxy.upstream_json(f"/v1/folders/{f.folder_id}/revisions",
                               headers={"authorization": await alice.ctx.api.read_tokens.header()})
    head = open_envelope(b64decode(page["revisions"][-1]["envelope"]))
    root = open_private(head.revision, f.keys).root
    cp = await alice.ctx.logview.fetch_latest()
    forged = make_revision(team_id=f.team_id, kind=3, revision=head.revision.revision + 1, prev=head.id,
                           key_gen=old_gen, device=bob_sibkey, uid=bob_uid, eldest_seqno=1,
                           checkpoint=(cp.size, cp.root), team_seqno=old_seqno, root=root, ops=(),
                           ctime=head.revision.ctime, kbfs_key=f.keys[old_gen], nonce=os.urandom(24))

    def append(body):
        n = forged.revision.revision
        body["revisions"].append({"revision": n, "id": forged.id.hex(), "ctime": 0,
                                  "writer_uid": bob_uid, "envelope": b64encode(forged.envelope)})
        body["head"] = n
        return body
    proxy.set("json", match=revisions_of(f.folder_id), fn=append)
    await fs_detected(detected, alice, path, errors.FolderWriterNotMember, alice.files.read(f"{path}/alice.txt"))
    assert proxy.tampered >= 1


async def test_a_public_folder_revision_by_a_non_writer_is_refused(user, proxy, detected):
    """/public/alice: carol (a stranger) reads it; the server appends a revision bob signed."""
    alice, a, _ = await user("alice")
    bob, b, _ = await user("bob")
    carol, _c, _ = await user("carol")
    path = f"/public/{a}"
    await alice.files.write(f"{path}/hello.txt", b"hello")
    await alice.files.sync(timeout=30)
    assert await fresh_read(carol, f"{path}/hello.txt") == b"hello"
    f = await _folder(carol, path)
    page = proxy.upstream_json(f"/v1/folders/{f.folder_id}/revisions")
    head = open_envelope(b64decode(page["revisions"][-1]["envelope"]))
    cp = await carol.ctx.logview.fetch_latest()
    bob_uid, _ = bob.ctx.require_login()
    forged = make_revision(team_id=f.team_id, kind=2, revision=head.revision.revision + 1, prev=head.id,
                           key_gen=0, device=(await bob.ctx.device_keys()).sibkey, uid=bob_uid, eldest_seqno=1,
                           checkpoint=(cp.size, cp.root), team_seqno=head.revision.team_seqno,
                           root=open_private(head.revision, None).root, ops=(), ctime=head.revision.ctime)

    def append(body):
        body["revisions"].append({"revision": forged.revision.revision, "id": forged.id.hex(), "ctime": 0,
                                  "writer_uid": bob_uid, "envelope": b64encode(forged.envelope)})
        body["head"] = forged.revision.revision
        return body
    await carol.ctx.identifier.identify(b)      # bob's public chain is no news to carol's store
    proxy.set("json", match=revisions_of(f.folder_id), fn=append)
    await fs_detected(detected, carol, path, errors.FolderWriterNotMember, carol.files.read(f"{path}/hello.txt"))


async def test_a_revision_signed_by_a_revoked_device_is_refused(user, proxy, detected):
    """alice's paper key is revoked; the server, holding a copy of it, serves a revision it
    signed, backdated to a checkpoint from before the revocation."""
    from kbapp.core.paperkey import paper_key_id
    from kbapp.client.devices import paper_device_keys
    alice, a, phrase = await user("alice", paperkey=True)
    bob, b, _ = await user("bob")
    path = f"/private/{','.join(sorted((a, b)))}"
    await alice.files.write(f"{path}/a.txt", b"one")
    await alice.files.sync(timeout=30)
    assert await fresh_read(bob, f"{path}/a.txt") == b"one"
    old_cp = await alice.ctx.logview.fetch_latest()                 # the paper key is live here
    await alice.revoke_device(paper_key_id(phrase))
    await alice.files.write(f"{path}/a.txt", b"two, after the revocation")
    await alice.files.sync(timeout=30)
    assert await fresh_read(bob, f"{path}/a.txt") == b"two, after the revocation"
    f = await _folder(alice, path)
    page = proxy.upstream_json(f"/v1/folders/{f.folder_id}/revisions",
                               headers={"authorization": await alice.ctx.api.read_tokens.header()})
    head = open_envelope(b64decode(page["revisions"][-1]["envelope"]))
    paper = paper_device_keys(phrase)
    uid, _ = alice.ctx.require_login()
    forged = make_revision(team_id=f.team_id, kind=1, revision=head.revision.revision + 1, prev=head.id,
                           key_gen=head.revision.key_gen, device=paper.sibkey, uid=uid, eldest_seqno=1,
                           checkpoint=(old_cp.size, old_cp.root), team_seqno=head.revision.team_seqno,
                           root=open_private(head.revision, f.keys).root, ops=(), ctime=head.revision.ctime,
                           kbfs_key=f.keys[head.revision.key_gen], nonce=os.urandom(24))

    def append(body):
        body["revisions"].append({"revision": forged.revision.revision, "id": forged.id.hex(), "ctime": 0,
                                  "writer_uid": uid, "envelope": b64encode(forged.envelope)})
        body["head"] = forged.revision.revision
        return body
    await bob.ctx.identifier.identify(a)        # alice's newest chain (the revocation) is no news
    proxy.set("json", match=revisions_of(f.folder_id), fn=append)
    await fs_detected(detected, bob, path, errors.RevokedWriterKey, bob.files.read(f"{path}/a.txt"))
    assert proxy.tampered >= 1
