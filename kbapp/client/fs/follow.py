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


def _rewrite_in(conn, folder: str, skip: list[int], before_rev: int, pairs) -> int:
    n = 0
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


_ORPHANS = ("DELETE FROM follows WHERE rev_id NOT IN (SELECT rev_id FROM entries WHERE rev_id IS NOT NULL "
            "AND state IN ('pending', 'failed'))")


def _carry(journal, folder: str, skip: list[int], revision: int, pairs, apply_ids: list[str],
           drop_ids: list[str]) -> int:
    """One transaction: the later rows rewritten through `pairs` and through the renames saved
    for `apply_ids` (accepted revisions), and the saved renames of `apply_ids` and `drop_ids`
    deleted. A kill before it commits leaves all as it was; after, nothing is left to redo."""
    n = 0
    with journal.db.engine.begin() as conn:
        if pairs:
            n += _rewrite_in(conn, folder, skip, revision, pairs)
        if apply_ids:
            marks = ", ".join("?" for _ in apply_ids)
            for f, rev, raw in conn.exec_driver_sql(
                    f"SELECT folder, revision, pairs FROM follows WHERE rev_id IN ({marks})", tuple(apply_ids)):
                n += _rewrite_in(conn, f, skip, int(rev), [(tuple(p), tuple(q)) for p, q in json.loads(raw)])
        gone = sorted(set(apply_ids) | set(drop_ids))
        if gone:
            marks = ", ".join("?" for _ in gone)
            conn.exec_driver_sql(f"DELETE FROM follows WHERE rev_id IN ({marks})", tuple(gone))
    return n


def _save(journal, rev_id: str, folder: str, revision: int, pairs) -> None:
    with journal.db.engine.begin() as conn:
        conn.exec_driver_sql("INSERT OR REPLACE INTO follows (rev_id, folder, revision, pairs) VALUES (?, ?, ?, ?)",
                             (rev_id, folder, revision, json.dumps([[list(p), list(q)] for p, q in pairs])))


async def remember(journal, rev_id: str, folder: str, revision: int, pairs) -> None:
    """Before the POST of a merged revision: its renames, for `carry_saved` after a lost answer."""
    if pairs:
        await journal.db.run(_save, journal, rev_id, folder, revision, list(pairs))


def _forget_orphans(journal) -> None:
    with journal.db.engine.begin() as conn:
        conn.exec_driver_sql(_ORPHANS)


async def forget_orphans(journal) -> None:
    """Saved renames no unfinished row's revision names any more (carried, or signed on an
    attempt that was never accepted: a 409 retried, a cancel) go."""
    await journal.db.run(_forget_orphans, journal)


async def carry(files, folder: str, batch_ids, revision: int, pairs, *, apply_ids=(), drop_ids=()) -> int:
    """Rewrite the later rows of `folder` through `pairs` (see the module text) and through the
    renames saved for the accepted revisions `apply_ids`, forgetting those and `drop_ids`'s,
    in one transaction, *before* the batch is marked uploaded (a kill in between leaves it
    pending: the next pass finds it accepted and has nothing left to redo); rows moved."""
    if not pairs and not apply_ids and not drop_ids:
        return 0
    n = await files.journal.db.run(_carry, files.journal, folder, list(batch_ids), revision, list(pairs),
                                   sorted(apply_ids), sorted(drop_ids))
    if n:
        files._stale()
    return n


async def carry_saved(files, done_rows) -> int:
    """Rows found accepted by a revision this pass did not post (a lost answer, a crash): the
    later rows follow the renames saved for it before its POST (call before marking them)."""
    rev_ids = sorted({r.rev_id for r in done_rows if r.rev_id})
    if not rev_ids:
        return 0
    return await carry(files, done_rows[0].folder, [r.id for r in done_rows], 0, (), apply_ids=rev_ids)


async def fresh(journal, rows) -> list:
    """`rows` as the journal holds them now (an earlier batch of the same pass may have
    rewritten them, or they were discarded meanwhile: then left out)."""
    now = {r.id: r for r in await journal.of_folder(rows[0].folder, ("pending", "failed"))}
    return [now[r.id] for r in rows if r.id in now]
