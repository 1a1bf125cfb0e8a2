"""Removing a moved source across folders only if it is still what was copied.

A move across folders copies each file, then removes the source (transfers.py). Copying
5,000 files takes minutes, and meanwhile another writer (or this user, in another window
or the CLI) may add a file to the source directory or change one already copied: a
recursive remove of the source would then drop from the folder something no copy holds.
So the plan records each item's listing (`sig`), and before the remove the source tree
is listed again: any item added, gone or changed keeps the whole source in place (a copy
more, never a loss) and the page says which.
"""

from __future__ import annotations

from kbapp.core import errors


def sig(row: dict) -> tuple:
    """What identifies an item's content in a listing: a directory by its kind only (its
    children are compared one by one), a file by its size, time and writer."""
    if row.get("type") == "dir":
        return ("dir",)
    return (row.get("type"), int(row.get("size") or 0), row.get("mtime"), row.get("writer"))


async def tree_now(files, src: str) -> dict[str, tuple]:
    """{path: sig} of `src` and everything below it, as the folder shows it now."""
    out: dict[str, tuple] = {}
    todo = [(src, await files.stat(src))]
    while todo:
        p, row = todo.pop()
        out[p] = sig(row)
        if row.get("type") == "dir":
            todo += [(f"{p}/{k['name']}", k) for k in await files.ls(p)]
    return out


async def check_unchanged(files, move) -> None:
    """MoveRefused naming the first item added, removed or changed below `move.src` since
    the move was planned; nothing when the source is exactly what was copied."""
    planned = {t.origin: t.seen for t in move.items}
    try:
        now = await tree_now(files, move.src)
    except errors.NotFound:
        raise errors.MoveRefused("it is no longer there") from None
    diff = sorted(p for p in planned.keys() | now.keys() if planned.get(p) != now.get(p))
    if diff:
        what = "added" if diff[0] not in planned else "removed" if diff[0] not in now else "changed"
        more = f" (and {len(diff) - 1} more)" if len(diff) > 1 else ""
        raise errors.MoveRefused(f"{diff[0]} was {what} while it was being moved{more}; the source stays, "
                                 "check the copy")
