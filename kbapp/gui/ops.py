"""One way to run a signed operation (or any facade call) from a widget.

`ops.run(widget, lambda: app.lookup(name), busy=page.busy, banner=page.banner,
key="lookup", on_done=page.show)` starts the work on the Qt thread's loop and
returns its task. While it runs: the busy bar is on, `disable` is greyed out, the
cursor is busy and `status` (if given) is in the window's status bar. Errors are shown
in words on the banner (widgets.explain: plain text), or handed to `on_error`; the banner is
cleared first unless `clear=False` (a background reload keeps what it says).

Stale results are ignored: a newer call for the same (widget, key) supersedes the older
one, whose result and error are dropped (People lookups typed quickly); so is any
result whose widget was deleted meanwhile. The work itself is not cancelled: a signed
operation half done must finish, its outcome is simply no longer shown.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QApplication, QMainWindow, QWidget

from kbapp.core import errors

log = logging.getLogger(__name__)

_counter = itertools.count(1)
# (id(widget), key) -> the newest call's ticket, while it runs
_latest: dict[tuple[int, Any], int] = {}


@dataclass(frozen=True)
class Outcome:
    ok: bool
    value: Any = None              # the result, or the error when not ok
    stale: bool = False            # superseded, or its widget died: nothing was shown


def alive(obj: object) -> bool:
    """The Qt object still exists on the C++ side (a closed page's widgets do not)."""
    return obj is not None and (not isinstance(obj, QObject) or shiboken6.isValid(obj))


def run(widget: QWidget, work: Callable[[], Awaitable], *, key: Any = None, busy=None, banner=None,
        disable: Iterable[QWidget] = (), status: str | None = None, cursor: bool = True, clear: bool = True,
        subject: str | None = None, on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None) -> asyncio.Task:
    """Start `work()` (a coroutine factory) for `widget`; returns the task (await it for the Outcome)."""
    if not callable(work):
        raise TypeError("ops.run wants a coroutine factory (lambda: app.call(...)), not a coroutine")
    token = (id(widget), key)
    ticket = next(_counter)
    _latest[token] = ticket
    return asyncio.ensure_future(_run(widget, work, token, ticket, busy=busy, banner=banner,
                                      disable=list(disable), status=status, cursor=cursor, clear=clear,
                                      subject=subject, on_done=on_done, on_error=on_error))


def supersede(widget: QWidget, key: Any = None) -> None:
    """Whatever a running call for (widget, key) brings is no longer wanted (the input changed
    to something that needs no call, a Cancel): it will be dropped as stale."""
    _latest.pop((id(widget), key), None)


async def _run(widget, work, token, ticket, *, busy, banner, disable, status, cursor, clear, subject, on_done,
               on_error) -> Outcome:
    greyed = [(w, w.isEnabled()) for w in disable if alive(w)]
    for w, _ in greyed:
        w.setEnabled(False)
    if banner is not None and clear and alive(banner):
        banner.clear()   # a background reload (clear=False) keeps what the banner says
    if busy is not None and alive(busy):
        busy.start()
    if cursor:
        QApplication.setOverrideCursor(Qt.BusyCursor)
    bar = _status_bar(widget) if status else None
    if bar is not None:
        bar.showMessage(status)
    try:
        value = await work()
        ok = True
    except asyncio.CancelledError:
        raise
    except Exception as e:  # noqa: BLE001 - shown to the user in words, never a traceback
        if not isinstance(e, errors.KbappError):
            log.exception("unexpected error")
        value, ok = e, False
    finally:
        if cursor:
            QApplication.restoreOverrideCursor()
        if busy is not None and alive(busy):
            busy.stop()
        if bar is not None and alive(bar) and bar.currentMessage() == status:
            bar.clearMessage()
        for w, was in greyed:
            if alive(w):
                w.setEnabled(was)
    if _latest.get(token) != ticket:
        return Outcome(ok, value, stale=True)  # a newer call owns the widget now
    del _latest[token]
    if not alive(widget):
        return Outcome(ok, value, stale=True)  # the page was closed meanwhile
    if ok:
        if on_done is not None:
            on_done(value)
    elif on_error is not None:
        on_error(value)
    elif banner is not None and alive(banner):
        banner.show_error(value, subject)
    return Outcome(ok, value)


def _status_bar(widget):
    win = widget.window() if alive(widget) else None
    return win.statusBar() if isinstance(win, QMainWindow) else None
