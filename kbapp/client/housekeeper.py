"""The housekeeper: the admin chores a client owes its teams, run when asked.

Reads never write: `team()`, `list_members()` and `list_teams()` (on `app.teams`
and their `App` delegates alike) only load and verify. What an admin's client must
post when it finds it due (a new key after a member left or revoked a device,
open-team joiners, accepted token invites, proven assertion invites:
`TeamsService._chores`, team_chores.py) is done here, by
`run_once()` over our teams or `team()` for one, each under that team's lock.
Callers ask for it explicitly: the GUI after login, when the Teams page opens and,
for one team, on a push hint naming it (through gui/ops.run, off the window's way;
sync.py itself only reloads), the CLI's `kbapp team chores` and
`team list-members --chores`.
"""

from __future__ import annotations

import logging

from kbapp.core import errors

from .context import AccountContext
from .models import TeamView
from .teams import TeamsService

log = logging.getLogger(__name__)


class Housekeeper:
    def __init__(self, ctx: AccountContext, teams: TeamsService):
        self.ctx, self.teams = ctx, teams

    async def team(self, team: str) -> tuple[TeamView, list[str]]:
        """One team's due chores (none unless we administer it): (view, what was done)."""
        return await self.teams.housekeep(team)

    async def run_once(self) -> dict[str, list[str]]:
        """Every team we are in or administer: {team name: what was done} for those
        where something was. A team that fails to load or refuses is logged and skipped:
        one bad team does not keep the others' chores from running."""
        self.ctx.require_login()
        out: dict[str, list[str]] = {}
        for item in await self.teams.list_teams():
            try:
                _view, done = await self.team(item.name)
            except errors.KbappError as e:
                log.info("housekeeper: %s: %s", item.name, e)
                continue
            if done:
                out[item.name] = done
        return out
