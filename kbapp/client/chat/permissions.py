"""Who may post and read, said in people's words.

A reader (or a removed member) who posts is refused before anything enters the outbox:
no retry can make the post allowed, so it must not sit there as if one could. A read
the server refuses because we are not a member comes back as ids (the server names
uids and team ids; it may keep doing so): the client, which knows both names, says
"you (carol) are not a member of acme" instead.
"""

from __future__ import annotations

import contextlib

from kbapp.core import errors
from kbapp.core.teams import Role


def check_may_post(state, uid: str, *, need: Role = Role.WRITER) -> None:
    """PostNotAllowed unless our role in this verified team state is at least `need`."""
    role = state.role_of(uid)
    if role >= need:
        return
    if role == Role.NONE:
        raise errors.PostNotAllowed(f"you are not a member of {state.name}: only its {need.label}s can post")
    raise errors.PostNotAllowed(f"you are a {role.label} in {state.name}: only {need.label}s can post")


@contextlib.contextmanager
def named_refusals(me: str, team: str):
    """Turn the server's `READ_NOT_ALLOWED` (ids) into NotConversationMember (names)."""
    try:
        yield
    except errors.NotConversationMember:
        raise
    except errors.ReadNotAllowed as e:
        raise errors.NotConversationMember(f"you ({me}) are not a member of {team}",
                                           getattr(e, "status", 403), getattr(e, "server_code", "")) from None


async def explain_not_found(svc, row, me: str, exc: errors.NotFound) -> None:
    """The server hides a conversation we may not read behind a 404. When our own fresh,
    verified load of the team says we are no member (or cannot be loaded for that reason),
    say so by name; otherwise the 404 stands as it is."""
    with named_refusals(me, row.team_name):
        loaded, _keys = await svc.team_for_chat(row.team_id, fresh=True)
    if loaded.state.role_of(svc.ctx.uid) == Role.NONE:
        raise errors.NotConversationMember(f"you ({me}) are not a member of {row.team_name}", 404,
                                           "NOT_FOUND") from exc
    raise exc
