"""What a verified team chain says: roles, members, key generations, settings, invites.

Everything here is the *result* of playing a team chain back (verify.py); it is
immutable so that a cached state can be handed to several callers and extended
by later links without anyone seeing a half-applied link.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum

from ..errors import BadTeamMembership


class Role(IntEnum):
    """Keybase's team roles (keybase1.TeamRole numbers); higher may do more."""

    NONE = 0
    READER = 1
    WRITER = 2
    ADMIN = 3
    OWNER = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: object) -> "Role":
        """`"writer"` / `Role.WRITER` -> Role; BadTeamMembership otherwise."""
        if isinstance(value, Role):
            return value
        if isinstance(value, str):
            r = _ROLE_BY_LABEL.get(value.lower())
            if r is not None:
                return r
        raise BadTeamMembership(f"unknown team role {str(value)[:32]!r}")


_ROLE_BY_LABEL = {r.name.lower(): r for r in Role}
_UID_RE = re.compile(r"[0-9a-f]{32}")
# The member lists of a change_membership section, in Keybase's spelling.
ROLE_SECTIONS = ("owner", "admin", "writer", "reader", "none")


@dataclass(frozen=True, order=True, slots=True)
class UserVersion:
    """A user in one incarnation: uid plus the seqno of the eldest link of the
    subchain (an account reset makes a new version, who is no longer a member).

    Written `uid%eldest_seqno` in links, as Keybase does (plain `uid` = 1).
    """

    uid: str
    eldest_seqno: int = 1

    def __str__(self) -> str:
        return f"{self.uid}%{self.eldest_seqno}"

    @classmethod
    def parse(cls, text: object) -> "UserVersion":
        if not isinstance(text, str) or len(text) > 64:
            raise BadTeamMembership("a member is a 'uid%eldest_seqno' string")
        uid, sep, seq = text.partition("%")
        if not _UID_RE.fullmatch(uid):
            raise BadTeamMembership(f"malformed member uid {uid[:40]!r}")
        if not sep:
            return cls(uid, 1)
        if not seq.isdigit() or len(seq) > 15 or int(seq) < 1:
            raise BadTeamMembership(f"malformed eldest seqno in member {text[:64]!r}")
        return cls(uid, int(seq))


@dataclass(frozen=True, slots=True)
class Member:
    uv: UserVersion
    role: Role
    since_seqno: int                 # the link that gave the current role


@dataclass(frozen=True, slots=True)
class PtkInfo:
    """One per-team key generation as the chain announces it (public halves only)."""

    generation: int
    signing_kid: str                 # hex KID (Ed25519)
    encryption_kid: str              # hex KID (Curve25519)
    seqno: int                       # the link that introduced it


@dataclass(frozen=True, slots=True)
class Settings:
    open: bool = False               # anyone may join (an admin's client adds them)
    join_as: Role = Role.READER      # the role an open-team join gets


@dataclass(frozen=True, slots=True)
class Invite:
    """A pending invitation.

    `type`: "keybase" (a user by uid%eldest_seqno: `name`), "seitan" (a token:
    `name` is the hex Ed25519 public key the token derives, see invites.py), or
    a social service ("github", ...: `name` is the account, an unresolved
    assertion). `max_uses` None means single use, -1 unlimited (Keybase's);
    `etime` (unix seconds), when set, is when it stops being usable.
    """

    id: str                          # hex
    role: Role
    type: str
    name: str
    seqno: int
    max_uses: int | None = None
    uses: int = 0
    etime: int | None = None


@dataclass(frozen=True, slots=True)
class SigPoint:
    """Where in a team chain a signature was made: what `user_key_at` is asked about.

    `merkle_size` is the transparency log size the link's author saw
    (`body.merkle_root.size`), when present: the loader's caller can compare it
    with the log position of the signer's own revocations.
    """

    team_id: str
    seqno: int
    ctime: int
    merkle_size: int | None = None
    merkle_root: dict | None = field(default=None, compare=False)   # the link's raw body.merkle_root


@dataclass(frozen=True)
class TeamState:
    """A verified team chain (or the verified prefix of one)."""

    id: str
    name: str                        # "acme", "acme.sub", or an implicit team's "alice,bob#carol"
    parent_id: str | None
    implicit: bool
    public: bool
    seqno: int                       # tail seqno
    tail_link_id: str                # hex
    members: dict[str, Member]       # uid -> member (role > NONE only)
    ptks: dict[int, PtkInfo]
    settings: Settings = field(default_factory=Settings)
    invites: dict[str, Invite] = field(default_factory=dict)
    subteams: dict[str, str] = field(default_factory=dict)        # id -> name
    needs_rotation: bool = False     # a member left: the next key-bearing link must rotate
    # uid -> [(seqno, role, eldest_seqno)]: every role change, for role_at()
    role_history: dict[str, tuple[tuple[int, Role, int], ...]] = field(default_factory=dict, repr=False)
    link_ids: tuple[str, ...] = field(default=(), repr=False)     # hex, index = seqno - 1
    sig_ids: frozenset[str] = field(default=frozenset(), repr=False)
    merkle_sizes: tuple[int | None, ...] = field(default=(), repr=False)  # per link, for ancestors
    deleted: bool = False
    used_invite_ids: frozenset[str] = field(default=frozenset(), repr=False)   # ids never reusable
    # links whose embedded checkpoint is unsound (core/chains.py): (seqno, uid, kid, why), their claim dropped
    bad_checkpoints: tuple[tuple[int, str, str, str], ...] = field(default=(), repr=False)

    # -- queries -------------------------------------------------------------

    @property
    def generation(self) -> int:
        return max(self.ptks) if self.ptks else 0

    @property
    def ptk(self) -> PtkInfo | None:
        return self.ptks[self.generation] if self.ptks else None

    def role_of(self, uid: str) -> Role:
        m = self.members.get(uid)
        return m.role if m is not None else Role.NONE

    def role_at(self, uid: str, seqno: int) -> tuple[Role, int]:
        """(role, eldest_seqno) of `uid` just after link `seqno` was applied."""
        role, eldest = Role.NONE, 0
        for s, r, e in self.role_history.get(uid, ()):
            if s > seqno:
                break
            role, eldest = r, e
        return role, eldest

    def members_with(self, role: Role) -> list[UserVersion]:
        return sorted(m.uv for m in self.members.values() if m.role == role)

    @property
    def is_subteam(self) -> bool:
        return self.parent_id is not None
