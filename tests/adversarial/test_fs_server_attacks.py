"""Forged folder revisions against the folder server (a real server process, the session's
accounts made through the proxy,
requests sent straight to the server): the attacker is a member (or a stranger) with a real account who posts
an envelope the server must refuse. Each is answered with one typed error (never a 5xx), and
nothing is stored: no revision row, the folder's head and its map entry unchanged.

* a bad signature (one byte of it flipped; the revision bytes changed under a good one);
* an envelope signed for another folder, posted under this folder's id;
* a writer other than the token's user (bob posts alice's envelope), or the token's user with
  another user's device key signing, or another eldest key;
* a key generation that is not the team's newest;
* garbage and non-canonical envelopes.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kbapp.core.encoding import pack, unpack
from kbapp.core.fs.revision import PREFIX_REVISION, pack_revision
from kbapp.core.keys import sign_detached
from kbapp.server import db as server_db
from kbapp.server.folder_tables import folder_revisions

from fs_server_support import FolderHTTP, Writer, code, server_checkpoint

pytestmark = pytest.mark.timeout(300)


def stored_revisions(server, folder_id: str) -> int:
    engine = server_db.make_engine(server_db.normalise_url(None, server.data_dir))
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(folder_revisions)
                                .where(folder_revisions.c.folder_id == folder_id)).scalar()
    finally:
        engine.dispose()


async def setup(user, world, name):
    alice, a, _ = await user("alice")
    bob, b, _ = await user("bob")
    team = name("fs").replace("_", "")[:16]
    view = await alice.create_team(team)
    await alice.add_member(team, b, "writer")
    # straight to the server (the attacker is a client here; the proxy forwards no PUT)
    url = world.server.url
    wa, wb = Writer(alice, url, view.team_id), Writer(bob, url, view.team_id)
    http = FolderHTTP(url)
    root, blocks, entries = await wa.tree(team, {"f": b"data"})
    await http.put_blocks(wa, blocks)
    first = await wa.revision(team, 1, None, root, Writer.write_ops(entries))
    r = await http.post_revision(wa, wa.folder_id, first.envelope)
    assert r.status_code == 200, r.text
    return team, wa, wb, http, root, first


async def refused_and_nothing_stored(http, world, who, fid, envelope, status, error, head_before):
    log_before = server_checkpoint(world.server.url).size
    r = await http.post_revision(who, fid, envelope)
    assert server_checkpoint(world.server.url).size == log_before     # no epoch, no leaf for a refusal
    assert (r.status_code, code(r)) == (status, error), (r.status_code, r.text)
    assert stored_revisions(world.server, fid) == head_before
    head = (await http.head(who, fid)).json()
    assert head["head"] == head_before


async def test_forged_envelopes_are_refused_and_nothing_is_stored(user, proxy, name, world):
    team, wa, wb, http, root, first = await setup(user, world, name)
    fid = wa.folder_id
    try:
        good = await wa.revision(team, 2, first.id, root)
        raw, sig = unpack(good.envelope)

        # a bad signature: a flipped byte; revision bytes changed (another prev) under the old signature
        flipped = pack([raw, sig[:10] + bytes([sig[10] ^ 1]) + sig[11:]])
        await refused_and_nothing_stored(http, world, wa, fid, flipped, 400, "FS_BAD_REVISION_SIG", 1)
        other = await wa.revision(team, 2, bytes(32), root)
        swapped = pack([unpack(other.envelope)[0], sig])
        await refused_and_nothing_stored(http, world, wa, fid, swapped, 400, "FS_BAD_REVISION_SIG", 1)

        # signed for another folder (the team's private folder) and posted under this one
        private = Writer(wa.app, wa.url, wa.team_id, kind="private")
        elsewhere = await private.revision(team, 2, first.id, root)
        await refused_and_nothing_stored(http, world, wa, fid, elsewhere.envelope, 400, "FS_FOLDER_ID_MISMATCH", 1)

        # the writer is not the token's user: bob posts alice's well-signed envelope
        await refused_and_nothing_stored(http, world, wb, fid, good.envelope, 403, "FS_WRITER_MISMATCH", 1)
        # bob's uid in the revision, signed by alice's device (a valid signature by the kid it names)
        mixed = await wa.revision(team, 2, first.id, root, uid=await wb.uid())
        await refused_and_nothing_stored(http, world, wb, fid, mixed.envelope, 403, "FS_WRITER_MISMATCH", 1)
        # alice's own device and uid, another eldest key
        eldest = await wa.revision(team, 2, first.id, root, eldest_seqno=7)
        await refused_and_nothing_stored(http, world, wa, fid, eldest.envelope, 403, "FS_WRITER_MISMATCH", 1)

        # a key generation that is not the team's newest (sealed under the real key, signed well)
        gen, key = await wa.key(team)
        stale = await wa.revision(team, 2, first.id, root, key_gen=gen + 1, kbfs_key=key)
        await refused_and_nothing_stored(http, world, wa, fid, stale.envelope, 400, "FS_KEY_GEN_REFUSED", 1)

        # garbage; a non-canonical envelope (the same revision, its map keys in another order)
        await refused_and_nothing_stored(http, world, wa, fid, b"\x92\xc4\x00", 400, "FS_BAD_REVISION", 1)
        shuffled = dict(reversed(list(unpack(raw).items())))
        resigned = pack([pack(shuffled), sign_detached(await wa.device(), pack(shuffled), prefix=PREFIX_REVISION)])
        assert pack_revision(good.revision) == raw
        await refused_and_nothing_stored(http, world, wa, fid, resigned, 400, "FS_BAD_REVISION", 1)

        # and the honest revision 2 still lands on the unchanged head
        assert (await http.post_revision(wa, fid, good.envelope)).status_code == 200
        assert stored_revisions(world.server, fid) == 2
    finally:
        await http.aclose()
