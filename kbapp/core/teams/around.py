"""Around `load_team`: what its callers use with it, kept out of the player (verify.py).

`sibkey_eldest_at` answers the loader's key question from a verified user chain (the
client and the server ask it the same way), `implicit_admins` lists who may act as an
admin through an ancestor team, `TeamCache` keeps verified states for warm loads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .state import Role, SigPoint, TeamState, UserVersion
from .verify import MAX_ANCESTOR_DEPTH, UserKeyAt, load_team


def sibkey_eldest_at(user_state, kid: str, point: SigPoint) -> int | None:
    """The loader's question "was `kid` a live sibkey of this user at that link?", answered
    from a verified user chain state (clients and the server ask it the same way): the
    eldest seqno if so, else None. A revoked key still counts for links whose author saw an
    older log than the revocation's author did (merkle sizes)."""
    if kid not in user_state.sibkeys:
        info = user_state.keys.get(kid)
        if info is None or info.kind != "sibkey" or info.revoked_seqno is None:
            return None
        rev = next((size for seq, size, _ in user_state.merkle_roots if seq == info.revoked_seqno), None)
        if rev is None or point.merkle_size is None or point.merkle_size >= rev:
            return None
    return user_state.eldest_seqno


def implicit_admins(state: TeamState, ancestors: Mapping[str, TeamState]) -> dict[str, UserVersion]:
    """uid -> user version of everyone who is an admin or owner of an ancestor team
    (they may act as admins here and get the team's key boxes too)."""
    out: dict[str, UserVersion] = {}
    cur, depth = state.parent_id, 0
    while cur is not None and depth < MAX_ANCESTOR_DEPTH:
        anc = ancestors.get(cur)
        if anc is None:
            break
        for uid, m in anc.members.items():
            if m.role >= Role.ADMIN:
                out.setdefault(uid, m.uv)
        cur, depth = anc.parent_id, depth + 1
    return out


class TeamCache:
    """Verified team states by id, for warm loads (the client keeps one per profile)."""

    def __init__(self) -> None:
        self._states: dict[str, TeamState] = {}

    def get(self, team_id: str) -> TeamState | None:
        return self._states.get(team_id)

    def load(self, links: list, *, team_id: str, user_key_at: UserKeyAt,
             ancestors: Mapping[str, TeamState] | None = None, tail: Any = None) -> TeamState:
        """load_team, resuming from the cached state when there is one; caches the result."""
        state = load_team(links, team_id=team_id, user_key_at=user_key_at, ancestors=ancestors,
                          cached=self._states.get(team_id), tail=tail)
        self._states[team_id] = state
        return state
