"""Plain dataclasses the facade returns to the CLI, the GUI and tests."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServerInfo:
    url: str
    origin: str
    fingerprint: str
    pinned_now: bool  # True when this call pinned the key (first contact)


@dataclass(frozen=True)
class Account:
    username: str
    uid: str
    device_id: str
    device_name: str
    server: ServerInfo
    paperkey: str | None = None  # shown once, at signup of a paper key


@dataclass(frozen=True)
class DeviceView:
    id: str
    name: str
    type: str
    sibkey: str
    subkey: str | None
    added_seqno: int
    ctime: int
    revoked: bool
    current: bool = False


@dataclass(frozen=True)
class KeyView:
    kid: str
    kind: str  # "sibkey" | "subkey" | "puk-signing" | "puk-encryption"
    fingerprint: str
    device_id: str | None = None


@dataclass(frozen=True)
class CheckpointView:
    size: int
    root_hex: str
    seen_at: int


@dataclass(frozen=True)
class ProofView:
    """One live proof of a user, with the result of its last live check."""

    service: str          # website | dns | github | mastodon | a generic service
    name: str             # host, domain or account on the service
    kind: str             # well-known | txt | gist | status | ...
    sig_id: str           # the web_service_binding link's sig id (hex): the proof's id
    seqno: int
    ctime: int | None
    state: str = "unchecked"   # ok | temporary | broken | changed | unchecked
    reason: str = ""
    proof_url: str = ""
    checked_at: int = 0
    cached: bool = False

    @property
    def assertion(self) -> str:
        if self.service == "mastodon":
            return self.name
        return f"{self.name}@{'https' if self.service == 'website' else self.service}"


@dataclass(frozen=True)
class FollowChangeView:
    kind: str   # proof_added | proof_removed | proof_broken | proof_fixed | key_added | key_removed |
                # device_added | device_revoked | account_reset
    detail: str
    subject: str = ""


@dataclass(frozen=True)
class ProofRequest:
    """A signed, not yet posted proof link and the text to post on the service."""

    service: str
    name: str
    kind: str
    username: str
    text: str
    instructions: str
    proof_url: str
    sig_id: str
    link: dict                # the signed wire link (posted by finish_proof)
    prev_link_id: str         # the chain tail it extends: finish_proof needs it unchanged


@dataclass(frozen=True)
class ProofResult:
    state: str
    reason: str
    checked_at: int

    @property
    def ok(self) -> bool:
        return self.state == "ok"


@dataclass(frozen=True)
class BadCheckpointView:
    """A link whose embedded log checkpoint is not one of our log's (core/chains.py): the
    signer's fault; the chain still loads, so the owner can revoke that device."""

    seqno: int
    signer: str          # device kid
    why: str


@dataclass(frozen=True)
class FollowView:
    username: str
    uid: str
    seqno: int
    ctime: int | None = None
    verified: bool = True


@dataclass(frozen=True)
class Identity:
    username: str
    uid: str
    eldest_kid: str
    chain_length: int
    tail_link_id: str
    puk_generation: int
    devices: list[DeviceView] = field(default_factory=list)
    keys: list[KeyView] = field(default_factory=list)
    checkpoint: CheckpointView | None = None
    changed: bool = False  # the chain grew since we last verified it
    verified: bool = True
    proofs: list[ProofView] = field(default_factory=list)
    following: bool = False            # the logged-in user follows this identity
    followed_at_seqno: int | None = None   # the follow (track) link in our own chain
    follow_diff: list[FollowChangeView] = field(default_factory=list)  # since that follow
    bad_checkpoints: list[BadCheckpointView] = field(default_factory=list)  # links blamed on their signer


@dataclass(frozen=True)
class Resolved:
    """An assertion that held: every part checked live against a verified identity."""

    assertion: str
    username: str
    identity: Identity
    matched: list[ProofView] = field(default_factory=list)


@dataclass(frozen=True)
class Status:
    home: str
    logged_in: bool
    username: str | None
    uid: str | None
    device_id: str | None
    device_name: str | None
    server_url: str | None
    server_fingerprint: str | None
    checkpoint: CheckpointView | None
    keystore: str


# --- teams -----------------------------------------------------------------------


@dataclass(frozen=True)
class TeamMemberView:
    """A member as the verified team chain says, with the member's own identity check."""

    username: str
    uid: str
    role: str             # owner | admin | writer | reader
    badge: str            # verified | broken (identify failed: `reason`)
    reason: str = ""
    since_seqno: int = 0
    implicit_admin: bool = False   # admin of an ancestor team, not a member here


@dataclass(frozen=True)
class TeamInviteView:
    id: str
    type: str             # keybase | seitan | a social service (an unresolved assertion)
    name: str
    role: str


@dataclass(frozen=True)
class TeamView:
    """One team, played back from its whole chain and checked against the Merkle map."""

    team_id: str
    name: str
    implicit: bool
    parent_id: str | None
    my_role: str          # none when we are only an implicit admin (or not in it)
    generation: int       # newest per-team key generation
    seqno: int
    tail_link_id: str
    open: bool
    default_role: str
    members: list = field(default_factory=list)      # TeamMemberView
    invites: list = field(default_factory=list)      # TeamInviteView
    subteams: list = field(default_factory=list)     # names
    rotated: bool = False  # this load rotated the key (a member's PUK changed)


@dataclass(frozen=True)
class TeamListItem:
    team_id: str
    name: str
    role: str             # owner | admin | writer | reader; "admin" for an implicit admin
    implicit: bool
    members: int
    generation: int
    implicit_admin: bool = False   # not a member: an admin of a parent team administers it


@dataclass(frozen=True)
class TeamInviteToken:
    """A token invite: `token` is shown once; the server only ever sees its public key."""

    team: str
    invite_id: str
    role: str
    token: str


@dataclass(frozen=True)
class TeamKeyView:
    team_id: str
    generation: int
    app: str
    key: bytes            # 32 bytes, the application key for `app`


@dataclass(frozen=True)
class JoinRequestView:
    team: str
    username: str
    uid: str
    created: int
