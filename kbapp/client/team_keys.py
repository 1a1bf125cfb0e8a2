"""Per-team keys: opening the generations we were boxed, boxing a key to members, rotating.

One seed per generation, boxed to each member's current per-user key (and, for a
subteam, to its ancestors' admins: implicit admins must be able to rotate and to
read); a new generation carries a box of the previous seed, so a member walks the
chain of prevs down from the newest key it holds, never up. `TeamsService`
(teams.py) inherits this.
"""

from __future__ import annotations

from kbapp.core import errors
from kbapp.core.encoding import b64decode, b64encode, canonical_json, loads_json
from kbapp.core.keys import parse_kid
from kbapp.core.teams import (Role, TeamKey, TeamState, box_seed, build_rotate_key, encrypt_prev, open_seed_box,
                              open_team_keys, unroll)

from .events import TeamKeyRotated
from .models import TeamKeyView, TeamView
from .ops import operation
from .team_loading import _ancestor_ids_from, _Loaded, team_lock

APPS = ("chat", "kbfs")


class TeamKeysMixin:
    """Opening, boxing and rotating a team's keys (on `TeamsService`)."""

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

    # -- public ---------------------------------------------------------------------------------

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
