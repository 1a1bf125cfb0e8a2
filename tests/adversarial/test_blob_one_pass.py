"""One-pass attachment uploads (`POST /v1/blobs`) and the parallel download Decoder, from
the attacker's side.

* The server names a POSTed blob by the SHA-256 of the bytes that arrived; nobody names it.
  A client that then claims that address for other bytes (PUT) is refused (BLOB_MISMATCH)
  and the stored bytes stay; the quota is charged for what was kept.
* A lying server answering the upload with another id than the content's hash: the client
  refuses the upload (BlobMismatch) and no message names the blob.
* The Decoder opening packets on a thread pool (`pmap`) gives the sequential Decoder's
  typed error for each hostile blob (swapped, truncated, trailing, altered, another blob).
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from kbapp.client.chat import transfer
from kbapp.core import errors
from kbapp.core.chat import signencrypt as se

BLOBS = r"^/v1/blobs$"


async def _raw(app, method: str, path: str, **kw) -> httpx.Response:
    headers = {"Authorization": await app.api.read_tokens.header(), **kw.pop("headers", {})}
    async with httpx.AsyncClient(base_url=app.api.base_url, timeout=30) as h:
        return await h.request(method, path, headers=headers, **kw)


async def test_a_posted_blob_is_named_by_its_hash_and_cannot_be_claimed_for_other_bytes(user, proxy):
    a, _, _ = await user("alice")
    used = (await a.api.blob_quota())["used"]
    data = os.urandom(300_000)
    posted = await _raw(a, "POST", "/v1/blobs", content=data)
    assert posted.status_code == 200, posted.text
    blob_id = hashlib.sha256(data).hexdigest()
    assert posted.json() == {"blob_id": blob_id, "size": len(data)}
    assert (await a.api.blob_quota())["used"] == used + len(data)
    other = os.urandom(300_000)                             # other bytes, claimed under that address
    put = await _raw(a, "PUT", f"/v1/blobs/{blob_id}", content=other)
    assert put.status_code == 400 and put.json()["error"]["code"] == "BLOB_MISMATCH"
    got = await _raw(a, "GET", f"/v1/blobs/{blob_id}")
    assert got.status_code == 200 and got.content == data
    named = await _raw(a, "POST", f"/v1/blobs/{hashlib.sha256(other).hexdigest()}", content=other)
    assert named.status_code == 405                          # a POST names no id
    assert (await _raw(a, "GET", f"/v1/blobs/{hashlib.sha256(other).hexdigest()}")).status_code == 404


async def test_a_lying_server_cannot_rename_an_upload(user, name, proxy, tmp_path):
    a, _, _ = await user("alice")
    team = name("acme")
    await a.create_team(team)
    await a.chat.send(team, "the plan follows")
    src = tmp_path / "plan.bin"
    src.write_bytes(os.urandom(3 * se.CHUNK + 5))
    decoy = "ab" * 32

    def lie(body):
        return {**body, "blob_id": decoy} if "blob_id" in body else body
    proxy.set("json", match=BLOBS, fn=lie)
    with pytest.raises(errors.BlobMismatch):
        await transfer.upload(a.api, src)
    with pytest.raises(errors.BlobMismatch):
        await a.chat.upload(team, src)
    assert proxy.tampered
    proxy.clear()
    view = await a.chat.read(team, sync=True)
    assert [m for m in view.messages if m.type == "attachment"] == []


# --- the parallel Decoder ---------------------------------------------------------------------

C, P = se.CHUNK, se.PACKET
SIZE = 4 * C + 1234


def _decode(k, blob: bytes, enc_hash: bytes, size, pmap) -> bytes:
    dec = se.Decoder(k.reader(), enc_hash=enc_hash, size=size)
    out = []
    for i in range(0, len(blob), 2 * P + 999):              # cut anywhere, a few packets at a time
        out += dec.update(blob[i:i + 2 * P + 999], pmap)
    out.append(dec.finish())
    return b"".join(out)


@pytest.mark.parametrize("size", [SIZE, None])
def test_the_parallel_decoder_refuses_what_the_sequential_one_refuses(size):
    k = se.AttachmentKeys.generate(os.urandom)
    data = os.urandom(SIZE)
    blob, h = se.encrypt(k, data)
    other, h2 = se.encrypt(se.AttachmentKeys.generate(os.urandom), data)
    p = [blob[i:i + P] for i in range(0, len(blob), P)]
    flipped = bytearray(blob)
    flipped[3 * P + 10] ^= 1
    cases = [(b"".join([p[0], p[2], p[1], *p[3:]]), h, errors.AttachmentReordered),
             (b"".join(p[:4]), h, errors.AttachmentTruncated),
             (blob + b"x", h, errors.AttachmentTrailingData if size else errors.AttachmentTampered),
             (bytes(flipped), h, errors.AttachmentTampered),
             (blob, h2, errors.AttachmentHashMismatch),
             (other, h2, errors.AttachmentTampered)]
    with ThreadPoolExecutor(2) as pool:
        assert _decode(k, blob, h, size, pool.map) == data
        for bad, hh, error in cases:
            for pmap in (map, pool.map):
                with pytest.raises(error):
                    _decode(k, bad, hh, size, pmap)
