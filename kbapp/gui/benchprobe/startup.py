"""`kbapp bench gui`'s children: a bare PySide6 window (the start-up baseline) and the app's
main window, started from a prepared profile, timed to its first paint and measured while
identify lookups run on its loop. Prints raw tick gaps; kbapp/bench/gui.py reports."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

TIMER_MS = 5
CONCURRENCY = 8


async def lookups(app, names: list[str], n: int, concurrency: int = CONCURRENCY) -> float:
    """n identify calls over `names`, `concurrency` at a time; returns the seconds taken."""
    todo = iter(range(n))

    async def worker() -> None:
        for i in todo:
            await app.identify(names[i % len(names)])

    t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t


def _first_paint_filter(store: dict):
    from PySide6.QtCore import QEvent, QObject

    class FirstPaint(QObject):
        def eventFilter(self, obj, ev):
            if "t" not in store and ev.type() == QEvent.Paint:
                store["t"] = time.time()
            return False
    return FirstPaint()


async def _until(cond, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError("the window did not get there")
        await asyncio.sleep(0.005)


def bare(cfg: dict) -> dict:
    """Baseline: interpreter + PySide6 + an empty window."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    app = QApplication([])
    painted: dict = {}
    f = _first_paint_filter(painted)
    app.installEventFilter(f)
    w = QMainWindow()
    w.resize(1120, 740)
    w.show()

    def check():
        if "t" in painted:
            app.quit()
        else:
            QTimer.singleShot(1, check)
    QTimer.singleShot(0, check)
    app.exec()  # a separate, synchronous process: no asyncio here
    return {"shown_s": painted["t"] - cfg["t0"]}


def window(cfg: dict) -> dict:
    """The app's window: start-up times, then tick gaps idle and while lookups run."""
    import PySide6
    import qasync
    from PySide6.QtCore import qVersion
    from PySide6.QtGui import QGuiApplication

    from kbapp.gui.benchprobe.loopmeter import gaps_during
    from kbapp.gui.main import setup_application
    from kbapp.gui.session import Session
    from kbapp.gui.window import MainWindow

    t_imported = time.time()
    app = setup_application([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    painted: dict = {}
    f = _first_paint_filter(painted)
    app.installEventFilter(f)
    win = MainWindow(Session(Path(cfg["home"])))

    async def main() -> dict:
        win.show()
        await win.start()
        t_ready = time.time()
        await _until(lambda: "t" in painted)
        if win.shell is None:
            raise RuntimeError("the bench profile did not open to the shell")
        await _until(lambda: win.shell.devices.loaded)  # its own start-up lookup is done
        out = {"shown_s": painted["t"] - cfg["t0"], "ready_s": t_ready - cfg["t0"],
               "imports_s": t_imported - cfg["t0"], "platform": QGuiApplication.platformName(),
               "qt": qVersion(), "pyside6": PySide6.__version__}
        if cfg["lookups"]:
            out["idle_gaps"], _, _ = await gaps_during(asyncio.sleep(cfg["idle_s"]), TIMER_MS)
            app_ = win.session.app
            for name in cfg["names"]:  # first sight of each user, outside the measurement
                await app_.identify(name)
            gaps, _, took = await gaps_during(lookups(app_, cfg["names"], cfg["lookups"]), TIMER_MS)
            out["busy_gaps"], out["lookups_s"] = gaps, took
        await win.shutdown()
        return out

    with loop:
        return loop.run_until_complete(main())


if __name__ == "__main__":
    mode, raw = sys.argv[1], sys.argv[2]
    config = json.loads(raw)
    result = bare(config) if mode == "--bare" else window(config)
    print(json.dumps(result), flush=True)
