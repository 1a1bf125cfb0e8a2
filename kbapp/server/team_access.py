"""Who may read a team: read tokens (kbapp/core/tokens.py) checked against stored chains.

Team chains, key boxes, subteam lists, join requests, acceptances and "the teams
of uid U" say who works (or talks) with whom, so they are not public: each read
carries a short-lived token signed by a device key of the reader. The server
takes the token's uid only if that key is a live sibkey of the uid's chain as
stored here (played back, cached by the chain's tail: a revoked device's token
stops working at the revocation), then asks the member hints it keeps from the
verified team chains whether that uid may read the team. Lookups in the Merkle
map, checkpoints and user chains stay public: clients need them to verify anyone.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from kbapp.core import errors
from kbapp.core.keys import kid_hex
from kbapp.core.teams import Role
from kbapp.core.tokens import ReadToken, check_live, verify_read_token

from . import db
from .service import Service
from .folders import public_chain      # a public folder's team chain is anyone's to verify

MAX_DEPTH = 8               # subteam nesting
MAX_CACHED_USERS = 10000
MAX_CACHED_TOKENS = 10000   # read tokens whose signature was checked (a client reuses one for minutes)
MAX_TEAMS_SCANNED = 1000    # a reader's teams looked at for "a member of a subteam of it"
CHAIN, MEMBER, ADMIN = "chain", "member", "admin"
_SUBTEAM_SUFFIX = "25"
# The queries of every authenticated request, built once: one built per call spends about
# 0.15 ms of CPU on SQLAlchemy's cache key alone (three times what the query costs).
_Q_TAIL_ID = (select(db.links.c.link_id).where(db.links.c.uid == bindparam("uid"))
              .order_by(db.links.c.seqno.desc()).limit(1))
_Q_USERNAME = select(db.users.c.username).where(db.users.c.uid == bindparam("uid"))
_Q_ROLE = select(db.team_members.c.role).where((db.team_members.c.team_id == bindparam("t"))
                                               & (db.team_members.c.uid == bindparam("u")))
_Q_PARENT = select(db.teams.c.parent_id).where(db.teams.c.team_id == bindparam("t"))


class ReadAccess:
    """Checks read tokens and team read rights. Levels, from the loosest:

    * CHAIN (the team chain): members; admins of an ancestor (implicit admins); members
      of a subteam of it, whose clients play the parent chain back to check the subteam's;
    * MEMBER (key boxes, the subteam list): members and admins of an ancestor;
    * ADMIN (join requests, invite acceptances): admins and admins of an ancestor.
    """

    def __init__(self, service: Service):
        self.service = service
        self._live: OrderedDict[str, tuple[str, frozenset, int]] = OrderedDict()
        self._tokens: OrderedDict[str, ReadToken] = OrderedDict()
        self._tokens_lock = threading.Lock()     # worker threads

    def _verified(self, authorization: str | None, now: int) -> ReadToken:
        """verify_read_token, its signature, origin and lifetime checked once per token (an
        Ed25519 check per request was a post's largest fixed cost); its time at every use."""
        with self._tokens_lock:
            hit = self._tokens.get(authorization) if isinstance(authorization, str) else None
            if hit is not None:
                self._tokens.move_to_end(authorization)
        if hit is not None:
            return check_live(hit, now)
        token = verify_read_token(authorization, origin=self.service.origin, now=now)
        with self._tokens_lock:
            self._tokens[authorization] = token
            while len(self._tokens) > MAX_CACHED_TOKENS:
                self._tokens.popitem(last=False)
        return token

    def token(self, authorization: str | None) -> ReadToken:
        """The read token, its signature checked (once per token), without the database: who
        a request claims to be, before `device` says that key is still live."""
        return self._verified(authorization, int(self.service.clock()))

    def live_cached(self, uid: str) -> bool:
        """Whether `live_sibkeys` holds this user's keys (then it costs one indexed read)."""
        return uid in self._live

    # -- who is asking -----------------------------------------------------------------

    def live_sibkeys(self, conn: Connection, uid: str) -> tuple[frozenset, int]:
        """(live sibkey kids (hex), eldest seqno) of the chain stored for `uid` (empty if none)."""
        tail = conn.execute(_Q_TAIL_ID, {"uid": uid}).scalar()
        if tail is None:
            return frozenset(), 0
        hit = self._live.get(uid)
        if hit is not None and hit[0] == tail:
            self._live.move_to_end(uid)
            return hit[1], hit[2]
        name = conn.execute(_Q_USERNAME, {"uid": uid}).scalar()
        if name is None:
            return frozenset(), 0
        state = self.service.chains.load(conn, uid, name)   # the write path's verified states, not a replay
        keys = frozenset(kid_hex(k) for k in state.sibkeys)
        self._live[uid] = (tail, keys, state.eldest_seqno)
        while len(self._live) > MAX_CACHED_USERS:
            self._live.popitem(last=False)
        return keys, state.eldest_seqno

    def device(self, conn: Connection, authorization: str | None) -> tuple[ReadToken, int]:
        """(the token, its user's eldest seqno) when it is valid and signed by a live device key
        of its user, or BadReadToken (401): every route that needs to know the device asks here."""
        token = self._verified(authorization, int(self.service.clock()))
        keys, eldest = self.live_sibkeys(conn, token.uid)
        if token.kid not in keys:
            raise errors.BadReadToken("the read token is not signed by a live device key of its user", 401)
        return token, eldest

    def reader(self, conn: Connection, authorization: str | None) -> str:
        """The uid a valid token speaks for, or BadReadToken (401)."""
        return self.device(conn, authorization)[0].uid

    # -- what they may read -------------------------------------------------------------

    @staticmethod
    def _role(conn: Connection, team_id: str, uid: str) -> Role:
        label = conn.execute(_Q_ROLE, {"t": team_id, "u": uid}).scalar()
        return Role.NONE if label is None else Role.parse(label)

    @staticmethod
    def _parent(conn: Connection, team_id: str) -> str | None:
        return conn.execute(_Q_PARENT, {"t": team_id}).scalar()

    def _ancestor_admin(self, conn: Connection, team_id: str, uid: str) -> bool:
        cur, seen = self._parent(conn, team_id), 0
        while cur is not None and seen < MAX_DEPTH:
            if self._role(conn, cur, uid) >= Role.ADMIN:
                return True
            cur, seen = self._parent(conn, cur), seen + 1
        return False

    def _in_a_subteam_of(self, conn: Connection, team_id: str, uid: str) -> bool:
        mine = conn.execute(select(db.team_members.c.team_id).where(db.team_members.c.uid == uid)
                            .limit(MAX_TEAMS_SCANNED)).scalars().all()
        for tid in mine:
            if not tid.endswith(_SUBTEAM_SUFFIX):
                continue
            cur, seen = self._parent(conn, tid), 0
            while cur is not None and seen < MAX_DEPTH:
                if cur == team_id:
                    return True
                cur, seen = self._parent(conn, cur), seen + 1
        return False

    def may_read(self, conn: Connection, uid: str, team_id: str, level: str) -> bool:
        role = self._role(conn, team_id, uid)
        if role >= (Role.ADMIN if level == ADMIN else Role.READER):
            return True
        if self._ancestor_admin(conn, team_id, uid):
            return True
        return level == CHAIN and self._in_a_subteam_of(conn, team_id, uid)

    def team(self, authorization: str | None, team_id: str, level: str) -> str:
        """The reader's uid if they may read `team_id` at `level`: else BadReadToken (401),
        NotFound (no such team) or ReadNotAllowed (403)."""
        with self.service.engine.connect() as conn:
            uid = self.reader(conn, authorization)
            if conn.execute(select(db.teams.c.team_id).where(db.teams.c.team_id == team_id)).first() is None:
                raise errors.NotFound(f"no team {team_id}")
            if not self.may_read(conn, uid, team_id, level) and not (level == CHAIN and public_chain(conn, team_id)):
                raise errors.ReadNotAllowed(f"{uid} may not read team {team_id} ({level})", 403)
        return uid

    def own(self, authorization: str | None, uid: str) -> str:
        """Only `uid` itself reads the list of its teams."""
        with self.service.engine.connect() as conn:
            reader = self.reader(conn, authorization)
        if reader != uid:
            raise errors.ReadNotAllowed("only a user reads the list of their own teams", 403)
        return reader
