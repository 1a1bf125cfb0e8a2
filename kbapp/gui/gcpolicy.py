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
_state = {"started": False, "queued": False}


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
