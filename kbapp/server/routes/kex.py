"""Routes of the provisioning mailbox (adding a device with a phrase: mailbox.py)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from ..mailbox import Mailbox
from .common import Http


def routes(http: Http) -> list[Route]:
    mailbox = Mailbox(http.service.engine, http.service.clock)

    async def kex_post(request):
        body = await http.json_body(request)
        return await run_in_threadpool(mailbox.post, request.path_params["channel"], body.get("msg"))

    async def kex_read(request):
        return await run_in_threadpool(mailbox.read, request.path_params["channel"],
                                       http.int_param(request, "after", 0))

    return [
        Route("/v1/kex/{channel}", http.wrap(kex_read)),
        Route("/v1/kex/{channel}", http.wrap(kex_post), methods=["POST"]),
    ]
