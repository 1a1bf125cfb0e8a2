"""Chat attachments end to end against real server processes (SQLite and PostgreSQL):
a 50 MB file up and down with memory measured on both sides, byte-range reads (a seek),
and the server's refusals: no or a forged token, a body that is not its id, the size
cap, the account's quota, a malformed range. Nothing refused is kept; nothing is a 5xx.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
import tracemalloc
from pathlib import Path

import httpx
import pytest

from kbapp.client.chat import transfer
from kbapp.core import errors
from kbapp.core.chat import signencrypt as se

from e2e_support import signup_all

pytestmark = pytest.mark.timeout(600)
MB = 1_000_000


def write_random(path: Path, size: int) -> str:
    """A file of `size` random bytes, written in pieces; its SHA-256 hex."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            piece = os.urandom(min(left, 1 << 20))
            h.update(piece)
            f.write(piece)
            left -= len(piece)
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while piece := f.read(1 << 20):
            h.update(piece)
    return h.hexdigest()


def rss_kib(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of a process in KiB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def blob_files(server) -> list[Path]:
    root = server.data_dir / "blobs"
    return [p for p in root.rglob("*") if p.is_file()]


def settled_blob_files(server, timeout: float = 10.0) -> list[Path]:
    """The blob files once no upload's temporary file is left (the server notices a client
    that went away on its next read)."""
    deadline = time.monotonic() + timeout
    while any(p.parent.name == "tmp" for p in blob_files(server)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return blob_files(server)


async def test_50mb_round_trip_memory_flat_and_range_reads(server_factory, db_url, tmp_path, apps):
    server = server_factory(db_url)
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    src = tmp_path / "movie.bin"
    digest = write_random(src, 50 * MB)
    rss_before = rss_kib(server.proc.pid)

    seen: list[tuple[int, int]] = []
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        ref = await transfer.upload(alice.api, src, progress=lambda d, t: seen.append((d, t)))
        t_up = time.perf_counter() - t0
        _, peak_up = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        dest = tmp_path / "got" / "movie.bin"
        dest.parent.mkdir()
        t0 = time.perf_counter()
        await transfer.download(bob.api, ref, dest)
        t_down = time.perf_counter() - t0
        _, peak_down = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_after, server_peak = rss_kib(server.proc.pid)
    print(f"\n50 MB: upload {t_up:.2f} s, download {t_down:.2f} s; client peak traced "
          f"{peak_up / MB:.1f} MB up, {peak_down / MB:.1f} MB down; server RSS {rss_before[0] / 1000:.0f} -> "
          f"{rss_after / 1000:.0f} MB (peak {server_peak / 1000:.0f} MB)")

    assert sha256_file(dest) == digest and ref.size == 50 * MB and ref.name == "movie.bin"
    assert [p.name for p in dest.parent.iterdir()] == ["movie.bin"]      # no partial file left
    assert ref.blob_id == hashlib.sha256((server.data_dir / "blobs" / ref.blob_id[:2] / ref.blob_id)
                                         .read_bytes()).hexdigest()
    assert seen[-1] == (ref.sealed_size, ref.sealed_size)                 # one pass (POST /v1/blobs)
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
    # flat: a few packets, not the file (50 MB), on the client; the server process too
    assert peak_up < 16 * MB and peak_down < 16 * MB
    assert rss_after - rss_before[0] < 40_000                              # KiB

    # a seek: chunk 7 alone, by a byte range, checked
    with open(src, "rb") as f:
        f.seek(7 * se.CHUNK)
        assert await transfer.fetch_chunk(bob.api, ref, 7) == f.read(se.CHUNK)
        last = se.packet_count(ref.size) - 1
        f.seek(last * se.CHUNK)
        assert await transfer.fetch_chunk(bob.api, ref, last) == f.read()

    # raw ranges: 206 with Content-Range; a suffix; several or outside ones refused (416)
    tok = await bob.api.read_tokens.header()
    url = f"{server.url}/v1/blobs/{ref.blob_id}"
    r = httpx.get(url, headers={"Authorization": tok, "Range": "bytes=10-19"}, timeout=30)
    assert r.status_code == 206 and len(r.content) == 10
    assert r.headers["content-range"] == f"bytes 10-19/{ref.sealed_size}"
    r = httpx.get(url, headers={"Authorization": tok, "Range": "bytes=-5"}, timeout=30)
    assert r.status_code == 206 and len(r.content) == 5
    for bad in ("bytes=0-1,5-6", f"bytes={ref.sealed_size}-", "bytes=x-", "items=0-1"):
        r = httpx.get(url, headers={"Authorization": tok, "Range": bad}, timeout=30)
        assert r.status_code == 416 and r.json()["error"]["code"] == "BAD_RANGE", bad


async def test_refusals_keep_nothing(server_factory, tmp_path, apps):
    server = server_factory(extra=["--blob-quota", str(3 * se.PACKET), "--blob-max", str(2 * se.PACKET)])
    u = await signup_all(apps, tmp_path, server.url, ("carol",))
    carol = u["carol"]
    tok = await carol.api.read_tokens.header()
    data = os.urandom(1000)
    blob_id = hashlib.sha256(data).hexdigest()
    url = f"{server.url}/v1/blobs/{blob_id}"

    def put(body: bytes, headers: dict, target: str = url) -> httpx.Response:
        return httpx.put(target, content=body, headers=headers, timeout=30)

    # no token, a token that is not one, a token for another server
    for headers in ({}, {"Authorization": "KbappRead abc"}, {"Authorization": tok.replace("A", "B", 3)}):
        r = put(data, headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "BAD_READ_TOKEN"
        r = httpx.get(url, headers=headers, timeout=30)
        assert r.status_code == 401
    # bytes that are not the id's
    r = put(data + b"x", {"Authorization": tok})
    assert r.status_code == 400 and r.json()["error"]["code"] == "BLOB_MISMATCH"
    # a path that is not an id
    r = put(data, {"Authorization": tok}, f"{server.url}/v1/blobs/{blob_id.upper()}")
    assert r.status_code == 400 and r.json()["error"]["code"] == "BAD_BLOB_ID"
    # no length first (a chunked body)
    r = put(iter([data]), {"Authorization": tok})
    assert r.status_code == 411 and r.json()["error"]["code"] == "BLOB_LENGTH_REQUIRED"
    # over the size cap, announced
    big = os.urandom(2 * se.PACKET + 1)
    r = put(big, {"Authorization": tok}, f"{server.url}/v1/blobs/{hashlib.sha256(big).hexdigest()}")
    assert r.status_code == 413 and r.json()["error"]["code"] == "TOO_LARGE"
    assert blob_files(server) == []
    # the genuine upload lands, once
    r = put(data, {"Authorization": tok})
    assert r.status_code == 200 and r.json() == {"blob_id": blob_id, "size": 1000}
    r = httpx.get(url, headers={"Authorization": tok}, timeout=30)
    assert r.status_code == 200 and r.content == data
    r = httpx.head(url, headers={"Authorization": tok}, timeout=30)      # the size, no body read
    assert r.status_code == 200 and r.headers["content-length"] == "1000" and r.content == b""
    r = httpx.get(f"{server.url}/v1/blobs/{'0' * 64}", headers={"Authorization": tok}, timeout=30)
    assert r.status_code == 404

    # the quota: 3 packets in all; two of 2 packets do not fit
    a = tmp_path / "a.bin"
    a.write_bytes(os.urandom(2 * se.CHUNK - 100))
    ref = await transfer.upload(carol.api, a)
    assert ref.sealed_size <= 2 * se.PACKET
    with pytest.raises(errors.BlobQuotaExceeded):             # refused by the client, from /v1/blobs
        await transfer.upload(carol.api, a)
    two = os.urandom(2 * se.PACKET - 10)
    r = put(two, {"Authorization": tok}, f"{server.url}/v1/blobs/{hashlib.sha256(two).hexdigest()}")
    assert r.status_code == 403 and r.json()["error"]["code"] == "BLOB_QUOTA"   # and by the server
    assert len(blob_files(server)) == 2                        # the 1000 bytes and a.bin's blob
    with pytest.raises(errors.TooLarge):
        big_file = tmp_path / "big.bin"
        big_file.write_bytes(os.urandom(2 * se.CHUNK + 10))
        await transfer.upload(carol.api, big_file)
    # a name the message body would refuse: refused before any work
    with pytest.raises(errors.InvalidChatInput):
        await transfer.upload(carol.api, a, name="../../etc/passwd")
    assert len(blob_files(server)) == 2


async def test_cancel_and_unreachable_leave_nothing(server, tmp_path, apps):
    u = await signup_all(apps, tmp_path, server.url, ("dave",))
    dave = u["dave"]
    src = tmp_path / "f.bin"
    write_random(src, 5 * se.CHUNK)
    stop = threading.Event()

    def progress(done, total):
        if done > total // 2:                 # in the sending pass
            stop.set()
    with pytest.raises(errors.Cancelled):
        await transfer.upload(dave.api, src, progress=progress, cancel=stop)
    assert settled_blob_files(server) == []
    ref = await transfer.upload(dave.api, src)
    dest = tmp_path / "out" / "f.bin"
    dest.parent.mkdir()
    stop = threading.Event()
    with pytest.raises(errors.Cancelled):
        await transfer.download(dave.api, ref, dest, progress=lambda d, t: stop.set(), cancel=stop)
    assert list(dest.parent.iterdir()) == []
    loop, started = asyncio.get_running_loop(), asyncio.Event()
    task = asyncio.ensure_future(transfer.download(dave.api, ref, dest,
                                                   progress=lambda d, t: loop.call_soon_threadsafe(started.set)))
    await started.wait()                          # cancelled mid-way (a fixed sleep raced a fast download)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert list(dest.parent.iterdir()) == []


async def test_download_to_a_missing_folder_is_a_typed_error(server, tmp_path, apps):
    """`kbapp chat download ... /no/such/dir/f.bin` (issue 14): AttachmentDestination in words,
    not a raw FileNotFoundError; likewise a parent that is a file and a destination that is
    a folder. Nothing is written anywhere."""
    u = await signup_all(apps, tmp_path, server.url, ("erin",))
    erin = u["erin"]
    src = tmp_path / "f.bin"
    write_random(src, se.CHUNK + 7)
    ref = await transfer.upload(erin.api, src)
    missing = tmp_path / "nowhere" / "f.bin"
    with pytest.raises(errors.AttachmentDestination, match="nowhere is not a folder that exists") as e:
        await transfer.download(erin.api, ref, missing)
    assert e.value.code == "ATTACHMENT_DESTINATION"
    assert not missing.parent.exists()
    with pytest.raises(errors.AttachmentDestination, match="is not a folder that exists"):
        await transfer.download(erin.api, ref, src / "f.bin")        # the "folder" is a file
    folder = tmp_path / "box"
    folder.mkdir()
    with pytest.raises(errors.AttachmentDestination, match="it is a folder"):
        await transfer.download(erin.api, ref, folder)
    assert list(folder.iterdir()) == []
    got = await transfer.download(erin.api, ref, folder / "f.bin")     # the same ref, a right place
    assert sha256_file(got) == sha256_file(src)


async def test_uploads_per_device_and_concurrent_quota(server_factory, tmp_path, apps):
    server = server_factory(extra=["--blob-rate", "0.001", "--blob-burst", "3",
                                   "--blob-quota", str(3 * se.PACKET)])
    u = await signup_all(apps, tmp_path, server.url, ("erin",))
    tok = await u["erin"].api.read_tokens.header()

    async def put(body: bytes) -> httpx.Response:
        async with httpx.AsyncClient(timeout=60) as c:
            return await c.put(f"{server.url}/v1/blobs/{hashlib.sha256(body).hexdigest()}", content=body,
                               headers={"Authorization": tok})

    # two uploads of two packets each at once: the quota (three packets) takes one of them
    answers = await asyncio.gather(put(os.urandom(2 * se.PACKET - 1)), put(os.urandom(2 * se.PACKET - 2)))
    assert sorted(r.status_code for r in answers) == [200, 403]
    assert [r.json()["error"]["code"] for r in answers if r.status_code == 403] == ["BLOB_QUOTA"]
    assert len(settled_blob_files(server)) == 1
    # the device's burst is three uploads (a refused one counted too): the fourth waits
    assert (await put(b"small")).status_code == 200
    r = await put(b"small, again")
    assert r.status_code == 429 and r.json()["error"]["code"] == "RATE_LIMITED" and int(r.headers["retry-after"]) > 1


async def test_a_trickled_upload_times_out(server_factory, tmp_path, apps):
    """A blob upload may take body_timeout + its length at blob_min_rate, no longer: a
    client trickling under the rate is cut off (408) and nothing is kept."""
    server = server_factory(extra=["--body-timeout", "1", "--blob-min-rate", str(1 << 20)])
    u = await signup_all(apps, tmp_path, server.url, ("frank",))
    tok = await u["frank"].api.read_tokens.header()
    body = os.urandom(2 << 20)                 # allowed: 1 s + 2 s

    async def trickle():
        for i in range(0, len(body), 32 << 10):
            yield body[i:i + (32 << 10)]
            await asyncio.sleep(0.1)           # 320 KiB/s: 6.4 s for the whole body

    t0 = time.monotonic()
    async with httpx.AsyncClient(timeout=30) as c:
        try:
            r = await c.put(f"{server.url}/v1/blobs/{hashlib.sha256(body).hexdigest()}", content=trickle(),
                            headers={"Authorization": tok, "Content-Length": str(len(body))})
            assert r.status_code == 408 and r.json()["error"]["code"] == "REQUEST_TIMEOUT"
        except httpx.HTTPError:
            pass                                # or the connection guard closed it
    assert 2.5 < time.monotonic() - t0 < 6.0
    assert settled_blob_files(server) == []


async def test_upload_waits_out_a_short_rate_limit(server_factory, tmp_path, apps):
    """A burst of files over the per-device upload rate: the upload waits as the server says
    (a short Retry-After) and sends the same body again; nothing is lost or doubled."""
    server = server_factory(extra=["--blob-rate", "1", "--blob-burst", "1"])
    u = await signup_all(apps, tmp_path, server.url, ("gina",))
    files = []
    for i in range(2):
        files.append(tmp_path / f"{i}.bin")
        files[-1].write_bytes(os.urandom(3000 + i))
    t0 = time.monotonic()
    refs = [await transfer.upload(u["gina"].api, f) for f in files]
    assert time.monotonic() - t0 >= 0.5                     # the second one waited for its token
    for f, ref in zip(files, refs):
        dest = tmp_path / f"got-{f.name}"
        await transfer.download(u["gina"].api, ref, dest)
        assert dest.read_bytes() == f.read_bytes()
    assert len(settled_blob_files(server)) == 2


async def test_a_full_disk_during_a_download_is_a_typed_error_and_leaves_no_part_file(server, tmp_path, apps,
                                                                                        small_disk):
    u = await signup_all(apps, tmp_path, server.url, ("erin",))
    erin = u["erin"]
    src = tmp_path / "f.bin"
    write_random(src, 3 * se.CHUNK)                   # 3 MiB onto a 2 MiB disk
    ref = await transfer.upload(erin.api, src)
    with pytest.raises(errors.AttachmentDestination, match="cannot save to"):
        await transfer.download(erin.api, ref, small_disk / "f.bin")
    assert list(small_disk.iterdir()) == []           # no hidden .part holding the disk full


async def test_a_file_name_the_body_refuses_is_the_users_input_not_a_verification_failure(server, tmp_path, apps):
    u = await signup_all(apps, tmp_path, server.url, ("erin",))
    for bad in ("invoice\u202etxt.exe", "two\nlines.txt"):
        src = tmp_path / bad
        src.write_bytes(b"x")
        with pytest.raises(errors.InvalidChatInput, match="rename it") as e:
            await transfer.upload(u["erin"].api, src)
        assert not isinstance(e.value, errors.VerificationError)
