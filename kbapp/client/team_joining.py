"""Asking to join a team and accepting a token invite: things done from outside a team.

Someone who is not in a team cannot read its chain (team reads need a read token
of a member: kbapp/server/team_access.py), so neither step loads the team when
that is refused: the team id comes from the name (computed for a root team, the
server's hint for a subteam), and what is signed names that id. A lie about the
id only sends a request or an acceptance to another team, where no admin's client
completes it. `TeamsMixin` (teams.py) inherits this.
"""

from __future__ import annotations

from kbapp.core import errors
from kbapp.core.teams import Role, seitan_key, sign_acceptance, sign_join_request
from kbapp.core.teams.invites import INVITE_TYPE_SEITAN, sign_acceptance_device

from .models import TeamInviteView, TeamView


def _hint_role(label: object, default: str) -> str:
    try:
        return Role.parse(label).label
    except errors.KbappError:
        return default


class TeamJoinMixin:
    async def join_team(self, team: str) -> TeamView:
        """Ask to join (signed by this device). An open team's admins' clients add us
        with its default role on their next load; a closed team's admins approve. The
        view is the verified team when we may read it (an implicit admin, say), else
        the server's hints (open, default role) with no members."""
        team_id, name = await self._team_ref(team)
        users: dict = {}
        me, signer = await self._me(users)
        try:
            loaded = await self._load(team_id, users=users, name=name)
        except errors.ReadNotAllowed:
            loaded = None
        if loaded is not None and loaded.state.role_of(me.uid) != Role.NONE:
            st = loaded.state
            raise errors.Conflict(f"you are already {st.role_of(me.uid).label} in {st.name}")
        req = sign_join_request(signer.key, team_id=team_id, uv=self._uv(me), ctime=int(self.ctx.clock()))
        ans = await self.ctx.api.team_request_join(team_id, {"request": req})
        if loaded is not None:
            return await self._view(loaded, badges=False)
        return TeamView(team_id, name or team_id, False, None, "none", 0, 0, "", ans.get("open") is True,
                        _hint_role(ans.get("default_role"), "reader"))

    async def accept_invite(self, token: str) -> TeamInviteView:
        """Prove we hold an invite token: an admin's client adds us on its next load.
        The acceptance is signed with the token's key and with this device's key; the
        server keeps it only for an open token invite of that team (else NotFound)."""
        if not isinstance(token, str) or ":" not in token:
            raise errors.BadTeamInvite("an invite token looks like TEAM:SECRET")
        team, _, secret = token.strip().rpartition(":")
        sk = seitan_key(secret)
        team_id, _name = await self._team_ref(team)
        users: dict = {}
        me, signer = await self._me(users)
        acc = sign_acceptance(secret, team_id=team_id, uv=self._uv(me), ctime=int(self.ctx.clock()))
        device = sign_acceptance_device(signer.key, team_id=team_id, acceptance=acc)
        ans = await self.ctx.api.team_accept_invite(team_id, sk.invite_id,
                                                {"uid": me.uid, "acceptance": acc, "device": device})
        return TeamInviteView(sk.invite_id, INVITE_TYPE_SEITAN, sk.public_hex, _hint_role(ans.get("role"), "reader"))

    # the names for the same operations
    join = join_team
    request_join = join_team
    accept = accept_invite
