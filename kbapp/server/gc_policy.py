"""The cyclic collector's full passes, kept off the requests' latency.

Why: the server keeps verified chain states in memory (chains.ChainStates: up to 50,000
links, some 8 tracked objects a link: parsed links, their body dicts). A full (generation 2)
pass of CPython's cyclic collector walks every tracked object while it holds the GIL, so
every request in flight waits: 134 ms with one 8,000-link chain cached (`bench server-load`,
where one such pass set the loaded phase's p99), most of a second with the cache full.
CPython starts a full pass once the objects that survived the young passes exceed a
quarter of what the last full pass kept; a post replaces its chain's state (a copy of the
keys and lists on top of the shared links), so under a stream of posts that was every few
seconds, for nothing: the states are acyclic and reference counting frees them.

What: after a long-lived structure grew (a chain state cached), `settle()` moves every
tracked object into the permanent generation (`gc.freeze()`, O(1)), which the young and
full passes skip. Reference counting still frees frozen objects the moment they are
dropped; only reference cycles among them wait, for a full pass that runs when the frozen
population has doubled since the last one, or FULL_EVERY seconds after it (unfreeze,
collect, freeze): its pause is paid once per doubling or ten minutes instead of every few
seconds. The count is of objects, not bytes: the timer bounds how long a frozen cycle
holding a big buffer waits.

Process-wide, so only the standalone server (`kbapp server`, main.serve) turns it on; the
app's embedded server shares its process with Qt and leaves the collector as it is.
"""

from __future__ import annotations

import gc
import threading
import time

CHECK_EVERY = 64      # settles between two counts of the frozen objects (a count walks them all)
REGROW = 2.0          # a full pass once the frozen objects are this many times the last pass's
FULL_EVERY = 600.0    # seconds: a full pass at least this often while states are being kept


class GcPolicy:
    def __init__(self, check_every: int = CHECK_EVERY, regrow: float = REGROW, full_every: float = FULL_EVERY):
        self.check_every, self.regrow, self.full_every = check_every, regrow, full_every
        self._last_full = time.monotonic()
        self.enabled = False
        self.full_passes = 0          # full passes this policy ran: tests read it
        self._settles = 0
        self._base = 0                # frozen objects after the last full pass
        self._lock = threading.Lock()

    def enable(self) -> None:
        """Start: one full pass now (at start-up nothing waits for it), then freeze."""
        with self._lock:
            self.enabled = True
            self._full_pass()

    def disable(self) -> None:
        with self._lock:
            if self.enabled:
                self.enabled = False
                gc.unfreeze()

    def settle(self) -> None:
        """Something long-lived was just kept: freeze it out of the collector's passes."""
        if not self.enabled:
            return
        with self._lock:
            gc.freeze()
            self._settles += 1
            if self._settles % self.check_every == 0 and (
                    time.monotonic() - self._last_full >= self.full_every
                    or gc.get_freeze_count() > self.regrow * max(self._base, 1)):
                self._full_pass()

    def _full_pass(self) -> None:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self._base = gc.get_freeze_count()
        self._last_full = time.monotonic()
        self.full_passes += 1


POLICY = GcPolicy()
