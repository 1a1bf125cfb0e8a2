"""Blob routes (chat attachments): `PUT /v1/blobs/{id}` or `POST /v1/blobs` streamed in,
`GET` streamed out.

The server never reads a blob (clients signencrypt before upload and verify after
download, core/chat/signencrypt.py); what it guards is its own disk and bandwidth:

* both need a read token of a live device (team_access.ReadAccess.reader): no stranger
  uses the server as a file host. Who may read which blob it cannot know (only message
  bodies name blobs): ids are SHA-256 of ciphertext under one-time keys, unguessable;
* an upload says its length first (Content-Length): the size cap and the account's quota
  refuse it before a byte is read; the body streams into the store a piece at a time
  (memory stays flat), is hashed on the way and kept only if it hashes to the id (PUT), or
  kept under the id it hashes to, which the answer names (POST: the client encrypts once
  and checks that id against its own hash; nobody can name an id for other bytes);
* uploads are counted per device (blob_rate), bytes per account (blob_quota, checked
  again when the upload lands: concurrent uploads cannot overrun it together);
* a read may ask for one byte range (a client seeking to a chunk): 206 with its range.
"""

from __future__ import annotations

import asyncio
import re
import threading
from functools import partial

import anyio.from_thread
import anyio.to_thread
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from kbapp.core import errors
from kbapp.core.tokens import parse_read_token

from .. import blob_tables, chat_blobs, db
from ..blobstore import BlobStore, check_blob_id
from ..limits import LimitConfig, RateLimiter, rate_limited
from ..limits import error_response as lim_error
from ..team_access import ReadAccess
from .common import Http, error_response

