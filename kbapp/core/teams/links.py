"""Writing team links: Keybase's team link bodies in kbapp's signed link format.

A team link is a sigchain link (sigchain/build.py: inner JSON with sorted keys,
outer link v2, signature packet v2 with the sigchain prefix) whose outer
seq_type is 3 (semiprivate, Keybase's for teams) and whose body is

    {"key": {uid, username, kid, eldest_kid, host}    the signer: a member's device key
     "team": {"id": ..., ...the section of the type}, "type": "team.<x>", "version": 3,
     "merkle_root": {"size", "hash"}}                  the log the author last verified

Team sections (Keybase's field names): `name`, `members` {owner, admin,
writer, reader, none: ["uid%eldest_seqno", ...]}, `per_team_key`
{generation, signing_kid, encryption_kid, reverse_sig} (the new PTK's signing
key countersigns the link), `parent` {id, seqno, seq_type}, `subteam` {id,
name}, `admin` {team_id, seqno, seq_type} (the signer's admin role, held in
this team or an ancestor at that seqno), `invites` {owner, admin, writer,
reader: [{id, type, name, max_uses?}], cancel: [id]}, `completed_invites`
{id: uv}, `invite_proofs` {id: acceptance} (seitan), `settings` {open:
{enabled, options: {join_as}}}, `implicit`, `public`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..encoding import canonical_json, loads_json
from ..keys import PREFIX_REVERSE_SIG, SigningKeyPair, kid_hex, make_sig_packet
from ..sigchain.build import DEFAULT_EXPIRE_IN, Unsigned, build_link, sign_inner
from ..sigchain.links import LinkType
from .keys import TeamKey
from .names import check_team_id, check_team_name, implicit_team_id, parse_implicit_name, root_team_id
from .state import Invite, Role, Settings, TeamState, UserVersion

SEQ_TYPE_SEMIPRIVATE = 3       # Keybase's SeqType for team chains


@dataclass(frozen=True)
class TeamSigner:
    """Who signs a team link: one of a member's live device keys, and which user."""

    uid: str
    username: str
    eldest_kid: bytes | str          # the user's current eldest key (names the account incarnation)
    key: SigningKeyPair              # the device's sibkey


@dataclass(frozen=True)
class ChainPos:
    """Where a new link goes: team id, its seqno and the previous link's id."""

    team_id: str
    seqno: int
    prev: bytes | None

    @classmethod
    def after(cls, state: TeamState) -> "ChainPos":
        return cls(state.id, state.seqno + 1, bytes.fromhex(state.tail_link_id))

    @classmethod
    def first(cls, team_id: str) -> "ChainPos":
        return cls(team_id, 1, None)


def members_section(changes: Mapping[UserVersion | str, Role]) -> dict[str, list[str]]:
    """{role label: sorted ["uid%seqno"]} (Role.NONE lists removals)."""
    out: dict[str, list[str]] = {}
    for uv, role in changes.items():
        uv = uv if isinstance(uv, UserVersion) else UserVersion.parse(uv)
        out.setdefault(Role(role).label, []).append(str(uv))
    return {k: sorted(v) for k, v in out.items()}


def settings_section(settings: Settings) -> dict:
    return {"open": {"enabled": bool(settings.open), "options": {"join_as": settings.join_as.label}}}


def invite_entry(invite: Invite) -> dict:
    e: dict[str, Any] = {"id": invite.id, "name": invite.name, "type": invite.type}
    if invite.max_uses is not None:
        e["max_uses"] = invite.max_uses
    return e


def invites_section(invites: Iterable[Invite], cancel: Iterable[str] = ()) -> dict:
    out: dict[str, list] = {}
    for inv in invites:
        out.setdefault(inv.role.label, []).append(invite_entry(inv))
    cancel = sorted(cancel)
    if cancel:
        out["cancel"] = cancel
    return out


