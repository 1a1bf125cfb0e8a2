"""`kbapp bench files-gui`'s child: the real window on a prepared profile, on the Files page:
idle, then a directory dropped onto the open folder until everything is uploaded, then a
big directory opened (click to first paint with every row, and the same rows handed to the
same model and view). Prints the raw tick gaps and times; kbapp/bench/files_gui.py reports."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

TIMER_MS = 5


async def _until(cond, timeout: float = 1800.0, state=None) -> None:
    deadline = time.monotonic() + timeout
    next_note = time.monotonic() + 30
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out" + (f": {state()}" if state else ""))
        if state is not None and time.monotonic() > next_note:
            _say(f"still waiting: {state()}")
            next_note = time.monotonic() + 30
        await asyncio.sleep(0.01)


def _say(msg: str) -> None:
    print(f"[files-gui child {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _painted_filter():
    """An event filter that notes when the list's viewport first paints with every row in it."""
    from PySide6.QtCore import QEvent, QObject

    class Painted(QObject):
        def __init__(self):
            super().__init__()
            self.at: float | None = None
            self.want = 0
            self.model = None

        def eventFilter(self, obj, ev):
            if ev.type() == QEvent.Paint and self.at is None and self.model.rowCount() >= self.want > 0:
                self.at = time.perf_counter()
            return False
    return Painted()


async def _open_big(page, painter, folder: str, entries: int) -> dict:
    """Open the big directory: from the click to the first paint with every row; then the
    baseline, the same rows handed straight to the same model and view."""
    out = {}
    painter.want, painter.model = entries, page.model
    page.list.viewport().installEventFilter(painter)
    try:
        t0 = time.perf_counter()
        page.open_dir(folder, ("big",))
        await _until(lambda: painter.at is not None or page.banner.isVisible(), 600)
        if painter.at is None:
            raise RuntimeError(f"the big directory did not open: {page.banner.title.text()} "
                               f"{page.banner.message.text()}")
        _say("opened")
        out["open_ms"] = round((painter.at - t0) * 1000, 1)
        out["rows"] = page.model.rowCount()
        rows = list(page.model.rows)
        page.model.set_rows([])
        await asyncio.sleep(0.05)            # the emptied view painted (no nested event processing in a task)
        painter.at = None
        t0 = time.perf_counter()
        page.model.set_rows(rows)
        await _until(lambda: painter.at is not None, 600)
        out["open_base_ms"] = round((painter.at - t0) * 1000, 1)
    finally:
        page.list.viewport().removeEventFilter(painter)
    return out


def run_child(cfg: dict) -> dict:
    import qasync
    from PySide6.QtGui import QGuiApplication

    from kbapp.gui.benchprobe.loopmeter import gaps_during
    from kbapp.gui.main import setup_application
    from kbapp.gui.session import Session
    from kbapp.gui.window import MainWindow

    folder = cfg["folder"]
    app = setup_application([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window = MainWindow(Session(Path(cfg["home"])))

    async def main() -> dict:
        nonlocal page
        window.resize(1200, 800)
        window.show()
        await window.start()
        if window.shell is None:
            raise RuntimeError("the bench profile did not open to the shell")
        window.shell.go("files")
        page = window.shell.files
        await _until(lambda: page.folder_model.rowCount() > 0)
        page.select_folder(folder)
        _say("window up; opening the folder")
        await _until(lambda: page.folder == folder and not page.busy.isVisible() and page.model.rowCount() > 0,
                     300, lambda: (page.folder, page.busy.isVisible(), page.model.rowCount(),
                                   page.banner.title.text(), page.banner.message.text()))
        gaps, _, _ = await gaps_during(asyncio.sleep(1.0), TIMER_MS)
        out = {"idle": gaps, "platform": QGuiApplication.platformName()}

        async def drop() -> None:
            _say("dropping")
            page.queue_paths([Path(cfg["src"])], folder)
            await _until(lambda: page.queue.model.rowCount() > 0)
            await _until(lambda: not page.queue.busy)
            _say("journalled; uploading")
            await page.app.files.sync(timeout=1800)
            _say("uploaded")

        gaps, at, took = await gaps_during(drop(), TIMER_MS)
        out["drop"], out["drop_s"] = [gaps, at], round(took, 2)

        out.update(await _open_big(page, _painted_filter(), folder, cfg["entries"]))
        await window.shutdown()
        return out

    page = None
    with loop:
        return loop.run_until_complete(main())


if __name__ == "__main__":
    print(json.dumps(run_child(json.loads(sys.argv[1]))), flush=True)
