"""Reads: a team as the user sees it (members with identity badges, invites, subteams)
and the list of our teams. A read posts nothing: the chores a load finds due are the
housekeeper's (team_chores.py, housekeeper.py). `TeamsService` (teams.py) inherits this.
"""

from __future__ import annotations

from kbapp.core import errors
from kbapp.core.proofs import BROKEN
from kbapp.core.teams import Role, TeamState

from .models import TeamInviteView, TeamListItem, TeamMemberView, TeamView
from .team_loading import _HEX32, _ancestor_ids, _current_implicit_name, _Loaded

MAX_LISTED = 1000          # teams list_teams verifies (member teams and administered subteams)


class TeamViewsMixin:
    """What the user reads about teams; nothing here posts (on `TeamsService`)."""

    async def team(self, team: str, *, badges: bool = True) -> TeamView:
        """Load and verify a team. A read: it posts nothing (the admin chores a load
        finds due are the housekeeper's, housekeeper.py)."""
        return await self._view(await self._load_ref(team), badges=badges)

    async def list_members(self, team: str) -> TeamView:
        """Members with roles and each member's identity badge (verified / broken)."""
        return await self.team(team, badges=True)

    async def list_teams(self) -> list[TeamListItem]:
        """Teams we are in (the server's list, each team verified), and the subteams we
        administer through a parent (implicit admin): found in the verified subteam lists
        of teams where we are an admin, each subteam loaded and verified in turn."""
        uid, _ = self.ctx.require_login()
        out: dict[str, TeamListItem] = {}
        admin_of: list[TeamState] = []
        for hint in (await self.ctx.api.teams_of(uid))[:MAX_LISTED]:
            tid = hint.get("team_id") if isinstance(hint, dict) else None
            if not isinstance(tid, str) or not _HEX32.match(tid) or tid in out:
                continue
            try:
                loaded = await self._load(tid)
            except errors.NotFound:
                continue
            st = loaded.state
            role = st.role_of(uid)
            if role == Role.NONE:
                continue
            out[st.id] = TeamListItem(st.id, st.name, role.label, st.implicit, len(st.members), st.generation)
            if role >= Role.ADMIN:
                admin_of.append(st)
        seen = set(out)
        while admin_of and len(seen) < MAX_LISTED:
            parent = admin_of.pop(0)
            for sid in sorted(parent.subteams):
                if sid in seen:
                    continue
                seen.add(sid)
                try:
                    sub = (await self._load(sid)).state
                except errors.NotFound:
                    continue                   # deleted since, or withheld: nothing to show
                if sub.parent_id != parent.id:
                    raise errors.TeamWrongId(f"subteam {sid} of {parent.name} names another parent team")
                if sub.deleted:
                    continue
                admin_of.append(sub)           # its subteams are ours to administer too
                role = sub.role_of(uid)
                out[sid] = TeamListItem(sub.id, sub.name, "admin" if role == Role.NONE else role.label, sub.implicit,
                                        len(sub.members), sub.generation, implicit_admin=role == Role.NONE)
        return sorted(out.values(), key=lambda t: t.name)

    async def _view(self, loaded: _Loaded, *, badges: bool) -> TeamView:
        st = loaded.state
        my_uid = self.ctx.store.get("uid")
        members = []
        for uid, m in sorted(st.members.items(), key=lambda kv: (-kv[1].role, kv[0])):
            user = await self._user_by_uid(uid, None, loaded.users)
            badge, reason = "verified", ""
            if badges:
                badge, reason = await self._badge(user.username)
            members.append(TeamMemberView(user.username, uid, m.role.label, badge, reason, m.since_seqno))
        for anc_id in _ancestor_ids(st, loaded.ancestors):
            for uid, m in loaded.ancestors[anc_id].members.items():
                if m.role >= Role.ADMIN and uid not in st.members and uid not in {x.uid for x in members}:
                    user = await self._user_by_uid(uid, None, loaded.users)
                    badge, reason = await self._badge(user.username) if badges else ("verified", "")
                    members.append(TeamMemberView(user.username, uid, "admin", badge, reason, 0, True))
        invites = [TeamInviteView(i.id, i.type, i.name, i.role.label) for i in st.invites.values()]
        name = str(_current_implicit_name(st, loaded)) if st.implicit else st.name
        return TeamView(st.id, name, st.implicit, st.parent_id, st.role_of(my_uid).label if my_uid else "none",
                        st.generation, st.seqno, st.tail_link_id, st.settings.open, st.settings.join_as.label,
                        members, invites, sorted(st.subteams.values()))

    async def _badge(self, username: str) -> tuple[str, str]:
        """A member's identity check, as People shows it: verified, or broken and why."""
        try:
            ident = await self.ctx.identify(username)
        except errors.VerificationError as e:
            return "broken", f"{e.code}: {e}"
        bad = [p for p in ident.proofs if p.state == BROKEN]
        if bad:
            return "broken", "; ".join(f"{p.assertion}: {p.reason}" for p in bad)[:500]
        return "verified", ""
