"""Later rows follow a merge's renames: a second local edit lands on the conflict copy.

When a batch merges and keeps a local file beside the other writer's under a conflict name
(`notes.conflicted (bob's laptop copy DATE).txt`), rows journalled before that merge was
accepted were made on a local view where *our* file still had the original name. A later
batch made on a newer head (one that already held the other writer's change) is not merged
again, so its rows would be applied by path: a second local edit of `notes.txt` would land
on the original name, over the other writer's version. Once the merged revision is
accepted, such rows (pending or failed, of the same folder, made on a head older than that
revision) are rewritten through the merge's local renames, in one transaction, so they
update the conflict copy, as the user's first edit did (threat-model.md "Folder engine
correctness").

The renames are saved (table `follows`, keyed by the revision id) before the revision's
POST: when its answer is lost or the app is killed, the next pass finds the revision
accepted among the verified ones without having merged anything, and carries the later rows
through the saved renames all the same.
"""

from __future__ import annotations

import json

REMOTE_ASIDE = "a remote file where a local directory goes"


def local_renames(m) -> list[tuple[tuple, tuple]]:
    """The (original, conflict name) pairs of a merge that moved *local* changes (not a
    remote file moved aside for a local directory)."""
    wrote = {a.path for a in m.actions if a.kind == "write"}
    moved = {a.to for a in m.actions if a.kind == "move" and not a.note.startswith(REMOTE_ASIDE)}
    return [(tuple(p), tuple(q)) for p, q in m.renamed if tuple(q) in wrote or tuple(q) in moved]


def _map(path, pairs):
    if path is None:
        return None
    path = tuple(path)
    for p, q in pairs:
        if path[:len(p)] == p:
            return q + path[len(p):]
    return path


def _rewrite(journal, folder: str, skip: list[int], before_rev: int, pairs) -> int:
    n = 0
    with journal.db.engine.begin() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, path, dest FROM entries WHERE folder = ? AND state IN ('pending', 'failed') AND base < ?",
            (folder, before_rev)).fetchall()
        for rid, raw_path, raw_dest in rows:
            if rid in skip:
                continue
            path, dest = json.loads(raw_path), json.loads(raw_dest) if raw_dest else None
            new_path, new_dest = _map(path, pairs), _map(dest, pairs)
            if new_path != tuple(path) or (dest is not None and new_dest != tuple(dest)):
                conn.exec_driver_sql("UPDATE entries SET path = ?, dest = ? WHERE id = ?",
                                     (json.dumps(list(new_path)),
                                      None if new_dest is None else json.dumps(list(new_dest)), rid))
                n += 1
    return n


def _save(journal, rev_id: str, folder: str, revision: int, pairs) -> None:
    with journal.db.engine.begin() as conn:
        conn.exec_driver_sql("INSERT OR REPLACE INTO follows (rev_id, folder, revision, pairs) VALUES (?, ?, ?, ?)",
                             (rev_id, folder, revision, json.dumps([[list(p), list(q)] for p, q in pairs])))


async def remember(journal, rev_id: str, folder: str, revision: int, pairs) -> None:
    """Before the POST of a merged revision: its renames, for `carry_saved` after a lost answer."""
    if pairs:
        await journal.db.run(_save, journal, rev_id, folder, revision, list(pairs))


def _take(journal, rev_ids: list[str]) -> list[tuple[str, int, list]]:
    marks = ", ".join("?" for _ in rev_ids)
    with journal.db.engine.begin() as conn:
        got = conn.exec_driver_sql(f"SELECT folder, revision, pairs FROM follows WHERE rev_id IN ({marks})",
                                   tuple(rev_ids)).fetchall()
        conn.exec_driver_sql(f"DELETE FROM follows WHERE rev_id IN ({marks})", tuple(rev_ids))
    return [(f, int(n), [(tuple(p), tuple(q)) for p, q in json.loads(raw)]) for f, n, raw in got]


async def forget(journal, rev_ids) -> None:
    """The batch is done: the renames saved for every revision signed for it go (one was
    accepted and carried; the others were never accepted)."""
    if rev_ids:
        await journal.db.run(_take, journal, sorted(rev_ids))


async def carry(files, folder: str, batch_ids, revision: int, pairs) -> int:
    """Rewrite the later rows of `folder` through `pairs` (see the module text); how many."""
    if not pairs:
        return 0
    n = await files.journal.db.run(_rewrite, files.journal, folder, list(batch_ids), revision, list(pairs))
    if n:
        files._stale()
    return n


async def carry_saved(files, done_rows) -> int:
    """Rows found accepted by a revision this pass did not post (a lost answer, a crash): the
    later rows follow the renames saved for it before its POST."""
    rev_ids = sorted({r.rev_id for r in done_rows if r.rev_id})
    if not rev_ids:
        return 0
    n = 0
    for folder, revision, pairs in await files.journal.db.run(_take, files.journal, rev_ids):
        n += await carry(files, folder, [r.id for r in done_rows], revision, pairs)
    return n


async def fresh(journal, rows) -> list:
    """`rows` as the journal holds them now (an earlier batch of the same pass may have
    rewritten them, or they were discarded meanwhile: then left out)."""
    now = {r.id: r for r in await journal.of_folder(rows[0].folder, ("pending", "failed"))}
    return [now[r.id] for r in rows if r.id in now]
