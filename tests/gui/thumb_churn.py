"""Run as a script (tests/gui/test_thumbnail_lifetime.py starts it in a subprocess, so that
a segmentation fault fails the test instead of killing pytest).

Creates and destroys thumbnail caches, and the parents that own them, while their
worker threads are busy finishing thumbnails: the way a window closing during
thumbnailing destroys its Photos page. `make_thumbnail` is replaced by a hook that
returns a real JPEG after a short random delay (half the workers wait for the moment
the cache dies), so hundreds of workers finish around it. The hook also looks at the
worker's own stack: a QObject reachable from it (the cache as `self`, a bound method
of it in the executor's work item) is one the worker will touch after the hook
returns, whether or not it is still alive. Prints one JSON line: rounds run,
thumbnails delivered, and `holders`: how many worker calls held a QObject.

    python thumb_churn.py ROUNDS PHOTOS [close]

`close`: each round calls `cache.close()` first, as `PhotosPage.shutdown` does.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication, QEventLoop  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from PySide6.QtCore import QObject  # noqa: E402

from kbapp.gui import photo_models, qtfix  # noqa: E402


def qobjects_on_this_stack() -> list[str]:
    """QObjects the calling worker holds: frame locals, bound methods and the executor's work item."""
    found = []
    f = sys._getframe(2)
    while f is not None:
        for v in list(f.f_locals.values()):
            fn = getattr(v, "fn", None)
            args = getattr(v, "args", None)
            candidates = [v, getattr(v, "__self__", None), fn, getattr(fn, "__self__", None)]
            candidates += list(args) if isinstance(args, tuple) else []
            found += [type(x).__name__ for x in candidates if isinstance(x, QObject)]
        f = f.f_back
    return found


def jpeg() -> bytes:
    import io

    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(buf, "JPEG")
    return buf.getvalue()


def main() -> int:
    rounds, photos = int(sys.argv[1]), int(sys.argv[2])
    close_first = "close" in sys.argv[3:]
    app = QApplication.instance() or QApplication([])
    qtfix.apply()   # as the app does (setup_application): PySide6 6.12 refcount work-around
    data = jpeg()

    go = threading.Event()
    holders: list[str] = []

    def slow_thumbnail(path, cache_dir, *, blurred):
        """Half the workers finish at random times, half wait for the cache's last moment."""
        held = qobjects_on_this_stack()
        if held:
            holders.append(held[0])
        if random.random() < 0.5:
            go.wait(0.2)
        else:
            time.sleep(random.random() * 0.004)
        return "0" * 64, data

    photo_models.make_thumbnail = slow_thumbnail
    delivered = 0
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            parent = QWidget()
            cache = photo_models.ThumbnailCache(Path(tmp), workers=8, parent=parent)
            got = []
            cache.ready.connect(lambda p, b: got.append(p))
            for i in range(photos):
                cache.get(f"/photos/{r}/{i}.jpg", False)
            deadline = time.monotonic() + random.random() * 0.02
            while time.monotonic() < deadline:
                app.processEvents(QEventLoop.AllEvents, 2)
            delivered += len(got)
            if close_first:
                cache.close()
            parent.deleteLater()          # what closing the window does to its pages
            go.set()                      # the waiting workers finish now...
            QCoreApplication.sendPostedEvents(None, 0)   # ...while the cache dies (DeferredDelete)
            go.clear()
            app.processEvents()
            del cache, parent
    # workers still finishing after the last cache died
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        app.processEvents(QEventLoop.AllEvents, 10)
    print(json.dumps({"rounds": rounds, "delivered": delivered, "holders": len(holders),
                      "held": sorted(set(holders))}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
