"""GUI tests: offscreen Qt, qasync on the Qt thread, real embedded servers.

Qt must see QT_QPA_PLATFORM before it loads, so it is set here at import time.
Async work runs on a qasync loop (the app's own set-up); synchronous tests drive it
with `run(coro)` and `qtbot.waitUntil`, which process Qt events, hence the loop.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["KBAPP_KEYSTORE"] = "memory"
os.environ["KBAPP_THROWAWAY"] = "1"  # the memory keystore is refused without it

import asyncio  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import PySide6.QtWidgets  # noqa: E402,F401 - PySide6 before qasync
import qasync  # noqa: E402

from kbapp.gui import qtfix  # noqa: E402

# Before any test emits a signal: a test that skips the qloop fixture (and so the app's
# set-up) must not meet PySide6 6.12's reference-count bug either (kbapp/gui/qtfix.py).
qtfix.apply()

from gui_support import TIMEOUT_MS, new_profile_with_embedded_server  # noqa: E402

import kbapp.gui.session  # noqa: E402
from kbapp.main import embedded_server  # noqa: E402

# As `kbapp` does (kbapp/main.py): the GUI is handed its way to run a server on this computer.
kbapp.gui.session.server_factory = embedded_server


@pytest.fixture(scope="session")
def _qasync_loop(qapp):
    """One qasync loop for the session. Stopping a qasync loop calls QCoreApplication.exit(),
    after which every nested Qt event loop (qtbot.wait) returns at once: so stop it only at the end."""
    from kbapp.gui.main import setup_application

    setup_application()
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.events._set_running_loop(None)
    yield loop
    asyncio.events._set_running_loop(loop)
    loop.stop()
    asyncio.events._set_running_loop(None)
    loop.close()


@pytest.fixture
def qloop(qapp, _qasync_loop):
    """The qasync loop, marked running for this test only (tests in other folders run
    their own asyncio loops in this process)."""
    from PySide6.QtWidgets import QApplication

    import gc

    from kbapp.gui import gcpolicy

    loop = _qasync_loop
    asyncio.set_event_loop(loop)
    asyncio.events._set_running_loop(loop)
    gcpolicy.collect_on_qt_thread()      # as the app runs: collections on the Qt thread only
    yield loop
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in pending:
        t.cancel()
    for _ in range(20):  # let the cancellations run
        QApplication.processEvents()
        if all(t.done() for t in pending):
            break
    asyncio.events._set_running_loop(None)
    asyncio.set_event_loop(None)
    gc.enable()                          # the tests of other folders in this process collect as usual


@pytest.fixture
def run(qtbot, qloop):
    """Run a coroutine on the Qt-thread loop from a (synchronous) test, waiting with qtbot."""

    def run_(coro, timeout: int = TIMEOUT_MS):
        task = asyncio.ensure_future(coro)
        qtbot.waitUntil(task.done, timeout=timeout)
        return task.result()
    return run_


@pytest.fixture
def make_window(qtbot, qloop, run):
    """A started MainWindow on a profile folder; shut down (profile and server) at the end."""
    from kbapp.gui.session import Session
    from kbapp.gui.window import MainWindow

    windows = []

    def make(home: Path):
        w = MainWindow(Session(home))  # not qtbot.addWidget: it would close it before our shutdown
        w.show()
        windows.append(w)
        run(w.start())
        return w

    yield make
    for w in windows:
        if not w._closed:
            run(w.shutdown())
        w.deleteLater()
    # Delete the windows now, while this test's loop still runs: left to the next test's event
    # processing, their destruction called Python (event filters, slots) in the middle of the
    # next fixture, which is where the suite's segfaults were seen.
    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtWidgets import QApplication
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    QApplication.processEvents()


@pytest.fixture
def alice_window(tmp_path, make_window, run):
    """alice logged in with an embedded server, plus bob on that server; yields (window, url)."""
    url = run(new_profile_with_embedded_server(tmp_path / "alice", "alice", "alice-desktop",
                                               others=[(tmp_path / "bob", "bob", "bob-laptop", True)]))
    w = make_window(tmp_path / "alice")
    return w, url


@pytest.fixture(scope="module")
def fakes():
    """Loopback imitations of the proof services (tests/gui/proof_support.py), one set per module."""
    from proof_support import Fakes

    f = Fakes()
    yield f
    f.stop()
