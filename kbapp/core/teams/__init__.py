"""Teams: Keybase-style team sigchains, per-team keys, invites, implicit teams.

Pure (no I/O, no clock; randomness and time come in as arguments):

- names.py    team names and ids, implicit team names (`alice,bob@github#carol`)
- state.py    Role, UserVersion, TeamState and the rest of a verified team
- keys.py     per-team keys: derivation, seed boxes to member PUKs, prev chain, app keys
- links.py    writing team links (root, change_membership, rotate_key, leave, ...)
- invites.py  invites by user / assertion / token (seitan), signed join requests
- verify.py   the loader: `load_team(links, ...) -> TeamState` or a typed TeamError
"""

from .invites import (
    assertion_invite,
    implicit_team_invites,
    join_request_hash,
    new_invite_id,
    new_token,
    seitan_invite,
    seitan_key,
    sign_acceptance,
    sign_join_denial,
    sign_join_request,
    user_invite,
    verify_acceptance,
    verify_join_denial,
    verify_join_request,
)
from .keys import (
    SeedBox,
    TeamKey,
    box_seed,
    decrypt_prev,
    encrypt_prev,
    open_seed_box,
    open_team_keys,
    unroll,
)
from .links import (
    SEQ_TYPE_SEMIPRIVATE,
    ChainPos,
    TeamSigner,
    build_change_membership,
    build_delete_root,
    build_invite,
    build_leave,
    build_new_subteam,
    build_root,
    build_rotate_key,
    build_settings,
    build_subteam_head,
    build_team_link,
)
from .names import (
    ImplicitName,
    check_team_id,
    check_team_name,
    implicit_team_id,
    make_implicit_name,
    parse_implicit_name,
    root_team_id,
    subteam_id,
)
from .state import Invite, Member, PtkInfo, Role, Settings, SigPoint, TeamState, UserVersion
from .around import TeamCache, implicit_admins, sibkey_eldest_at
from .verify import UserKeyAt, check_team_tail, load_team

__all__ = [
    "SEQ_TYPE_SEMIPRIVATE", "ChainPos", "ImplicitName", "Invite", "Member", "PtkInfo", "Role",
    "SeedBox", "Settings", "SigPoint", "TeamCache", "TeamKey", "TeamSigner", "TeamState",
    "UserKeyAt", "UserVersion", "assertion_invite", "box_seed", "build_change_membership",
    "build_delete_root", "build_invite", "build_leave", "build_new_subteam", "build_root",
    "build_rotate_key", "build_settings", "build_subteam_head", "build_team_link",
    "check_team_id", "check_team_tail", "check_team_name", "decrypt_prev", "encrypt_prev",
    "implicit_admins", "implicit_team_id", "implicit_team_invites", "join_request_hash", "load_team", "sibkey_eldest_at", "make_implicit_name", "new_invite_id", "new_token",
    "open_seed_box", "open_team_keys", "parse_implicit_name", "root_team_id", "seitan_invite", "seitan_key",
    "sign_acceptance", "sign_join_denial", "sign_join_request", "subteam_id", "unroll", "user_invite",
    "verify_acceptance", "verify_join_denial", "verify_join_request",
]
