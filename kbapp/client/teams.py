"""Teams: the teams service (`app.teams`), built on team chains.

A service on the account context (context.py); a write to a team holds that
team's lock (`team:<id>`, ops.py), never one for everything. The service is
composed of one part per concern, each in its own module:

- team_loading.py: names to ids, verified user chains, every load played back
  from the whole chain against the verified Merkle map (`_load_ref`, `_load`,
  `_user_key_at`, `_team_states`);
- team_keys.py: per-team keys, opened down the chain of prevs, boxed to members'
  per-user keys, rotated (`_team_keys`, `team_key`, `rotate_team_key`);
- team_membership.py: signed changes: create, subteams, add, edit, remove, leave,
  settings;
- team_invites.py: join requests (listed, denied, approved), invites, cancels;
- team_chores.py: the admin chores the housekeeper runs (rotate after a leave or a
  member's revoked device; add open-team joiners, accepted tokens, proven assertions);
- team_views.py: the reads (`team`, `list_members`, `list_teams`): they post nothing;
- team_joining.py, implicit_teams.py: joining from outside; ad-hoc teams by name.
"""

from __future__ import annotations

from .context import AccountContext
from .implicit_teams import ImplicitTeamsMixin
from .social import SocialService
from .team_chores import TeamChoresMixin
from .team_invites import TeamInvitesMixin
from .team_joining import TeamJoinMixin
from .team_keys import TeamKeysMixin
from .team_loading import TeamLoadMixin, _Loaded, team_lock
from .team_membership import TeamMembersMixin
from .team_views import TeamViewsMixin

__all__ = ["TeamsService", "team_lock", "_Loaded"]


class TeamsService(TeamLoadMixin, TeamKeysMixin, TeamMembersMixin, TeamInvitesMixin, TeamChoresMixin,
                   TeamViewsMixin, TeamJoinMixin, ImplicitTeamsMixin):
    """`app.teams`: on the account context, with the social service for assertions."""

    def __init__(self, ctx: AccountContext, social: SocialService):
        self.ctx, self.social = ctx, social
        self._team_cache: dict = {}        # team id -> the last verified TeamState
        self._team_key_cache: dict = {}    # (team id, generation) -> the keys we opened

    # the names for the same operations
    leave = TeamMembersMixin.leave_team
    approve = TeamInvitesMixin.approve_join
    deny = TeamInvitesMixin.deny_join
    uninvite = TeamInvitesMixin.cancel_invite
    rotate = TeamKeysMixin.rotate_team_key
