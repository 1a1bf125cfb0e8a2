"""Routes of chat (server/chat.py): post, pages, inbox, a team's channels, typing; and the sweep
(exploded bodies and their blobs, chat.py; old ephemeral key boxes, ek_sweep.py) on the
server's clock every `chat_sweep_every` seconds.

Every route needs a read token of a live device (team_access.ReadAccess), then the
member hints: readers of a team read its conversations, writers and above post.
A post never takes the service lock (chat touches no Merkle state): it is stored with the
posts queued beside it in one transaction (chat_posts.py, each judged alone) that also
records its push hint `team:<id>` (kind chat, subject `<conv_id>:<msg_id>`), so a stored
message always has its hint; typing is a hint alone (kind typing, subject `<conv_id>:<uid>`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kbapp.core import errors
from kbapp.core.teams import Role

from .. import limits as lim
from ..chat import PAGE_DEFAULT, PAGE_MAX, ChatStore, Post, check_conv_id, parse_post
from ..chat_posts import ChatPosts, PostJob
from ..ek_sweep import sweep_eks
from ..push import PushHub
from ..team_access import ReadAccess
from ..teams import check_team_id
from .common import Http, error_response

log = logging.getLogger(__name__)


class ChatLimits:
    """Token buckets per device key (the read token's): posts, and typing at twice the rate.
    A post spends its token when admitted and gets it back if it was not stored (refused, or a
    repost of an outbox id: free); typing is checked first and charged once sent."""

    def __init__(self, cfg: lim.LimitConfig):
        self.posts = lim.RateLimiter(cfg.chat_rate, cfg.chat_burst)
        self.typing = lim.RateLimiter(cfg.chat_rate * 2, cfg.chat_burst)
        self._lock = threading.Lock()        # called from worker threads

    def check(self, bucket: lim.RateLimiter, kid: str) -> None:
        with self._lock:
            wait = bucket.wait(kid)
        if wait:
            raise lim.rate_limited("chat writes from this device", wait)

    def charge(self, bucket: lim.RateLimiter, kid: str) -> None:
        with self._lock:
            bucket.spend(kid)

    def take(self, bucket: lim.RateLimiter, kid: str) -> None:
        """Spend a token now or refuse (posts: a device's posts queued in one group each
        spend one before any is stored, so a burst stays a burst)."""
        with self._lock:
            wait = bucket.take(kid)
        if wait:
            raise lim.rate_limited("chat writes from this device", wait)

    def refund(self, bucket: lim.RateLimiter, kid: str) -> None:
        with self._lock:
            bucket.refund(kid)


def wrap(handler):
    """Http.wrap, with each chat refusal answered with its own status (403, 409...)."""
    async def endpoint(request: Request):
        try:
            return JSONResponse(await handler(request))
        except errors.ChatRefused as e:
            return lim.error_response(e, e.status or 400)
        except errors.KbappError as e:
            return error_response(e)
        except ValueError as e:
            return error_response(errors.EncodingError(str(e)))
    return endpoint


class ChatRoutes:
    def __init__(self, http: Http, push: PushHub, cfg: lim.LimitConfig, blobs=None):
        self.http, self.push, self.service = http, push, http.service
        self.store = ChatStore(self.service.engine, self.service.clock, blobs)
        self.posts = ChatPosts(self.store, self.push.record_all, self._stored)
        self.access = ReadAccess(self.service)
        self.limits = ChatLimits(cfg)
        self.sweep_every = cfg.chat_sweep_every
        self._sweeper: asyncio.Task | None = None

    # -- helpers (worker threads) ------------------------------------------------------------

    def _who(self, authorization: str | None) -> tuple[str, str]:
        """(uid, kid hex) of a read token signed by a live device key of its user, else 401."""
        with self.service.engine.connect() as conn:
            token, _ = self.access.device(conn, authorization)
        return token.uid, token.kid

    def _team_role(self, team_id: str, uid: str) -> Role:
        with self.service.engine.connect() as conn:
            return self.store.role(conn, team_id, uid)

    def _conv_role(self, conv_id: str, uid: str) -> tuple[str | None, Role]:
        with self.service.engine.connect() as conn:
            team_id = self.store.team_of(conn, conv_id)
            return team_id, Role.NONE if team_id is None else self.store.role(conn, team_id, uid)

    def _publish(self, team_id: str, kind: str, subject: str) -> None:
        try:
            self.push.publish(f"team:{team_id}", kind, subject)
        except Exception:  # noqa: BLE001 - the write stands; clients catch up with inbox?since=
            log.exception("could not record a chat push hint")

    # -- endpoints ------------------------------------------------------------------------------

    async def post(self, request: Request) -> dict:
        """Admitted here (the token's signature, cached per token; the device's rate; the post's
        shape), then queued for the next group (chat_posts.py), which checks in its transaction
        that the device key is still live and everything else that may refuse it. A user whose
        keys are not cached is looked up first on a worker thread: never a chain load inside a
        group, where every poster would wait for it."""
        conv_id, auth = request.path_params["conv_id"], request.headers.get("authorization")
        body = await self.http.json_body(request)
        token = self.access.token(auth)
        post = parse_post(conv_id, body, token.uid, token.kid)

        def prepare(conn, memo: dict) -> Post:      # on the group's worker thread, in its transaction
            key = ("device", auth)
            if key not in memo:                     # a device's posts in one group: its keys read once
                memo[key] = self.access.device(conn, auth)[0]
            return post

        def hint(p: Post, msg_id: int) -> tuple:
            return f"team:{p.team_id}", "chat", f"{conv_id}:{msg_id}"

        # the rate is spent now (a device's posts queued in one group each spend before any is
        # stored) and given back for a post that turns out to cost nothing: refused, a repost
        self.limits.take(self.limits.posts, token.kid)
        try:
            if not self.access.live_cached(token.uid):
                await run_in_threadpool(self._who, auth)
            msg_id, ctime, new = await self.posts.post(PostJob(conv_id, prepare, hint))
        except asyncio.CancelledError:
            raise                                   # it may be stored all the same: still spent
        except BaseException:
            self.limits.refund(self.limits.posts, token.kid)
            raise
        if not new:
            self.limits.refund(self.limits.posts, token.kid)
        return {"msg_id": msg_id, "ctime": ctime}

    def _stored(self, jobs: list) -> None:
        """A group's new posts committed: the push dispatcher looks, even for a post whose
        request went away meanwhile (its rate was spent when it was admitted)."""
        self.push.wake()

    async def messages(self, request: Request) -> dict:
        conv_id, auth = request.path_params["conv_id"], request.headers.get("authorization")
        q, int_param = request.query_params, self.http.int_param
        if "after" in q and "before" in q:
            raise errors.EncodingError("page with after= or before=, not both")
        after = int_param(request, "after") if "after" in q else None
        before = int_param(request, "before") if "before" in q else None
        limit = int_param(request, "limit", PAGE_DEFAULT)
        if not 1 <= limit <= PAGE_MAX:
            raise errors.EncodingError(f"limit is 1..{PAGE_MAX}")
        check_conv_id(conv_id)

        def work():
            uid, _ = self._who(auth)
            team_id, role = self._conv_role(conv_id, uid)
            if team_id is None or role < Role.READER:
                # one answer for "no such conversation" and "not yours": no probing of ids
                raise errors.NotFound(f"no conversation {conv_id} that you may read")
            msgs, last, exploded = self.store.page(conv_id, after=after, before=before, limit=limit)
            if exploded:
                self.store.sweep(conv_id)    # served without them already; now gone from the disk too
            return {"messages": msgs, "last": last}
        return await run_in_threadpool(work)

    async def inbox(self, request: Request) -> dict:
        auth, since = request.headers.get("authorization"), self.http.int_param(request, "since", 0)

        def work():
            uid, _ = self._who(auth)
            convs, vers = self.store.inbox(uid, since)
            return {"convs": convs, "vers": vers}
        return await run_in_threadpool(work)

    async def channels(self, request: Request) -> dict:
        team_id, auth = check_team_id(request.path_params["team_id"]), request.headers.get("authorization")

        def work():
            uid, _ = self._who(auth)
            if self._team_role(team_id, uid) < Role.READER:
                raise errors.ReadNotAllowed(f"{uid} may not list the channels of team {team_id}", 403)
            return {"team_id": team_id, "convs": self.store.channels(team_id)}
        return await run_in_threadpool(work)

    async def typing(self, request: Request) -> dict:
        conv_id, auth = check_conv_id(request.path_params["conv_id"]), request.headers.get("authorization")

        def work():
            uid, kid = self._who(auth)
            self.limits.check(self.limits.typing, kid)
            team_id, role = self._conv_role(conv_id, uid)
            if team_id is None or role < Role.WRITER:
                raise errors.ChatPostNotAllowed("only a writer of the team types in its conversations", 403)
            self.limits.charge(self.limits.typing, kid)
            self._publish(team_id, "typing", f"{conv_id}:{uid}")
            return {}
        return await run_in_threadpool(work)

    async def read(self, request: Request) -> dict:
        """A device read `conv_id` up to `upto`: told to the user's other devices as a hint
        (`user:<uid>` kind `read`, subject `<conv_id>:<upto>`). Nothing is stored here: a
        client takes it forward only and never past what it verified (client/chat/readsync.py)."""
        conv_id, auth = check_conv_id(request.path_params["conv_id"]), request.headers.get("authorization")
        body = await self.http.json_body(request)
        upto = body.get("upto") if isinstance(body, dict) else None
        if type(upto) is not int or not 0 < upto < 10 ** 15:
            raise errors.EncodingError("upto is a message id (a positive integer)")

        def work():
            uid, kid = self._who(auth)
            self.limits.check(self.limits.typing, kid)
            team_id, role = self._conv_role(conv_id, uid)
            if team_id is None or role < Role.READER:
                raise errors.NotFound(f"no conversation {conv_id} that you may read")
            self.limits.charge(self.limits.typing, kid)
            try:
                self.push.publish(f"user:{uid}", "read", f"{conv_id}:{upto}")
            except Exception:  # noqa: BLE001 - a hint: the other devices keep their own marker
                log.exception("could not record a read hint")
            return {}
        return await run_in_threadpool(work)

    def routes(self) -> list[Route]:
        """After the team routes: /v1/teams/name/{name} and /v1/teams/of/{uid} match first."""
        return [
            Route("/v1/chat/inbox", wrap(self.inbox)),
            Route("/v1/chat/{conv_id}/messages", wrap(self.post), methods=["POST"]),
            Route("/v1/chat/{conv_id}/messages", wrap(self.messages)),
            Route("/v1/chat/{conv_id}/typing", wrap(self.typing), methods=["POST"]),
            Route("/v1/chat/{conv_id}/read", wrap(self.read), methods=["POST"]),
            Route("/v1/teams/{team_id}/channels", wrap(self.channels)),
        ]

    # -- the exploding sweep: housekeeping of the server process -------------------------------------

    def sweep(self) -> tuple[int, object]:
        """One round (a worker thread): exploded messages and their blobs, then due EK boxes."""
        n = self.store.sweep()
        eks = sweep_eks(self.service.engine, int(self.service.clock()))
        return n, eks

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_every)
            try:
                n, eks = await run_in_threadpool(self.sweep)
                if n or eks.boxes or eks.devices:
                    log.info("chat sweep: %d exploded messages purged, %d EK boxes and %d device EK statements "
                             "deleted", n, eks.boxes, eks.devices)
            except Exception:  # noqa: BLE001 - the database is away: try at the next round
                log.exception("chat sweep")

    def start(self) -> None:
        if self.sweep_every > 0 and (self._sweeper is None or self._sweeper.done()):
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    @contextlib.asynccontextmanager
    async def lifespan(self, _app):
        self.start()
        try:
            yield
        finally:
            await self.stop()

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sweeper
            self._sweeper = None
