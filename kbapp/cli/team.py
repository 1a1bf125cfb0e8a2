"""`kbapp team ...`: teams from the command line (a thin shell over App's team methods).

Every command loads and verifies the team chain first (a lie from the server is
a verification failure: exit code 3, like `kbapp id`).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json

from kbapp.cli.argv import json_flag
from kbapp.core.display import one_line

ROLES = ("owner", "admin", "writer", "reader")


def add_parser(sub) -> None:
    s = sub.add_parser("team", help="teams: create, members and roles, invites, keys")
    t = s.add_subparsers(dest="team_cmd", required=True)

    def cmd(name: str, help: str) -> argparse.ArgumentParser:
        p = t.add_parser(name, help=help)
        json_flag(p)
        return p

    cmd("create", "create a team (you are its owner)").add_argument("name")
    p = cmd("add-member", "add a user to a team")
    p.add_argument("team")
    p.add_argument("user")
    p.add_argument("--role", choices=ROLES, default="writer")
    p = cmd("remove-member", "remove a member (rotates the team key)")
    p.add_argument("team")
    p.add_argument("user")
    p = cmd("edit-member", "change a member's role")
    p.add_argument("team")
    p.add_argument("user")
    p.add_argument("--role", choices=ROLES, required=True)
    cmd("leave", "leave a team").add_argument("team")
    p = cmd("list-members", "members, roles and identity checks (a read: it posts nothing)")
    p.add_argument("team")
    p.add_argument("--chores", action="store_true",
                   help="first do the admin work due in TEAM (as `team chores TEAM`), then list")
    cmd("list", "teams you are in")
    cmd("chores", "do the admin work due in your teams (rotations after a leave or a revoked "
        "device, open joins, accepted invites), or in TEAM only").add_argument("team", nargs="?")
    p = cmd("subteam", "subteams")
    ss = p.add_subparsers(dest="subteam_cmd", required=True)
    c = ss.add_parser("create", help="create PARENT.NAME")
    json_flag(c)
    c.add_argument("parent")
    c.add_argument("name")
    p = cmd("settings", "open or close a team, set the role open joins get")
    p.add_argument("team")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--open", dest="open", action="store_true", default=None)
    g.add_argument("--closed", dest="open", action="store_false")
    p.add_argument("--default-role", choices=("reader", "writer"), default=None)
    p = cmd("invite", "invite a user or an assertion (bob@github), make a token (--token), or cancel one (--cancel)")
    p.add_argument("team")
    p.add_argument("user", nargs="?")
    p.add_argument("--token", action="store_true", help="print a token to hand over out of band")
    p.add_argument("--cancel", metavar="ID", default=None, help="cancel the pending invite ID (see list-members)")
    p.add_argument("--role", choices=ROLES, default="writer")
    p.add_argument("--max-uses", type=int, default=None, help="token invites: how many people may use it")
    p = cmd("uninvite", "cancel a pending invite (its id, or a unique prefix: see list-members)")
    p.add_argument("team")
    p.add_argument("invite_id")
    cmd("accept", "accept a token invite").add_argument("token")
    cmd("join", "ask to join a team (open teams add you automatically)").add_argument("team")
    cmd("requests", "pending join requests (admins)").add_argument("team")
    p = cmd("approve", "approve a join request (admins)")
    p.add_argument("team")
    p.add_argument("user")
    p.add_argument("--role", choices=ROLES, default=None)
    p = cmd("deny", "deny a join request (admins); they may ask again")
    p.add_argument("team")
    p.add_argument("user")
    cmd("rotate", "make a new team key generation").add_argument("team")
    p = cmd("key", "show a team application key's generation and fingerprint")
    p.add_argument("team")
    p.add_argument("--app", choices=("chat", "kbfs"), default="chat")
    p.add_argument("--generation", type=int, default=None)
    cmd("implicit", "get or create an ad-hoc team like alice,bob#carol or alice,bob@github").add_argument("name")


def render_team(v) -> str:
    head = f"{v.name}  ({'implicit, ' if v.implicit else ''}key generation {v.generation}, " \
           f"{'open: joins get ' + v.default_role if v.open else 'closed'}; you: {v.my_role})"
    lines = [head]
    for m in v.members:
        mark = "✔" if m.badge == "verified" else "✖"
        extra = " (implicit admin)" if m.implicit_admin else ""
        why = f"  [{one_line(m.reason)}]" if m.badge != "verified" and m.reason else ""
        lines.append(f"  {mark} {m.username:<16} {m.role}{extra}{why}")
    for i in v.invites:
        lines.append(f"  … invite {one_line(i.type)}:{one_line(i.name[:24])} as {i.role}  (id {i.id})")
    for s in v.subteams:
        lines.append(f"  ↳ {s}")
    if v.rotated:
        lines.append("  (rotated the team key: it was due)")
    return "\n".join(lines)


def render_list(items) -> str:
    if not items:
        return "no teams"
    return "\n".join(f"{t.name:<28} {t.role:<7} {t.members} members, key generation {t.generation}"
                     + ("  (implicit)" if t.implicit else "")
                     + ("  (admin through a parent team, not a member)" if t.implicit_admin else "") for t in items)


async def _chores(app, args, emit) -> None:
    """`team chores [TEAM]`: the housekeeper's pass, over every team or one."""
    if args.team:
        v, done = await app.housekeeper.team(args.team)
        report = {v.name: done} if done else {}
    else:
        report = await app.housekeeper.run_once()
    emit(args, report, "\n".join(f"{name}: {'; '.join(done)}" for name, done in sorted(report.items()))
         or "nothing to do")


