"""Which folders this account can open: what the Files page lists and `kbapp fs ls /` says.

A folder exists for every team we are in (named teams as `/team/NAME`, implicit teams as
`/private/NAMES`), our own `/private/ME` and `/public/ME` always, and every folder the
journal has verified before (one shared with us that we opened by name). The team list
is the verified one (`teams.list_teams` loads and checks each team); the journal's names
are only those it stored after a verified sync. Nothing here is trusted beyond "worth
showing": opening a folder verifies it again.
"""

from __future__ import annotations

from kbapp.core import errors
from kbapp.core.fs.names import parse_folder_name


def _journal_names(journal) -> list[str]:
    with journal.db.engine.connect() as conn:
        return [r[0] for r in conn.exec_driver_sql("SELECT name FROM folders ORDER BY name")]


async def known_folders(files, teams, me: str) -> list[str]:
    """Canonical folder paths, ours first, then teams, then any other the journal verified."""
    out = [f"/private/{me}", f"/public/{me}"]
    try:
        listed = await teams.list_teams()
    except errors.KbappError:
        listed = []                     # offline: the journal's folders still open from the cache
    for t in listed:
        out.append(f"/private/{t.name}" if t.implicit else f"/team/{t.name}")
    journal = await files.open()
    out.extend(await journal.db.run(_journal_names, journal))
    good = []
    for p in dict.fromkeys(out):
        try:
            good.append(str(parse_folder_name(p)))
        except errors.KbappError:
            continue                     # a name this build cannot parse is not offered
    return list(dict.fromkeys(good))


async def verified_members(teams, f) -> dict:
    """The folder's loaded users with every member of its team in them: a member whose chain
    the load did not need is verified now (uid = hash of the name, checked by its chain); one
    whose chain does not verify is left out, for callers to show by uid."""
    users = f.loaded.users
    for uid in f.loaded.state.members:
        if uid not in users:
            try:
                await teams._user_by_uid(uid, None, users)
            except errors.KbappError:
                continue
    return users


async def writer_names(files, path: str) -> dict[str, str]:
    """uid -> username of the members of the folder at `path`, from its verified team (a
    uid is the hash of its username, and the team's chain names its members): what the Files
    page shows in its "By" column instead of a uid."""
    from kbapp.core.fs.names import split_path

    f = await files.fs.folder(split_path(path)[0])
    users = await verified_members(files.teams, f)
    out = {uid: u.username for uid, u in users.items() if getattr(u, "username", None)}
    uid, me = files.ctx.require_login()
    out[uid] = me
    return out
