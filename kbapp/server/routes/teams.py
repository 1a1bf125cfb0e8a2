"""Routes of team chains, key boxes, join requests and invite acceptances (server/teams.py)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from kbapp.core import errors

from ..chains import CHAIN_PAGE_LINKS
from ..team_access import ADMIN, CHAIN, MEMBER, ReadAccess
from ..teams import TeamService, check_team_id
from .common import Http


def routes(http: Http) -> list[Route]:
    """Writes hold the service lock like user posts; reads of a team need a read token
    of someone who may read it (team_access.py)."""
    teams = TeamService(http.service)
    return _writes(http, teams) + _reads(http, teams)


def _writes(http: Http, teams: TeamService) -> list[Route]:
    service, json_body, writes, wrap = http.service, http.json_body, http.writes, http.wrap

    async def team_post(request):
        body = await json_body(request)
        async with service.lock:
            with writes.links(body):  # limits.WriteLimits
                return await run_in_threadpool(teams.post, request.path_params["team_id"], body)

    async def join_request(request):
        body = await json_body(request)
        return await run_in_threadpool(teams.request_join, request.path_params["team_id"], body)

    async def join_deny(request):
        body = await json_body(request)
        return await run_in_threadpool(teams.deny_join, request.path_params["team_id"], body)

    async def invite_accept(request):
        body = await json_body(request)
        return await run_in_threadpool(teams.accept_invite, request.path_params["team_id"],
                                       request.path_params["invite_id"], body)

    return [
        Route("/v1/team/{team_id}/links", wrap(team_post), methods=["POST"]),
        Route("/v1/team/{team_id}/requests", wrap(join_request), methods=["POST"]),
        Route("/v1/team/{team_id}/requests/deny", wrap(join_deny), methods=["POST"]),
        Route("/v1/team/{team_id}/invites/{invite_id}/accept", wrap(invite_accept), methods=["POST"]),
    ]


def _reads(http: Http, teams: TeamService) -> list[Route]:
    """Each needs a read token of a member (admin for requests and acceptances)."""
    int_param, wrap = http.int_param, http.wrap
    access = ReadAccess(http.service)

    async def team_chain(request):
        tid, auth = request.path_params["team_id"], request.headers.get("authorization")

        def read():
            access.team(auth, check_team_id(tid), CHAIN)
            return teams.chain(tid, int_param(request, "since", 0), int_param(request, "limit", CHAIN_PAGE_LINKS))
        return await run_in_threadpool(read)

    async def team_by_name(request):
        return await run_in_threadpool(teams.by_name, request.path_params["name"])

    async def team_boxes(request):
        tid, auth = request.path_params["team_id"], request.headers.get("authorization")
        uid = request.query_params.get("uid")
        gen = int_param(request, "generation") if "generation" in request.query_params else None

        def read():
            reader = access.team(auth, check_team_id(tid), MEMBER)
            if uid is not None and uid.lower() != reader:
                raise errors.ReadNotAllowed("a member reads their own boxes (or one generation's)", 403)
            return teams.boxes(tid, None if uid is None else uid.lower()[:32], gen)
        return await run_in_threadpool(read)

    async def teams_of(request):
        uid, auth = request.path_params["uid"][:32].lower(), request.headers.get("authorization")

        def read():
            access.own(auth, uid)
            return teams.teams_of(uid)
        return await run_in_threadpool(read)

    def team_read(who, fetch):
        """A read of one team's data by those `who` may read it (a member, an admin), checked
        against the request's read token first, in a worker thread."""
        async def endpoint(request):
            tid, auth = request.path_params["team_id"], request.headers.get("authorization")

            def read():
                access.team(auth, check_team_id(tid), who)
                return fetch(tid)
            return await run_in_threadpool(read)
        return endpoint

    subteams = team_read(MEMBER, teams.subteams)
    join_requests = team_read(ADMIN, teams.join_requests)
    acceptances = team_read(ADMIN, teams.acceptances)

    return [
        Route("/v1/team/{team_id}", wrap(team_chain)),
        Route("/v1/team/{team_id}/boxes", wrap(team_boxes)),
        Route("/v1/team/{team_id}/subteams", wrap(subteams)),
        Route("/v1/team/{team_id}/requests", wrap(join_requests)),
        Route("/v1/team/{team_id}/acceptances", wrap(acceptances)),
        Route("/v1/teams/name/{name}", wrap(team_by_name)),
        Route("/v1/teams/of/{uid}", wrap(teams_of)),
    ]
