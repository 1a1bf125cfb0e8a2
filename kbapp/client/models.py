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
