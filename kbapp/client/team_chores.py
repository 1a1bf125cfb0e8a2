"""The admin chores a team owes: what an admin's client (or, for implicit teams, any
member's) posts when it finds it due, run by the housekeeper (housekeeper.py), never
by a read.

In order: rotate the key after a member left, rotate after a member's per-user key
changed since their box was made (they revoked a device), then one change adding
open-team joiners, people whose token invite acceptance checks out, and people who
proved an assertion an invite (or an implicit team's name) holds. Requests and
acceptances are server hints, each checked against the requester's chain; a proof
is checked live. `TeamsService` (teams.py) inherits this.
"""

from __future__ import annotations

import dataclasses

from kbapp.core import errors
from kbapp.core.teams import Role, build_change_membership, verify_acceptance
from kbapp.core.teams.invites import INVITE_TYPE_SEITAN, INVITE_TYPES_USER, verify_acceptance_device

from .models import TeamView
from .ops import operation
from .team_invites import MAX_CHORES
from .team_loading import _current_implicit_name, _Loaded, team_lock


@dataclasses.dataclass
class _Adds:
    """One pass's additions: uv -> (role, user), the invites they complete, acceptance proofs."""

    people: dict = dataclasses.field(default_factory=dict)
    completed: dict = dataclasses.field(default_factory=dict)
    proofs: dict = dataclasses.field(default_factory=dict)


