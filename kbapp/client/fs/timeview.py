"""What `--time T` shows: a revision's time is its writer's claim, so it is clamped to history.

A revision's `ctime` is the writer's clock, signed by the writer, never checked by anyone
(the server's clock is not trusted and nothing a reader verifies names it). A writer with a
wrong or lying clock could otherwise make "as of T" skip revisions or pull a later change
into an earlier view. So a revision counts as made at the latest time claimed by it or by
any revision before it, and `--time T` shows the newest revision all of whose predecessors
claim T or earlier: always a prefix of the verified history, never a mix. What remains
(docs/threat-model.md "Folder engine correctness"): a writer's claim in the future hides
that revision and the ones after it from views of earlier times, never from `--rev` or
`history`; the times shown are claims.
"""

from __future__ import annotations


def rev_at_time(revs, t: int):
    """The newest of `revs` (verified, oldest first, each with `.ctime`) whose clamped time is
    at most `t`; None before the first."""
    best, latest = None, None
    for r in revs:
        latest = r.ctime if latest is None else max(latest, r.ctime)
        if latest > t:
            break
        best = r
    return best
