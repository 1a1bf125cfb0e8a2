"""What each team link type does to the state being played back (verify.py's `_Player`).

One function per link type, `(player, link, team section, signer) -> None`, raising a
typed `TeamError` when the link may not do what it says; `HANDLERS` maps types to them.
Playback order, signatures and keys are checked by the player (verify.py) before a
handler runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import BadChainLink, BadTeamMembership, BadTeamName, TeamError, TeamPermissionDenied, TeamRotationRequired
from ..sigchain.links import ChainLink, LinkType
from .names import (
    ROOT_TEAM_SUFFIX,
    SUBTEAM_SUFFIX,
    check_team_id,
    check_team_name,
    implicit_team_id,
    parse_implicit_name,
    root_team_id,
)
from .implicit import mismatch
from .state import Role, UserVersion

if TYPE_CHECKING:
    from .verify import _Player


def _obj(v: Any, what: str, seqno: int) -> dict:
    if type(v) is not dict:
        raise BadChainLink(f"team link {seqno}: {what} is not an object")
    return v


def _root(p: _Player, lk: ChainLink, team: dict, signer: UserVersion) -> None:
    n = lk.seqno
    name = team.get("name")
    implicit = team.get("implicit", False)
    if type(implicit) is not bool or team.get("public", False) not in (False, None):
        raise BadChainLink(f"team link {n}: implicit/public flags (public teams are not supported)")
    if team.get("parent") is not None or team.get("admin") is not None:
        raise BadChainLink("a root team has no parent and no admin section")
    if implicit:
        iname = parse_implicit_name(name)
        if implicit_team_id(iname) != p.id or str(iname) != name:
            raise BadTeamName(f"implicit team id {p.id} is not the one of {str(name)[:80]!r}")
        p.name = str(iname)
    else:
        if int(p.id[-2:], 16) != ROOT_TEAM_SUFFIX:
            raise BadTeamName(f"team id {p.id} is not a root team id")
        if root_team_id(check_team_name(name)) != p.id:
            raise BadTeamName(f"team id {p.id} is not the id of the name {str(name)[:80]!r}")
        p.name = check_team_name(name)
    p.implicit = implicit
    members = p.parse_members(lk, team)
    if members.get(signer) != Role.OWNER:
        raise TeamPermissionDenied("team link 1: the root link's signer must be one of its owners")
    if any(r == Role.NONE for r in members.values()):
        raise BadTeamMembership("team link 1: a root link removes no one")
    for uv, r in members.items():
        p.set_role(uv, r, n)
    p.ptk(lk, team, required=True)
    if team.get("settings") is not None:
        p.settings = p.parse_settings(lk, team["settings"])
    if team.get("invites") is not None:
        p.add_invites(lk, team["invites"], Role.OWNER)
    if implicit:
        _check_implicit_members(p, iname)


def _check_implicit_members(p: _Player, iname) -> None:
    """Exactly the name's users as owners (writers) and readers, its assertions as invites."""
    what = mismatch(iname, p.members, p.invites.values())
    if what == "members":
        raise BadTeamMembership(f"implicit team {p.name!r}: members do not match its name")
    if what == "invites":
        raise BadTeamMembership(f"implicit team {p.name!r}: invites do not match its assertions")


def _subteam_head(p: _Player, lk: ChainLink, team: dict, signer: UserVersion) -> None:
    n = lk.seqno
    if int(p.id[-2:], 16) != SUBTEAM_SUFFIX:
        raise BadTeamName(f"team id {p.id} is not a subteam id")
    parent = _obj(team.get("parent"), "team.parent", n)
    pid, pseq = parent.get("id"), parent.get("seqno")
    if type(pseq) is not int or pseq < 1:
        raise BadChainLink("subteam_head: malformed parent section")
    p.parent_id = check_team_id(pid)
    p.name = check_team_name(team.get("name"))
    if "." not in p.name:
        raise BadTeamName("a subteam's name has a parent part")
    anc = p.ancestors.get(p.parent_id)
    if anc is not None:
        if p.name.rpartition(".")[0] != anc.name:
            raise BadTeamName(f"subteam {p.name!r} is not a child of {anc.name!r}")
        if p.id not in anc.subteams:
            raise TeamError(f"the parent {anc.name} never announced subteam {p.id}")
    if "admin" not in team:
        raise TeamPermissionDenied("subteam_head: the signer must prove admin of an ancestor")
    p.need_role(lk, team, signer, Role.ADMIN)
    members = p.parse_members(lk, team)
    if any(r == Role.NONE for r in members.values()):
        raise BadTeamMembership("subteam_head removes no one")
    for uv, r in members.items():
        p.set_role(uv, r, n)
    p.ptk(lk, team, required=True)
    if team.get("settings") is not None:
        p.settings = p.parse_settings(lk, team["settings"])


def _change_membership(p: _Player, lk: ChainLink, team: dict, signer: UserVersion) -> None:
    n = lk.seqno
    role = p.need_role(lk, team, signer, Role.ADMIN)
    changes = p.parse_members(lk, team)
    if not changes and team.get("per_team_key") is None:
        raise BadTeamMembership(f"team link {n}: a change_membership that changes nothing")
    removes = lost_owner = False
    added: dict[UserVersion, Role] = {}
    for uv, new in changes.items():
        cur = p.members.get(uv.uid)
        old = cur.role if cur is not None else Role.NONE
        lost_owner = lost_owner or (old == Role.OWNER and (new != Role.OWNER or cur.uv != uv))
        if role < Role.OWNER and (old == Role.OWNER or new == Role.OWNER):
            raise TeamPermissionDenied(f"team link {n}: only an owner may make, change or remove an owner")
        if new == Role.NONE:
            if cur is None or cur.uv != uv:
                raise BadTeamMembership(f"team link {n}: removes {uv}, who is not a member")
            removes = True
        elif cur is not None and cur.uv != uv:
            removes = True            # a reset account's old version is replaced: it must lose the key
        if new > Role.NONE and (cur is None or cur.uv != uv or cur.role != new):
            added[uv] = new
    if removes and lk.is_ours and team.get("per_team_key") is None:
        raise TeamRotationRequired(f"team link {n}: a removal must carry the next key generation")
    completed = p.complete_invites(lk, team, added)
    if p.implicit:
        # Who is in an implicit team is what its name says: members change only when
        # someone proves one of its assertions (an invite) or a member's account resets.
        for uv, new in changes.items():
            cur = p.members.get(uv.uid)
            if new == Role.NONE:
                raise BadTeamMembership(f"team link {n}: no one is removed from an implicit team")
            if uv not in completed and (cur is None or cur.role != new):
                raise BadTeamMembership(f"team link {n}: {uv} is not in the implicit team's name")
    for uv, new in changes.items():
        p.set_role(uv, new, n)
    if p.parent_id is None and lost_owner and p.owners_left() == 0:
        raise BadTeamMembership(f"team link {n}: a root team must keep an owner")
    p.ptk(lk, team, required=False)


def _rotate_key(p: _Player, lk: ChainLink, team: dict, signer: UserVersion) -> None:
    p.need_role(lk, team, signer, Role.READER)
    if "members" in team:
        raise BadChainLink(f"team link {lk.seqno}: rotate_key changes no members")
    p.ptk(lk, team, required=True)


def _leave(p: _Player, lk: ChainLink, team: dict, signer: UserVersion) -> None:
    n = lk.seqno
    if "members" in team or "per_team_key" in team or "admin" in team:
        raise BadChainLink(f"team link {n}: a leave link only leaves")
    role = p.explicit_role(signer)
    if role == Role.NONE:
        raise TeamPermissionDenied(f"team link {n}: the signer is not a member and cannot leave")
    if role == Role.OWNER and p.parent_id is None and p.owners_left() == 1:
        raise BadTeamMembership(f"team link {n}: the last owner cannot leave")
    if p.implicit:
        raise TeamPermissionDenied(f"team link {n}: one cannot leave an implicit team")
    p.set_role(signer, Role.NONE, n)
    p.needs_rotation = True


def _settings(p: _Player, lk: ChainLink, team: dict, signer: UserVersion) -> None:
    p.need_role(lk, team, signer, Role.ADMIN)
    if team.get("settings") is None:
        raise BadChainLink(f"team link {lk.seqno}: a settings link without settings")
    p.settings = p.parse_settings(lk, team["settings"])
    p.ptk(lk, team, required=False)


def _invite(p: _Player, lk: ChainLink, team: dict, signer: UserVersion) -> None:
    role = p.need_role(lk, team, signer, Role.ADMIN)
    if team.get("invites") is None:
        raise BadChainLink(f"team link {lk.seqno}: an invite link without invites")
    if p.implicit:
        raise TeamPermissionDenied(f"team link {lk.seqno}: implicit teams take no new invites")
    p.add_invites(lk, team["invites"], role)
    p.ptk(lk, team, required=False)


def _new_subteam(p: _Player, lk: ChainLink, team: dict, signer: UserVersion) -> None:
    n = lk.seqno
    p.need_role(lk, team, signer, Role.ADMIN)
    sub = _obj(team.get("subteam"), "team.subteam", n)
    sid, name = sub.get("id"), sub.get("name")
    sid = check_team_id(sid)
    name = check_team_name(name)
    if int(sid[-2:], 16) != SUBTEAM_SUFFIX:
        raise BadTeamName(f"team link {n}: {sid} is not a subteam id")
    if name.rpartition(".")[0] != p.name:
        raise BadTeamName(f"team link {n}: subteam {name!r} is not a child of {p.name!r}")
    if sid in p.subteams or name in p.subteams.values():
        raise TeamError(f"team link {n}: subteam {name} announced twice")
    if p.implicit:
        raise TeamPermissionDenied(f"team link {n}: implicit teams have no subteams")
    p.subteams[sid] = name


def _delete_root(p: _Player, lk: ChainLink, team: dict, signer: UserVersion) -> None:
    if p.parent_id is not None:
        raise BadChainLink(f"team link {lk.seqno}: delete_root in a subteam")
    p.need_role(lk, team, signer, Role.OWNER)
    p.deleted = True


def _delete_subteam(p: _Player, lk: ChainLink, team: dict, signer: UserVersion) -> None:
    p.need_role(lk, team, signer, Role.ADMIN)
    sub = _obj(team.get("subteam"), "team.subteam", lk.seqno)
    sid = sub.get("id")
    if not isinstance(sid, str) or sid not in p.subteams:
        raise TeamError(f"team link {lk.seqno}: deletes an unknown subteam")
    del p.subteams[sid]


HANDLERS: dict[int, Callable[["_Player", ChainLink, dict, UserVersion], None]] = {
    LinkType.TEAM_ROOT: _root,
    LinkType.TEAM_SUBTEAM_HEAD: _subteam_head,
    LinkType.TEAM_CHANGE_MEMBERSHIP: _change_membership,
    LinkType.TEAM_ROTATE_KEY: _rotate_key,
    LinkType.TEAM_LEAVE: _leave,
    LinkType.TEAM_SETTINGS: _settings,
    LinkType.TEAM_INVITE: _invite,
    LinkType.TEAM_NEW_SUBTEAM: _new_subteam,
    LinkType.TEAM_DELETE_ROOT: _delete_root,
    LinkType.TEAM_DELETE_SUBTEAM: _delete_subteam,
}