async def run(app, args, emit) -> int:
    """Dispatch one `kbapp team` command; `emit(args, obj, text)` prints text or JSON."""
    c = args.team_cmd
    if not app.connected:
        await app.connect()
    if c == "create":
        v = await app.create_team(args.name)
        emit(args, v, f"created team {v.name}\n" + render_team(v))
    elif c == "add-member":
        v = await app.add_member(args.team, args.user, args.role)
        emit(args, v, f"added {args.user} to {v.name} as {args.role}\n" + render_team(v))
    elif c == "remove-member":
        v = await app.remove_member(args.team, args.user)
        emit(args, v, f"removed {args.user} from {v.name}; new key generation {v.generation}\n" + render_team(v))
    elif c == "edit-member":
        v = await app.edit_member(args.team, args.user, args.role)
        emit(args, v, f"{args.user} is now {args.role} in {v.name}")
    elif c == "leave":
        v = await app.leave_team(args.team)
        emit(args, v, f"left {v.name}")
    elif c == "list-members":
        done = (await app.housekeeper.team(args.team))[1] if args.chores else []
        v = await app.list_members(args.team)
        v = dataclasses.replace(v, rotated=any(d.startswith("rotated") for d in done))
        emit(args, v, render_team(v))
    elif c == "list":
        items = await app.list_teams()
        emit(args, items, render_list(items))
    elif c == "chores":
        await _chores(app, args, emit)
    elif c == "subteam":
        v = await app.create_subteam(args.parent, args.name)
        emit(args, v, f"created subteam {v.name}\n" + render_team(v))
    elif c == "settings":
        v = await app.team_settings(args.team, open=args.open, default_role=args.default_role)
        emit(args, v, render_team(v))
    elif c == "uninvite" or (c == "invite" and args.cancel is not None):
        iid = args.invite_id if c == "uninvite" else args.cancel
        v = await app.cancel_invite(args.team, iid)
        emit(args, v, f"cancelled invite {iid} of {v.name}\n" + render_team(v))
    elif c == "invite":
        res = await app.invite(args.team, args.user, role=args.role, token=args.token, max_uses=args.max_uses)
        if args.token:
            emit(args, res, f"invite token for {res.team} ({res.role}); give it to the invitee, it is shown once:\n"
                            f"  {res.token}\nthey run: kbapp team accept {res.token}")
        else:
            emit(args, res, f"invited {args.user} to {res.name} as {args.role}\n" + render_team(res))
    elif c == "accept":
        inv = await app.accept_invite(args.token)
        emit(args, inv, f"accepted: an admin's client adds you as {inv.role} the next time it loads the team")
    elif c == "join":
        v = await app.join_team(args.team)
        emit(args, {"team": v.name, "requested": True, "open": v.open},
             f"asked to join {v.name}" + (" (open: an admin's client adds you)" if v.open else
                                          " (closed: an admin approves)"))
    elif c == "requests":
        items = await app.join_requests(args.team)
        emit(args, items, "\n".join(f"{r.username}" for r in items) or "no pending requests")
    elif c == "approve":
        v = await app.approve_join(args.team, args.user, args.role)
        emit(args, v, f"approved {args.user}\n" + render_team(v))
    elif c == "deny":
        r = await app.deny_join(args.team, args.user)
        emit(args, r, f"denied {r.username}'s request to join {r.team}")
    elif c == "rotate":
        v = await app.rotate_team_key(args.team)
        emit(args, v, f"{v.name}: new key generation {v.generation}")
    elif c == "key":
        k = await app.team_key(args.team, args.generation, args.app)
        fp = hashlib.sha256(k.key).hexdigest()[:16]
        emit(args, {"team_id": k.team_id, "generation": k.generation, "app": k.app, "fingerprint": fp},
             f"{args.team}: {k.app} key generation {k.generation}, fingerprint {fp}")
    elif c == "implicit":
        v = await app.implicit_team(args.name)
        emit(args, v, render_team(v))
    else:  # pragma: no cover - argparse restricts the choices
        print(json.dumps({"error": "unknown team command"}))
        return 1
    return 0
