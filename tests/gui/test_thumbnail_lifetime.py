"""Thumbnail workers and the life of the cache they work for.

A window closing during thumbnailing deletes its Photos page and the page's
ThumbnailCache while workers are still decoding. A worker that emits a signal
into (or otherwise touches) that QObject can crash the process, so workers must
hold no QObject at all. thumb_churn.py creates and destroys caches (hundreds of
photos each, their parents deleted as a closing window deletes its pages) in a
subprocess: a crash fails the test instead of killing pytest, and the script
reports every worker call that held a QObject.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHURN = Path(__file__).with_name("thumb_churn.py")


def churn(*args: str) -> dict:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-X", "faulthandler", str(CHURN), *args], capture_output=True,
                          text=True, timeout=240, env=env, cwd=ROOT)
    assert proc.returncode == 0, f"the churn crashed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(300)
@pytest.mark.parametrize("how", ["deleted", "closed then deleted"])
def test_caches_die_while_workers_finish(how):
    out = churn("40", "300", *(["close"] if how.startswith("closed") else []))
    assert out["rounds"] == 40
    assert out["holders"] == 0, f"workers held {out['held']} ({out['holders']} calls)"
    assert out["delivered"] > 0, "no thumbnail arrived: the churn tested nothing"


def test_thumbnails_arrive_on_the_gui_thread(qtbot, tmp_path):
    """The queue and timer still deliver: ready on the GUI thread, the pixmap cached, a bad file failed."""
    from PIL import Image
    from PySide6.QtCore import QThread
    from PySide6.QtWidgets import QApplication

    from kbapp.gui.photo_models import ThumbnailCache

    paths = []
    for i in range(5):
        p = tmp_path / f"p{i}.jpg"
        Image.new("RGB", (300, 200), (40 * i, 90, 160)).save(p, "JPEG")
        paths.append(str(p))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    cache = ThumbnailCache(tmp_path / "thumbs")
    threads, failed = [], []
    cache.ready.connect(lambda p, b: threads.append(QThread.currentThread()))
    cache.failed.connect(lambda p, why: failed.append(p))
    for p in paths + [str(bad)]:
        assert cache.get(p, False) is None
    qtbot.waitUntil(lambda: cache.pending() == 0, timeout=20_000)
    assert len(threads) == 5 and all(t is QApplication.instance().thread() for t in threads)
    assert failed == [str(bad)] and cache.failed_reason(str(bad))
    assert all(cache.get(p, False) is not None for p in paths)
    cache.close()
    assert cache.get(str(tmp_path / "new.jpg"), False) is None and cache.pending() == 0
