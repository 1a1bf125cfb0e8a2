"""Hostile block batches (`POST /v1/folders/{fid}/blocks:put`, server/folder_batch.py) against a
real server process: the attacker is a client with a real account (a writer, a reader or a
stranger) who sends a batch the server must refuse whole. Each is answered with one typed
error, never a 5xx, and nothing of the batch is kept: no block row, no usage charged, and no
blob file of its good blocks left on the server's disk.

* one block among good ones whose bytes are not its id (altered, or another block's bytes);
* a reader of the team, a stranger, no token;
* broken frames: cut short, a size over a block's maximum, a zero size, an id twice, more
  blocks than a batch holds, nothing at all, a body over the cap;
* a batch whose blocks together pass the uploader's quota (each alone would fit).
"""

from __future__ import annotations

import hashlib
import os

import pytest
from sqlalchemy import func, select

from kbapp.core.fs.blocks import MAX_STORED
from kbapp.server import db as server_db
from kbapp.server.folder_tables import folder_blocks, folder_usage

from e2e_support import signup_all
from fs_server_support import FolderHTTP, Writer, code

pytestmark = pytest.mark.timeout(300)


def frame(blocks) -> bytes:
    return b"".join(bytes.fromhex(bid) + len(data).to_bytes(4, "big") + data for bid, data in blocks)


def block(n: int = 700) -> tuple[str, bytes]:
    data = os.urandom(n)
    return hashlib.sha256(data).hexdigest(), data


def kept(server) -> tuple[int, int, list[str]]:
    """(folder block rows, bytes charged, blob files on disk) on the server."""
    engine = server_db.make_engine(server_db.normalise_url(None, server.data_dir))
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(func.count()).select_from(folder_blocks)).scalar()
            used = conn.execute(select(func.coalesce(func.sum(folder_usage.c.bytes), 0))).scalar()
    finally:
        engine.dispose()
    root = server.data_dir / "blobs"
    files = sorted(p.name for p in root.glob("??/*")) if root.exists() else []
    return rows, used, files


async def post(http: FolderHTTP, who, body: bytes, *, team: bool = True):
    params = {"team": who.team_id, "kind": who.kind} if team else None
    headers = {"Authorization": await who.token()} if who is not None else {}
    return await http.client.post(f"/v1/folders/{who.folder_id}/blocks:put", content=body, params=params,
                                  headers=headers)


async def test_hostile_batches_are_refused_whole_and_nothing_is_kept(server_factory, tmp_path, apps):
    server = server_factory(extra=["--folder-quota-user", str(3 * 600_000)])
    users = await signup_all(apps, tmp_path, server.url, ("alice", "carol", "mallory"))
    view = await users["alice"].create_team("acme")
    await users["alice"].add_member("acme", "carol", "reader")
    alice, carol, mallory = (Writer(users[n], server.url, view.team_id) for n in ("alice", "carol", "mallory"))
    http = FolderHTTP(server.url)
    try:
        before = kept(server)
        good = [block(), block()]

        async def refused(who, body, status, error, **kw):
            r = await post(http, who, body, **kw)
            assert (r.status_code, code(r)) == (status, error), (r.status_code, r.text)
            assert kept(server) == before, "a refused batch kept something"

        # one block is not its id: altered bytes, or another block's bytes under an id
        bid, data = block()
        await refused(alice, frame([*good, (bid, data[:-1] + bytes([data[-1] ^ 1]))]), 400, "FS_BLOCK_MISMATCH")
        await refused(alice, frame([*good, (bid, good[0][1] + b"x")]), 400, "FS_BLOCK_MISMATCH")
        # not a writer
        await refused(carol, frame(good), 403, "FS_NOT_WRITER")
        await refused(mallory, frame(good), 403, "FS_NOT_WRITER")
        r = await http.client.post(f"/v1/folders/{alice.folder_id}/blocks:put", content=frame(good))
        assert (r.status_code, code(r)) == (401, "BAD_READ_TOKEN"), r.text
        # broken frames
        whole = frame(good)
        await refused(alice, whole[:-1], 400, "BAD_ENCODING")
        await refused(alice, whole + b"\0" * 10, 400, "BAD_ENCODING")
        big = bytes.fromhex(good[0][0]) + (MAX_STORED + 1).to_bytes(4, "big") + b"\0" * (MAX_STORED + 1)
        await refused(alice, big, 400, "BAD_ENCODING")
        await refused(alice, bytes.fromhex(good[0][0]) + bytes(4) + frame(good[1:]), 400, "BAD_ENCODING")
        await refused(alice, frame([good[0], good[1], good[0]]), 400, "BAD_ENCODING")
        await refused(alice, frame([block(300) for _ in range(17)]), 400, "BAD_ENCODING")
        await refused(alice, b"", 400, "BAD_ENCODING")
        await refused(alice, b"\0" * (10 << 20), 413, "TOO_LARGE")
        # together over the quota (3 x 600,000 bytes; four blocks of 500,000): nothing kept
        await refused(alice, frame([block(500_000) for _ in range(4)]), 413, "FS_QUOTA")

        # the same good batch is taken whole, and again (idempotent: nothing new)
        r = await post(http, alice, frame(good))
        assert r.status_code == 200, r.text
        assert [b["new"] for b in r.json()["blocks"]] == [True, True]
        r = await post(http, alice, frame(good))
        assert [b["new"] for b in r.json()["blocks"]] == [False, False]
        rows, used, files = kept(server)
        assert rows == 2 and used == 2 * sum(len(d) for _, d in good) and sorted(b for b, _ in good) == files
        got = await http.get_block(carol, alice.folder_id, good[1][0])
        assert got.content == good[1][1]
    finally:
        await http.aclose()
