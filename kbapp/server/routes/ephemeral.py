"""Routes of exploding messages' ephemeral keys (docs/server.md "Ephemeral keys").

* `POST /v1/ek/device` {statement, sig}: a device publishes its device EK (read token of
  that very device: the statement's uid and kid must be the token's);
* `GET /v1/ek/team/{team_id}/devices`: the newest device EK of every live device of every
  member (a member asks: it is what a team EK is boxed to);
* `POST /v1/ek/team/{team_id}` {generation, statement, sig, boxes}: a writer publishes the
  next team EK generation with one box per member device (409 when someone was first);
* `GET /v1/ek/team/{team_id}/box?generation=N`: the statement and the asking device's box of
  generation N (default: the newest).

The server checks shapes, sizes, rights and order only: clients verify every signature
against the chains (core/chat/ephemeral.py) and never trust this list to be complete.
A new team EK publishes a push hint `team:<id>` kind `ek` subject `<generation>`.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import func, insert, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from kbapp.core import errors
from kbapp.core.chat import ephemeral as ek
from kbapp.core.encoding import EncodingError, b64decode, b64encode
from kbapp.core.keys import kid_hex
from kbapp.core.teams import Role

from .. import db
from .. import limits as lim
from ..ek_tables import device_eks, team_ek_boxes, team_eks
from ..push import PushHub
from ..team_access import MEMBER, ReadAccess
from ..teams import check_team_id
from .chat import wrap
from .common import Http

log = logging.getLogger(__name__)

MAX_MEMBERS_LISTED = 1000


def _refuse(msg: str, status: int = 400) -> errors.EkRefused:
    return errors.EkRefused(msg, status)


def _b64(v: object, name: str, size: int) -> bytes:
    try:
        raw = b64decode(v, max_size=size)
    except EncodingError as e:
        raise _refuse(f"{name}: {e}") from None
    return raw


class EphemeralRoutes:
    def __init__(self, http: Http, push: PushHub, cfg: lim.LimitConfig):
        self.http, self.push, self.service = http, push, http.service
        self.access = ReadAccess(self.service)
        self.bucket = lim.RateLimiter(cfg.chat_rate, cfg.chat_burst)   # publications per device key
        self._lock = threading.Lock()

    # -- helpers (worker threads) ----------------------------------------------------------

    def _who(self, conn, authorization: str | None) -> tuple[str, str]:
        token, _ = self.access.device(conn, authorization)
        return token.uid, token.kid

    def _member(self, conn, authorization: str | None, team_id: str) -> tuple[str, str]:
        uid, kid = self._who(conn, authorization)
        if conn.execute(select(db.teams.c.team_id).where(db.teams.c.team_id == team_id)).first() is None:
            raise errors.NotFound(f"no team {team_id}")
        if not self.access.may_read(conn, uid, team_id, MEMBER):
            raise errors.ReadNotAllowed(f"{uid} may not read team {team_id}'s ephemeral keys", 403)
        return uid, kid

    def _charge(self, kid: str) -> None:
        with self._lock:
            wait = self.bucket.take(kid)
        if wait:
            raise lim.rate_limited("ephemeral key publications from this device", wait)

    def _publish(self, team_id: str, generation: int) -> None:
        try:
            self.push.publish(f"team:{team_id}", "ek", str(generation))
        except Exception:  # noqa: BLE001 - the write stands; clients ask for the newest generation anyway
            log.exception("could not record an ek push hint")

    # -- endpoints ---------------------------------------------------------------------------

    async def publish_device(self, request: Request) -> dict:
        auth, body = request.headers.get("authorization"), await self.http.json_body(request)

        def work():
            try:
                st = ek.parse_device_ek(body)          # shape (and a signature check that costs nothing)
            except errors.EphemeralError as e:
                raise _refuse(f"device EK statement: {e}") from None
            with self.service.engine.begin() as conn:
                uid, kid = self._who(conn, auth)
                if st.uid != uid or st.kid != kid:
                    raise _refuse("a device publishes its own device EK (the read token's user and key)", 403)
                old = conn.execute(select(device_eks.c.statement).where(
                    device_eks.c.uid == uid, device_eks.c.device_kid == kid,
                    device_eks.c.generation == st.generation)).scalar()
                if old is not None:
                    if bytes(old) != st.data:
                        raise errors.EkGenerationTaken(f"device EK generation {st.generation} exists", 409)
                    return {"generation": st.generation}
                top = conn.execute(select(func.max(device_eks.c.generation)).where(
                    device_eks.c.uid == uid, device_eks.c.device_kid == kid)).scalar() or 0
                if st.generation <= top:
                    raise errors.EkGenerationTaken(f"device EK generation {st.generation} is not after {top}", 409)
                self._charge(kid)
                conn.execute(insert(device_eks).values(uid=uid, device_kid=kid, generation=st.generation,
                                                       statement=st.data, sig=st.sig,
                                                       ctime=int(self.service.clock())))
            return {"generation": st.generation}
        return await run_in_threadpool(work)

    async def team_devices(self, request: Request) -> dict:
        team_id, auth = check_team_id(request.path_params["team_id"]), request.headers.get("authorization")

        def work():
            out = []
            with self.service.engine.connect() as conn:
                self._member(conn, auth, team_id)
                uids = conn.execute(select(db.team_members.c.uid).where(db.team_members.c.team_id == team_id)
                                    .order_by(db.team_members.c.uid).limit(MAX_MEMBERS_LISTED)).scalars().all()
                for uid in uids:
                    live, _ = self.access.live_sibkeys(conn, uid)
                    for kid in sorted(live):
                        row = conn.execute(select(device_eks).where(
                            device_eks.c.uid == uid, device_eks.c.device_kid == kid)
                            .order_by(device_eks.c.generation.desc()).limit(1)).first()
                        if row is not None:
                            out.append({"uid": uid, "kid": kid, "generation": row.generation,
                                        "statement": b64encode(row.statement), "sig": b64encode(row.sig)})
            return {"devices": out}
        return await run_in_threadpool(work)

    async def publish_team(self, request: Request) -> dict:
        team_id, auth = check_team_id(request.path_params["team_id"]), request.headers.get("authorization")
        body = await self.http.json_body(request)

        def work():
            try:
                st = ek.parse_team_ek_unchecked(body)
            except errors.EphemeralError as e:
                raise _refuse(f"team EK statement: {e}") from None
            if st.team_id != team_id or body.get("generation") != st.generation:
                raise _refuse("the statement names another team or generation than the request")
            boxes = body.get("boxes")
            if not isinstance(boxes, list) or not 1 <= len(boxes) <= ek.MAX_BOXES:
                raise _refuse(f"boxes is a list of 1 to {ek.MAX_BOXES} boxes")
            rows, seen = [], set()
            for b in boxes:
                if not isinstance(b, dict) or set(b) != {"recipient_uid", "recipient_kid", "device_ek_gen", "box"}:
                    raise _refuse("a box is {recipient_uid, recipient_kid, device_ek_gen, box}")
                try:
                    kid = kid_hex(b["recipient_kid"]) if isinstance(b["recipient_kid"], str) else None
                    uid = check_team_id(b["recipient_uid"]) if isinstance(b["recipient_uid"], str) else None
                except errors.KbappError:
                    kid = uid = None
                gen = b["device_ek_gen"]
                if kid is None or uid is None or type(gen) is not int or not 1 <= gen <= ek.MAX_GENERATION:
                    raise _refuse("a box names a recipient uid, device kid and device EK generation")
                if kid in seen:
                    raise _refuse("one box per recipient device")
                seen.add(kid)
                raw = _b64(b["box"], "box", ek.BOX_SIZE)
                if len(raw) != ek.BOX_SIZE:
                    raise _refuse(f"a box is {ek.BOX_SIZE} bytes")
                rows.append({"team_id": team_id, "generation": st.generation, "recipient_kid": kid,
                             "recipient_uid": uid, "device_ek_gen": gen, "box": raw})
            with self.service.engine.begin() as conn:
                uid, kid = self._member(conn, auth, team_id)
                if ReadAccess._role(conn, team_id, uid) < Role.WRITER:
                    raise _refuse("only a writer of the team publishes its ephemeral keys", 403)
                top = conn.execute(select(func.max(team_eks.c.generation))
                                   .where(team_eks.c.team_id == team_id)).scalar() or 0
                if st.generation != top + 1:
                    raise errors.EkGenerationTaken(f"team EK generation {st.generation}: the next is {top + 1}", 409)
                self._charge(kid)
                conn.execute(insert(team_eks).values(team_id=team_id, generation=st.generation,
                                                     ptk_generation=st.ptk_generation, statement=st.data, sig=st.sig,
                                                     creator_uid=uid, creator_kid=kid,
                                                     ctime=int(self.service.clock())))
                conn.execute(insert(team_ek_boxes), rows)
            self._publish(team_id, st.generation)
            return {"generation": st.generation}
        try:
            return await run_in_threadpool(work)
        except errors.KbappError:
            raise
        except Exception as e:  # a unique violation: two writers raced for one generation
            if type(e).__name__ == "IntegrityError":
                raise errors.EkGenerationTaken("that team EK generation was published first by another", 409) \
                    from None
            raise

    async def my_box(self, request: Request) -> dict:
        team_id, auth = check_team_id(request.path_params["team_id"]), request.headers.get("authorization")
        gen = self.http.int_param(request, "generation") if "generation" in request.query_params else None

        def work():
            with self.service.engine.connect() as conn:
                _uid, kid = self._member(conn, auth, team_id)
                q = select(team_eks).where(team_eks.c.team_id == team_id)
                q = q.where(team_eks.c.generation == gen) if gen is not None else \
                    q.order_by(team_eks.c.generation.desc()).limit(1)
                st = conn.execute(q).first()
                if st is None:
                    raise errors.NotFound(f"no team EK {'generation ' + str(gen) if gen else 'yet'} for {team_id}")
                box = conn.execute(select(team_ek_boxes).where(
                    team_ek_boxes.c.team_id == team_id, team_ek_boxes.c.generation == st.generation,
                    team_ek_boxes.c.recipient_kid == kid)).first()
                # who the generation was boxed to: a sender uses it only if these are exactly the member
                # devices it would box to (a writer who left a member out does not set the day's key)
                recipients = None if gen is not None else conn.execute(   # for a sender (the newest) only
                    select(team_ek_boxes.c.recipient_kid).where(
                        team_ek_boxes.c.team_id == team_id, team_ek_boxes.c.generation == st.generation)
                    .order_by(team_ek_boxes.c.recipient_kid)).scalars().all()
            return {"generation": st.generation, "ptk_generation": st.ptk_generation,
                    "statement": b64encode(st.statement), "sig": b64encode(st.sig),
                    "box": None if box is None else b64encode(box.box),
                    "device_ek_gen": None if box is None else box.device_ek_gen,
                    **({} if recipients is None else {"recipients": recipients})}
        return await run_in_threadpool(work)

    def routes(self) -> list[Route]:
        """Before the team routes' /v1/teams/...: these live under /v1/ek/."""
        return [
            Route("/v1/ek/device", wrap(self.publish_device), methods=["POST"]),
            Route("/v1/ek/team/{team_id}/devices", wrap(self.team_devices)),
            Route("/v1/ek/team/{team_id}/box", wrap(self.my_box)),
            Route("/v1/ek/team/{team_id}", wrap(self.publish_team), methods=["POST"]),
        ]


def routes(http: Http, push: PushHub, cfg: lim.LimitConfig) -> list[Route]:
    return EphemeralRoutes(http, push, cfg).routes()
