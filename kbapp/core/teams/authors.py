"""Judging the author of something posted in a team's name: a chat message, a folder revision.

One rule, written once, for every kind of team-scoped content (the chat and folder judges
call it with their own error classes): what the author signed names a log checkpoint and the
team chain seqno they had verified, and

* the checkpoint is one we know to be in our log (else the author saw a forked log), and no
  device's checkpoint or team seqno ever goes back;
* the key generation is the one in force at the named team seqno (not a newer one the
  author could not have had, not an older one after a rotation), and that seqno is one we
  have verified;
* at the high-water marks (the largest checkpoint and team seqno any valid item so far
  named, this one included) the author is still a writer and the device key still live: a
  removed member or a stolen device cannot backdate what it posts behind what the others
  have already seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .state import Role, SigPoint, TeamState


@dataclass(frozen=True)
class AuthorErrors:
    """The error classes a judge raises for each rule, and how it names the author."""

    forked: type
    rollback: type
    unknown_state: type
    unknown_gen: type
    stale_gen: type
    not_member: type
    revoked: type
    who: str = "author"


@dataclass(frozen=True, slots=True)
class Authored:
    """What an author signed about themselves and their view."""

    uid: str
    kid: str
    eldest_seqno: int
    checkpoint: tuple            # (size, root)
    team_seqno: int
    ctime: int


def check_checkpoint(a: Authored, known, marks: dict, errs: AuthorErrors) -> None:
    """The checkpoint is in our log; this device's (size, team seqno) never go back."""
    if tuple(a.checkpoint) not in known:
        raise errs.forked(f"the {errs.who}'s log checkpoint at size {a.checkpoint[0]} is not in our log")
    mark = marks.get((a.uid, a.kid))
    if mark is not None and (a.checkpoint[0] < mark[0] or a.team_seqno < mark[1]):
        raise errs.rollback(f"this device's checkpoint went back from {mark} to {(a.checkpoint[0], a.team_seqno)}")


def check_team_seqno(team: TeamState, team_seqno: int, errs: AuthorErrors) -> None:
    if team_seqno > team.seqno:
        raise errs.unknown_state(f"team seqno {team_seqno} is beyond our verified {team.seqno}")


def key_gen_in_force(team: TeamState, team_seqno: int, memo: dict | None = None) -> int:
    """The newest key generation made at or before `team_seqno`."""
    hit = None if memo is None else memo.get(team_seqno)
    if hit is None:
        hit = max((p.generation for p in team.ptks.values() if p.seqno <= team_seqno), default=0)
        if memo is not None:
            memo[team_seqno] = hit
    return hit


def check_key_gen(team: TeamState, key_gen: int, team_seqno: int, errs: AuthorErrors,
                  memo: dict | None = None) -> None:
    in_force = key_gen_in_force(team, team_seqno, memo)
    if key_gen not in team.ptks or key_gen > in_force:
        raise errs.unknown_gen(f"key generation {key_gen} did not exist at team seqno {team_seqno}")
    if key_gen < in_force:
        raise errs.stale_gen(f"key generation {key_gen} while {in_force} was in force at the "
                             f"{errs.who}'s team seqno {team_seqno}")


KeyAt = Callable[[str, str, SigPoint], "int | None"]


def writer_at_high_water(team: TeamState, key_at: KeyAt, a: Authored, hw_size: int, hw_seqno: int,
                         errs: AuthorErrors) -> tuple[int, int]:
    """Raise unless the author is a writer (same incarnation) at its own team seqno and at the
    high-water marks, with a device key live there; returns the new (hw_size, hw_seqno)."""
    hw_size, hw_seqno = max(hw_size, a.checkpoint[0]), max(hw_seqno, a.team_seqno)
    for seqno in (hw_seqno,) if hw_seqno == a.team_seqno else (hw_seqno, a.team_seqno):
        role, eldest = team.role_at(a.uid, seqno)
        if role < Role.WRITER or eldest != a.eldest_seqno:
            raise errs.not_member(f"the {errs.who} is not a writer of the team at seqno {seqno}")
    eldest = key_at(a.uid, a.kid, SigPoint(team.id, hw_seqno, a.ctime, merkle_size=hw_size))
    if eldest is None:
        raise errs.revoked(f"the device key is not a live key of the {errs.who} at log size {hw_size}")
    if eldest != a.eldest_seqno:
        raise errs.not_member(f"the device key belongs to another incarnation of the {errs.who}")
    return hw_size, hw_seqno
