"""Who is in a conversation and whether each one's identity checks out (the badges).

The verified team gives the members and each one's badge (app.list_members: the People
page's check). When the team itself no longer loads because a member's chain was
tampered with, the conversation must still say *who* broke: each sender shown and each
name in a direct conversation's name is then identified on its own.
"""

from __future__ import annotations

from kbapp.client.models import TeamMemberView
from kbapp.core import errors


async def member_badges(app, view, senders: set[str], me: str) -> tuple[list, str]:
    """(members as TeamMemberView, the team's own error or "")."""
    try:
        team = await app.list_members(view.team_id)
        return list(team.members), ""
    except errors.VerificationError as e:
        why = f"{e.code}: {e}"
    names = set(senders)
    if view.kind == "implicit":
        names |= {n for n in view.name.partition("#")[0].split(",") if n}
    out = []
    for name in sorted(names - {me, ""}):
        try:
            ident = await app.identify(name, proofs=False)
            out.append(TeamMemberView(name, ident.uid, "member", "verified"))
        except errors.VerificationError as e:
            out.append(TeamMemberView(name, "", "member", "broken", f"{e.code}: {e}"))
        except errors.KbappError:
            continue
    return out, why


def warning_text(members: list, team_error: str) -> str:
    broken = [m for m in members if m.badge == "broken"]
    if not broken and not team_error:
        return ""
    who = ", ".join(m.username for m in broken) or "someone in this conversation"
    why = "; ".join(f"{m.username}: {m.reason or 'did not verify'}" for m in broken) or team_error
    return (f"The identity of {who} no longer checks out ({why}). Messages shown under that name may not be "
            "theirs; new ones are not accepted until it checks out again.")
