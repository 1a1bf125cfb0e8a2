"""Loading a team: names to ids, the signers' user chains, and the whole chain played back.

Every load plays the team's whole chain back with the core loader
(core/teams/verify.py) and checks that it ends exactly at the tail the
verified Merkle map names for the team id, so a server that hides a link (a
removal, say) from one member, drops or reorders links, or replays one from
another team is caught with a typed error. Signers' keys are checked against
their verified user chains; parent teams are loaded first (implicit admins).
Only a team that checks out is stored. `TeamsService` (teams.py) inherits this.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re

from kbapp.core import errors
from kbapp.core.chains import check_grows
from kbapp.core.sigchain import link_id_hex, parse_link
from kbapp.core.teams import (Role, SigPoint, TeamState, check_team_name, load_team, parse_implicit_name,
                              root_team_id, sibkey_eldest_at)
from kbapp.core.transparency import check_tail
from kbapp.core.uid import check_username, uid_for

from .claims import team_root_ok, with_bad_roots
from .events import TeamChanged, VerificationFailed
from .store import TrustedCheckpoint, TrustedTeam

MAX_ANCESTORS = 8
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


@dataclasses.dataclass
class _Loaded:
    """One verified team load: the state, the users it names, its ancestors."""

    state: TeamState
    ancestors: dict               # team id -> TeamState
    users: dict                   # uid -> VerifiedUser (signers, members)


@contextlib.contextmanager
def _typed_name():
    """A name the user typed that breaks the rules is their mistake, not the server's lie."""
    try:
        yield
    except errors.BadTeamName as e:
        raise errors.InvalidTeamName(str(e)) from None


async def team_lock(svc: "TeamLoadMixin", team: str, *_args, **_kw) -> str:
    """The lock of the team an operation's first argument names, by the team's id, so
    that a name and an id of one team share it (a subteam's id: the server's hint; a
    wrong one only picks the wrong lock, the load that follows refuses the team)."""
    team_id, _name = await svc._team_ref(team)
    return f"team:{team_id}"


class TeamLoadMixin:
    """Team ids from names, verified user chains by uid, and verified team loads."""

    # -- names and ids -------------------------------------------------------------------

    async def _team_ref(self, team: str) -> tuple[str, str | None]:
        """(team id, the name asked for or None): ids of named root teams are computed
        here; subteams and implicit teams start from a server hint checked on load."""
        if not isinstance(team, str) or not team.strip():
            raise errors.InvalidTeamName("name a team")
        t = team.strip().lower()
        if _HEX32.match(t):
            return t, None
        if self.ctx.identifier is None:
            await self.ctx.connect()
        with _typed_name():
            name = str(parse_implicit_name(t)) if any(c in t for c in ",#@") else check_team_name(t)
        if "." not in name and not any(c in name for c in ",#@"):
            return root_team_id(name), name
        if any(c in name for c in ",#@"):
            return await self._implicit_ref(name), name      # implicit_teams.py
        tid = (await self.ctx.api.team_by_name(name)).get("team_id")
        if not isinstance(tid, str) or not _HEX32.match(tid):
            raise errors.EncodingError("malformed team lookup answer")
        return tid, name

    # -- users ------------------------------------------------------------------------------

    async def _user_by_uid(self, uid: str, hint: str | None, users: dict):
        """A verified user chain by uid (the username is a hint: uid = hash(username))."""
        if uid in users:
            return users[uid]
        name = hint
        if name is None:
            trusted = await self.ctx.store.aio.identity(uid)
            name = trusted.username if trusted is not None else None
        if name is None:
            ans = await self.ctx.api.chain(uid, limit=1)      # only the username hint: no need for the links
            name = ans.get("username") if isinstance(ans, dict) else None
        if not isinstance(name, str):
            raise errors.NotFound(f"no user with uid {uid}")
        name = check_username(name)
        if uid_for(name) != uid:
            raise errors.WrongUid(f"{name!r} is not the user {uid}")
        users[uid] = await self.ctx.identifier.identify(name)
        return users[uid]

    @staticmethod
    def _user_key_at(users: dict):
        """The loader's question "was this KID a live sibkey of uid at that link?",
        answered from verified user chains. A revoked key counts for links whose
        author saw an older log than the revocation's author did (merkle sizes)."""
        def answer(uid: str, kid: str, point: SigPoint) -> int | None:
            user = users.get(uid)
            return None if user is None else sibkey_eldest_at(user.state, kid, point)
        return answer

    # -- loading ----------------------------------------------------------------------------

    def _team_states(self) -> dict:
        return self._team_cache

    async def _load(self, team_id: str, *, depth: int = 0, users: dict | None = None,
                    name: str | None = None) -> _Loaded:
        """Verify a team chain against the Merkle map and our earlier view of it (and,
        with `name`, that it is the team of that name); only then store it."""
        if depth > MAX_ANCESTORS:
            raise errors.TeamError("team nesting is too deep")
        if self.ctx.identifier is None:
            await self.ctx.connect()
        users = {} if users is None else users
        tail, cp = await self.ctx.logview.lookup("team", team_id)
        if tail is None:
            raise errors.NotFound(f"no team {team_id} (the verified log proves it absent)")
        trusted = await self.ctx.store.aio.team(team_id)
        cached = self._team_states().get(team_id)
        _, links = await self.ctx.api.team_chain_links(team_id, tail.seqno)     # page by page, up to the map's tail
        if trusted is not None:     # only grows from the links we verified, each of them (core/chains.py)
            known = trusted.summary.get("link_ids") or [link_id_hex(w) for w in trusted.chain]
            check_grows(len(links), lambda n: link_id_hex(links[n - 1]),
                        {i: lid for i, lid in enumerate(known, 1)} or {trusted.tail_seqno: trusted.tail_link_id},
                        what="team chain")
        # The signers' user chains, and the parent chain for a subteam.
        parent_id = None
        for wire in links:
            lk = parse_link(wire)
            if lk.payload is None:
                continue
            try:
                await self._user_by_uid(lk.uid, lk.username, users)
            except errors.NotFound:
                pass     # no such user: the loader finds the signer's key not live
            team = lk.payload["body"].get("team")
            if lk.seqno == 1 and isinstance(team, dict) and isinstance(team.get("parent"), dict):
                parent_id = team["parent"].get("id")
        ancestors: dict = {}
        if isinstance(parent_id, str) and _HEX32.match(parent_id):
            parent = await self._load(parent_id, depth=depth + 1, users=users)
            ancestors = {parent.state.id: parent.state, **parent.ancestors}
        use_cache = cached is not None and trusted is not None and cached.tail_link_id == trusted.tail_link_id
        # Each link names the checkpoint its author saw: one of our log's (claims.py); a bad one
        # is noted against its signer in state.bad_checkpoints, so an admin can remove them.
        root_ok = await team_root_ok(self.ctx.logview, links, trusted.tail_seqno if trusted is not None else 0, cp,
                                     trusted.summary if trusted is not None else None)
        state = await asyncio.get_running_loop().run_in_executor(None, lambda: load_team(
            links, team_id=team_id,
            user_key_at=self._user_key_at(users), ancestors=ancestors,
            cached=cached if use_cache else None, tail=tail, log_size=cp.size, root_ok=root_ok))
        check_tail(tail, state.seqno, state.tail_link_id, tail.eldest_kid)
        await self._check_name(_Loaded(state, ancestors, users), name)
        trusted_team = TrustedTeam(team_id, state.name, state.seqno, state.tail_link_id, links,
                                   with_bad_roots(_summary(state), state, links), int(self.ctx.clock()))
        await self.ctx.logview.commit(TrustedCheckpoint(cp.size, cp.root, cp.text, int(self.ctx.clock())),
                                      lambda c: self.ctx.store.aio.commit_team(trusted_team, c))
        self._team_states()[team_id] = state
        if trusted is not None and trusted.tail_seqno != state.seqno:
            self.ctx.events.emit(TeamChanged(state.name, team_id, state.seqno))
        return _Loaded(state, ancestors, users)

    async def _load_ref(self, team: str, users: dict | None = None) -> _Loaded:
        team_id, name = await self._team_ref(team)
        try:
            loaded = await self._load(team_id, users=users, name=name)
        except errors.VerificationError as e:
            self.ctx.events.emit(VerificationFailed(team, e.code, str(e)))
            raise
        return loaded

    async def _check_name(self, loaded: _Loaded, name: str | None) -> None:
        """The team the server pointed a name at must be the team of that name."""
        st = loaded.state
        if name is None:
            return
        if not st.implicit:
            if st.name != name:
                raise errors.BadTeamName(f"the server's team for {name!r} is {st.name!r}")
            return
        iname = parse_implicit_name(name)
        wnames, rnames = iname.usernames
        wa, ra = iname.assertions
        owners = {u for u, m in st.members.items() if m.role == Role.OWNER}
        readers = {u for u, m in st.members.items() if m.role == Role.READER}
        want_w, want_r = {uid_for(u) for u in wnames}, {uid_for(u) for u in rnames}
        if not want_w <= owners or not want_r <= readers:
            raise errors.BadTeamMembership(f"implicit team {st.name!r} does not hold everyone {name!r} names")
        pending = {(f"{i.name}@{i.type}", i.role) for i in st.invites.values()}
        extra_w, extra_r = owners - want_w, readers - want_r
        for assertion, role, extra in [(a, Role.OWNER, extra_w) for a in wa] + [(a, Role.READER, extra_r) for a in ra]:
            if (assertion, role) in pending:
                continue
            res = await self.social.resolve(assertion)          # proven since: checked live
            uid = uid_for(res.username)
            if uid not in extra:
                raise errors.BadTeamMembership(f"{assertion} ({res.username}) is not in implicit team {st.name!r}")
            extra.discard(uid)
        if extra_w or extra_r:
            raise errors.BadTeamMembership(f"implicit team {st.name!r} holds people {name!r} does not name")


def _ancestor_ids(st: TeamState, ancestors: dict) -> list[str]:
    return _ancestor_ids_from(st.parent_id, ancestors)


def _ancestor_ids_from(parent_id: str | None, ancestors: dict) -> list[str]:
    out, cur = [], parent_id
    while cur is not None and cur in ancestors and len(out) < MAX_ANCESTORS:
        out.append(cur)
        cur = ancestors[cur].parent_id
    return out


def _current_implicit_name(st: TeamState, loaded: _Loaded):
    """An implicit team's name now: its members, and the assertions still pending."""
    owners = sorted(loaded.users[u].username if u in loaded.users else u
                    for u, m in st.members.items() if m.role == Role.OWNER)
    readers = sorted(loaded.users[u].username if u in loaded.users else u
                     for u, m in st.members.items() if m.role == Role.READER)
    wa = [f"{i.name}@{i.type}" for i in st.invites.values() if i.role == Role.OWNER]
    ra = [f"{i.name}@{i.type}" for i in st.invites.values() if i.role == Role.READER]
    try:
        return parse_implicit_name(",".join(owners + wa) + ("#" + ",".join(readers + ra) if readers or ra else ""))
    except errors.KbappError:
        return parse_implicit_name(st.name)


def _summary(st: TeamState) -> dict:
    return {"name": st.name, "implicit": st.implicit, "parent_id": st.parent_id, "generation": st.generation,
            "members": {u: m.role.label for u, m in st.members.items()}, "open": st.settings.open,
            "link_ids": list(st.link_ids)}
