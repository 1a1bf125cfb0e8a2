"""What every route module shares: body and query parsing, typed errors -> HTTP statuses."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from kbapp.core import errors
from kbapp.core.encoding import loads_json

from .. import limits as lim
from ..limits import WriteLimits
from ..service import Service

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


_BEHIND = object()                   # Http.fresh: this process must fold in another's epochs first


def error_response(exc: errors.KbappError) -> JSONResponse:
    """A typed error as `{"error": code, ...}` with its status (400 unless listed above): never a 5xx."""
    return lim.error_response(exc, next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400))


@dataclass
class Http:
    """The service behind the routes, and the parsing every route does the same way."""

    service: Service
    max_body: int
    writes: WriteLimits

    async def json_body(self, request: Request) -> dict:
        raw = await request.body()
        body = loads_json(raw, max_size=self.max_body, max_depth=16)
        if not isinstance(body, dict):
            raise errors.EncodingError("request body must be a JSON object")
        return body

    @staticmethod
    def int_param(request: Request, name: str, default: int | None = None) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            if default is None:
                raise errors.EncodingError(f"missing query parameter {name!r}")
            return default
        if not raw.isdigit() or len(raw) > 18:
            raise errors.EncodingError(f"query parameter {name!r} must be a small non-negative integer")
        return int(raw)

    async def fresh(self, fn, *args):
        """Reads of the Merkle state, answered from the service's published view without
        the write lock, so a lookup never queues behind a post. First, one cheap query:
        has another process committed an epoch we lack? Only then fold it in, under the
        lock (a lookup never sees a map root the log does not have yet, and no process
        answers from an older log than the database holds)."""
        service = self.service

        def first():                     # one hop to a worker thread, not two, when not behind
            return _BEHIND if service.behind() else fn(*args)
        got = await run_in_threadpool(first)
        if got is not _BEHIND:
            return got
        async with service.lock:
            await run_in_threadpool(service.refresh)
        return await run_in_threadpool(fn, *args)

    @staticmethod
    def wrap(handler):
        """A handler returning a dict -> an endpoint answering JSON, typed errors as 4xx."""
        async def endpoint(request: Request):
            try:
                result = await handler(request)
            except errors.KbappError as e:
                return error_response(e)
            except ValueError as e:
                return error_response(errors.EncodingError(str(e)))
            return JSONResponse(result)
        return endpoint
