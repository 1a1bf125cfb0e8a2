"""The blob routes against an account holder (found by an attacker review), real server
processes: an over-quota upload of a public folder block's bytes (sent chunked under
`Content-Length: 0`) deleted that block; the blob GET served private folder blocks to
anyone; stalled uploads held every shared worker thread; folder batch bodies were read
before the token was checked. Each: refused, typed, nothing of anyone else's changed."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import time
from pathlib import Path

import httpx
import pytest

from kbapp.core.fs.names import split_path

from e2e_support import signup_all

pytestmark = pytest.mark.timeout(240)


def _blob_files(server) -> set[str]:
    return {p.name for p in (Path(server.data_dir) / "blobs").glob("??/*") if p.parent.name != "tmp"}


def _raw(port: int, method: str, path: str, headers: dict) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall((f"{method} {path} HTTP/1.1\r\nHost: x\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
               + "\r\n").encode())
    return s


def _status(s: socket.socket, timeout: float = 30) -> int:
    s.settimeout(timeout)
    buf = b""
    while b"\r\n" not in buf:
        got = s.recv(65536)
        if not got:
            break
        buf += got
    return int(buf.split(b" ", 2)[1])


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n0\r\n\r\n"


async def test_an_over_quota_upload_never_deletes_a_folder_block(server_factory, tmp_path, apps):
    server = server_factory(extra=["--blob-quota", "5000"])
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob", "carol"))
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    await alice.files.write("/public/alice/hello.txt", b"hello, world")
    fid = (await alice.files._folder(split_path("/public/alice")[0])).folder_id
    blocks = sorted(_blob_files(server))
    assert blocks
    tok = await bob.api.read_tokens.header()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as h:
        r = await h.post("/v1/blobs", content=os.urandom(1000), headers={"Authorization": tok})
        assert r.status_code == 200                                   # bob's quota is full (4096 counted)
        assert (await h.get("/v1/blobs", headers={"Authorization": tok})).json()["used"] == 4096
        for bid in blocks:
            data = (await h.get(f"/v1/folders/{fid}/blocks/{bid}")).content     # public: no token
            assert hashlib.sha256(data).hexdigest() == bid
            assert (await h.put(f"/v1/blobs/{bid}", content=data, headers={"Authorization": tok})).status_code == 403
            s = _raw(server.port, "PUT", f"/v1/blobs/{bid}",
                     {"Authorization": tok, "Content-Length": "0", "Transfer-Encoding": "chunked"})
            s.sendall(_chunked(data))
            assert _status(s) == 411                                  # a blob upload is never chunked
            s.close()
        for bid in blocks:
            assert (await h.get(f"/v1/folders/{fid}/blocks/{bid}")).status_code == 200
    assert set(blocks) <= _blob_files(server)
    assert await carol.files.read("/public/alice/hello.txt") == b"hello, world"


async def test_the_blob_route_serves_no_folder_block(server_factory, tmp_path, apps):
    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = users["alice"], users["bob"]
    await alice.files.write("/private/alice/secret.txt", b"top secret")
    fid = (await alice.files._folder(split_path("/private/alice")[0])).folder_id
    tok = await bob.api.read_tokens.header()
    mine = await alice.api.read_tokens.header()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as h:
        blob = await h.post("/v1/blobs", content=b"an attachment", headers={"Authorization": mine})
        assert (await h.get(f"/v1/blobs/{blob.json()['blob_id']}", headers={"Authorization": tok})).status_code == 200
        for bid in sorted(_blob_files(server) - {blob.json()["blob_id"]}):
            assert (await h.get(f"/v1/folders/{fid}/blocks/{bid}", headers={"Authorization": tok})).status_code == 404
            assert (await h.get(f"/v1/blobs/{bid}", headers={"Authorization": tok})).status_code == 404
            assert (await h.get(f"/v1/folders/{fid}/blocks/{bid}", headers={"Authorization": mine})).status_code == 200


async def test_stalled_uploads_hold_no_other_request(server_factory, tmp_path, apps):
    """Uploads that declare 400 MB and send nothing: each account has at most 4 at once (429
    beyond), they wait on the uploads' own threads (44 of them took all 40 shared ones before),
    and lookups are answered meanwhile."""
    server = server_factory()
    names = ("alice", "dave") + tuple(f"squat{i}" for i in range(10))
    users = await signup_all(apps, tmp_path, server.url, names)
    toks = {n: await users[n].api.read_tokens.header() for n in names}
    socks = []
    try:
        for n in ("alice",) + names[2:]:
            for _ in range(4):
                socks.append(_raw(server.port, "PUT", f"/v1/blobs/{os.urandom(32).hex()}",
                                  {"Authorization": toks[n], "Content-Length": "400000000"}))
        await asyncio.sleep(2)
        fifth = _raw(server.port, "PUT", f"/v1/blobs/{os.urandom(32).hex()}",
                     {"Authorization": toks["alice"], "Content-Length": "400000000"})
        assert _status(fifth, 10) == 429
        fifth.close()
        async with httpx.AsyncClient(base_url=server.url, timeout=8) as h:
            for path in ("/v1/blobs", "/v1/users/alice", "/v1/lookup/user/alice"):
                t0 = time.monotonic()
                r = await h.get(path, headers={"Authorization": toks["dave"]})
                assert r.status_code == 200 and time.monotonic() - t0 < 5, (path, r.status_code)
    finally:
        for s in socks:
            s.close()


async def test_a_folder_batch_without_a_token_is_refused_before_its_body(server_factory, tmp_path):
    server = server_factory()
    s = _raw(server.port, "POST", f"/v1/folders/{'0' * 32}/blocks:put", {"Content-Length": str(9 << 20)})
    s.sendall(b"\0" * 1024)                      # the rest never comes: the answer must not wait for it
    assert _status(s, 10) == 401
    s.close()


async def test_an_upload_that_sends_nothing_is_dropped(monkeypatch):
    """`_pull` gives up after STALL_S seconds without a byte (was: 30 s + length / 64 KiB/s)."""
    import anyio.to_thread

    from kbapp.core import errors
    from kbapp.server.routes import blobs

    monkeypatch.setattr(blobs, "STALL_S", 0.2)

    class Silent:
        def __aiter__(self):
            return self

        async def __anext__(self):
            await asyncio.sleep(3600)

    with pytest.raises(errors.NetworkError, match="sent nothing"):
        await anyio.to_thread.run_sync(lambda: list(blobs._pull(Silent(), 10)))

    class Long:
        def __init__(self):
            self.left = [b"x" * 8, b"y" * 8]

        def __aiter__(self):
            return self

        async def __anext__(self):
            if not self.left:
                raise StopAsyncIteration
            return self.left.pop(0)

    with pytest.raises(errors.EncodingError, match="longer than its Content-Length"):
        await anyio.to_thread.run_sync(lambda: list(blobs._pull(Long(), 10)))


async def test_tiny_blobs_count_what_they_take_on_disk(server_factory, tmp_path, apps):
    """300 two-byte blobs counted 600 bytes against the quota while they took 1.2 MB and 300
    inodes: each blob counts at least 4 KiB."""
    server = server_factory(extra=["--blob-quota", str(10 * 4096)])
    users = await signup_all(apps, tmp_path, server.url, ("alice",))
    tok = await users["alice"].api.read_tokens.header()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as h:
        codes = [(await h.post("/v1/blobs", content=i.to_bytes(2, "big"), headers={"Authorization": tok})).status_code
                 for i in range(12)]
        assert codes == [200] * 10 + [403, 403]
        assert (await h.get("/v1/blobs", headers={"Authorization": tok})).json()["used"] == 10 * 4096
