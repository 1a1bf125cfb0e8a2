"""Team writes: what every signed change needs (our signer, our standing, the chain
position, the post), and the changes of membership and settings: create a team or a
subteam, add, edit, remove, leave, settings. Each holds the team's lock (ops.py).
A removal rotates the key at once; a leave does not (the leaver makes no key for
those who stay): the next write rotates first (`_writable`), and so does an admin's
housekeeper (team_chores.py).
`TeamsService` (teams.py) inherits this.
"""

from __future__ import annotations

import dataclasses

from kbapp.core import errors
from kbapp.core.chains import embed
from kbapp.core.teams import (ChainPos, Role, Settings, TeamKey, TeamSigner, TeamState, UserVersion,
                              build_change_membership, build_leave, build_new_subteam, build_root, build_settings,
                              build_subteam_head, check_team_name, root_team_id, subteam_id)
from kbapp.core.uid import check_username, uid_for

from .events import TeamChanged, TeamKeyRotated
from .models import TeamView
from .ops import operation
from .team_loading import _ancestor_ids, _Loaded, _typed_name, team_lock


def _new_team_lock(_svc, name: str, *_args, **_kw) -> str:
    """create_team's lock: the id the name will have (a bad name: the body says why)."""
    try:
        return f"team:{root_team_id(check_team_name(name))}"
    except errors.KbappError:
        return "team:"


