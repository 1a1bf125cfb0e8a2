"""Thread priority for background work (decode workers, the GUI's photo threads).

Without onnxruntime or numpy, so that the GUI can use it at start-up for free.
"""

from __future__ import annotations

import os
import threading


def lower_thread_priority() -> None:
    """Make the calling thread yield the CPU (Linux: per-thread nice 10; elsewhere nothing).

    A thread-pool initializer: decode workers then fill the gaps between onnxruntime's
    threads instead of preempting them mid-batch, and background work in the app leaves
    the GUI thread free (onnxruntime threads started from such a thread inherit it)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass
