"""Implicit (ad-hoc) teams by name: `alice,bob`, `alice,bob#carol`, `alice,bob@github`.

An implicit team's id is the hash of the name it was created under (core/teams/
names.py), and the loader refuses a root whose id or members do not match that
name: so the team made under a name is found without asking the server, by
looking its id up in the verified Merkle map. The server's name table is asked
only for a name the team was not created under (one it got when an assertion of
it was proven: `alice,bob@github` became `alice,bob`), and what it answers is
checked on load. A name it points at a team that is not those people (a squat,
a lie) is reported and ignored, and the client goes on: to the team made under
the name, or to making it. `TeamsMixin` (teams.py) inherits this.
"""

from __future__ import annotations

import re

from kbapp.core import errors
from kbapp.core.teams import Role, TeamKey, assertion_invite, build_root, implicit_team_id, parse_implicit_name

from .events import TeamChanged, VerificationFailed
from .models import TeamView

_HEX32 = re.compile(r"^[0-9a-f]{32}$")
# What loading a team the server pointed a name at shows when it is not that name's team.
_NOT_THAT_TEAM = (errors.BadTeamMembership, errors.BadTeamName, errors.ReadNotAllowed)


def _parse(name: str):
    try:
        return parse_implicit_name(name)
    except errors.BadTeamName as e:
        raise errors.InvalidTeamName(str(e)) from None


class ImplicitTeamsMixin:
    async def _implicit_made_as(self, name: str) -> str | None:
        """The id of the implicit team created under exactly `name` (canonical), if the
        verified map holds it; None when the map proves it absent."""
        tid = implicit_team_id(name)
        tail, _cp = await self.ctx.logview.lookup("team", tid)
        return tid if tail is not None else None

    async def _implicit_hint(self, name: str) -> str | None:
        """The server's name table for `name` (a hint, checked on load), or None."""
        try:
            tid = (await self.ctx.api.team_by_name(name)).get("team_id")
        except errors.NotFound:
            return None
        if not isinstance(tid, str) or not _HEX32.match(tid):
            raise errors.EncodingError("malformed team lookup answer")
        return tid

    async def _implicit_ref(self, name: str) -> str:
        """The team id for a canonical implicit name: computed when the team was made under
        it, else the server's hint (the load checks the team's members against the name)."""
        tid = await self._implicit_made_as(name) or await self._implicit_hint(name)
        if tid is None:
            raise errors.NotFound(f"no implicit team {name!r}")
        return tid

    async def _implicit_view(self, team_id: str, name: str) -> TeamView:
        async with self.ctx.locks(f"team:{team_id}"):
            loaded = await self._load(team_id, name=name)
            if self.ctx.store.get("uid"):
                loaded, _done = await self._chores(loaded)
        return await self._view(loaded, badges=False)

    async def implicit_team(self, name: str) -> TeamView:
        """Get or create the ad-hoc team `alice,bob#carol` / `alice,bob@github`; any member's
        client adds people who proved an assertion of its name since."""
        iname = _parse(name)
        if self.ctx.identifier is None:
            await self.ctx.connect()
        uid, me = self.ctx.require_login()
        # Resolve what can be resolved now: a proven assertion names the user directly.
        for a in iname.assertions[0] + iname.assertions[1]:
            try:
                res = await self.social.resolve(a)
            except errors.NotFound:
                continue
            iname = iname.resolve(a, res.username)
        candidates = list(dict.fromkeys((str(iname), str(_parse(name)))))
        # 1. a team made under one of these names: its id is the name's hash.
        for candidate in candidates:
            tid = await self._implicit_made_as(candidate)
            if tid is not None:
                return await self._implicit_view(tid, candidate)
        # 2. a team that got one of these names later (an assertion proven): the server's word, checked.
        for candidate in candidates:
            tid = await self._implicit_hint(candidate)
            if tid is None:
                continue
            try:
                return await self._implicit_view(tid, candidate)
            except _NOT_THAT_TEAM as e:
                # The server points the name at a team that is not these people: its lie (or a
                # squat), reported and ignored: the name's own team is made below if need be.
                self.ctx.events.emit(VerificationFailed(candidate, e.code, f"the server's team for this name: {e}"))
        # 3. make it, under the resolved name.
        if me not in iname.writers:
            raise errors.ImplicitTeamNotMade(f"you ({me}) are not a writer of {iname}: only its writers can create it")
        async with self.ctx.locks(f"team:{implicit_team_id(iname)}"):
            # Another task of ours may have made it while we waited for the lock (the Files page
            # lists a folder while a drop writes to it): its second root link would be refused.
            made = await self._implicit_made_as(str(iname))
            if made is None:
                users: dict = {}
                user, signer = await self._me(users)
                wnames, rnames = iname.usernames
                members: dict = {}
                people = []
                for uname, role in [(w, Role.OWNER) for w in wnames] + [(r, Role.READER) for r in rnames]:
                    u = await self.ctx.identifier.identify(uname)
                    users[u.uid] = u
                    members[self._uv(u)] = role
                    people.append(u)
                invites = []
                wa, ra = iname.assertions
                for a, role in [(a, Role.OWNER) for a in wa] + [(a, Role.READER) for a in ra]:
                    account, _, service = a.partition("@")
                    invites.append(assertion_invite(service, account, role, self.ctx.rng(16)))
                key = TeamKey.derive(self.ctx.rng(32), 1)
                sender = await self.ctx.current_puk(user)
                tid = implicit_team_id(iname)
                link = build_root(signer, name=str(iname), members=members, ptk=key, implicit=True, invites=invites,
                                  **self._common())
                try:
                    await self._post(tid, [link], boxes=[self._box(key, sender, u) for u in people])
                except errors.ServerError:
                    # another member's client made it first (its root link took seqno 1): look
                    # again, with a fresh checkpoint; refused for any other reason, say so
                    await self.ctx.logview.fetch_latest()
                    made = await self._implicit_made_as(str(iname))
                    if made is None:
                        raise
                else:
                    loaded = await self._load(tid, users=users)
        if made is not None:                   # made meanwhile: viewed outside the lock (it takes it)
            return await self._implicit_view(made, str(iname))
        self.ctx.events.emit(TeamChanged(loaded.state.name, tid, loaded.state.seqno))
        return await self._view(loaded, badges=False)
