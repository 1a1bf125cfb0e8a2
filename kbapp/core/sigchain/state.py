"""What chain playback (verify.py) returns: a verified chain's keys, devices, PUKs and history.

Plain frozen data: nothing here checks anything; a `ChainState` exists only as the result
of `verify_chain` (or of resuming one).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .links import ChainLink


# --- results ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyInfo:
    kid: str                         # hex
    kind: str                        # "sibkey" | "subkey"
    added_seqno: int
    device_id: str | None = None
    parent: str | None = None        # hex KID of the sibkey that delegated it
    etime: int | None = None         # delegating link's ctime + expire_in (None: no expiry)
    revoked_seqno: int | None = None


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    name: str | None
    type: str | None
    sibkey: str | None               # hex KIDs
    subkey: str | None
    added_seqno: int
    revoked_seqno: int | None
    ctime: int


@dataclass(frozen=True, slots=True)
class PukInfo:
    generation: int
    signing_kid: str
    encryption_kid: str
    seqno: int


def _active_links(links: list[ChainLink], revoked_sig_ids: frozenset[str]) -> list[ChainLink]:
    return [lk for lk in links if not lk.stubbed and lk.sig_id.hex() not in revoked_sig_ids]


@dataclass(frozen=True)
class Subchain:
    """One incarnation of an account: an eldest link and what followed it."""

    eldest_kid: str
    eldest_seqno: int
    last_seqno: int
    links: list[ChainLink]                 # stubs included
    sibkeys: dict[str, KeyInfo]            # active at the subchain's end
    subkeys: dict[str, KeyInfo]
    keys: dict[str, KeyInfo]               # every key delegated, revoked ones too
    revoked: frozenset[str]
    revoked_sig_ids: frozenset[str]
    devices: dict[str, Device]
    puks: dict[int, PukInfo]
    other_links: list[ChainLink]           # proofs, follows, ignorable unknown types

    @property
    def active_links(self) -> list[ChainLink]:
        """Full links not revoked by sig id (what Keybase's identity table counts)."""
        return _active_links(self.links, self.revoked_sig_ids)


@dataclass(frozen=True)
class ChainState:
    """A verified chain: the live (current) subchain's keys, plus history."""

    uid: str
    username: str | None
    eldest_kid: str | None
    eldest_seqno: int | None
    links: list[ChainLink]                 # live links (since the last eldest link)
    tail_seqno: int
    tail_link_id: str | None               # hex
    sibkeys: dict[str, KeyInfo]
    subkeys: dict[str, KeyInfo]
    keys: dict[str, KeyInfo]
    revoked: frozenset[str]
    revoked_sig_ids: frozenset[str]
    devices: dict[str, Device]
    puks: dict[int, PukInfo]
    merkle_roots: list[tuple[int, int, str]]   # (seqno, log size, root hex), whole chain
    other_links: list[ChainLink]
    previous_subchains: list[Subchain] = field(default_factory=list)

    @property
    def active_links(self) -> list[ChainLink]:
        return _active_links(self.links, self.revoked_sig_ids)

    @property
    def puk(self) -> PukInfo | None:
        """The newest per-user key, if any."""
        return self.puks[max(self.puks)] if self.puks else None
