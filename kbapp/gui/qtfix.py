"""A work-around for reference-count bugs of PySide6 6.12 on Python < 3.12.

The 6.12 wheels (abi3, built for 3.10+) hand back `None`, `True` and `False`
without taking a reference, as if they were immortal, which they are only from
Python 3.12 on. On 3.11 every void method call (`setObjectName`, `processEvents`),
every Python override that returns None (`paintEvent`), and every `emit()` (which
returns True) leaves one of these objects a reference short, until CPython frees
it and aborts ("none_dealloc: deallocating None" / "bool_dealloc"): in this app,
after a few thousand identity lookups. qasync's own emits count too.

`apply()` checks for the bug with two probes and, only where it shows, makes
None, True and False effectively immortal by adding 2**40 to their reference
counts, which is what Python 3.12 does for them. They are never meant to be
freed, so nothing else changes. Drop this module once PySide6 is fixed.
"""

from __future__ import annotations

import ctypes
import platform
import sys

SINGLETONS = (None, True, False)
_applied = False


def leaks() -> dict[str, bool]:
    """Which singletons one round of PySide6 calls leaves short of a reference."""
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    before = {repr(o): sys.getrefcount(o) for o in SINGLETONS}
    for _ in range(8):
        probe.setObjectName("probe")  # returns None
        probe.ping.emit()             # returns True
    return {repr(o): sys.getrefcount(o) < before[repr(o)] for o in SINGLETONS}


def apply() -> bool:
    """Returns True when the work-around was needed (and is now in place)."""
    global _applied
    if _applied:
        return True
    if platform.python_implementation() != "CPython" or sys.version_info >= (3, 12):
        return False
    if not any(leaks().values()):
        return False
    for obj in SINGLETONS:
        ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40  # ob_refcnt: PyObject's first field
    _applied = True
    return True
