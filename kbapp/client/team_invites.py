"""An admin's side of joining: join requests (listed, denied, approved) and invites (a
user, an assertion like `bob@github`, a token), and cancelling one. Requests and
acceptances are the server's hints: each is checked against the requester's chain
before it is shown or acted on. `TeamsService` (teams.py) inherits this.
"""

from __future__ import annotations

from kbapp.core import errors
from kbapp.core.teams import (Role, assertion_invite, build_invite, new_token, seitan_invite, sign_join_denial,
                              verify_join_request)
from kbapp.core.uid import check_username

from .models import JoinRequestView, TeamInviteToken, TeamView
from .ops import operation
from .team_loading import _HEX32, _Loaded, team_lock
from .team_membership import _role

MAX_CHORES = 50            # join requests / acceptances handled per pass
MIN_INVITE_PREFIX = 6      # cancel_invite takes an invite id or a unique prefix this long


class TeamInvitesMixin:
    """An admin's side of join requests and invites (on `TeamsService`)."""

    async def join_requests(self, team: str) -> list[JoinRequestView]:
        """Pending requests whose signature checks out against the requester's chain."""
        loaded = await self._load_ref(team)
        return [JoinRequestView(loaded.state.name, u.username, u.uid, created)
                for u, _uv, created, _req in await self._checked_requests(loaded)]

    async def _checked_requests(self, loaded: _Loaded) -> list:
        """(user, uv, created, request) for each request that checks out."""
        st = loaded.state
        out = []
        for item in (await self.ctx.api.team_join_requests(st.id))[:MAX_CHORES]:
            req = item.get("request") if isinstance(item, dict) else None
            uid = item.get("uid") if isinstance(item, dict) else None
            if not isinstance(uid, str) or not _HEX32.match(uid) or st.role_of(uid) != Role.NONE:
                continue
            try:
                user = await self._user_by_uid(uid, item.get("username"), loaded.users)
                uv = verify_join_request(req, team_id=st.id, user_key_at=self._user_key_at(loaded.users))
            except errors.KbappError:
                continue          # forged, stale or unverifiable: never acted on
            if uv != self._uv(user):
                continue
            out.append((user, uv, item.get("created") if isinstance(item.get("created"), int) else 0, req))
        return out

    async def deny_join(self, team: str, username: str) -> JoinRequestView:
        """Turn down a pending join request (admins, or a parent team's admins). The denial
        is signed by this device and names that very request (an old denial cannot drop the
        requester's next one); the server drops it, and the requester may ask anew."""
        username = check_username(username)
        uid, _ = self.ctx.require_login()
        loaded = await self._load_ref(team)
        st = loaded.state
        self._admin_section(loaded, uid)
        hit = next((r for r in await self._checked_requests(loaded) if r[0].username == username), None)
        if hit is None:
            raise errors.NotFound(f"no valid join request from {username} for {st.name}")
        user, _uv, created, request = hit
        me, signer = await self._me(loaded.users)
        denial = sign_join_denial(signer.key, team_id=st.id, admin=self._uv(me), request=request,
                                  ctime=int(self.ctx.clock()))
        await self.ctx.api.team_deny_join(st.id, {"denial": denial})
        return JoinRequestView(st.name, user.username, user.uid, created)

    async def approve_join(self, team: str, username: str, role: str | None = None) -> TeamView:
        loaded = await self._load_ref(team)
        requests = await self._checked_requests(loaded)
        hit = next((r for r in requests if r[0].username == check_username(username)), None)
        if hit is None:
            raise errors.NotFound(f"no valid join request from {username} for {loaded.state.name}")
        return await self.add_member(team, username, role or loaded.state.settings.join_as.label)

    @operation(login=True, unlock=True)
    async def invite(self, team: str, who: str | None = None, *, role: str = "writer",
                     token: bool = False, max_uses: int | None = None):
        """Invite a user (added now if they have keys), an assertion (`bob@github`:
        added once someone proves it) or, with `token`, anyone holding the printed token."""
        role_ = _role(role)
        async with self.ctx.locks(await team_lock(self, team)):   # not the decorator's: add_member below takes it
            loaded = await self._writable(await self._load_ref(team))
            st = loaded.state
            me, signer = await self._me(loaded.users)
            admin = self._admin_section(loaded, me.uid, Role.OWNER if role_ == Role.OWNER else Role.ADMIN)
            if token:
                secret = new_token(self.ctx.rng(16))
                inv = seitan_invite(secret, role_, max_uses=max_uses)
                await self._post(st.id, [build_invite(signer, self._pos(st), invites=[inv], admin=admin,
                                                      **self._common())])
                await self._load(st.id, users=loaded.users)
                return TeamInviteToken(st.name, inv.id, role_.label, f"{st.name}:{secret}")
            if not who:
                raise errors.NotFound("invite whom? a username, an assertion like bob@github, or --token")
            if "@" in who:
                account, _, service = who.strip().lower().partition("@")
                svc = self.social.service(service)
                inv = assertion_invite(svc.name, svc.normalize(account), role_, self.ctx.rng(16))
                await self._post(st.id, [build_invite(signer, self._pos(st), invites=[inv], admin=admin,
                                                      **self._common())])
                loaded = await self._load(st.id, users=loaded.users)
                return await self._view(loaded, badges=False)
        return await self.add_member(team, who, role)

    @operation(login=True, unlock=True, lock=team_lock)
    async def cancel_invite(self, team: str, invite_id: str) -> TeamView:
        """Withdraw a pending invite (by id, or a unique prefix of at least 6 hex digits):
        the cancel is signed into the chain, so no admin's client completes it afterwards."""
        want = invite_id.strip().lower() if isinstance(invite_id, str) else ""
        if not want:
            raise errors.NotFound("name the invite to cancel by its id (list-members shows the ids)")
        loaded = await self._load_ref(team)
        st = loaded.state
        if st.implicit:
            raise errors.Conflict(f"{st.name} is an implicit team: its invites are its name and stay")
        hits = [i for i in st.invites if i == want] or \
               [i for i in st.invites if len(want) >= MIN_INVITE_PREFIX and i.startswith(want)]
        if not hits:
            raise errors.NotFound(f"{st.name} has no pending invite {want!r}")
        if len(hits) > 1:
            raise errors.Conflict(f"{want!r} is the start of {len(hits)} invites of {st.name}: give more of it")
        me, signer = await self._me(loaded.users)
        admin = self._admin_section(loaded, me.uid)
        loaded = await self._writable(loaded)
        st = loaded.state
        await self._post(st.id, [build_invite(signer, self._pos(st), cancel=hits, admin=admin,
                                              **self._common())])
        loaded = await self._load(st.id, users=loaded.users)
        return await self._view(loaded, badges=False)
