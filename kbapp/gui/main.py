"""`kbapp` with no subcommand: the desktop app.

Qt owns the thread and asyncio runs inside it (qasync), so the facade's coroutines
and the widgets share one loop; the client already sends CPU work (argon2, long
chain checks) to executors. PySide6 is imported before qasync so that qasync
binds to it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

import qasync  # noqa: E402 - after PySide6, on purpose

from . import gcpolicy, qtfix, theme
from .assets import app_icon
from .session import Session
from .window import MainWindow

APP_ID = "io.kbapp.Kbapp"
log = logging.getLogger(__name__)


def setup_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication with kbapp's names, icon and theme (idempotent: tests share one)."""
    qtfix.apply()
    QCoreApplication.setOrganizationName("kbapp")
    QCoreApplication.setOrganizationDomain("kbapp.io")
    QCoreApplication.setApplicationName("kbapp")
    QGuiApplication.setDesktopFileName(APP_ID)
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationDisplayName("kbapp")
    app.setWindowIcon(app_icon())
    if theme.Theme._instance is None:
        theme.Theme(app)
    gcpolicy.started()          # what start-up made is never walked by a full collection again
    gcpolicy.collect_on_qt_thread()     # never in the embedded server's thread (a PySide deadlock)
    return app


def _show_unexpected(exc_type, exc, tb) -> None:
    """Last resort for errors outside `guarded()`: a message box, never a dead window."""
    log.error("unexpected error", exc_info=(exc_type, exc, tb))
    if QApplication.instance() is None:
        return
    box = QMessageBox(QMessageBox.Critical, "kbapp", "Something went wrong.", QMessageBox.Ok)
    box.setTextFormat(Qt.PlainText)
    box.setInformativeText(f"{exc_type.__name__}: {exc}")
    box.setAttribute(Qt.WA_DeleteOnClose)
    box.open()


def run(home: Path | None = None, *, server_factory=None) -> int:
    """The desktop app; `server_factory` makes a profile's own server (kbapp/main.py)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app = setup_application()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    app.setQuitOnLastWindowClosed(False)  # the window quits through its async shutdown
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.excepthook = _show_unexpected

    session = Session(home, server_factory=server_factory)
    window = MainWindow(session)

    async def main() -> None:
        done = asyncio.Event()
        window.closed.connect(done.set)
        window.show()
        await window.start()
        gcpolicy.settle_soon()  # the signed-in session's objects, likewise
        await done.wait()

    with loop:
        loop.run_until_complete(main())
    return 0


if __name__ == "__main__":
    raise SystemExit(run(Path(sys.argv[1]) if len(sys.argv) > 1 else None))   # `kbapp` runs it with a server
