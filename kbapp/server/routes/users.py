"""Routes of user chains: signup, posts, chain pages, names, keys, proofs, followers, PUK boxes."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from kbapp.core import errors

from ..chains import CHAIN_PAGE_LINKS
from ..group_commit import GroupCommit
from .common import Http


def routes(http: Http) -> list[Route]:
    service, int_param, json_body, writes = http.service, http.int_param, http.json_body, http.writes
    group = GroupCommit(service)            # one epoch for the writes that queued for the lock

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
        never takes the lock), then store under it (service.prepare; group_commit.py)."""
        batch = await group.prepare(uid, body, signup=signup)       # on the one validation thread
        return await group.append(uid, body, signup=signup, batch=batch)   # with those queued meanwhile

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

    wrap = http.wrap
    return [
        Route("/v1/signup", wrap(signup), methods=["POST"]),
        Route("/v1/chain/{uid}", wrap(get_chain)),
        Route("/v1/chain/{uid}/links", wrap(post_links), methods=["POST"]),
        Route("/v1/users/{username}", wrap(get_user)),
        Route("/v1/keys/{kid}", wrap(get_key)),
        Route("/v1/proofs/search", wrap(proof_owners)),
        Route("/v1/followers/{uid}", wrap(get_followers)),
        Route("/v1/puk/{uid}", wrap(get_boxes)),
    ]
