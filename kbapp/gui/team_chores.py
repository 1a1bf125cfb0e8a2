"""The housekeeper's passes, asked for by the GUI: a read never does them (client/housekeeper.py).

Over every team after login, each time the Teams page opens and after a push resync
(hints were lost); over one team when a push hint names it with a kind that may make
a chore due (a link: someone left; a join request; an accepted invite). Each runs
through ops.run on the Teams page (its busy bar, no busy cursor), in the background,
so the window never waits. A failure is logged, not shown: the page's own load says
what is wrong with a team. What a pass posts comes back as TeamChanged /
TeamKeyRotated; when it did something, `changed()` is called (the page reloads).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from kbapp.client.sync import PushHint, PushResync

from . import ops

CHORE_HINTS = frozenset({"chain", "request", "acceptance"})   # push hint kinds that may make a chore due
log = logging.getLogger(__name__)


class TeamChores:
    def __init__(self, page, app, bridge, changed: Callable[[], None]):
        self.page, self.app, self.changed = page, app, changed
        self.closed = False
        self.last: asyncio.Task | None = None    # the newest pass over every team
        self._running: set[asyncio.Task] = set()
        bridge.listen(PushHint, self._hint, owner=page)
        bridge.listen(PushResync, self._resync, owner=page)

    def run_all(self) -> asyncio.Task | None:
        """The pass over every team we are in or administer (a newer one supersedes its outcome)."""
        if self.closed:
            return None
        self.last = self._run(self.app.housekeeper.run_once, "chores", self._done)
        return self.last

    def _hint(self, ev: PushHint) -> None:
        kind, _, ident = ev.topic.partition(":")
        if kind == "team" and ev.kind in CHORE_HINTS and not self.closed:
            self._run(lambda: self.app.housekeeper.team(ident), ("chores", ident), lambda got: self._done(got[1]))

    def _resync(self, _ev: PushResync) -> None:
        self.run_all()

    def _run(self, work, key, on_done) -> asyncio.Task:
        task = ops.run(self.page, work, key=key, busy=self.page.busy, cursor=False, on_done=on_done,
                       on_error=lambda e: log.info("team chores (%s): %s", key, e))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    def _done(self, done) -> None:
        if done:
            self.changed()

    def close(self) -> None:
        """The profile is closing under them: passes still running stop (the next start runs them)."""
        self.closed = True
        for task in list(self._running):
            task.cancel()
