"""Team chains on the server: storage, checks, hints.

A post is checked cheaply first (each link parses, is signed with the sigchain
context by a key the user it names registered, is a team link of this team and
extends the stored chain by seqno and prev), then played back with the clients'
own loader (core/teams), signers' keys taken from the user chains stored here:
a registered user who is no admin cannot break a team for everyone with a link
every client would refuse. None of it is trusted: every member plays the whole
chain back and compares its tail with the Merkle map, where each post lands,
under the team id, in the same epoch write as user chains. Names, member lists,
join requests and invite acceptances are hints clients check against the chain.
"""

from __future__ import annotations

import re
from dataclasses import replace

import nacl.exceptions
import nacl.signing
from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Connection

from kbapp.core import errors
from kbapp.core.chains import sound_roots
from kbapp.core.encoding import b64decode, b64encode, canonical_json, loads_json
from kbapp.core.keys import kid_hex, parse_kid
from kbapp.core.sigchain import LinkType, link_id_hex, parse_link
from kbapp.core.teams import (Role, SigPoint, TeamState, UserVersion, load_team, sibkey_eldest_at,
                              verify_acceptance, verify_join_denial, verify_join_request)
from kbapp.core.teams.implicit import check_implicit_name
from kbapp.core.teams.invites import INVITE_TYPE_SEITAN, verify_acceptance_device
from kbapp.core.transparency import ChainTail, map_key

from . import db
from .chains import CHAIN_PAGE_LINKS, chain_page

MAX_TEAM_LINKS_PER_POST = 16
MAX_PTK_BOXES_PER_POST = 1000
MAX_BOX_SIZE = 4096
MAX_NAME = 1024                 # implicit team names list their members
MAX_SIGNED_NOTE = 8192          # join requests and invite acceptances
MAX_PENDING = 500               # join requests or acceptances waiting per team
MAX_DEPTH = 8                   # subteam nesting
TEAM_ID_RE = re.compile(r"^[0-9a-f]{32}$")
INVITE_ID_RE = re.compile(r"^[0-9a-f]{16,64}$")
FIRST_TYPES = (LinkType.TEAM_ROOT, LinkType.TEAM_SUBTEAM_HEAD)
TEAM_LINK_TYPES = frozenset(t for t in LinkType if t >= LinkType.TEAM_ROOT)


def check_team_id(team_id: str) -> str:
    if not isinstance(team_id, str) or not TEAM_ID_RE.match(team_id):
        raise errors.EncodingError("a team id is 32 lowercase hex digits")
    return team_id


def check_team_name(name) -> str:
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME or any(c.isspace() for c in name):
        raise errors.EncodingError(f"a team name is 1..{MAX_NAME} characters without spaces")
    return name.lower()


def _parent_of(first: dict) -> str | None:
    """The parent team id a subteam's first link names (checked by the loader)."""
    pj = first.get("payload_json") if isinstance(first, dict) else None
    payload = loads_json(pj, max_size=1 << 16, max_depth=16) if isinstance(pj, str) else None
    body = payload.get("body") if isinstance(payload, dict) else None
    team = body.get("team") if isinstance(body, dict) else None
    parent = team.get("parent") if isinstance(team, dict) else None
    pid = parent.get("id") if isinstance(parent, dict) else None
    return pid if isinstance(pid, str) and TEAM_ID_RE.match(pid) else None