def build_team_link(signer: TeamSigner, pos: ChainPos, link_type: LinkType | str, team: dict, *,
                    ctime: int, ptk: TeamKey | None = None, admin: dict | None = None,
                    merkle_root: dict | None = None, ignore_if_unsupported: bool = False,
                    expire_in: int = DEFAULT_EXPIRE_IN) -> dict:
    """Sign one team link; returns the wire dict (as sigchain links are served).

    `team` is the type's section (without `id`, `per_team_key`, `admin`, which
    this fills in). `ptk`: the new key generation this link announces; its
    signing key countersigns the link. `admin`: {team_id, seqno} where the
    signer is an admin, when not an explicit admin here (implicit admin).
    """
    check_team_id(pos.team_id)
    section = dict(team)
    section["id"] = pos.team_id
    if admin is not None:
        if not isinstance(admin, Mapping) or type(admin.get("seqno")) is not int or admin["seqno"] < 1:
            raise ValueError("admin is {'team_id': hex id, 'seqno': int >= 1}")
        section["admin"] = {"seq_type": SEQ_TYPE_SEMIPRIVATE, "seqno": int(admin["seqno"]),
                            "team_id": check_team_id(admin["team_id"])}
    if ptk is not None:
        section["per_team_key"] = {"encryption_kid": kid_hex(ptk.encryption_kid),
                                   "generation": ptk.generation, "reverse_sig": None,
                                   "signing_kid": kid_hex(ptk.signing_kid)}
    unsigned = build_link(signer.key, uid=signer.uid, username=signer.username,
                          eldest_kid=signer.eldest_kid, seqno=pos.seqno, prev=pos.prev,
                          link_type=link_type, body_fields={"team": section}, ctime=ctime,
                          expire_in=expire_in, merkle_root=merkle_root,
                          ignore_if_unsupported=ignore_if_unsupported, sign=False,
                          seq_type=SEQ_TYPE_SEMIPRIVATE)
    if not isinstance(unsigned, Unsigned):
        raise TypeError("build_link(sign=False) returns an Unsigned link")
    payload_json = unsigned.payload_json
    if ptk is not None:   # the PTK signs the link with its own reverse_sig null
        payload = loads_json(payload_json)
        rsig = make_sig_packet(ptk.signing, payload_json, prefix=PREFIX_REVERSE_SIG, detached=True)
        payload["body"]["team"]["per_team_key"]["reverse_sig"] = rsig
        payload_json = canonical_json(payload)
    return sign_inner(signer.key, payload_json, seqno=pos.seqno, prev=pos.prev,
                      link_type=unsigned.link_type, ignore_if_unsupported=ignore_if_unsupported,
                      ctime=ctime, seq_type=SEQ_TYPE_SEMIPRIVATE)


# --- one builder per link type -------------------------------------------------------


def build_root(signer: TeamSigner, *, name: str, members: Mapping[UserVersion | str, Role],
               ptk: TeamKey, ctime: int, settings: Settings | None = None,
               invites: Iterable[Invite] = (), implicit: bool = False,
               team_id: str | None = None, **extra: Any) -> dict:
    """A team's first link. Named teams: `name` like "acme", id from the name;
    implicit teams: `name` like "alice,bob#carol", members must match it.

    `extra`: merkle_root, expire_in.
    """
    if implicit:
        name = str(parse_implicit_name(name))
        team_id = team_id or implicit_team_id(name)
    else:
        name = check_team_name(name)
        team_id = team_id or root_team_id(name)
    team: dict[str, Any] = {"members": members_section(members), "name": name}
    if implicit:
        team["implicit"] = True
    if settings is not None:
        team["settings"] = settings_section(settings)
    inv = list(invites)
    if inv:
        team["invites"] = invites_section(inv)
    return build_team_link(signer, ChainPos.first(team_id), LinkType.TEAM_ROOT, team, ctime=ctime,
                           ptk=ptk, **extra)


