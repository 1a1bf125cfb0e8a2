"""Routes of encrypted folders (server/folders.py): blocks, revisions, heads, a team's folders.

* `PUT /v1/folders/{fid}/blocks/{bid}` (body: the stored block; `?team=&kind=` the first time a
  folder is used, since its id cannot be reversed): a writer of the team, SHA-256 = id, quotas;
  idempotent. `GET` the same path: a reader of the team, anyone for a public folder (no token);
  404 alike for "absent" and "not yours", and only under a folder that holds the block.
  `POST /v1/folders/{fid}/blocks:get` `{"ids": [...]}`: up to 64 at once, about 4 MiB an answer
  (the ids left out come back in `later`; absent or foreign ones as null).
  `POST /v1/folders/{fid}/blocks:put` (body: up to 16 framed blocks, folder_batch.py): the
  same checks as single puts, all before anything is kept; one write against the rate.
* `POST /v1/folders/{fid}/revisions` (body: the envelope's bytes): parsed and checked without the
  lock, then compare-and-swap under the service lock inside one `Service._epoch`, so the new head
  (`FolderHead`) is in the transparency map in the same transaction; 409 `FS_HEAD_MOVED` with
  `{"head", "head_id"}` otherwise. The push hint `team:<id>` kind `folder`, subject `<fid>:<rev>`,
  commits with it.
* `GET /v1/folders/{fid}/revisions?since=N&limit=M` and `GET .../head`: envelopes up to the head
  the map proves, with that lookup bundle (as user and team lookups: `Http.fresh`).
* `GET .../head?team=&kind=`: the folder's map entry for the team's readers (anyone: public)
  even with no row yet, so a reader proves a never-written folder absent (client/fs/absence.py).
* `POST .../gc` (body: a writer's signed collection request, core/fs/gc.py): blocks referenced
  only by revisions <= upto deleted once upto is older than `--folder-gc-delay` (folder_gc.py).
Writes are counted per device key (folder_rate). Every refusal is typed; never a 5xx.
"""

from __future__ import annotations

import threading

from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kbapp.core import errors
from kbapp.core.encoding import b64decode, b64encode
from kbapp.core.fs.gc import open_gc
from kbapp.core.teams import Role
from kbapp.core.transparency import FolderHead, map_key

from .. import limits as lim
from ..blobstore import BlobStore
from ..folders import (BATCH_BYTES, BATCH_MAX, PAGE_DEFAULT, PAGE_MAX, PUBLIC, FolderStore, check_block_id, check_envelope,
                       check_folder_id, derive_folder)
from ..folder_batch import parse_batch, put_blocks
from ..folder_gc import check_request, collect
from ..push import PushHub
from ..team_access import MEMBER, ReadAccess
from .common import Http, error_response


def wrap(handler):
    """Http.wrap with each folder refusal answered with its own status; 409 carries the head."""
    async def endpoint(request: Request):
        try:
            result = await handler(request)
        except errors.FolderHeadMoved as e:
            return JSONResponse({"error": {"code": e.code, "message": str(e)}, "head": e.head,
                                 "head_id": e.head_id}, status_code=409)
        except errors.FolderRefused as e:
            return lim.error_response(e, e.status or 400)
        except errors.KbappError as e:
            return error_response(e)
        except ValueError as e:
            return error_response(errors.EncodingError(str(e)))
        return result if isinstance(result, Response) else JSONResponse(result)
    return endpoint


