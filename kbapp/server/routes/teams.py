"""Routes of team chains, key boxes, join requests and invite acceptances (server/teams.py).

A team link post that makes someone a member (added, or an invite/request completed) also
publishes the hint `user:<uid>` kind `team` subject `<team_id>` to each new member: their
client is not subscribed to the team's topic yet, and loads the team (and its chat
conversations, client/chat/hints.py) on it instead of polling.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from kbapp.core import errors

from .. import db
from ..chains import CHAIN_PAGE_LINKS
from ..team_access import ADMIN, CHAIN, MEMBER, ReadAccess
from ..teams import TeamService, check_team_id
from .common import Http


log = logging.getLogger(__name__)


def routes(http: Http, push=None) -> list[Route]:
    """Writes hold the service lock like user posts; reads of a team need a read token
    of someone who may read it (team_access.py). `push`: the PushHub for new members' hints."""
    teams = TeamService(http.service)
    return _writes(http, teams, push) + _reads(http, teams)


def _members(service, team_id: str) -> set[str]:
    with service.engine.connect() as conn:
        return set(conn.execute(select(db.team_members.c.uid).where(
            (db.team_members.c.team_id == team_id) & (db.team_members.c.role != "none"))).scalars())


def _post_and_tell(service, teams: TeamService, push, team_id: str, body: dict) -> dict:
    """Post the links; then tell each new member (a hint on their own topic)."""
    try:
        before = _members(service, check_team_id(team_id)) if push is not None else set()
    except errors.KbappError:
        before = set()
    out = teams.post(team_id, body)
    if push is not None:
        for uid in sorted(_members(service, out["team_id"]) - before):
            try:
                push.publish(f"user:{uid}", "team", out["team_id"])
            except Exception:  # noqa: BLE001 - the links stand; the member finds the team on their next load
                log.exception("could not record a team-added hint")
    return out


def _writes(http: Http, teams: TeamService, push=None) -> list[Route]:
    service, json_body, writes, wrap = http.service, http.json_body, http.writes, http.wrap

    async def team_post(request):
        body = await json_body(request)
        async with service.lock:
            with writes.links(body):  # limits.WriteLimits
                return await run_in_threadpool(_post_and_tell, service, teams, push,
                                               request.path_params["team_id"], body)

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
