"""The GUI process and Python's cyclic garbage collector: no full collection mid-scroll.

A full (generation 2) collection walks every tracked object while the Qt thread waits:
with the app's modules and a 10,000-message timeline loaded that is 100,000-140,000
objects, 50-65 ms of CPU, and it came as the single slowest frame of `kbapp bench
chat-gui`'s scroll (gc.callbacks showed the collection inside that very frame). So what
lives long is frozen (gc.freeze: out of every later collection, still freed by its
reference count when dropped): everything alive after start-up (modules, classes, the
theme), then, at the next turn of the loop after a timeline has grown by PER_SETTLE rows,
the rows it loaded. A young collection runs first (cheap) so fresh cyclic garbage is not
frozen with them. Cyclic garbage already old when frozen stays until `thaw()`.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QTimer

PER_SETTLE = 1000            # rows a timeline gains before what it loaded is frozen
COLLECT_MS = 250             # how often the Qt thread runs the collections that are due
_state = {"started": False, "queued": False, "timer": None}


def settle() -> None:
    """Freeze what is alive now (after a young collection): later full collections skip it."""
    _state["queued"] = False
    gc.collect(1)
    gc.freeze()


def settle_soon() -> None:
    """settle() at the next turn of the event loop (once however often asked meanwhile), so
    the load that asked finishes first."""
    if not _state["queued"]:
        _state["queued"] = True
        QTimer.singleShot(0, settle)


def started() -> None:
    """Once per process, after start-up: a full collection (before the window shows), then
    the modules and the app's own objects frozen."""
    if not _state["started"]:
        _state["started"] = True
        gc.collect()
        settle()


def thaw() -> None:
    """Everything frozen back into the collector, and one full collection (slow: an idle
    moment only, e.g. tests checking for leaks)."""
    gc.unfreeze()
    gc.collect()


def collect_on_qt_thread() -> None:
    """The cyclic collector runs on the Qt thread only: automatic collection off, a timer on
    the Qt thread collects the generation that is due (by the usual thresholds).

    Why: a collection runs in whichever thread happens to allocate. In the embedded server's
    thread it collected a PySide object, whose destructor took a Qt mutex and then waited for
    the GIL, while the Qt thread held the GIL waiting for that mutex: the window and the server
    froze for good (caught in CI: a Files page test hung in `QObject::disconnect` on both
    threads). Collected here, Qt objects are destroyed on their own thread."""
    gc.disable()
    if _state["timer"] is None:
        timer = QTimer()
        timer.setInterval(COLLECT_MS)
        timer.timeout.connect(_collect_due)
        timer.start()
        _state["timer"] = timer


def _collect_due() -> None:
    if gc.isenabled():               # (a test or a tool turned automatic collection back on)
        return
    (t0, t1, t2), (c0, c1, c2) = gc.get_threshold(), gc.get_count()
    if c2 > t2:
        gc.collect(2)
    elif c1 > t1:
        gc.collect(1)
    elif c0 > t0:
        gc.collect(0)
