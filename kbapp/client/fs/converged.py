"""Two folders whose names converged: the one that lost its name stays readable, read-only.

`/private/alice,bob@github` rides on its own implicit team (made under that name) until bob
proves the account. If `/private/alice,bob` was made too, the proof makes both names lead
to the team made under the resolved name (implicit_teams.py), and the files written under
the assertion name would be reachable under neither name: lost, as far as anyone can see.
Keybase keeps such a folder as a "conflicted copy"; so do we. Under the name that held them
(`/private/alice,bob@github`), the root lists the other team's folder as a read-only view
`(conflicted copy alice,bob@github)`, verified like any folder (its own team chain, keys,
judge and map proof). Writes into it are refused (`FS_READ_ONLY_VIEW`): copy out of it.
"""

from __future__ import annotations

import logging
import time

from kbapp.core import errors
from kbapp.core.fs.names import PUBLIC
from kbapp.core.fs.revision import folder_id_for

from .overlay import Overlay
from .sync import FOLDER_TTL_S, Folder

log = logging.getLogger(__name__)
_CACHE = "_converged"                  # attribute of the FilesService: folder id -> (time, Folder | None)


def view_name(f: Folder) -> str | None:
    """The name of the converged view in `f`'s root, or None (only assertion names have one)."""
    name = f.name.team_name
    return f"(conflicted copy {name})" if f.name.implicit and "@" in name else None


async def sibling(files, f: Folder) -> Folder | None:
    """The folder of the team made under `f`'s own (unresolved) name when that is no longer
    the team the name leads to, or None. Cached for FOLDER_TTL_S."""
    if view_name(f) is None:
        return None
    cache = files.__dict__.setdefault(_CACHE, {})
    hit = cache.get(f.folder_id)
    if hit is not None and time.monotonic() - hit[0] < FOLDER_TTL_S:
        return hit[1]
    teams = files.teams
    tid = await teams._implicit_made_as(f.name.team_name)
    other = None
    if tid is not None and tid != f.team_id:
        try:
            loaded = await teams._load_ref(tid)
        except (errors.ReadNotAllowed, errors.NotFound):
            loaded = None                            # not ours to read (we were never its member)
        if loaded is not None:
            st = loaded.state
            keys = None
            if f.name.kind != PUBLIC:
                keys = {g: k.application_key("kbfs") for g, k in (await teams._team_keys(st)).items()}
            other = Folder(f.name, st.id, folder_id_for(st.id, f.name.kind_code).hex(), loaded, keys,
                           0 if keys is None else st.generation)
    cache[f.folder_id] = (time.monotonic(), other)
    return other


async def root_rows(files, f: Folder) -> list[dict]:
    """The converged view's row for `f`'s root listing (none when the other folder is empty,
    cannot be reached now, or does not verify: the listing of `f` itself never fails for it;
    reading inside the view reports the error)."""
    try:
        other = await sibling(files, f)
        if other is None:
            return []
        s = await files.fs.current(other, max_age=FOLDER_TTL_S)
    except errors.KbappError as e:
        log.info("fs: the converged copy of %s is not listed: %s: %s", f.name, e.code, e)
        return []
    if s.root is None:
        return []
    return [{"name": view_name(f), "type": "dir", "size": 0, "mtime": 0, "writer": "", "pending": False,
             "converged": True}]


async def view(files, f: Folder, comps, rev, time_s):
    """(folder, components, overlay) when `comps` start in the converged view, else None."""
    if not comps or comps[0] != view_name(f):
        return None
    other = await sibling(files, f)
    if other is None:
        return None
    if rev is not None or time_s is not None:
        root = await files._root_at(other, rev, time_s)
    else:
        root = (await files.fs.current(other, max_age=FOLDER_TTL_S)).root
    return other, tuple(comps[1:]), Overlay(root, files._loader(other), writer=files._uid(), now_ns=files._now_ns())


def refuse_write(f: Folder, comps) -> None:
    if comps and comps[0] == view_name(f):
        raise errors.ReadOnlyView(f"{comps[0]!r} is the folder this name held before it converged: read-only "
                                  "(copy out of it)")
