"""HTTP API of the server (Starlette): the routes of each area (routes/) behind the limits.

Database work runs in a worker thread so the event loop keeps serving; every
request that touches the Merkle state holds `service.lock`, so a lookup never
sees a map root that the log does not have yet (routes/common.py, `Http.fresh`).
"""

from __future__ import annotations

from starlette.applications import Starlette

from .limits import MAX_BODY, LimitConfig, Limits, RateLimiter, SignupLimiter, WriteLimits  # noqa: F401
from .blobstore import BlobStore
from .push import PushHub
from .routes import blobs as blob_routes
from .routes import kex, log, teams, users
from .routes import ephemeral as ek_routes
from .routes.chat import ChatRoutes
from .routes.folders import FolderRoutes
from .routes.common import STATUS, Http, error_response  # noqa: F401  (push.py, tests)
from .service import Service


def create_app(service: Service, *, rate: float = 200.0, burst: int = 400,
               max_body: int = MAX_BODY, limits: LimitConfig | None = None,
               blobs: BlobStore | None = None) -> Limits:
    """The API behind its limits; `limits` overrides rate, burst and max_body. Without a
    blob store the blob routes are not served."""
    cfg = limits or LimitConfig.from_flags(rate, burst, max_body=max_body)
    max_body = cfg.max_body
    writes = WriteLimits(cfg)

    http = Http(service, max_body, writes)
    push = PushHub(service)                  # hints over /v1/push; each write records one (push.py)
    routes = [*log.routes(http), *users.routes(http), *kex.routes(http), *teams.routes(http, push)]
    if blobs is not None:
        routes += blob_routes.routes(http, blobs, cfg)
    chat = ChatRoutes(http, push, cfg, blobs)   # after the team routes: theirs match /v1/teams/name/... first
    routes += chat.routes()
    routes += ek_routes.routes(http, push, cfg)   # exploding messages' ephemeral keys
    if blobs is not None:                    # encrypted folders: blocks live in the blob store
        routes += FolderRoutes(http, push, blobs, cfg).routes()
    routes += push.routes()
    app = Starlette(routes=routes, lifespan=chat.lifespan)   # the exploding sweep runs with the server
    app.state.push = push
    app.state.service = service
    return Limits(push.recorder(app), RateLimiter(cfg.rate, cfg.burst), max_body=max_body,
                  signups=SignupLimiter(cfg), body_timeout=cfg.body_timeout,
                  blob_max=cfg.blob_max, blob_min_rate=cfg.blob_min_rate)
