"""The one event stream of the facade: typed events, many subscribers.

The GUI's bridge delivers them to widgets that listen by class; the CLI and tests can
`subscribe()` and read them as an async iterator.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    pass


@dataclass(frozen=True)
class CheckpointAdvanced(Event):
    size: int
    root_hex: str


@dataclass(frozen=True)
class IdentityVerified(Event):
    username: str
    uid: str
    chain_length: int
    changed: bool


@dataclass(frozen=True)
class VerificationFailed(Event):
    subject: str
    code: str
    message: str


@dataclass(frozen=True)
class DevicesChanged(Event):
    username: str


@dataclass(frozen=True)
class LoggedIn(Event):
    username: str
    device_name: str


@dataclass(frozen=True)
class ProofsChecked(Event):
    username: str
    states: tuple   # ((assertion, state), ...)


@dataclass(frozen=True)
class ProofsChecking(Event):
    """Live proof checks started: the rows (ProofView, state `unchecked` unless cached)
    a view can show as busy until ProofsChecked and the identity arrive."""

    username: str
    proofs: tuple   # ProofView, ...


@dataclass(frozen=True)
class ProofsChanged(Event):
    """The logged-in user's own proofs changed (a proof posted or revoked)."""

    username: str


@dataclass(frozen=True)
class FollowChanged(Event):
    """The logged-in user followed or unfollowed someone."""

    username: str
    following: bool


@dataclass(frozen=True)
class FollowedIdentityChanged(Event):
    """Someone we follow changed since we followed them (see Identity.follow_diff)."""

    username: str
    changes: tuple   # FollowChangeView, ...


@dataclass(frozen=True)
class TeamChanged(Event):
    """A team we verified has new links (members, roles, settings, invites)."""

    team: str        # its name
    team_id: str
    seqno: int


@dataclass(frozen=True)
class TeamKeyRotated(Event):
    """This client made a new per-team key generation (removal, leave, a member's device revoked)."""

    team: str
    generation: int
    reason: str


class EventBus:
    def __init__(self, maxsize: int = 1000):
        self._queues: list[asyncio.Queue] = []
        self._callbacks: list = []
        self.maxsize = maxsize

    def emit(self, event: Event) -> None:
        for q in self._queues:
            if q.full():
                q.get_nowait()  # a slow reader loses the oldest event, never blocks us
            q.put_nowait(event)
        for cb in list(self._callbacks):
            cb(event)

    def on(self, callback) -> None:
        """Call `callback(event)` synchronously for each event (the Qt bridge)."""
        self._callbacks.append(callback)

    def subscribe(self) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(self.maxsize)
        self._queues.append(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        if q in self._queues:
            self._queues.remove(q)