class TeamMembersMixin:
    """Signed changes of who is in a team and of its settings (on `TeamsService`)."""

    # -- signing ------------------------------------------------------------------------------

    async def _me(self, users: dict):
        uid, username = self.ctx.require_login()
        await self.ctx.unlock()
        user = await self._user_by_uid(uid, username, users)
        self.ctx.my_active_device(user)
        me = await self.ctx.device_keys()
        signer = TeamSigner(uid, username, user.state.eldest_kid, me.sibkey)
        return user, signer

    @staticmethod
    def _uv(user) -> UserVersion:
        return UserVersion(user.uid, user.state.eldest_seqno or 1)

    def _admin_section(self, loaded: _Loaded, uid: str, need: Role = Role.ADMIN) -> dict | None:
        """None when we hold `need` here; else where we are an (implicit) admin."""
        st = loaded.state
        if st.role_of(uid) >= need:
            return None
        if need <= Role.ADMIN:
            for anc_id in _ancestor_ids(st, loaded.ancestors):
                anc = loaded.ancestors[anc_id]
                if anc.role_of(uid) >= Role.ADMIN:
                    return {"team_id": anc.id, "seqno": anc.seqno}
        raise errors.Conflict(f"you are {st.role_of(uid).label} in {st.name}: this needs {need.label}")

    def _pos(self, st: TeamState) -> ChainPos:
        return ChainPos.after(st)

    def _common(self) -> dict:
        return {"ctime": int(self.ctx.clock()), "merkle_root": embed(self.ctx.logview.trusted())}

    async def _writable(self, loaded: _Loaded) -> _Loaded:
        """After a leave, the next change must carry a new key: rotate first."""
        if loaded.state.needs_rotation:
            return await self._rotate(loaded, "a member left")
        return loaded

    async def _post(self, team_id: str, links: list, *, boxes=(), prev=(), names=()) -> None:
        body = {"links": links, "ptk_boxes": list(boxes), "ptk_prev": list(prev)}
        if names:
            body["implicit_names"] = list(names)
        await self.ctx.api.team_post(team_id, body)

    @staticmethod
    def _members_now(st: TeamState) -> dict[str, Role]:
        return {u: m.role for u, m in st.members.items()}

    # -- public: create -----------------------------------------------------------------------

    @operation(login=True, unlock=True, lock=_new_team_lock)
    async def create_team(self, name: str) -> TeamView:
        """A new root team with us as its owner (key generation 1)."""
        with _typed_name():
            name = check_team_name(name)
        if "." in name:
            raise errors.InvalidTeamName(f"{name!r} is a subteam name: use create_subteam")
        users: dict = {}
        user, signer = await self._me(users)
        key = TeamKey.derive(self.ctx.rng(32), 1)
        sender = await self.ctx.current_puk(user)
        link = build_root(signer, name=name, members={self._uv(user): Role.OWNER}, ptk=key,
                          **self._common())
        await self._post(root_team_id(name), [link], boxes=[self._box(key, sender, user)])
        loaded = await self._load(root_team_id(name), users=users)
        self.ctx.events.emit(TeamChanged(name, loaded.state.id, loaded.state.seqno))
        return await self._view(loaded, badges=False)

    @operation(login=True, unlock=True, lock=team_lock)
    async def create_subteam(self, parent: str, name: str) -> TeamView:
        """`parent.name`, announced in the parent's chain; we become its admin."""
        users: dict = {}
        ploaded = await self._writable(await self._load_ref(parent, users))
        pst = ploaded.state
        with _typed_name():
            full = check_team_name(f"{pst.name}.{name}" if not name.startswith(pst.name + ".") else name)
        user, signer = await self._me(users)
        padmin = self._admin_section(ploaded, user.uid)
        sid = subteam_id(pst.id, full, self.ctx.rng(16))
        await self._post(pst.id, [build_new_subteam(signer, self._pos(pst), subteam_id=sid, subteam_name=full,
                                                    admin=padmin, **self._common())])
        ploaded = await self._load(pst.id, users=users)
        pst = ploaded.state
        new_seqno = pst.seqno
        where = padmin or {"team_id": pst.id, "seqno": new_seqno}
        key = TeamKey.derive(self.ctx.rng(32), 1)
        sender = await self.ctx.current_puk(user)
        head = build_subteam_head(signer, subteam_id=sid, name=full, parent_id=pst.id, parent_seqno=new_seqno,
                                  admin=where, members={self._uv(user): Role.ADMIN}, ptk=key,
                                  **self._common())
        boxes = [self._box(key, sender, u) for u in await self._recipients(
            {user.uid: Role.ADMIN}, pst.id, {pst.id: pst, **ploaded.ancestors}, users)]
        await self._post(sid, [head], boxes=boxes)
        loaded = await self._load(sid, users=users)
        self.ctx.events.emit(TeamChanged(full, sid, loaded.state.seqno))
        return await self._view(loaded, badges=False)

    # -- public: membership ----------------------------------------------------------------------

    @operation(login=True, unlock=True, lock=team_lock)
    async def add_member(self, team: str, username: str, role: str = "writer") -> TeamView:
        """Add a user (identified first) with a role; they get the current key."""
        role_ = _role(role)
        loaded = await self._writable(await self._load_ref(team))
        st = loaded.state
        me, signer = await self._me(loaded.users)
        admin = self._admin_section(loaded, me.uid, Role.OWNER if role_ == Role.OWNER else Role.ADMIN)
        target = await self.ctx.identifier.identify(check_username(username))
        loaded.users[target.uid] = target
        if st.role_of(target.uid) == role_:
            raise errors.Conflict(f"{username} is already {role_.label} in {st.name}")
        if st.role_of(target.uid) != Role.NONE:
            raise errors.Conflict(f"{username} is already in {st.name}: use edit_member")
        link = build_change_membership(signer, self._pos(st), changes={self._uv(target): role_}, admin=admin,
                                       **self._common())
        key = (await self._team_keys(st))[st.generation]
        sender = await self._sender_puk(loaded.users)
        await self._post(st.id, [link], boxes=[self._box(key, sender, target)])
        loaded = await self._load(st.id, users=loaded.users)
        return await self._view(loaded, badges=False)

    @operation(login=True, unlock=True, lock=team_lock)
    async def edit_member(self, team: str, username: str, role: str) -> TeamView:
        role_ = _role(role)
        loaded = await self._writable(await self._load_ref(team))
        st = loaded.state
        me, signer = await self._me(loaded.users)
        uid, old = _member(st, username)
        admin = self._admin_section(loaded, me.uid, Role.OWNER if Role.OWNER in (old, role_) else Role.ADMIN)
        link = build_change_membership(signer, self._pos(st), changes={st.members[uid].uv: role_},
                                       admin=admin, **self._common())
        await self._post(st.id, [link])
        loaded = await self._load(st.id, users=loaded.users)
        return await self._view(loaded, badges=False)

    @operation(login=True, unlock=True, lock=team_lock)
    async def remove_member(self, team: str, username: str) -> TeamView:
        """Remove a member and rotate: the new seed goes to everyone else's current PUK."""
        loaded = await self._load_ref(team)
        st = loaded.state
        me, signer = await self._me(loaded.users)
        uid, old = _member(st, username)
        admin = self._admin_section(loaded, me.uid, Role.OWNER if old == Role.OWNER else Role.ADMIN)
        members = {u: r for u, r in self._members_now(st).items() if u != uid}
        key, boxes, prev = await self._rotation(loaded, members)
        link = build_change_membership(signer, self._pos(st), changes={st.members[uid].uv: Role.NONE},
                                       ptk=key, admin=admin, **self._common())
        await self._post(st.id, [link], boxes=boxes, prev=prev)
        loaded = await self._load(st.id, users=loaded.users)
        self.ctx.events.emit(TeamKeyRotated(st.name, key.generation, f"{username} removed"))
        return await self._view(loaded, badges=False)

    @operation(login=True, unlock=True, lock=team_lock)
    async def leave_team(self, team: str) -> TeamView:
        """Leave; an admin's client rotates the key on its next load (we can no longer)."""
        loaded = await self._load_ref(team)
        st = loaded.state
        me, signer = await self._me(loaded.users)
        if st.role_of(me.uid) == Role.NONE:
            raise errors.NotFound(f"you are not in {st.name}")
        await self._post(st.id, [build_leave(signer, self._pos(st), **self._common())])
        try:
            loaded = await self._load(st.id, users=loaded.users)
        except errors.ReadNotAllowed:      # out of it, we read it no more: the view before, less us
            view = await self._view(loaded, badges=False)
            return dataclasses.replace(view, my_role="none", members=[m for m in view.members if m.uid != me.uid])
        return await self._view(loaded, badges=False)

    @operation(login=True, unlock=True, lock=team_lock)
    async def team_settings(self, team: str, *, open: bool | None = None,
                            default_role: str | None = None) -> TeamView:
        loaded = await self._writable(await self._load_ref(team))
        st = loaded.state
        me, signer = await self._me(loaded.users)
        admin = self._admin_section(loaded, me.uid)
        new = Settings(open=st.settings.open if open is None else bool(open),
                       join_as=st.settings.join_as if default_role is None else _role(default_role))
        await self._post(st.id, [build_settings(signer, self._pos(st), settings=new, admin=admin,
                                                **self._common())])
        loaded = await self._load(st.id, users=loaded.users)
        return await self._view(loaded, badges=False)


def _member(st: TeamState, username: str) -> tuple[str, Role]:
    """(uid, current role) of a member of `st`; NotFound if `username` is not in the team."""
    uid = uid_for(check_username(username))
    role = st.role_of(uid)
    if role == Role.NONE:
        raise errors.NotFound(f"{username} is not in {st.name}")
    return uid, role


def _role(role) -> Role:
    r = Role.parse(role)
    if r == Role.NONE:
        raise errors.BadTeamMembership("pick a role: owner, admin, writer or reader")
    return r
