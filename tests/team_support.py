"""An in-memory world of users and teams for the team core's tests (no server).

Users have a device key, a PUK and a notion of which device keys are live at
which transparency log size; `World.user_key_at` answers the loader's question
from that. `TeamBuilder` writes a team chain with the real builders and keeps
the key boxes an honest admin's client would upload.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from kbapp.core.keys import SigningKeyPair
from kbapp.core.puk import PerUserKey
from kbapp.core.teams import (
    ChainPos,
    Role,
    Settings,
    SigPoint,
    TeamKey,
    TeamSigner,
    TeamState,
    UserVersion,
    box_seed,
    build_change_membership,
    build_invite,
    build_leave,
    build_root,
    build_rotate_key,
    build_settings,
    encrypt_prev,
    load_team,
)
from kbapp.core.uid import uid_for


class Rand:
    """Deterministic 'randomness' for tests (core takes randomness as input)."""

    def __init__(self, seed: str = "teams"):
        self.seed, self.n = seed.encode(), 0

    def __call__(self, size: int) -> bytes:
        out = b""
        while len(out) < size:
            self.n += 1
            out += hashlib.sha256(self.seed + self.n.to_bytes(8, "big")).digest()
        return out[:size]


@dataclass
class User:
    name: str
    device: SigningKeyPair
    puk: PerUserKey
    eldest_seqno: int = 1
    extra_devices: list[SigningKeyPair] = field(default_factory=list)
    revoked_at: dict[str, int] = field(default_factory=dict)   # kid hex -> log size of the revocation

    @property
    def uid(self) -> str:
        return uid_for(self.name)

    @property
    def uv(self) -> UserVersion:
        return UserVersion(self.uid, self.eldest_seqno)

    def signer(self, key: SigningKeyPair | None = None) -> TeamSigner:
        return TeamSigner(self.uid, self.name, self.device.kid, key or self.device)


class World:
    def __init__(self, seed: str = "teams"):
        self.rand = Rand(seed)
        self.users: dict[str, User] = {}
        self.by_uid: dict[str, User] = {}
        self.log_size = 10          # a stand-in for the transparency log's size
        self.ctime = 1_700_000_000

    def user(self, name: str) -> User:
        if name not in self.users:
            u = User(name, SigningKeyPair.from_seed(self.rand(32)), PerUserKey.derive(self.rand(32), 1))
            self.users[name] = u
            self.by_uid[u.uid] = u
        return self.users[name]

    def tick(self) -> dict:
        """Advance time and the log; the merkle_root a link's author saw."""
        self.log_size += 1
        self.ctime += 60
        return {"size": self.log_size, "hash": hashlib.sha256(str(self.log_size).encode()).hexdigest()}

    def user_key_at(self, uid: str, kid: str, at: SigPoint) -> int | None:
        u = self.by_uid.get(uid)
        if u is None:
            return None
        keys = {k.kid.hex() for k in [u.device, *u.extra_devices]}
        if kid not in keys:
            return None
        rev = u.revoked_at.get(kid)
        if rev is not None and (at.merkle_size is None or at.merkle_size >= rev):
            return None
        return u.eldest_seqno

    def new_team_key(self, generation: int) -> TeamKey:
        return TeamKey.derive(self.rand(32), generation)


class TeamBuilder:
    """An honest team: links, per-generation keys, and the boxes for each member."""

    def __init__(self, world: World, name: str, owner: User, members: dict[str, Role] | None = None,
                 settings: Settings | None = None):
        self.w = world
        self.keys = {1: world.new_team_key(1)}
        self.boxes: dict[int, dict[str, dict]] = {}
        self.prevs: dict[int, str] = {}
        mem = {owner.uv: Role.OWNER}
        for n, r in (members or {}).items():
            mem[world.user(n).uv] = r
        self.links = [build_root(owner.signer(), name=name, members=mem, ptk=self.keys[1],
                                 ctime=world.ctime, settings=settings, merkle_root=world.tick())]
        self.state = self.load()
        self.box_all(1, owner)

    @property
    def id(self) -> str:
        return self.state.id

    def load(self, links: list | None = None, **kw) -> TeamState:
        return load_team(self.links if links is None else links, team_id=kw.pop("team_id", None) or
                         self._tid(), user_key_at=self.w.user_key_at, **kw)

    def _tid(self) -> str:
        from kbapp.core.sigchain.links import parse_link
        return parse_link(self.links[0]).payload["body"]["team"]["id"]

    def pos(self) -> ChainPos:
        return ChainPos.after(self.state)

    def append(self, link: dict) -> TeamState:
        """Verify the chain with `link` added; keep it only if it verifies."""
        self.state = self.load(self.links + [link])
        self.links.append(link)
        return self.state

    def box_all(self, gen: int, sender: User) -> None:
        key = self.keys[gen]
        self.boxes[gen] = {}
        for uid in self.state.members:
            u = self.w.by_uid[uid]
            self.boxes[gen][uid] = box_seed(key, sender.puk.encryption, u.puk.encryption.public,
                                            nonce=self.w.rand(24)).to_wire()

    def next_key(self) -> TeamKey:
        g = self.state.generation + 1       # (a refused link's key is simply replaced)
        self.keys[g] = self.w.new_team_key(g)
        self.prevs[g] = encrypt_prev(self.keys[g], self.keys[g - 1], self.w.rand(24))
        return self.keys[g]

    # -- honest operations ---------------------------------------------------------

    def change(self, by: User, changes: dict[str, Role], rotate: bool | None = None, **kw) -> TeamState:
        ch = {self.w.user(n).uv: r for n, r in changes.items()}
        removes = any(r == Role.NONE for r in ch.values())
        rotate = removes if rotate is None else rotate
        ptk = self.next_key() if rotate else None
        st = self.append(build_change_membership(by.signer(), self.pos(), changes=ch, ptk=ptk,
                                                 ctime=self.w.ctime, merkle_root=self.w.tick(), **kw))
        if ptk is not None:
            self.box_all(ptk.generation, by)
        return st

    def rotate(self, by: User, **kw) -> TeamState:
        ptk = self.next_key()
        st = self.append(build_rotate_key(by.signer(), self.pos(), ptk=ptk, ctime=self.w.ctime,
                                          merkle_root=self.w.tick(), **kw))
        self.box_all(ptk.generation, by)
        return st

    def leave(self, who: User) -> TeamState:
        return self.append(build_leave(who.signer(), self.pos(), ctime=self.w.ctime, merkle_root=self.w.tick()))

    def settings(self, by: User, settings: Settings) -> TeamState:
        return self.append(build_settings(by.signer(), self.pos(), settings=settings, ctime=self.w.ctime,
                                          merkle_root=self.w.tick()))

    def invite(self, by: User, invites=(), cancel=()) -> TeamState:
        return self.append(build_invite(by.signer(), self.pos(), invites=invites, cancel=cancel,
                                        ctime=self.w.ctime, merkle_root=self.w.tick()))
