"""Teams: the teams service (`app.teams`), built on team chains.

A service on the account context (context.py); a write to a team holds that
team's lock (`team:<id>`, ops.py), never one for everything.

Every load plays the team's whole chain back with the core loader
(core/teams/verify.py) and checks that it ends exactly at the tail the
verified Merkle map names for the team id, so a server that hides a link (a
removal, say) from one member, drops or reorders links, or replays one from
another team is caught with a typed error. Signers' keys are checked against
their verified user chains; parent teams are loaded first (implicit admins).

Per-team keys: one seed per generation, boxed to each member's current
per-user key; a new generation whenever someone is removed or leaves, and
whenever an admin's client sees that a member's per-user key changed since
their box was made (they revoked a device): the rule is "an admin's client
rotates when its housekeeper next runs" (see `_chores`, housekeeper.py). Other chores an
admin's (or, for implicit teams, any member's) housekeeper does: add
open-team join requests, complete token invites whose acceptance checks out,
and add people who proved an assertion the implicit team's name holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re

from kbapp.core import errors
from kbapp.core.chains import check_grows, embed
from kbapp.core.encoding import b64decode, b64encode, canonical_json, loads_json
from kbapp.core.keys import parse_kid
from kbapp.core.proofs import BROKEN
from kbapp.core.sigchain import link_id_hex, parse_link
from kbapp.core.teams import (ChainPos, Role, Settings, SigPoint, TeamKey, TeamSigner, TeamState, UserVersion,
                              assertion_invite, box_seed, build_change_membership, build_invite, build_leave,
                              build_new_subteam, build_root, build_rotate_key, build_settings, build_subteam_head,
                              check_team_name, encrypt_prev, load_team, new_token, open_seed_box,
                              open_team_keys, parse_implicit_name, root_team_id, seitan_invite,
                              sibkey_eldest_at, sign_join_denial, subteam_id,
                              unroll, verify_acceptance, verify_join_request)
from kbapp.core.teams.invites import INVITE_TYPE_SEITAN, INVITE_TYPES_USER, verify_acceptance_device
from kbapp.core.transparency import check_tail
from kbapp.core.uid import check_username, uid_for

from .claims import team_root_ok, with_bad_roots
from .context import AccountContext
from .events import TeamChanged, TeamKeyRotated, VerificationFailed
from .implicit_teams import ImplicitTeamsMixin
from .ops import operation
from .social import SocialService
from .team_joining import TeamJoinMixin
from .models import (JoinRequestView, TeamInviteToken, TeamInviteView, TeamKeyView, TeamListItem,
                     TeamMemberView, TeamView)
from .store import TrustedCheckpoint, TrustedTeam

MAX_ANCESTORS = 8
MAX_CHORES = 50            # join requests / acceptances handled per load
MAX_LISTED = 1000          # teams list_teams verifies (member teams and administered subteams)
MIN_INVITE_PREFIX = 6      # cancel_invite takes an invite id or a unique prefix this long
APPS = ("chat", "kbfs")
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


async def team_lock(svc: "TeamsService", team: str, *_args, **_kw) -> str:
    """The lock of the team an operation's first argument names, by the team's id, so
    that a name and an id of one team share it (a subteam's id: the server's hint; a
    wrong one only picks the wrong lock, the load that follows refuses the team)."""
    team_id, _name = await svc._team_ref(team)
    return f"team:{team_id}"


def _new_team_lock(_svc, name: str, *_args, **_kw) -> str:
    """create_team's lock: the id the name will have (a bad name: the body says why)."""
    try:
        return f"team:{root_team_id(check_team_name(name))}"
    except errors.KbappError:
        return "team:"