class FolderRoutes:
    def __init__(self, http: Http, push: PushHub, blobs: BlobStore, cfg: lim.LimitConfig):
        self.http, self.push, self.service = http, push, http.service
        self.store = FolderStore(self.service.engine, self.service.clock, blobs,
                                 cfg.folder_quota_user, cfg.folder_quota_team)
        self.access = ReadAccess(self.service)
        self.writes = lim.RateLimiter(cfg.folder_rate, cfg.folder_burst)
        self.gc_delay = cfg.folder_gc_delay
        self._lock = threading.Lock()

    # -- helpers (worker threads) --------------------------------------------------------------

    def _who(self, auth: str | None) -> tuple[str, str, int]:
        """(uid, kid hex, eldest seqno) of a read token signed by a live device key, else 401."""
        with self.service.engine.connect() as conn:
            token, eldest = self.access.device(conn, auth)
        return token.uid, token.kid, eldest

    def _spend(self, kid: str) -> None:
        with self._lock:
            wait = self.writes.take(kid)
        if wait:
            raise lim.rate_limited("folder writes from this device", wait)

    def _readable(self, folder_id: str, auth: str | None):
        """The folder's row if the asker may read it (anyone: a public folder), else NotFound."""
        with self.service.engine.connect() as conn:
            row = self.store.folder(conn, folder_id)
            if row is not None and row.kind == PUBLIC:
                return row
            if auth is None:
                raise errors.BadReadToken("a private or team folder needs a read token", 401)
            uid = self.access.reader(conn, auth)
            if row is None or not self.access.may_read(conn, uid, row.team_id, MEMBER):
                # one answer for "no such folder" and "not yours": no probing of ids
                raise errors.NotFound(f"no folder {folder_id} that you may read")
            return row

    def _bundle(self, folder_id: str) -> tuple[dict, int]:
        """The map lookup of the folder's head at the published view, and the head it proves."""
        bundle = self.service.lookup("folder", folder_id)
        value = bundle["value"]
        return bundle, 0 if value is None else FolderHead.decode(b64decode(value)).revision

    # -- blocks ----------------------------------------------------------------------------------

    async def put_block(self, request: Request) -> dict:
        fid = check_folder_id(request.path_params["folder_id"])
        bid = check_block_id(request.path_params["block_id"])
        auth, q = request.headers.get("authorization"), request.query_params
        uid, kid, _ = await run_in_threadpool(self._who, auth)    # before the body: no stranger's 9 MiB held
        data = await request.body()

        def work():
            self._spend(kid)
            team_id, kind = self._team_kind(fid, q)
            new = self.store.put_block(fid, team_id, kind, bid, data, uid)
            return {"block_id": bid, "size": len(data), "new": new}
        return await run_in_threadpool(work)

    def _team_kind(self, fid: str, q) -> tuple[str, int]:
        """A stored folder's team and kind; a folder's first block names them (checked against its id)."""
        with self.service.engine.connect() as conn:
            row = self.store.folder(conn, fid)
        if row is not None:
            return row.team_id, row.kind
        kind = q.get("kind")
        return derive_folder(fid, q.get("team"), int(kind) if kind and kind.isdigit() else None)

    async def put_blocks(self, request: Request) -> dict:
        """`POST .../blocks:put`: several blocks in one body, checked as single puts (folder_batch.py)."""
        fid = check_folder_id(request.path_params["folder_id"])
        auth, q = request.headers.get("authorization"), request.query_params
        uid, kid, _ = await run_in_threadpool(self._who, auth)    # before the body: no stranger's 9 MiB held
        body = await request.body()

        def work():
            blocks = parse_batch(body)
            self._spend(kid)
            team_id, kind = self._team_kind(fid, q)
            new = put_blocks(self.store, fid, team_id, kind, blocks, uid)
            return {"blocks": [{"block_id": b, "size": len(d), "new": new[b]} for b, d in blocks]}
        return await run_in_threadpool(work)

    async def get_block(self, request: Request) -> Response:
        fid = check_folder_id(request.path_params["folder_id"])
        bid = check_block_id(request.path_params["block_id"])
        auth = request.headers.get("authorization")

        def work():
            self._readable(fid, auth)
            with self.service.engine.connect() as conn:
                if not self.store.holds(conn, fid, [bid]):
                    raise errors.NotFound(f"folder {fid} holds no block {bid}")
            return self.store.blobs.get(bid)
        data = await run_in_threadpool(work)
        return Response(data, media_type="application/octet-stream", headers={"Cache-Control": "private, max-age=0"})

    async def get_blocks(self, request: Request) -> dict:
        fid = check_folder_id(request.path_params["folder_id"])
        auth = request.headers.get("authorization")
        ids = (await self.http.json_body(request)).get("ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= BATCH_MAX:
            raise errors.EncodingError(f"ids is a list of 1..{BATCH_MAX} block ids")
        ids = sorted({check_block_id(b) for b in ids})

        def work():
            self._readable(fid, auth)
            with self.service.engine.connect() as conn:
                held = self.store.holds(conn, fid, ids)
            out, later, size = {}, [], 0
            for b in ids:                    # an answer stays under BATCH_BYTES: the rest is asked again
                if b not in held:
                    out[b] = None
                elif size >= BATCH_BYTES:
                    later.append(b)
                else:
                    data = self.store.blobs.get(b)
                    size += len(data)
                    out[b] = b64encode(data)
            return {"blocks": out, "later": later}
        return await run_in_threadpool(work)

    # -- revisions -------------------------------------------------------------------------------

    async def post_revision(self, request: Request) -> dict:
        fid = check_folder_id(request.path_params["folder_id"])
        auth = request.headers.get("authorization")
        uid, kid, eldest = await run_in_threadpool(self._who, auth)
        envelope = await request.body()

        def check():
            self._spend(kid)
            sr = check_envelope(fid, envelope, uid, kid, eldest)
            with self.service.engine.connect() as conn:
                self.store.check_writer(conn, sr)    # refuse early, outside the lock (again inside)
            return sr

        sr = await run_in_threadpool(check)
        r = sr.revision

        def commit():
            with self.service.engine.connect() as conn:
                with self.service._epoch(conn) as apply:
                    team_id, ctime = self.store.store_revision(conn, sr)
                    apply([(map_key("folder", fid), FolderHead(r.revision, sr.id.hex()).encode())])
                    self.push.record(conn, f"team:{team_id}", "folder", f"{fid}:{r.revision}")
            return ctime

        try:
            async with self.service.lock:
                ctime = await run_in_threadpool(commit)
        except IntegrityError:
            raise errors.Conflict("a concurrent write collided; post again") from None
        self.push.wake()
        return {"folder_id": fid, "revision": r.revision, "id": sr.id.hex(), "ctime": ctime,
                "log_size": self.service.view.size}

    async def collect(self, request: Request) -> dict:
        """`POST .../gc` with a writer's signed collection request (core/fs/gc.py, folder_gc.py)."""
        fid = check_folder_id(request.path_params["folder_id"])
        auth = request.headers.get("authorization")
        uid, kid, eldest = await run_in_threadpool(self._who, auth)
        body = await request.body()

        def work():
            self._spend(kid)
            req = open_gc(body)                      # BadRevision / BadRevisionSignature (400)
            check_request(req, fid, uid, kid, eldest)
            return collect(self.store, req, int(self.service.clock()), self.gc_delay)
        return await run_in_threadpool(work)

    async def revisions(self, request: Request) -> dict:
        fid = check_folder_id(request.path_params["folder_id"])
        auth = request.headers.get("authorization")
        since = self.http.int_param(request, "since", 0)
        limit = self.http.int_param(request, "limit", PAGE_DEFAULT)
        if not 1 <= limit <= PAGE_MAX:
            raise errors.EncodingError(f"limit is 1..{PAGE_MAX}")

        def work():
            row = self._readable(fid, auth)
            bundle, head = self._bundle(fid)         # first the proven head, then rows up to it
            with self.service.engine.connect() as conn:
                revs = self.store.revisions(conn, fid, since, head, limit)
            return {"folder_id": fid, "team_id": row.team_id, "kind": row.kind, "head": head,
                    "revisions": revs, "lookup": bundle}
        return await self.http.fresh(work)

    async def head(self, request: Request) -> dict:
        fid = check_folder_id(request.path_params["folder_id"])
        auth, q = request.headers.get("authorization"), request.query_params

        def work():
            if "team" in q or "kind" in q:           # the absence proof of a folder never written
                return self._absent_or_head(fid, auth, q.get("team"), q.get("kind"))
            row = self._readable(fid, auth)
            bundle, head = self._bundle(fid)
            return {"folder_id": fid, "team_id": row.team_id, "kind": row.kind, "head": head, "lookup": bundle}
        return await self.http.fresh(work)

    def _absent_or_head(self, fid: str, auth: str | None, team: str | None, kind: str | None) -> dict:
        """The folder's map entry for its readers, named by (team, kind) since a folder id cannot be
        reversed: with no row yet, the map proves it absent (value null); readers are the
        team's members (anyone for a public folder), so an outsider learns nothing of a team's
        private folders, not even whether they exist."""
        team_id, kind_code = derive_folder(fid, team, int(kind) if kind and kind.isdigit() else None)
        with self.service.engine.connect() as conn:
            if kind_code != PUBLIC:
                if auth is None:
                    raise errors.BadReadToken("a private or team folder needs a read token", 401)
                uid = self.access.reader(conn, auth)
                if not self.access.may_read(conn, uid, team_id, MEMBER):
                    raise errors.NotFound(f"no folder {fid} that you may read")
        bundle, head = self._bundle(fid)
        return {"folder_id": fid, "team_id": team_id, "kind": kind_code, "head": head, "lookup": bundle}

    async def team_folders(self, request: Request) -> dict:
        from ..teams import check_team_id
        team_id = check_team_id(request.query_params.get("team_id", ""))
        auth = request.headers.get("authorization")

        def work():
            with self.service.engine.connect() as conn:
                uid = self.access.reader(conn, auth)
                if self.store.role(conn, team_id, uid) < Role.READER and not self.access.may_read(
                        conn, uid, team_id, MEMBER):
                    raise errors.ReadNotAllowed(f"{uid} may not list the folders of team {team_id}", 403)
                return {"team_id": team_id, "folders": self.store.team_folders(conn, team_id)}
        return await run_in_threadpool(work)

    def routes(self) -> list[Route]:
        return [
            Route("/v1/folders", wrap(self.team_folders)),
            Route("/v1/folders/{folder_id}/blocks:get", wrap(self.get_blocks), methods=["POST"]),
            Route("/v1/folders/{folder_id}/blocks:put", wrap(self.put_blocks), methods=["POST"]),
            Route("/v1/folders/{folder_id}/blocks/{block_id}", wrap(self.put_block), methods=["PUT"]),
            Route("/v1/folders/{folder_id}/blocks/{block_id}", wrap(self.get_block), methods=["GET"]),
            Route("/v1/folders/{folder_id}/revisions", wrap(self.post_revision), methods=["POST"]),
            Route("/v1/folders/{folder_id}/revisions", wrap(self.revisions), methods=["GET"]),
            Route("/v1/folders/{folder_id}/gc", wrap(self.collect), methods=["POST"]),
            Route("/v1/folders/{folder_id}/head", wrap(self.head)),
        ]
