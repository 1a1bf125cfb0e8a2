"""The reader's rules for one folder's revisions, pure and incremental (like core/chat/judge.py).

`FolderJudge` is fed a folder's revision envelopes in order, with what the client verified
itself: the team chain (roles, key generations), whether a device key was live at a point
(`key_at`, the team loader's question) and the log checkpoints known consistent with our
own log. Rules, each a typed error:

1. the envelope parses, its signature verifies with the writer's kid, and it belongs to
   this folder (id derived from team and kind);
2. it extends the head by exactly one: the next number and prev = the head's id (an older
   number is a rollback, the same number with another id a fork, a skipped number a gap);
3. its checkpoint is in our log, and per device neither it nor the team seqno goes back;
4. its team seqno is one we verified, its key generation the one in force there;
5. the writer is a writer of the team both at its own team seqno and at the high-water
   seqno, and its device key is live at the high-water checkpoint (so a removed writer or
   a revoked device cannot backdate a revision past what we already saw).

`check_head` then compares the head with the folder's entry in the transparency map: a map
that names a newer head than was served means a hidden revision. Only a revision that passes
every rule changes `state`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Container

from ..errors import (FolderCheckpointRollback, FolderForkedCheckpoint, FolderStaleKeyGen, FolderUnknownKeyGen,
                      FolderUnknownTeamState, FolderWriterNotMember, ForkedFolder, HiddenRevision,
                      RevisionGap, RevisionRollback, RevokedWriterKey, WrongFolder)
from ..teams.authors import (AuthorErrors, Authored, check_checkpoint, check_key_gen, check_team_seqno,
                             writer_at_high_water)
from ..teams.state import SigPoint, TeamState
from .revision import SignedRevision, open_envelope

KeyAt = Callable[[str, str, SigPoint], "int | None"]
ERRORS = AuthorErrors(forked=FolderForkedCheckpoint, rollback=FolderCheckpointRollback,
                      unknown_state=FolderUnknownTeamState, unknown_gen=FolderUnknownKeyGen,
                      stale_gen=FolderStaleKeyGen, not_member=FolderWriterNotMember, revoked=RevokedWriterKey,
                      who="writer")


@dataclass
class FolderState:
    """What the judge remembers between runs (the client stores `to_dict()`)."""

    head_rev: int = 0
    head_id: bytes | None = None
    hw_size: int = 0
    hw_seqno: int = 0
    marks: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)   # (uid, kid) -> (size, seqno)

    def to_dict(self) -> dict:
        return {"head_rev": self.head_rev, "head_id": self.head_id, "hw_size": self.hw_size,
                "hw_seqno": self.hw_seqno, "marks": [[u, k, s, q] for (u, k), (s, q) in sorted(self.marks.items())]}

    @classmethod
    def from_dict(cls, d: dict) -> "FolderState":
        return cls(d["head_rev"], d["head_id"], d["hw_size"], d["hw_seqno"],
                   {(u, k): (s, q) for u, k, s, q in d["marks"]})


class FolderJudge:
    """Rules 1-5 for one folder; feed revisions in order, keep `state` between runs."""

    def __init__(self, *, folder_id: bytes, team: TeamState, key_at: KeyAt,
                 known_checkpoints: Container[tuple[int, bytes]], state: FolderState | None = None):
        self.folder_id = bytes(folder_id)
        self.team = team
        self.key_at = key_at
        self.known = known_checkpoints
        self.state = state or FolderState()

    def update_team(self, team: TeamState) -> None:
        """A newer verified team chain (after FolderUnknownTeamState)."""
        self.team = team

    def feed(self, envelope: bytes) -> SignedRevision:
        """Judge one served revision; the verified revision, or a typed error and no change."""
        sr = open_envelope(envelope)
        r = sr.revision
        if r.folder_id != self.folder_id or r.team_id.hex() != self.team.id:
            raise WrongFolder(f"revision {r.revision} belongs to another folder")
        st = self.state
        if r.revision == st.head_rev and sr.id == st.head_id:
            return sr                                   # the head again: nothing new
        self._sequence(sr)
        author = Authored(r.uid, r.kid, r.eldest_seqno, r.checkpoint, r.team_seqno, r.ctime)
        check_checkpoint(author, self.known, st.marks, ERRORS)                                # rule 3
        check_team_seqno(self.team, r.team_seqno, ERRORS)                                     # rule 4
        if not r.public:
            check_key_gen(self.team, r.key_gen, r.team_seqno, ERRORS)
        hw_size, hw_seqno = writer_at_high_water(self.team, self.key_at, author, st.hw_size, st.hw_seqno,
                                                 ERRORS)                                      # rule 5
        st.head_rev, st.head_id = r.revision, sr.id
        st.hw_size, st.hw_seqno = hw_size, hw_seqno
        st.marks[(r.uid, r.kid)] = (r.checkpoint[0], r.team_seqno)
        return sr

    def feed_all(self, envelopes) -> list[SignedRevision]:
        return [self.feed(e) for e in envelopes]

    # -- rule 2 ----------------------------------------------------------------------
    def _sequence(self, sr: SignedRevision) -> None:
        n, st = sr.revision.revision, self.state
        if n < st.head_rev:
            raise RevisionRollback(f"revision {n} served after we verified revision {st.head_rev}")
        if n == st.head_rev:
            raise ForkedFolder(f"two different revisions numbered {n}")
        if n > st.head_rev + 1:
            raise RevisionGap(f"revision {n} after {st.head_rev}: revisions {st.head_rev + 1}..{n - 1} withheld")
        if sr.revision.prev != st.head_id:
            raise ForkedFolder(f"revision {n} does not extend revision {st.head_rev} (prev id differs)")

    # rules 3-5 are kbapp/core/teams/authors.py's, shared with the chat judge

    # -- the transparency map's word ----------------------------------------------------
    def check_head(self, map_revision: int, map_id: bytes | None) -> None:
        """After feeding: our head must be the one the (verified) transparency map names."""
        st = self.state
        if map_revision > st.head_rev:
            raise HiddenRevision(f"the log names revision {map_revision}; the server served up to {st.head_rev}")
        if map_revision < st.head_rev:
            raise RevisionRollback(f"the log names revision {map_revision}; we verified {st.head_rev}")
        if map_id != st.head_id:
            raise ForkedFolder(f"revision {map_revision} is not the one the log names")

    def next_revision(self) -> tuple[int, bytes | None]:
        """(number, prev) a writer's next revision must carry."""
        return self.state.head_rev + 1, self.state.head_id


__all__ = ["FolderJudge", "FolderState"]
