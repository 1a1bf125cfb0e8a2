"""The one place where the facade's typed events become Qt signals.

`App.events` calls us synchronously; we re-emit each event as a typed Qt signal,
so widgets connect to signals and never subscribe to the client themselves. A
signal emitted from another thread is queued to the receivers' thread by Qt.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from kbapp.client.events import (CheckpointAdvanced, DevicesChanged, Event, FollowChanged, IdentityVerified,
                                 LoggedIn, ProofsChanged, ProofsChecking, TeamChanged, TeamKeyRotated,
                                 VerificationFailed)


class EventBridge(QObject):
    checkpointAdvanced = Signal(int, str)            # tree size, root hex
    identityVerified = Signal(str, str, int, bool)   # username, uid, chain length, changed
    verificationFailed = Signal(str, str, str)       # subject, error code, message
    devicesChanged = Signal(str)                     # username
    loggedIn = Signal(str, str)                      # username, device name
    proofsChecking = Signal(str, object)             # username, (ProofView, ...) being checked
    proofsChanged = Signal(str)                      # our own proofs changed (posted, revoked)
    followChanged = Signal(str, bool)                # followee, following now
    teamChanged = Signal(str, str, int)              # team name, team id, chain length
    teamKeyRotated = Signal(str, int, str)           # team name, new key generation, why
    event = Signal(object)                           # every event, for logs and tests

    def __init__(self, events, parent: QObject | None = None):
        super().__init__(parent)
        events.on(self._dispatch)

    def _dispatch(self, ev: Event) -> None:
        try:
            self._emit(ev)
        except RuntimeError:  # the QObject was deleted (window closed): stop quietly
            pass

    def _emit(self, ev: Event) -> None:
        if isinstance(ev, CheckpointAdvanced):
            self.checkpointAdvanced.emit(ev.size, ev.root_hex)
        elif isinstance(ev, IdentityVerified):
            self.identityVerified.emit(ev.username, ev.uid, ev.chain_length, ev.changed)
        elif isinstance(ev, VerificationFailed):
            self.verificationFailed.emit(ev.subject, ev.code, ev.message)
        elif isinstance(ev, DevicesChanged):
            self.devicesChanged.emit(ev.username)
        elif isinstance(ev, LoggedIn):
            self.loggedIn.emit(ev.username, ev.device_name)
        elif isinstance(ev, ProofsChecking):
            self.proofsChecking.emit(ev.username, ev.proofs)
        elif isinstance(ev, ProofsChanged):
            self.proofsChanged.emit(ev.username)
        elif isinstance(ev, FollowChanged):
            self.followChanged.emit(ev.username, ev.following)
        elif isinstance(ev, TeamChanged):
            self.teamChanged.emit(ev.team, ev.team_id, ev.seqno)
        elif isinstance(ev, TeamKeyRotated):
            self.teamKeyRotated.emit(ev.team, ev.generation, ev.reason)
        self.event.emit(ev)