class TeamService:
    """The team half of the server; writes go through the owning Service's epoch."""

    def __init__(self, service):
        self.service = service
        self._states: dict[str, TeamState] = {}   # verified states by team id (warm plays)

    # -- playing a chain back (the same loader as every client) ------------------------------

    def _user_state(self, conn: Connection, uid: str, users: dict):
        if uid not in users:
            name = conn.execute(select(db.users.c.username).where(db.users.c.uid == uid)).scalar()
            st = None if name is None else self.service.chains.load(conn, uid, name)   # cached, incremental
            if st is not None:      # unsound embedded checkpoints order nothing (core/chains.py), as in clients
                svc = self.service
                roots, _ = sound_roots(st.merkle_roots, log_size=svc.log.size + 1, root_ok=svc.root_ok)
                st = replace(st, merkle_roots=roots)
            users[uid] = st
        return users[uid]

    def _user_key_at(self, conn: Connection, users: dict):
        """The loader's question, answered from the user chains in this database (the
        same rule as clients: a revoked key signs only links that claim an older log)."""
        def answer(uid: str, kid: str, point: SigPoint) -> int | None:
            st = self._user_state(conn, uid, users)
            return None if st is None else sibkey_eldest_at(st, kid, point)
        return answer

    def play(self, conn: Connection, team_id: str, new: list, users: dict) -> TeamState:
        """Stored chain + `new` links through core's team loader: the server refuses
        what every client would refuse (a link nobody allowed would break the team)."""
        return self._play(conn, team_id, new, users, 0)[0]

    def _play(self, conn: Connection, team_id: str, new: list, users: dict, depth: int) -> tuple[TeamState, dict]:
        if depth > MAX_DEPTH:
            raise errors.TeamError("team nesting is too deep")
        rows = conn.execute(select(db.team_links.c.wire).where(db.team_links.c.team_id == team_id)
                            .order_by(db.team_links.c.seqno)).all()
        links = [loads_json(r.wire) for r in rows] + list(new)
        if not links:
            raise errors.NotFound(f"no team {team_id}")
        ancestors: dict = {}
        parent_id = _parent_of(links[0])
        if parent_id is not None:
            parent, above = self._play(conn, parent_id, [], users, depth + 1)
            ancestors = {parent.id: parent, **above}
        cached = self._states.get(team_id)
        if cached is not None and not (cached.seqno <= len(links)
                                       and link_id_hex(links[cached.seqno - 1]) == cached.tail_link_id):
            cached = None
        svc = self.service
        state = load_team(links, team_id=team_id, user_key_at=self._user_key_at(conn, users),
                          ancestors=ancestors, cached=cached, log_size=svc.log.size + 1, root_ok=svc.root_ok)
        svc.check_claim_sigs(new)
        bad = [b for b in state.bad_checkpoints if b[0] > len(links) - len(new)]
        if bad:     # a new link's embedded checkpoint is not one of this log's (core/chains.py)
            raise errors.BadEmbeddedCheckpoint(f"team link {bad[0][0]}: its embedded checkpoint {bad[0][3]}")
        if not new:
            self._states[team_id] = state    # committed links only (a post caches after its commit)
        return state, ancestors

    @property
    def engine(self):
        return self.service.engine

    # -- writes -------------------------------------------------------------------

    def _tail(self, conn: Connection, team_id: str) -> tuple[int, str | None]:
        row = conn.execute(select(db.team_links.c.seqno, db.team_links.c.link_id)
                           .where(db.team_links.c.team_id == team_id)
                           .order_by(db.team_links.c.seqno.desc()).limit(1)).first()
        return (0, None) if row is None else (row.seqno, row.link_id)

    def _check_links(self, conn: Connection, team_id: str, links_in: list) -> list:
        seqno, prev = self._tail(conn, team_id)
        parsed = []
        for wire in links_in:
            if not isinstance(wire, dict) or "s2" in wire:
                raise errors.EncodingError("post full team links (no stubs)")
            link = parse_link(wire)
            if link.link_type not in TEAM_LINK_TYPES:
                raise errors.BadChainLink(f"link {link.seqno} is not a team link")
            if link.seqno != seqno + 1:
                raise errors.WrongSeqno(f"team link seqno {link.seqno}, expected {seqno + 1}")
            want_prev = None if prev is None else bytes.fromhex(prev)
            if link.prev != want_prev:
                raise errors.WrongPrev(f"team link {link.seqno} does not point at link {seqno}")
            team = link.body.get("team")
            if not isinstance(team, dict) or team.get("id") != team_id:
                raise errors.MismatchedField(f"team link {link.seqno} is not a link of team {team_id}")
            if (link.seqno == 1) != (link.link_type in FIRST_TYPES):
                raise errors.BadChainLink("a team chain starts with its root (or subteam head) link, and only there")
            try:
                nacl.signing.VerifyKey(parse_kid(link.signer).public).verify(link.signed_message, link.signature)
            except nacl.exceptions.BadSignatureError:
                raise errors.BadSignature(f"team link {link.seqno}: bad signature") from None
            owner = conn.execute(select(db.keys.c.uid).where(db.keys.c.kid == kid_hex(link.signer))).scalar()
            if owner is None or owner != link.uid:
                raise errors.BadChainLink(f"team link {link.seqno} is signed by a key no user {link.uid} registered")
            parsed.append(link)
            seqno, prev = link.seqno, link.link_id_hex
        return parsed

    def _ptk_boxes(self, items) -> list[tuple[int, str, int, bytes]]:
        if not isinstance(items, list) or len(items) > MAX_PTK_BOXES_PER_POST:
            raise errors.EncodingError(f"ptk_boxes must be a list of at most {MAX_PTK_BOXES_PER_POST}")
        out = []
        for item in items:
            if not isinstance(item, dict):
                raise errors.EncodingError("a team key box must be an object")
            gen, uid, pgen = item.get("generation"), item.get("uid"), item.get("puk_generation")
            if type(gen) is not int or not 0 < gen < 1 << 31 or type(pgen) is not int or not 0 < pgen < 1 << 31:
                raise errors.EncodingError("a team key box needs integer generation and puk_generation")
            if not isinstance(uid, str) or not re.fullmatch(r"[0-9a-f]{32}", uid):
                raise errors.EncodingError("a team key box needs a recipient uid")
            box = b64decode(item.get("box", ""), max_size=MAX_BOX_SIZE) if isinstance(item.get("box"), str) else b""
            if not box:
                raise errors.EncodingError("a team key box is empty")
            out.append((gen, uid, pgen, box))
        return out

    def post(self, team_id: str, body: dict) -> dict:
        """Store a batch of team links (and key boxes) as one log epoch. Call under service.lock."""
        team_id = check_team_id(team_id)
        links_in = body.get("links")
        if not isinstance(links_in, list) or len(links_in) > MAX_TEAM_LINKS_PER_POST:
            raise errors.EncodingError(f"links must be a list of 0..{MAX_TEAM_LINKS_PER_POST}")
        svc = self.service
        with svc.engine.connect() as conn:
            with svc._epoch(conn) as apply:
                parsed = self._check_links(conn, team_id, links_in)
                users: dict = {}
                state = self.play(conn, team_id, links_in, users) if parsed else None
                boxes = self._ptk_boxes(body.get("ptk_boxes", []))
                prev_items = body.get("ptk_prev", [])
                if not isinstance(prev_items, list) or len(prev_items) > 64:
                    raise errors.EncodingError("ptk_prev must be a short list")
                prev_boxes = []
                for item in prev_items:
                    if not isinstance(item, dict) or type(item.get("generation")) is not int \
                            or not isinstance(item.get("box"), str):
                        raise errors.EncodingError("a prev-seed box needs generation and box")
                    prev_boxes.append((item["generation"], b64decode(item["box"], max_size=MAX_BOX_SIZE)))
                now = int(svc.clock())
                if state is None:
                    raise errors.EncodingError("post at least one team link (boxes come with the link they serve)")
                self._check_boxes(conn, state, parsed, boxes, prev_boxes, users)
                names = body.get("implicit_names", [])
                if not isinstance(names, list) or len(names) > 8:
                    raise errors.EncodingError("implicit_names must be a short list")
                if parsed and parsed[0].seqno == 1:
                    self._register(conn, team_id, parsed[0], body, now)
                if names and not conn.execute(select(db.teams.c.implicit)
                                              .where(db.teams.c.team_id == team_id)).scalar():
                    raise errors.EncodingError("only an implicit team has other names (resolved assertions)")
                for name in names:      # each must name exactly who is in the team (squatting)
                    self._add_name(conn, team_id, check_implicit_name(state, check_team_name(name)),
                                   implicit=True)
                if parsed:
                    conn.execute(insert(db.team_links), [
                        {"team_id": team_id, "seqno": l.seqno, "link_id": l.link_id_hex,
                         "wire": canonical_json(w).decode(), "received": now}
                        for l, w in zip(parsed, links_in)])
                    self._update_members(conn, team_id, state)
                for gen, uid, pgen, box in boxes:
                    conn.execute(delete(db.ptk_boxes).where(
                        (db.ptk_boxes.c.team_id == team_id) & (db.ptk_boxes.c.generation == gen)
                        & (db.ptk_boxes.c.recipient_uid == uid)))
                    conn.execute(insert(db.ptk_boxes).values(team_id=team_id, generation=gen, recipient_uid=uid,
                                                             puk_generation=pgen, box=box))
                for gen, box in prev_boxes:
                    conn.execute(delete(db.ptk_prev).where((db.ptk_prev.c.team_id == team_id)
                                                           & (db.ptk_prev.c.generation == gen)))
                    conn.execute(insert(db.ptk_prev).values(team_id=team_id, generation=gen, box=box))
                key = map_key("team", team_id)
                old = svc.map.get(key)
                eldest = (kid_hex(parsed[0].signer) if old is None else ChainTail.decode(old).eldest_kid)
                tail = ChainTail(parsed[-1].seqno, parsed[-1].link_id_hex, eldest)
                apply([(key, tail.encode())])
        self._states[team_id] = state
        return {"team_id": team_id, "seqno": state.seqno, "log_size": svc.log.size}

    def _check_boxes(self, conn: Connection, state: TeamState, parsed: list, boxes: list, prev_boxes: list,
                     users: dict) -> None:
        """Boxes only of the newest generation, for members (or ancestors' admins), made
        for their current per-user key; a prev only for a generation these links made."""
        made = {g for g, info in state.ptks.items() if info.seqno >= parsed[0].seqno}
        allowed = set(state.members)
        anc = state.parent_id
        seen = 0
        while anc is not None and seen <= MAX_DEPTH:
            a = self.play(conn, anc, [], users)
            allowed |= {u for u, m in a.members.items() if m.role >= Role.ADMIN}
            anc, seen = a.parent_id, seen + 1
        for gen, uid, pgen, _box in boxes:
            if gen != state.generation:
                raise errors.BadTeamKey(f"a box of generation {gen}: the team is at {state.generation}")
            if uid not in allowed:
                raise errors.BadTeamKey(f"a key box for {uid}, who is not in the team")
            user = self._user_state(conn, uid, users)
            if user is None or user.puk is None or user.puk.generation != pgen:
                raise errors.BadTeamKey(f"a key box for {uid} not made for their current per-user key")
        for gen, _box in prev_boxes:
            if gen not in made or gen < 2:
                raise errors.BadTeamKey(f"a prev box for generation {gen}, which these links do not make")

    def _register(self, conn: Connection, team_id: str, first, body: dict, now: int) -> None:
        team = first.body["team"]
        implicit = bool(team.get("implicit"))
        name = check_team_name(team.get("name"))
        parent = team.get("parent", {}).get("id") if isinstance(team.get("parent"), dict) else None
        if parent is not None:
            check_team_id(parent)
            if conn.execute(select(db.teams.c.team_id).where(db.teams.c.team_id == parent)).first() is None:
                raise errors.NotFound(f"no parent team {parent}")
        if conn.execute(select(db.teams.c.team_id).where(db.teams.c.team_id == team_id)).first() is not None:
            raise errors.Conflict(f"team {team_id} exists")
        conn.execute(insert(db.teams).values(team_id=team_id, name=name, parent_id=parent, implicit=implicit,
                                             created=now))
        if implicit:
            # The name an implicit team is created under is its own (its id is that name's hash):
            # another team's later name for the same people gives way.
            conn.execute(delete(db.team_names).where(db.team_names.c.name == name))
        self._add_name(conn, team_id, name, implicit=implicit)

    @staticmethod
    def _add_name(conn: Connection, team_id: str, name: str, *, implicit: bool) -> None:
        row = conn.execute(select(db.team_names.c.team_id).where(db.team_names.c.name == name)).first()
        if row is not None:
            if row.team_id != team_id:
                raise errors.Conflict(f"the team name {name!r} is taken")
            return
        conn.execute(insert(db.team_names).values(name=name, team_id=team_id, implicit=implicit))

    @staticmethod
    def _update_members(conn: Connection, team_id: str, state: TeamState) -> None:
        """Rebuild the member hints from the verified state; drop requests of those now in."""
        conn.execute(delete(db.team_members).where(db.team_members.c.team_id == team_id))
        if state.members:
            conn.execute(insert(db.team_members), [{"team_id": team_id, "uid": uid, "role": m.role.label}
                                                   for uid, m in state.members.items()])
            uids = list(state.members)
            conn.execute(delete(db.team_join_requests).where(
                (db.team_join_requests.c.team_id == team_id) & db.team_join_requests.c.uid.in_(uids)))
            conn.execute(delete(db.team_invite_acceptances).where(
                (db.team_invite_acceptances.c.team_id == team_id) & db.team_invite_acceptances.c.uid.in_(uids)))

    def request_join(self, team_id: str, body: dict) -> dict:
        """Store a join request signed by one of the requester's registered device
        keys (a spam filter: the admin's client checks it against the verified chain)."""
        team_id = check_team_id(team_id)
        req = body.get("request")
        if not isinstance(req, dict) or len(canonical_json(req)) > MAX_SIGNED_NOTE:
            raise errors.EncodingError("a join request is a small signed object")
        with self.engine.begin() as conn:
            if conn.execute(select(db.teams.c.team_id).where(db.teams.c.team_id == team_id)).first() is None:
                raise errors.NotFound(f"no team {team_id}")
            uv = UserVersion.parse(req.get("uv"))
            user = conn.execute(select(db.users.c.username).where(db.users.c.uid == uv.uid)).scalar()
            if user is None:
                raise errors.NotFound(f"no user {uv.uid}")

            def registered(uid: str, kid: str, _point) -> int | None:
                owner = conn.execute(select(db.keys.c.uid).where(db.keys.c.kid == kid_hex(kid))).scalar()
                return uv.eldest_seqno if owner == uid else None
            try:
                verify_join_request(req, team_id=team_id, user_key_at=registered)
            except errors.BadTeamInvite as e:
                raise errors.BadSignature(str(e)) from None
            n = conn.execute(select(func.count()).select_from(db.team_join_requests)
                             .where(db.team_join_requests.c.team_id == team_id)).scalar()
            if n >= MAX_PENDING:
                raise errors.RateLimited("too many pending join requests for this team", 429)
            conn.execute(delete(db.team_join_requests).where((db.team_join_requests.c.team_id == team_id)
                                                             & (db.team_join_requests.c.uid == uv.uid)))
            conn.execute(insert(db.team_join_requests).values(
                team_id=team_id, uid=uv.uid, username=user, request=canonical_json(req).decode(),
                created=int(self.service.clock())))
            settings = self.play(conn, team_id, [], {}).settings     # a hint for the requester
        return {"team_id": team_id, "uid": uv.uid, "open": settings.open, "default_role": settings.join_as.label}

    def join_requests(self, team_id: str) -> dict:
        team_id = check_team_id(team_id)
        with self.engine.connect() as conn:
            rows = conn.execute(select(db.team_join_requests).where(db.team_join_requests.c.team_id == team_id)
                                .order_by(db.team_join_requests.c.created).limit(MAX_PENDING)).all()
        return {"requests": [{"uid": r.uid, "username": r.username, "request": loads_json(r.request),
                              "created": r.created}
                             for r in rows]}

    def deny_join(self, team_id: str, body: dict) -> dict:
        """Drop one pending join request, for an admin (or an ancestor's admin) only: the
        denial is signed by a live device key of the admin and names that very request,
        and the admin's role is read from the chain played back here."""
        team_id = check_team_id(team_id)
        denial = body.get("denial")
        if not isinstance(denial, dict) or len(canonical_json(denial)) > MAX_SIGNED_NOTE:
            raise errors.EncodingError("a join denial is a small signed object")
        uid = denial.get("uid")
        if not isinstance(uid, str) or not re.fullmatch(r"[0-9a-f]{32}", uid):
            raise errors.EncodingError("a join denial names the requester's uid")
        with self.engine.begin() as conn:
            row = conn.execute(select(db.team_join_requests.c.request).where(
                (db.team_join_requests.c.team_id == team_id) & (db.team_join_requests.c.uid == uid))).first()
            if row is None:
                raise errors.NotFound(f"no pending join request from {uid} for team {team_id}")
            users: dict = {}
            admin = verify_join_denial(denial, team_id=team_id, request=loads_json(row.request),
                                       user_key_at=self._user_key_at(conn, users))
            state = self.play(conn, team_id, [], users)
            allowed = state.role_of(admin.uid) >= Role.ADMIN
            anc, seen = state.parent_id, 0
            while not allowed and anc is not None and seen <= MAX_DEPTH:
                a = self.play(conn, anc, [], users)
                allowed = a.role_of(admin.uid) >= Role.ADMIN
                anc, seen = a.parent_id, seen + 1
            if not allowed:
                raise errors.TeamPermissionDenied("only the team's admins (or a parent team's) may deny a request")
            conn.execute(delete(db.team_join_requests).where((db.team_join_requests.c.team_id == team_id)
                                                             & (db.team_join_requests.c.uid == uid)))
        return {"team_id": team_id, "uid": uid, "denied": True}

    def accept_invite(self, team_id: str, invite_id: str, body: dict) -> dict:
        """Store an invitee's acceptance of an open token invite of this team, signed twice:
        with the token's key (which only the invitee and the admin who made the token know)
        and with a live device key of the user it names. So only that user can post or
        replace it, and junk (which fails a signature) is never stored. Admins' clients
        check both signatures again before completing the invite."""
        team_id = check_team_id(team_id)
        if not isinstance(invite_id, str) or not INVITE_ID_RE.match(invite_id):
            raise errors.EncodingError("malformed invite id")
        uid, acceptance, device = body.get("uid"), body.get("acceptance"), body.get("device")
        if not isinstance(uid, str) or not re.fullmatch(r"[0-9a-f]{32}", uid):
            raise errors.EncodingError("an acceptance needs the uid")
        if not isinstance(acceptance, dict) or not isinstance(device, dict) \
                or len(canonical_json(acceptance)) + len(canonical_json(device)) > MAX_SIGNED_NOTE:
            raise errors.EncodingError("an acceptance is a small object signed by the token and by a device")
        with self.engine.begin() as conn:
            if conn.execute(select(db.teams.c.team_id).where(db.teams.c.team_id == team_id)).first() is None:
                raise errors.NotFound(f"no team {team_id}")
            users: dict = {}
            state = self.play(conn, team_id, [], users)
            inv = state.invites.get(invite_id)
            if inv is None or inv.type != INVITE_TYPE_SEITAN:
                raise errors.NotFound(f"team {team_id} has no open token invite {invite_id}")
            uv = verify_acceptance(inv, acceptance, team_id=team_id)          # BadTeamInvite: 400
            if uv.uid != uid:
                raise errors.AcceptanceNotAllowed("the acceptance names another user than the one posting it")
            try:
                verify_acceptance_device(device, team_id=team_id, acceptance=acceptance,
                                         user_key_at=self._user_key_at(conn, users))
            except errors.BadTeamInvite as e:
                raise errors.AcceptanceNotAllowed(f"not signed by a live device key of {uid}: {e}") from None
            if state.role_of(uid) != Role.NONE:
                raise errors.Conflict(f"{uid} is already in team {team_id}")
            table = db.team_invite_acceptances
            n = conn.execute(select(func.count()).select_from(table).where(
                (table.c.team_id == team_id) & (table.c.invite_id == invite_id) & (table.c.uid != uid))).scalar()
            if n >= MAX_PENDING:
                raise errors.RateLimited("too many pending acceptances of this invite", 429)
            conn.execute(delete(table).where((table.c.team_id == team_id) & (table.c.invite_id == invite_id)
                                             & (table.c.uid == uid)))
            conn.execute(insert(table).values(
                team_id=team_id, invite_id=invite_id, uid=uid,
                acceptance=canonical_json({"acceptance": acceptance, "device": device}).decode(),
                created=int(self.service.clock())))
        return {"team_id": team_id, "invite_id": invite_id, "uid": uid, "role": inv.role.label}

    def acceptances(self, team_id: str) -> dict:
        team_id = check_team_id(team_id)
        with self.engine.connect() as conn:
            rows = conn.execute(select(db.team_invite_acceptances)
                                .where(db.team_invite_acceptances.c.team_id == team_id)
                                .order_by(db.team_invite_acceptances.c.created).limit(MAX_PENDING)).all()
        out = []
        for r in rows:
            stored = loads_json(r.acceptance)
            signed = isinstance(stored, dict) and set(stored) == {"acceptance", "device"}
            out.append({"invite_id": r.invite_id, "uid": r.uid, "created": r.created,
                        "acceptance": stored["acceptance"] if signed else stored,
                        "device": stored["device"] if signed else None})
        return {"acceptances": out}

    # -- reads --------------------------------------------------------------------

    def chain(self, team_id: str, since: int = 0, limit: int = CHAIN_PAGE_LINKS) -> dict:
        """One page of the team chain (chains.chain_page: `more`, `next`), with the hints."""
        team_id = check_team_id(team_id)
        with self.engine.connect() as conn:
            row = conn.execute(select(db.teams).where(db.teams.c.team_id == team_id)).first()
            if row is None:
                raise errors.NotFound(f"no team {team_id}")
            page = chain_page(conn, db.team_links, db.team_links.c.team_id, team_id, since, limit)
        return {"team_id": team_id, "name": row.name, "parent_id": row.parent_id, "implicit": bool(row.implicit),
                **page}

    def by_name(self, name: str) -> dict:
        name = check_team_name(name)
        with self.engine.connect() as conn:
            row = conn.execute(select(db.team_names).where(db.team_names.c.name == name)).first()
        if row is None:
            raise errors.NotFound(f"no team named {name!r}")
        return {"team_id": row.team_id, "name": name, "implicit": bool(row.implicit)}

    def boxes(self, team_id: str, uid: str | None = None, generation: int | None = None) -> dict:
        """One member's boxes (every generation), or every member's box of one generation."""
        team_id = check_team_id(team_id)
        if (uid is None) == (generation is None):
            raise errors.EncodingError("ask for the boxes of one uid or of one generation")
        cond = db.ptk_boxes.c.team_id == team_id
        cond &= (db.ptk_boxes.c.recipient_uid == uid) if uid is not None else (db.ptk_boxes.c.generation == generation)
        with self.engine.connect() as conn:
            rows = conn.execute(select(db.ptk_boxes).where(cond)
                                .order_by(db.ptk_boxes.c.generation, db.ptk_boxes.c.recipient_uid)
                                .limit(MAX_PTK_BOXES_PER_POST * 4)).all()
            prev = conn.execute(select(db.ptk_prev).where(db.ptk_prev.c.team_id == team_id)
                                .order_by(db.ptk_prev.c.generation)).all()
        return {"boxes": [{"generation": r.generation, "uid": r.recipient_uid, "puk_generation": r.puk_generation,
                           "box": b64encode(r.box)} for r in rows],
                "prev": [{"generation": r.generation, "box": b64encode(r.box)} for r in prev]}

    def teams_of(self, uid: str) -> dict:
        with self.engine.connect() as conn:
            rows = conn.execute(select(db.teams.c.team_id, db.teams.c.name, db.teams.c.implicit,
                                       db.team_members.c.role)
                                .join(db.team_members, db.team_members.c.team_id == db.teams.c.team_id)
                                .where(db.team_members.c.uid == uid.lower()).order_by(db.teams.c.name)
                                .limit(1000)).all()
        return {"teams": [{"team_id": r.team_id, "name": r.name, "implicit": bool(r.implicit), "role": r.role}
                          for r in rows]}

    def subteams(self, team_id: str) -> dict:
        team_id = check_team_id(team_id)
        with self.engine.connect() as conn:
            rows = conn.execute(select(db.teams.c.team_id, db.teams.c.name)
                                .where(db.teams.c.parent_id == team_id).limit(1000)).all()
        return {"subteams": [{"team_id": r.team_id, "name": r.name} for r in rows]}

