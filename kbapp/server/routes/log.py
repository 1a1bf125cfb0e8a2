"""Routes of the transparency log and Merkle map: checkpoints, lookups, proofs, leaves."""

from __future__ import annotations

from starlette.routing import Route

from kbapp.core import errors

from .common import Http


def routes(http: Http) -> list[Route]:
    service, int_param, fresh = http.service, http.int_param, http.fresh

    async def server_info(request):
        return service.info()

    async def checkpoint(request):
        size = request.query_params.get("size")
        return await fresh(service.checkpoint, None if size is None else int_param(request, "size"))

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

    wrap = http.wrap
    return [
        Route("/v1/server", wrap(server_info)),
        Route("/v1/checkpoint", wrap(checkpoint)),
        Route("/v1/lookup/{kind}/{ident}", wrap(lookup)),
        Route("/v1/log/consistency", wrap(consistency)),
        Route("/v1/log/inclusion", wrap(inclusion)),
        Route("/v1/log/leaves", wrap(leaves)),
    ]