class TeamsService(TeamJoinMixin, ImplicitTeamsMixin):
    """`app.teams`: on the account context, with the social service for assertions."""

    def __init__(self, ctx: AccountContext, social: SocialService):
        self.ctx, self.social = ctx, social
        self._team_cache: dict = {}        # team id -> the last verified TeamState
        self._team_key_cache: dict = {}    # (team id, generation) -> the keys we opened

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
        old_cp = self.ctx.logview.trusted()
        await self.ctx.store.aio.commit_team(
            TrustedTeam(team_id, state.name, state.seqno, state.tail_link_id, links,
                        with_bad_roots(_summary(state), state, links),
                        int(self.ctx.clock())),
            TrustedCheckpoint(cp.size, cp.root, cp.text, int(self.ctx.clock()))
            if old_cp is None or cp.size > old_cp.size else None)
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

    # -- keys -----------------------------------------------------------------------------------

    async def _team_keys(self, st: TeamState) -> dict[int, TeamKey]:
        """Every key generation we can open: our newest box, then the prev chain down."""
        uid, _ = self.ctx.require_login()
        keys = self._team_key_cache
        if (st.id, st.generation) in keys:
            return keys[(st.id, st.generation)]
        ans = await self.ctx.api.team_boxes(st.id, uid)
        boxes = ans.get("boxes") if isinstance(ans, dict) else None
        if not isinstance(boxes, list):
            raise errors.EncodingError("malformed team key box answer")
        mine = {b["generation"]: b for b in boxes if isinstance(b, dict) and isinstance(b.get("generation"), int)}
        prevs = {p.get("generation"): p.get("box") for p in ans.get("prev", [])
                 if isinstance(p, dict) and isinstance(p.get("box"), str)}
        if st.role_of(uid) != Role.NONE:
            # A member must get the newest generation: a server withholding it is caught here.
            box = mine.get(st.generation)
            if box is None:
                raise errors.BadTeamKey(f"no key box of {st.name}'s newest generation {st.generation} for you")
            puk = await self._my_puk(_puk_generation(box))
            out = open_team_keys(st, _box_wire(box), puk.encryption, prevs)
        else:
            # A former member (or an implicit admin) reads what it was given, down the prev chain.
            if not mine:
                raise errors.BadTeamKey(f"the server has no key box of {st.name} for you")
            box = mine[max(mine)]
            info = st.ptks.get(box["generation"])
            if info is None:
                raise errors.BadTeamKey(f"the server boxed team key generation {box['generation']}, "
                                        "which the chain does not have")
            puk = await self._my_puk(_puk_generation(box))
            newest = open_seed_box(_box_wire(box), puk.encryption, signing_kid=info.signing_kid,
                                   encryption_kid=info.encryption_kid, generation=box["generation"])
            out = unroll(newest, prevs, {g: (p.signing_kid, p.encryption_kid) for g, p in st.ptks.items()})
        keys[(st.id, st.generation)] = out
        return out

    async def _my_puk(self, generation: int):
        seed = await self.ctx.secret(f"puk:{generation}")
        if seed is None:
            uid, username = self.ctx.require_login()
            user = await self.ctx.identifier.identify(username)
            await self.ctx.current_puk(user)   # recovers older generations from this device's box
        return await self.ctx.puk(generation)

    def _box(self, key: TeamKey, sender, member) -> dict:
        puk = member.state.puk
        if puk is None:
            raise errors.BadPerUserKey(f"{member.username} has no per-user key yet: invite them instead")
        sb = box_seed(key, sender.encryption, parse_kid(puk.encryption_kid).public, nonce=self.ctx.rng(24),
                      per_user_key_seqno=puk.seqno)
        return {"generation": key.generation, "uid": member.uid, "puk_generation": puk.generation,
                "box": b64encode(canonical_json(sb.to_wire()))}

    async def _recipients(self, members: dict[str, Role], parent_id: str | None, ancestors: dict,
                          users: dict) -> list:
        """Who gets the team key: members, and for a subteam its ancestors' admins
        (implicit admins must be able to rotate and to read)."""
        uids = [u for u, r in members.items() if r > Role.NONE]
        for anc_id in _ancestor_ids_from(parent_id, ancestors):
            uids += [u for u, m in ancestors[anc_id].members.items() if m.role >= Role.ADMIN]
        out = []
        for u in dict.fromkeys(uids):
            out.append(await self._user_by_uid(u, None, users))
        return out

    async def _sender_puk(self, users: dict):
        _, username = self.ctx.require_login()
        user = await self.ctx.identifier.identify(username)
        return await self.ctx.current_puk(user)

    async def _rotation(self, loaded: _Loaded, members: dict[str, Role]) -> tuple[TeamKey, list, list]:
        """A new generation: its key, boxes for `members`, and the prev box."""
        st = loaded.state
        old = (await self._team_keys(st))[st.generation]
        new = TeamKey.derive(self.ctx.rng(32), st.generation + 1)
        sender = await self._sender_puk(loaded.users)
        boxes = [self._box(new, sender, u) for u in await self._recipients(
            members, st.parent_id, loaded.ancestors, loaded.users)]
        prev = [{"generation": new.generation, "box": encrypt_prev(new, old, self.ctx.rng(24))}]
        return new, boxes, prev

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
    async def rotate_team_key(self, team: str, *, reason: str = "asked") -> TeamView:
        loaded = await self._load_ref(team)
        loaded = await self._rotate(loaded, reason)
        return await self._view(loaded, badges=False)

    async def _rotate(self, loaded: _Loaded, reason: str) -> _Loaded:
        st = loaded.state
        me, signer = await self._me(loaded.users)
        admin = None if st.role_of(me.uid) >= Role.READER else self._admin_section(loaded, me.uid)
        key, boxes, prev = await self._rotation(loaded, self._members_now(st))
        await self._post(st.id, [build_rotate_key(signer, self._pos(st), ptk=key, admin=admin, **self._common())],
                         boxes=boxes, prev=prev)
        self.ctx.events.emit(TeamKeyRotated(st.name, key.generation, reason))
        return await self._load(st.id, users=loaded.users)

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

    # -- public: joining and invites -----------------------------------------------------------

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

    # -- admin chores on load ------------------------------------------------------------------

    async def _chores(self, loaded: _Loaded) -> tuple[_Loaded, list[str]]:
        """What an admin's client does when it loads a team (see the module doc)."""
        st = loaded.state
        uid = self.ctx.store.get("uid")
        done: list[str] = []
        if not uid or st.deleted:
            return loaded, done
        try:
            self._admin_section(loaded, uid)
        except errors.Conflict:
            return loaded, done
        # 1. a member left: rotate now.
        if st.needs_rotation:
            loaded = await self._rotate(loaded, "a member left")
            st = loaded.state
            done.append(f"rotated to generation {st.generation}: a member left")
        # 2. a member's per-user key changed since their box (a device revoked): rotate.
        stale = await self._stale_members(loaded)
        if stale:
            loaded = await self._rotate(loaded, "per-user key changed: " + ", ".join(stale))
            st = loaded.state
            done.append(f"rotated to generation {st.generation}: new per-user key of {', '.join(stale)}")
        # 3. open team: add who asked, with the default role; 4. token invites accepted.
        adds: dict = {}
        completed: dict = {}
        proofs: dict = {}
        if st.settings.open:
            for user, uv, _, _req in await self._checked_requests(loaded):
                adds[uv] = (st.settings.join_as, user)
        for item in (await self.ctx.api.team_acceptances(st.id))[:MAX_CHORES]:
            if not isinstance(item, dict):
                continue
            inv = st.invites.get(item.get("invite_id"))
            if inv is None or inv.type != INVITE_TYPE_SEITAN or inv.id in completed:
                continue
            try:
                uv = verify_acceptance(inv, item.get("acceptance"), team_id=st.id)
                user = await self._user_by_uid(uv.uid, None, loaded.users)
                verify_acceptance_device(item.get("device"), team_id=st.id, acceptance=item.get("acceptance"),
                                         user_key_at=self._user_key_at(loaded.users))
            except errors.KbappError:
                continue          # forged, or not signed by the invitee's live device: never acted on
            if uv != self._uv(user) or st.role_of(uv.uid) != Role.NONE or uv in adds:
                continue
            adds[uv] = (inv.role, user)
            completed[inv.id] = uv
            proofs[inv.id] = item["acceptance"]
        # 5. assertion invites (`bob@github`, and an implicit team's name): proven since?
        names = []
        if st.implicit:
            for uid in st.members:           # usernames for the name as it is now
                await self._user_by_uid(uid, None, loaded.users)
        cur = _current_implicit_name(st, loaded) if st.implicit else None
        resolved_any = False
        for inv in list(st.invites.values())[:MAX_CHORES]:
            if inv.type in (INVITE_TYPES_USER, INVITE_TYPE_SEITAN) or inv.id in completed:
                continue
            try:
                res = await self.social.resolve(f"{inv.name}@{inv.type}")      # each proof checked live
                user = await self.ctx.identifier.identify(res.username)
            except errors.KbappError:
                continue
            uv = self._uv(user)
            if user.state.puk is None or st.role_of(user.uid) != Role.NONE or uv in adds:
                continue
            adds[uv] = (inv.role, user)
            completed[inv.id] = uv
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
                names.append(str(cur))
        if adds:
            me, signer = await self._me(loaded.users)
            admin = self._admin_section(loaded, me.uid)
            link = build_change_membership(signer, self._pos(st), changes={uv: r for uv, (r, _) in adds.items()},
                                           completed_invites=completed or None, invite_proofs=proofs or None,
                                           admin=admin, **self._common())
            key = (await self._team_keys(st))[st.generation]
            sender = await self._sender_puk(loaded.users)
            await self._post(st.id, [link], boxes=[self._box(key, sender, u) for _, (_, u) in adds.items()],
                             names=names)
            loaded = await self._load(st.id, users=loaded.users)
            done.append("added " + ", ".join(sorted(u.username for _, (_, u) in adds.items())))
        return loaded, done

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

    # -- public: reading ------------------------------------------------------------------------

    async def team(self, team: str, *, badges: bool = True) -> TeamView:
        """Load and verify a team. A read: it posts nothing (the admin chores a load
        finds due are the housekeeper's, housekeeper.py)."""
        return await self._view(await self._load_ref(team), badges=badges)

    async def list_members(self, team: str) -> TeamView:
        """Members with roles and each member's identity badge (verified / broken)."""
        return await self.team(team, badges=True)

    @operation(lock=team_lock)
    async def housekeep(self, team: str) -> tuple[TeamView, list[str]]:
        """Load a team and do its due admin chores (`_chores`): what the housekeeper runs."""
        loaded = await self._load_ref(team)
        done: list[str] = []
        if self.ctx.store.get("uid"):
            loaded, done = await self._chores(loaded)
        view = await self._view(loaded, badges=False)
        return dataclasses.replace(view, rotated=any(d.startswith("rotated") for d in done)), done

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

    async def team_key(self, team: str, generation: int | None = None, app: str = "chat") -> TeamKeyView:
        """An application key of one generation (default: the newest) for chat or files."""
        if app not in APPS:
            raise errors.NotFound(f"no team application {app!r} (known: {', '.join(APPS)})")
        loaded = await self._load_ref(team)
        st = loaded.state
        keys = await self._team_keys(st)
        gen = st.generation if generation is None else generation
        if gen not in keys:
            raise errors.BadTeamKey(f"you hold no key of generation {gen} of {st.name}")
        return TeamKeyView(st.id, gen, app, keys[gen].application_key(app))

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

    # the names for the same operations
    leave = leave_team
    approve = approve_join
    deny = deny_join
    uninvite = cancel_invite
    rotate = rotate_team_key


# -- helpers -------------------------------------------------------------------------------------


def _puk_generation(box: dict) -> int:
    gen = box.get("puk_generation")
    if type(gen) is not int or gen < 1:
        raise errors.EncodingError("team key box without a per-user key generation")
    return gen


def _box_wire(box: dict) -> dict:
    raw = box.get("box")
    if not isinstance(raw, str):
        raise errors.BadTeamKey("malformed team key box")
    wire = loads_json(b64decode(raw, max_size=4096), max_size=4096, max_depth=4)
    if not isinstance(wire, dict):
        raise errors.BadTeamKey("malformed team key box")
    return wire


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