class TeamChoresMixin:
    """The admin pass over one team, run by the housekeeper (on `TeamsService`)."""

    @operation(lock=team_lock)
    async def housekeep(self, team: str) -> tuple[TeamView, list[str]]:
        """Load a team and do its due admin chores (`_chores`): what the housekeeper runs."""
        loaded = await self._load_ref(team)
        done: list[str] = []
        if self.ctx.store.get("uid"):
            loaded, done = await self._chores(loaded)
        view = await self._view(loaded, badges=False)
        return dataclasses.replace(view, rotated=any(d.startswith("rotated") for d in done)), done

    async def _chores(self, loaded: _Loaded) -> tuple[_Loaded, list[str]]:
        """One admin pass over a loaded team, in order (see the module doc): (loaded, what was done)."""
        uid = self.ctx.store.get("uid")
        done: list[str] = []
        if not uid or loaded.state.deleted:
            return loaded, done
        try:
            self._admin_section(loaded, uid)
        except errors.Conflict:
            return loaded, done
        loaded = await self._due_rotations(loaded, done)
        adds = _Adds()
        await self._open_joins(loaded, adds)
        await self._accepted_tokens(loaded, adds)
        names = await self._proven_assertions(loaded, adds)
        if adds.people:
            loaded = await self._add_all(loaded, adds, names)
            done.append("added " + ", ".join(sorted(u.username for _, u in adds.people.values())))
        return loaded, done

    async def _due_rotations(self, loaded: _Loaded, done: list[str]) -> _Loaded:
        """1. a member left: rotate now; 2. a member's per-user key changed since their box: rotate."""
        if loaded.state.needs_rotation:
            loaded = await self._rotate(loaded, "a member left")
            done.append(f"rotated to generation {loaded.state.generation}: a member left")
        stale = await self._stale_members(loaded)
        if stale:
            loaded = await self._rotate(loaded, "per-user key changed: " + ", ".join(stale))
            done.append(f"rotated to generation {loaded.state.generation}: new per-user key of {', '.join(stale)}")
        return loaded

    async def _stale_members(self, loaded: _Loaded) -> list[str]:
        """Members whose current PUK generation is newer than the one their box of
        the current team key was made for (the server's hint, re-checked on their chain)."""
        st = loaded.state
        boxes = await self.ctx.api.team_generation_boxes(st.id, st.generation)
        by_uid = {b.get("uid"): b.get("puk_generation") for b in boxes if isinstance(b, dict)}
        stale = []
        for uid in st.members:
            gen = by_uid.get(uid)
            if not isinstance(gen, int):
                continue
            try:
                user = await self._user_by_uid(uid, None, loaded.users)
            except errors.NotFound:
                continue
            if user.state.puk is not None and user.state.puk.generation > gen:
                stale.append(user.username)
        return stale

    async def _open_joins(self, loaded: _Loaded, adds: _Adds) -> None:
        """3. an open team: whoever asked (a request that checks out) joins with the default role."""
        st = loaded.state
        if st.settings.open:
            for user, uv, _, _req in await self._checked_requests(loaded):
                adds.people[uv] = (st.settings.join_as, user)

    async def _accepted_tokens(self, loaded: _Loaded, adds: _Adds) -> None:
        """4. token invites accepted: the acceptance signed with the token's key and the invitee's live device."""
        st = loaded.state
        for item in (await self.ctx.api.team_acceptances(st.id))[:MAX_CHORES]:
            if not isinstance(item, dict):
                continue
            inv = st.invites.get(item.get("invite_id"))
            if inv is None or inv.type != INVITE_TYPE_SEITAN or inv.id in adds.completed:
                continue
            try:
                uv = verify_acceptance(inv, item.get("acceptance"), team_id=st.id)
                user = await self._user_by_uid(uv.uid, None, loaded.users)
                verify_acceptance_device(item.get("device"), team_id=st.id, acceptance=item.get("acceptance"),
                                         user_key_at=self._user_key_at(loaded.users))
            except errors.KbappError:
                continue          # forged, or not signed by the invitee's live device: never acted on
            if uv != self._uv(user) or st.role_of(uv.uid) != Role.NONE or uv in adds.people:
                continue
            adds.people[uv] = (inv.role, user)
            adds.completed[inv.id] = uv
            adds.proofs[inv.id] = item["acceptance"]

    async def _proven_assertions(self, loaded: _Loaded, adds: _Adds) -> list[str]:
        """5. assertion invites (`bob@github`, and an implicit team's name) proven since: their
        people join; returns the implicit team's new name to claim, if it gets one."""
        st = loaded.state
        if st.implicit:
            for uid in st.members:           # usernames for the name as it is now
                await self._user_by_uid(uid, None, loaded.users)
        cur = _current_implicit_name(st, loaded) if st.implicit else None
        resolved_any = False
        for inv in list(st.invites.values())[:MAX_CHORES]:
            if inv.type in (INVITE_TYPES_USER, INVITE_TYPE_SEITAN) or inv.id in adds.completed:
                continue
            try:
                res = await self.social.resolve(f"{inv.name}@{inv.type}")      # each proof checked live
                user = await self.ctx.identifier.identify(res.username)
            except errors.KbappError:
                continue
            uv = self._uv(user)
            if user.state.puk is None or st.role_of(user.uid) != Role.NONE or uv in adds.people:
                continue
            adds.people[uv] = (inv.role, user)
            adds.completed[inv.id] = uv
            loaded.users[user.uid] = user
            resolved_any = True
            if cur is not None:
                cur = cur.resolve(f"{inv.name}@{inv.type}", user.username)
        if st.implicit and resolved_any and str(cur) != st.name:
            # The resolved name may already be another implicit team's (made after this one
            # by someone who knew the username): that team keeps it, this one its own.
            try:
                await self.ctx.api.team_by_name(str(cur))
            except errors.NotFound:
                return [str(cur)]
        return []

    async def _add_all(self, loaded: _Loaded, adds: _Adds, names: list[str]) -> _Loaded:
        """One signed change adding everyone found, each boxed the current key."""
        st = loaded.state
        me, signer = await self._me(loaded.users)
        admin = self._admin_section(loaded, me.uid)
        link = build_change_membership(signer, self._pos(st), changes={uv: r for uv, (r, _) in adds.people.items()},
                                       completed_invites=adds.completed or None,
                                       invite_proofs=adds.proofs or None, admin=admin, **self._common())
        key = (await self._team_keys(st))[st.generation]
        sender = await self._sender_puk(loaded.users)
        await self._post(st.id, [link], boxes=[self._box(key, sender, u) for _, u in adds.people.values()],
                         names=names)
        return await self._load(st.id, users=loaded.users)