PULL = 1 << 20                   # request body bytes handed to the store's thread at a time
UPLOAD_THREADS = 8               # uploads stored at once by one process (each holds a thread while bytes come)
ACCOUNT_UPLOADS = 4              # uploads of one account at once
STALL_S = 60.0                   # seconds an upload may send nothing before it is dropped
_RANGE = re.compile(r"bytes=(\d{0,18})-(\d{0,18})")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """[start, stop) of a single `bytes=` range, None for the whole blob; BadRange (416)
    for several ranges, a malformed one, or one that starts past the end."""
    if header is None:
        return None
    m = _RANGE.fullmatch(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        raise errors.BadRange("one range, as bytes=START-END, bytes=START- or bytes=-LAST")
    first, last = m.group(1), m.group(2)
    if not first:                                  # the last N bytes
        n = int(last)
        if n == 0 or size == 0:                    # (an empty blob has no last bytes: 416, as RFC 9110)
            raise errors.BadRange("an empty suffix range" if n == 0 else "the blob is empty: no range of it")
        return max(0, size - n), size
    start = int(first)
    stop = size if not last else min(size, int(last) + 1)
    if start >= size or stop <= start:
        raise errors.BadRange(f"bytes {header.strip()[6:]} are not within the blob's {size}")
    return start, stop


class Uploads:
    """Quota bookkeeping: bytes being uploaded per account (reserved when an upload
    starts) and the final charge, one at a time (per process; on PostgreSQL the users row
    is locked too, so processes sharing a database charge one after another)."""

    def __init__(self, http: Http, store: BlobStore, cfg: LimitConfig):
        self.service, self.store, self.cfg = http.service, store, cfg
        self.pending: dict[str, int] = {}
        self.active: dict[str, int] = {}
        self.lock = threading.Lock()

    def reserve(self, uid: str, length: int) -> None:
        with self.service.engine.connect() as conn:
            used = blob_tables.used(conn, uid)
        with self.lock:
            if self.active.get(uid, 0) >= ACCOUNT_UPLOADS:
                raise rate_limited(f"more than {ACCOUNT_UPLOADS} blob uploads at once from this account", 1.0)
            if used + self.pending.get(uid, 0) + blob_tables.charged(length) > self.cfg.blob_quota:
                raise errors.BlobQuotaExceeded(
                    f"this account holds {used} bytes of blobs; {length} more would pass its quota of "
                    f"{self.cfg.blob_quota}")
            self.pending[uid] = self.pending.get(uid, 0) + blob_tables.charged(length)
            self.active[uid] = self.active.get(uid, 0) + 1

    def release(self, uid: str, length: int) -> None:
        with self.lock:
            for counts, n in ((self.pending, blob_tables.charged(length)), (self.active, 1)):
                left = counts.get(uid, 0) - n
                if left > 0:
                    counts[uid] = left
                else:
                    counts.pop(uid, None)

    def charge(self, uid: str, blob_id: str, size: int) -> None:
        """Record the landed upload, or (over quota after all) drop the blob if nobody
        else holds it, and refuse."""
        engine = self.service.engine
        with self.lock, engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(select(db.users.c.uid).where(db.users.c.uid == uid).with_for_update())
            if blob_tables.holds(conn, uid, blob_id):
                return
            if blob_tables.used(conn, uid) + blob_tables.charged(size) > self.cfg.blob_quota:
                # never bytes someone else keeps: a folder's block or another account's upload
                # (an over-quota PUT of a public block's bytes deleted that block; found in review)
                if not chat_blobs.held_anywhere(conn, blob_id):
                    self.store.delete(blob_id)
                raise errors.BlobQuotaExceeded(f"this upload would pass the account's quota of "
                                               f"{self.cfg.blob_quota} bytes")
            blob_tables.record(conn, uid, blob_id, size, int(self.service.clock()))


def routes(http: Http, store: BlobStore, cfg: LimitConfig) -> list[Route]:
    access = ReadAccess(http.service)
    uploads = Uploads(http, store, cfg)
    per_device = RateLimiter(cfg.blob_rate, cfg.blob_burst)
    storing = _UploadThreads().run

    def who(auth: str | None) -> tuple[str, str]:
        """(uid, device kid) of a valid read token, else BadReadToken (401)."""
        with http.service.engine.connect() as conn:
            uid = access.reader(conn, auth)
        return uid, parse_read_token(auth)[0].kid

    async def quota(request: Request):
        uid, _ = await run_in_threadpool(who, request.headers.get("authorization"))

        def read():
            with http.service.engine.connect() as conn:
                return blob_tables.used(conn, uid)
        return {"used": await run_in_threadpool(read), "quota": cfg.blob_quota, "max_size": cfg.blob_max}

    async def admit(request: Request) -> tuple[str, int]:
        """(uid, length) of an upload that may start: a live device's token, a length under
        the cap, the device's rate, the account's quota (reserved: release it after)."""
        uid, kid = await run_in_threadpool(who, request.headers.get("authorization"))
        length = request.headers.get("content-length")
        if length is None or not length.isdigit() or len(length) > 18:
            raise errors.BlobLengthRequired("a blob upload names its size first (Content-Length)")
        if "transfer-encoding" in request.headers:
            # h11 reads such a body as chunked whatever Content-Length said: the quota would
            # be reserved for the declared length and charged for another
            raise errors.BlobLengthRequired("a blob upload is sent with its Content-Length, not chunked")
        length = int(length)
        if length > cfg.blob_max:
            raise errors.TooLarge(f"a blob is at most {cfg.blob_max} bytes")
        wait = per_device.take(kid)
        if wait:
            raise rate_limited("blob uploads from this device", wait)
        await run_in_threadpool(uploads.reserve, uid, length)
        return uid, length

    async def put(request: Request):
        blob_id = check_blob_id(request.path_params["blob_id"])
        uid, length = await admit(request)
        try:
            size = await storing(store.put, blob_id, _pull(request.stream(), length))
            await run_in_threadpool(uploads.charge, uid, blob_id, size)
        finally:
            uploads.release(uid, length)
        return {"blob_id": blob_id, "size": size}

    async def post(request: Request):
        uid, length = await admit(request)
        try:
            blob_id, size = await storing(store.put_any, _pull(request.stream(), length))
            await run_in_threadpool(uploads.charge, uid, blob_id, size)
        finally:
            uploads.release(uid, length)
        return {"blob_id": blob_id, "size": size}

    async def get(request: Request):
        blob_id = check_blob_id(request.path_params["blob_id"])
        await run_in_threadpool(who, request.headers.get("authorization"))

        def chat_blob() -> bool:
            with http.service.engine.connect() as conn:
                return chat_blobs.chat_holds(conn, blob_id)
        if not await run_in_threadpool(chat_blob):      # a folder's blocks: its own routes, its readers
            raise errors.NotFound(f"no blob {blob_id}")
        return await _serve(request, store, blob_id)

    return [
        Route("/v1/blobs", _answer(quota)),
        Route("/v1/blobs", _answer(post), methods=["POST"]),
        Route("/v1/blobs/{blob_id}", _answer(put), methods=["PUT"]),
        Route("/v1/blobs/{blob_id}", _answer(get), methods=["GET"]),
    ]


class _UploadThreads:
    """Worker threads of the uploads' own: an upload holds its thread while the client sends,
    so 40 stalled uploads took every thread of the shared pool and every lookup waited (found
    in review). At most UPLOAD_THREADS store at once; the others wait without a thread."""

    def __init__(self):
        self._limiter = None            # made in the event loop, at the first upload

    async def run(self, fn, *args):
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(UPLOAD_THREADS)
        return await anyio.to_thread.run_sync(partial(fn, *args), limiter=self._limiter)


async def _serve(request: Request, store: BlobStore, blob_id: str) -> Response:
    """The blob, or the range of it the request asks for, streamed (HEAD: the headers alone)."""
    size = await run_in_threadpool(store.size, blob_id)
    span = parse_range(request.headers.get("range"), size)
    start, stop = span or (0, size)
    headers = {"Content-Length": str(stop - start), "Accept-Ranges": "bytes",
               "Cache-Control": "private, max-age=0", "Content-Type": "application/octet-stream"}
    if span is not None:
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    status = 200 if span is None else 206
    if request.method == "HEAD":          # (a streamed answer would read the whole blob for nothing)
        return Response(status_code=status, headers=headers)
    body = await run_in_threadpool(store.open, blob_id, start, stop)
    return StreamingResponse(body, status_code=status, headers=headers)


def _pull(stream, length: int | None = None):
    """The request body's pieces as a plain iterator, for the store's put in a worker
    thread: each piece is fetched from the event loop when the store asks for it, so at
    most one piece is held at a time. A client that goes away, or sends more than its
    `length`, ends it with an error (the store keeps nothing)."""
    async def next_piece():          # up to PULL bytes a hop: each hop to the loop costs more than a copy
        parts, n = [], 0
        try:
            while n < PULL:
                parts.append(await asyncio.wait_for(stream.__anext__(), STALL_S))
                n += len(parts[-1])
        except StopAsyncIteration:
            if not parts:
                return None
        except asyncio.TimeoutError:
            raise errors.NetworkError(f"the upload sent nothing for {STALL_S:g} s") from None
        return b"".join(parts)

    while True:
        try:
            piece = anyio.from_thread.run(next_piece)
        except ClientDisconnect:
            raise errors.NetworkError("the client went away during the upload") from None
        if piece is None:
            return
        if length is not None:
            length -= len(piece)
            if length < 0:
                raise errors.EncodingError("the body is longer than its Content-Length")
        if piece:
            yield piece


STATUS = {errors.BlobQuotaExceeded: 403, errors.BlobLengthRequired: 411, errors.BadRange: 416}


def _answer(handler):
    """Http.wrap for handlers that may return a Response (a stream) as well as a dict."""
    async def endpoint(request: Request):
        try:
            result = await handler(request)
        except errors.KbappError as e:
            status = next((s for cls, s in STATUS.items() if isinstance(e, cls)), None)
            return error_response(e) if status is None else lim_error(e, status)
        except ValueError as e:
            return error_response(errors.EncodingError(str(e)))
        return result if not isinstance(result, dict) else JSONResponse(result)
    return endpoint
