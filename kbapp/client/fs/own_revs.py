"""Which verified revisions are this device's own, and which journal rows they carried.

A revision is signed (its id stored on the rows it carries) *before* its POST, so after a
lost answer, a crash or a replayed 409 the journal still knows it. Two mistakes this module
prevents (issue 16, threat-model.md "Folder engine correctness"):

- marking a whole batch uploaded because *one* of its rows names an accepted revision: rows
  journalled after that revision was signed were never in it and would be lost (their blocks
  even left the journal as if on the server);
- merging over our own revision as if it were someone else's: a read that synced it first
  records it without knowing it is ours, and the next batch made on the old head would then
  merge over the conflict copy that revision made, adding a second "(conflicted copy)".
  Every revision id a row of this folder ever carried counts as ours, and is marked so.
"""

from __future__ import annotations

import dataclasses


def _signed(journal, folder: str) -> set[str]:
    with journal.db.engine.connect() as conn:
        return {r[0] for r in conn.exec_driver_sql(
            "SELECT DISTINCT rev_id FROM entries WHERE folder = ? AND rev_id IS NOT NULL", (folder,))}


async def signed_ids(journal, folder: str) -> set[str]:
    """Ids of every revision this device signed for rows of `folder` (accepted or not)."""
    return await journal.db.run(_signed, journal, folder)


async def mark_own(journal, folder_id: str, revs, own: set[str]) -> list:
    """`revs` with our own revisions flagged `mine` (and the journal told); the new list."""
    fixed = [dataclasses.replace(rv, mine=True) for rv in revs if rv.id in own and not rv.mine]
    if fixed:
        await journal.add_revs(folder_id, fixed)
    ids = {rv.id for rv in fixed}
    return [dataclasses.replace(rv, mine=True) if rv.id in ids else rv for rv in revs]


def carried(rows, revs, signed_now: set[str]) -> tuple[list, list]:
    """(rows an accepted revision carried, the rest). `signed_now`: ids signed for all of
    `rows` in this upload (each attempt signs the whole batch)."""
    accepted = {rv.id for rv in revs}
    if signed_now & accepted:
        return list(rows), []
    done = [r for r in rows if r.rev_id and r.rev_id in accepted]
    return done, [r for r in rows if not (r.rev_id and r.rev_id in accepted)]
