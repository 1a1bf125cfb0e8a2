"""`kbapp bench photos-gui`'s child: the Photos page in a window, with the status bar's
progress line, idle and then while the real PhotoService indexes a folder (tag + NSFW
models) and the page refreshes its grid and makes thumbnails. Prints the raw tick gaps
(and when each came); kbapp/bench/photos_gui.py computes the stalls and reports."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

TIMER_MS = 10


def run_child(cfg: dict) -> dict:
    import gc

    from PySide6.QtCore import qVersion
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QMainWindow

    from kbapp.gui.benchprobe.loopmeter import gaps_during

    import qasync

    from kbapp.gui.main import setup_application
    from kbapp.gui.pages.photos import IndexStatus, PhotosPage, ml_status_text
    from kbapp.gui.photo_service import DictPrefs, PhotoService

    app = setup_application([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    service = PhotoService(Path(cfg["home"]), DictPrefs(), watch_interval=0)   # one pass, no watcher
    window = QMainWindow()
    page = PhotosPage(service)
    window.setCentralWidget(page)
    status = IndexStatus(service)
    window.statusBar().addPermanentWidget(status)
    window.resize(1180, 760)

    async def measure(work) -> tuple[list, float]:
        gaps, at, took = await gaps_during(work, TIMER_MS)
        return [gaps, at], took

    async def main() -> dict:
        window.show()
        page.shown()
        provider = await service.load_provider()        # models load before the measurement
        window.statusBar().showMessage(ml_status_text(provider)[0])
        await asyncio.sleep(0.3)
        gc.freeze()                                       # what MainWindow.start does
        idle, _ = await measure(asyncio.sleep(cfg["idle_s"]))
        done = asyncio.get_running_loop().create_future()
        service.indexFinished.connect(lambda s: done.done() or done.set_result(s))
        service.indexFailed.connect(lambda why: done.done() or done.set_exception(RuntimeError(why)))

        async def index_and_show():
            t0 = time.perf_counter()
            service.add_folder(cfg["folder"])
            summary = await done
            took = time.perf_counter() - t0
            # the page's refresh after the pass, and the thumbnails of the first screen
            await page._search_task if page._search_task else None
            end = time.monotonic() + 30
            while (page.model.rowCount() == 0 or page.thumbs.pending()) and time.monotonic() < end:
                await asyncio.sleep(0.05)
            return summary, took

        box: dict = {}

        async def work():
            box["summary"], box["index_s"] = await index_and_show()
        busy, _ = await measure(work())
        await service.stop()
        await page.shutdown()
        await service.close()
        return {"idle": idle, "busy": busy, "indexed": box["summary"].indexed, "index_s": box["index_s"],
                "rows": page.model.rowCount(), "thumbnails": page.thumbs.made, "provider": provider,
                "platform": QGuiApplication.platformName(), "qt": qVersion()}

    with loop:
        return loop.run_until_complete(main())


if __name__ == "__main__":
    print(json.dumps(run_child(json.loads(sys.argv[1]))), flush=True)
