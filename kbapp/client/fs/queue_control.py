"""Acting on single journal entries: retry one (or every failed one) now, or discard one.

The Files page's journal panel lists `status()['entries']`; each row has Retry and Cancel.
Retry puts a failed change back in line (a pending one is simply tried now, the backoff
forgotten). Cancel here *discards* a change that has not reached the server: its row and
the sealed blocks only it names leave this device, as if it had never been written (the
bytes are still wherever they came from, e.g. the desktop). `FilesService.cancel` is the
other choice, which keeps the change as a parked read-only view.

A change a later one builds on (a directory a later write goes into, a file a later rename
moves) is refused (`JournalEntryNeeded`): discarding it would leave the later change with
nothing to apply to. A change whose revision was already signed may be on the server (its
answer lost): it goes only once a verified sync shows that revision did not land. Both run under the uploader's lock, so a batch is
never half uploaded while its rows go away.
"""

from __future__ import annotations

from kbapp.core import errors

from . import own_revs
from .events import FolderChanged

LIVE = ("pending", "failed")


def _related(a: tuple, b: tuple) -> bool:
    """One path is the other or below it."""
    n = min(len(a), len(b))
    return tuple(a[:n]) == tuple(b[:n])


def _touches(row) -> list[tuple]:
    return [tuple(row.path)] + ([tuple(row.dest)] if row.dest is not None else [])


async def retry(files, entry_id: int | None = None) -> dict:
    """Failed entries (all, or the one named) back to pending, and the uploader woken now."""
    journal = await files.open()
    if entry_id is not None:
        row = await journal.get(entry_id)
        if row is None:
            raise errors.NotFound(f"no journal entry {entry_id}")
        if row.state not in LIVE:
            raise errors.Conflict(f"entry {entry_id} is {row.state}: only a pending or failed change is retried")
        ids = [entry_id] if row.state == "failed" else []
    else:
        ids = [r.id for r in await journal.unfinished() if r.state == "failed"]
    if ids:
        await journal.update(ids, state="pending", error=None)
    files.uploader.fails = 0                       # no backoff: the user asked for it now
    if not files.uploader.paused:
        files.uploader.start()
    files._emit_queue()
    return {"retried": ids}


def _delete_row(journal, entry_id: int) -> None:
    with journal.db.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM entries WHERE id = ? AND state IN ('pending', 'failed')", (entry_id,))


async def _not_on_server(files, row) -> None:
    """A revision carrying the row was signed (and maybe posted, its answer lost): discard
    only once the folder's verified revisions show it did not land."""
    try:
        f = await files._folder_of(row.folder)
        await files.fs.sync(f, mine=await own_revs.signed_ids(files.journal, row.folder))   # ours stay ours
        landed = {rv.id for rv in await files.journal.revs(f.folder_id, lo=row.base)}
    except errors.NetworkError as e:
        raise errors.JournalEntryNeeded(f"entry {row.id} may already be on the server and it can't be checked "
                                        f"now ({e}): try again when online") from e
    if row.rev_id in landed:
        raise errors.JournalEntryNeeded(f"entry {row.id} reached the server already: delete the file instead")


async def discard(files, entry_id: int) -> dict:
    """Remove a pending or failed change and the blocks only it names; see the module text."""
    journal = await files.open()
    async with files.uploader.lock:
        row = await journal.get(entry_id)
        if row is None:
            raise errors.NotFound(f"no journal entry {entry_id}")
        if row.state not in LIVE:
            raise errors.Conflict(f"entry {entry_id} is {row.state}: only a pending or failed change can be "
                                  "discarded")
        if row.rev_id:
            await _not_on_server(files, row)
        others = [r for r in await journal.unfinished() if r.id != entry_id]
        later = [r for r in others if r.id > entry_id and r.folder == row.folder
                 and any(_related(a, b) for a in _touches(row) for b in _touches(r))]
        if later:
            raise errors.JournalEntryNeeded(
                f"a later change ({later[0].op} of {'/'.join(later[0].path)}) builds on this one: cancel that "
                "one first")
        await journal.db.run(_delete_row, journal, entry_id)
        pins = getattr(files, "pins", None)     # pins.py: blocks another entry or a write in progress needs
        if pins is not None:
            freed = await pins.release(journal, row.blocks)
        else:
            shared = {b for r in others for b in r.blocks}
            freed = journal.drop_blocks([b for b in row.blocks if b not in shared])
        files.used = max(files.used - freed, 0)
        files._stale()
    files._emit(FolderChanged(row.folder, 0))
    files._emit_queue()
    return {"entry": entry_id, "state": "discarded", "freed": freed}


def _row(r) -> dict:
    return {"id": r.id, "op": r.op, "path": r.folder + "/" + "/".join(r.path),
            "to": None if r.dest is None else r.folder + "/" + "/".join(r.dest), "size": r.size,
            "state": r.state, "error": r.error, "tries": r.tries, "view": r.view}


async def entries(files, recent: int = 50) -> list[dict]:
    """Every change not uploaded (however old: none hides behind newer ones) and the newest
    `recent` uploaded ones, oldest first, as `status()['entries']` has them."""
    journal = await files.open()
    unfinished, _uploaded, newest = await journal.summary(recent)
    rows = {r.id: r for r in newest}
    rows.update({r.id: r for r in unfinished})
    return [_row(rows[i]) for i in sorted(rows)]
