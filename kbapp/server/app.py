"""HTTP API of the server (Starlette). Thin: parsing, limits, errors.

Database work runs in a worker thread so the event loop keeps serving; every
request that touches the Merkle state holds `service.lock`, so a lookup never
sees a map root that the log does not have yet.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kbapp.core import errors
from kbapp.core.encoding import loads_json

from . import limits as lim
from .limits import MAX_BODY, LimitConfig, Limits, RateLimiter, SignupLimiter, WriteLimits  # noqa: F401
from .mailbox import Mailbox
from .chains import CHAIN_PAGE_LINKS
from .service import Service
from .teams import TeamService, team_routes

STATUS = {
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.ResetNotAuthorized: 403,
    errors.BadReadToken: 401,
    errors.ReadNotAllowed: 403,
    errors.AcceptanceNotAllowed: 403,
    errors.TooLarge: 413,
    errors.RequestTimeout: 408,
    errors.RateLimited: 429,
}


def error_response(exc: errors.KbappError) -> JSONResponse:
    return lim.error_response(exc, next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400))


def create_app(service: Service, *, rate: float = 200.0, burst: int = 400,
               max_body: int = MAX_BODY, limits: LimitConfig | None = None) -> Limits:
    """The API behind its limits; `limits` overrides rate, burst and max_body."""
    cfg = limits or LimitConfig.from_flags(rate, burst, max_body=max_body)
    max_body = cfg.max_body
    writes = WriteLimits(cfg)

    async def json_body(request: Request) -> dict:
        raw = await request.body()
        body = loads_json(raw, max_size=max_body, max_depth=16)
        if not isinstance(body, dict):
            raise errors.EncodingError("request body must be a JSON object")
        return body

    def int_param(request: Request, name: str, default: int | None = None) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            if default is None:
                raise errors.EncodingError(f"missing query parameter {name!r}")
            return default
        if not raw.isdigit() or len(raw) > 18:
            raise errors.EncodingError(f"query parameter {name!r} must be a small non-negative integer")
        return int(raw)

    async def server_info(request):
        return service.info()

    async def fresh(fn, *args):
        """Reads of the Merkle state: first fold in other processes' writes."""
        def read():
            service.refresh()
            return fn(*args)
        async with service.lock:            # one trip to a worker thread while the lock is held
            return await run_in_threadpool(read)

    async def checkpoint(request):
        size = request.query_params.get("size")
        return await fresh(service.checkpoint, None if size is None else int_param(request, "size"))

    async def signup(request):
        body = await json_body(request)
        uid = body.get("uid")
        if not isinstance(uid, str):
            raise errors.EncodingError("signup needs a uid")
        return await write_links(uid, body, signup=True)

    async def post_links(request):
        body = await json_body(request)
        uid = request.path_params["uid"]
        with writes.links(body, account=uid):
            return await write_links(uid, body, signup=False)

    async def write_links(uid: str, body: dict, *, signup: bool) -> dict:
        """Validate without the lock (signatures, playback: the slow part; a refused post
        never takes the lock), then store under it (service.prepare, append_links)."""
        batch = await run_in_threadpool(lambda: service.prepare(uid, body, signup=signup))
        async with service.lock:
            return await run_in_threadpool(lambda: service.append_links(uid, body, signup=signup, batch=batch))

    async def get_chain(request):
        return await run_in_threadpool(service.chain, request.path_params["uid"], int_param(request, "since", 0),
                                       int_param(request, "limit", CHAIN_PAGE_LINKS))

    async def get_user(request):
        return await run_in_threadpool(service.user_by_name, request.path_params["username"])

    async def get_key(request):
        return await run_in_threadpool(service.user_by_kid, request.path_params["kid"])

    async def proof_owners(request):
        q = request.query_params
        return await run_in_threadpool(service.proof_owners, q.get("service", ""), q.get("name", ""),
                                       q.get("after", ""))

    async def get_followers(request):
        return await run_in_threadpool(service.followers, request.path_params["uid"])

    async def get_boxes(request):
        device = request.query_params.get("device_kid", "")
        return await run_in_threadpool(service.puk_boxes, request.path_params["uid"], device)

    async def lookup(request):
        kind = request.path_params["kind"]
        if kind not in ("user", "team"):
            raise errors.NotFound(f"no map of {kind!r}")
        return await fresh(service.lookup, kind, request.path_params["ident"])

    async def consistency(request):
        return await fresh(service.consistency, int_param(request, "first"), int_param(request, "second"))

    async def inclusion(request):
        return await fresh(service.inclusion, int_param(request, "index"), int_param(request, "size"))

    async def leaves(request):
        return await fresh(service.leaves, int_param(request, "start"), int_param(request, "end"))

    mailbox = Mailbox(service.engine, service.clock)

    async def kex_post(request):
        body = await json_body(request)
        return await run_in_threadpool(mailbox.post, request.path_params["channel"], body.get("msg"))

    async def kex_read(request):
        return await run_in_threadpool(mailbox.read, request.path_params["channel"], int_param(request, "after", 0))

    def wrap(handler):
        async def endpoint(request: Request):
            try:
                result = await handler(request)
            except errors.KbappError as e:
                return error_response(e)
            except ValueError as e:
                return error_response(errors.EncodingError(str(e)))
            return JSONResponse(result)
        return endpoint

    routes = [
        Route("/v1/server", wrap(server_info)),
        Route("/v1/checkpoint", wrap(checkpoint)),
        Route("/v1/signup", wrap(signup), methods=["POST"]),
        Route("/v1/chain/{uid}", wrap(get_chain)),
        Route("/v1/chain/{uid}/links", wrap(post_links), methods=["POST"]),
        Route("/v1/users/{username}", wrap(get_user)),
        Route("/v1/keys/{kid}", wrap(get_key)),
        Route("/v1/proofs/search", wrap(proof_owners)),
        Route("/v1/followers/{uid}", wrap(get_followers)),
        Route("/v1/puk/{uid}", wrap(get_boxes)),
        Route("/v1/lookup/{kind}/{ident}", wrap(lookup)),
        Route("/v1/log/consistency", wrap(consistency)),
        Route("/v1/log/inclusion", wrap(inclusion)),
        Route("/v1/log/leaves", wrap(leaves)),
        Route("/v1/kex/{channel}", wrap(kex_read)),
        Route("/v1/kex/{channel}", wrap(kex_post), methods=["POST"]),
    ]
    routes += team_routes(TeamService(service), wrap=wrap, json_body=json_body, int_param=int_param,
                          writes=writes)
    app = Starlette(routes=routes)
    app.state.service = service
    return Limits(app, RateLimiter(cfg.rate, cfg.burst), max_body=max_body, signups=SignupLimiter(cfg),
                  body_timeout=cfg.body_timeout)
