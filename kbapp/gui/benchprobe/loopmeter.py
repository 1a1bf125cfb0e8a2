"""How long the GUI thread's event loop was busy: a precise QTimer records the gaps
between its ticks while some work runs (what `kbapp bench gui|photos-gui` measure)."""

from __future__ import annotations

import time
from typing import Awaitable

from PySide6.QtCore import Qt, QTimer


async def gaps_during(work: Awaitable, interval_ms: int) -> tuple[list[float], list[float], float]:
    """(gaps between ticks in s, when each tick came in s from the start, seconds `work` took)."""
    gaps: list[float] = []
    at: list[float] = []
    t_start = time.perf_counter()
    last = [t_start]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        at.append(now - t_start)
        last[0] = now

    timer = QTimer()
    timer.setTimerType(Qt.PreciseTimer)
    timer.setInterval(interval_ms)
    timer.timeout.connect(tick)
    timer.start()
    try:
        t = time.perf_counter()
        await work
        return gaps, at, time.perf_counter() - t
    finally:
        timer.stop()