def build_change_membership(signer: TeamSigner, pos: ChainPos, *,
                            changes: Mapping[UserVersion | str, Role], ctime: int,
                            ptk: TeamKey | None = None,
                            completed_invites: Mapping[str, UserVersion | str] | None = None,
                            invite_proofs: Mapping[str, dict] | None = None,
                            admin: dict | None = None, **extra: Any) -> dict:
    """Add, remove (Role.NONE) or change roles. A removal must carry `ptk`, the
    next generation (the loader refuses it otherwise)."""
    team: dict[str, Any] = {"members": members_section(changes)}
    if completed_invites:
        team["completed_invites"] = {k: str(v) for k, v in sorted(completed_invites.items())}
    if invite_proofs:
        team["invite_proofs"] = dict(sorted(invite_proofs.items()))
    return build_team_link(signer, pos, LinkType.TEAM_CHANGE_MEMBERSHIP, team, ctime=ctime, ptk=ptk,
                           admin=admin, **extra)


def build_rotate_key(signer: TeamSigner, pos: ChainPos, *, ptk: TeamKey, ctime: int,
                     admin: dict | None = None, **extra: Any) -> dict:
    """A new key generation, no other change (after a leave, a device revocation)."""
    return build_team_link(signer, pos, LinkType.TEAM_ROTATE_KEY, {}, ctime=ctime, ptk=ptk,
                           admin=admin, **extra)


def build_leave(signer: TeamSigner, pos: ChainPos, *, ctime: int, **extra: Any) -> dict:
    """The signer leaves; the next key-bearing link must rotate the key."""
    return build_team_link(signer, pos, LinkType.TEAM_LEAVE, {}, ctime=ctime, **extra)


def build_settings(signer: TeamSigner, pos: ChainPos, *, settings: Settings, ctime: int,
                   admin: dict | None = None, **extra: Any) -> dict:
    return build_team_link(signer, pos, LinkType.TEAM_SETTINGS, {"settings": settings_section(settings)},
                           ctime=ctime, admin=admin, **extra)


def build_invite(signer: TeamSigner, pos: ChainPos, *, invites: Iterable[Invite] = (),
                 cancel: Iterable[str] = (), ctime: int, admin: dict | None = None, **extra: Any) -> dict:
    """Add invites (by username / uid, seitan token key, or assertion) or cancel them."""
    return build_team_link(signer, pos, LinkType.TEAM_INVITE,
                           {"invites": invites_section(invites, cancel)}, ctime=ctime, admin=admin, **extra)


def build_new_subteam(signer: TeamSigner, pos: ChainPos, *, subteam_id: str, subteam_name: str,
                      ctime: int, admin: dict | None = None, **extra: Any) -> dict:
    """In the parent's chain: announce a subteam (id and full dotted name)."""
    return build_team_link(signer, pos, LinkType.TEAM_NEW_SUBTEAM,
                           {"subteam": {"id": check_team_id(subteam_id),
                                        "name": check_team_name(subteam_name)}},
                           ctime=ctime, admin=admin, **extra)


def build_subteam_head(signer: TeamSigner, *, subteam_id: str, name: str, parent_id: str,
                       parent_seqno: int, admin: dict, members: Mapping[UserVersion | str, Role],
                       ptk: TeamKey, ctime: int, settings: Settings | None = None, **extra: Any) -> dict:
    """A subteam's first link, signed by an (implicit) admin of an ancestor.

    `parent_seqno` is the parent's new_subteam link; `admin` names where the
    signer is admin ({team_id, seqno}).
    """
    team: dict[str, Any] = {"members": members_section(members), "name": check_team_name(name),
                            "parent": {"id": check_team_id(parent_id), "seq_type": SEQ_TYPE_SEMIPRIVATE,
                                       "seqno": int(parent_seqno)}}
    if settings is not None:
        team["settings"] = settings_section(settings)
    return build_team_link(signer, ChainPos.first(subteam_id), LinkType.TEAM_SUBTEAM_HEAD, team,
                           ctime=ctime, ptk=ptk, admin=admin, **extra)


def build_delete_root(signer: TeamSigner, pos: ChainPos, *, ctime: int, **extra: Any) -> dict:
    """An owner deletes the team: no link may follow."""
    return build_team_link(signer, pos, LinkType.TEAM_DELETE_ROOT, {}, ctime=ctime, **extra)
