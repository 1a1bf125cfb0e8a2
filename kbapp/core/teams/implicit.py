"""Does a name name exactly this implicit team? (for the server's name table, and clients)

An implicit team is known by the names of who is in it. Besides the name it was
created under (whose hash is its id), it gets one more name each time someone
proves an assertion of it (`alice,bob@github` -> `alice,bob`). A name may point at
a team only if it lists exactly the team's members (writers as owners, readers as
readers) and its pending assertion invites: otherwise anyone could point
`alice,bob` at a team of their own and keep alice and bob from theirs.
"""

from __future__ import annotations

from ..errors import BadTeamMembership, BadTeamName
from ..uid import uid_for
from .names import parse_implicit_name
from .state import Role, TeamState


def mismatch(iname, members, invites) -> str | None:
    """What of a team does not match its implicit name `iname` ("members" or "invites"),
    or None: exactly the name's users as owners (writers) and readers, its assertions as
    pending invites. `members`: uid -> Member; `invites`: the pending invites."""
    wnames, rnames = iname.usernames
    want = {uid_for(u): Role.OWNER for u in wnames}
    want.update({uid_for(u): Role.READER for u in rnames})
    if {uid: m.role for uid, m in members.items()} != want:
        return "members"
    wa, ra = iname.assertions
    want_inv = sorted([(a, Role.OWNER) for a in wa] + [(a, Role.READER) for a in ra])
    if sorted((f"{i.name}@{i.type}", i.role) for i in invites) != want_inv:
        return "invites"
    return None


def check_implicit_name(state: TeamState, name: str) -> str:
    """The canonical form of `name` if it names exactly `state` as it is now; else
    BadTeamName (not an implicit team, or no implicit name) or BadTeamMembership."""
    if not state.implicit:
        raise BadTeamName(f"{state.name!r} is not an implicit team: it has no other names")
    iname = parse_implicit_name(name)
    what = mismatch(iname, state.members, state.invites.values())
    if what == "members":
        raise BadTeamMembership(f"{str(iname)[:80]!r} does not name the members of implicit team {state.id}")
    if what == "invites":
        raise BadTeamMembership(f"{str(iname)[:80]!r} does not name the pending invites of implicit team {state.id}")
    return str(iname)
