"""The one place where the facade's typed events reach widgets.

Widgets say what they listen to, by event class: `bridge.listen(DevicesChanged,
self.on_devices_changed, owner=self)` or a class attribute `LISTENS = {DevicesChanged:
"on_devices_changed"}` and `bridge.attach(self)`. Delivery follows the event's class
hierarchy (listening to `Event` hears everything), so a new event class needs no
edit here.

`App.events` may call us from any thread: events wait in one FIFO and a Qt signal,
queued by Qt to the Qt thread, wakes the delivery there (on the Qt thread itself they
are delivered at once, in order). Listeners are held weakly: a widget that was
deleted, in Python or in C++, is dropped and never called.
"""

from __future__ import annotations

import logging
import weakref
from collections import deque
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QObject, QThread, Signal

from kbapp.client.events import Event

log = logging.getLogger(__name__)


class _Listener:
    """One registration: the callback held weakly when it is a bound method, and the owner
    (whose death ends the registration) held weakly too."""

    __slots__ = ("_func", "_owner")

    def __init__(self, callback: Callable, owner: object | None):
        if owner is None and hasattr(callback, "__self__"):
            owner = callback.__self__
        if hasattr(callback, "__self__") and hasattr(callback, "__func__"):
            self._func = weakref.WeakMethod(callback)
        else:
            # a plain function or lambda: kept strongly, but only as long as its owner lives
            self._func = lambda f=callback: f
        self._owner = weakref.ref(owner) if owner is not None else None

    def target(self) -> Callable | None:
        """The callable, or None once the owner (or the method's object) is gone."""
        if self._owner is not None:
            owner = self._owner()
            if owner is None:
                return None
            if isinstance(owner, QObject) and not shiboken6.isValid(owner):
                return None  # the C++ side was deleted (deleteLater, a closed page)
        return self._func()


class EventBridge(QObject):
    delivered = Signal(object)   # every event, on the Qt thread (logs and tests)
    _arrived = Signal(object)    # internal: a worker thread emitted; wakes _drain on ours

    def __init__(self, events, parent: QObject | None = None):
        super().__init__(parent)
        self._listeners: dict[type, list[_Listener]] = {}
        self._pending: deque[Event] = deque()
        self._arrived.connect(self._drain)
        events.on(self._dispatch)

    # -- registering ----------------------------------------------------------------------

    def listen(self, event_type: type[Event], callback: Callable[[Event], None], *,
               owner: object | None = None) -> None:
        """Call `callback(event)` on the Qt thread for each event of `event_type` (or a
        subclass) while `owner` (default: the bound method's object) is alive."""
        if not (isinstance(event_type, type) and issubclass(event_type, Event)):
            raise TypeError(f"listen() wants an Event class, not {event_type!r}")
        self._listeners.setdefault(event_type, []).append(_Listener(callback, owner))

    def attach(self, widget: object) -> None:
        """Register what `widget`'s class declares in `LISTENS` ({EventClass: "method name"})."""
        for cls in reversed(type(widget).__mro__):
            for event_type, name in vars(cls).get("LISTENS", {}).items():
                self.listen(event_type, getattr(widget, name), owner=widget)

    def listener_count(self) -> int:
        return sum(len(v) for v in self._listeners.values())

    # -- delivering -----------------------------------------------------------------------

    def _dispatch(self, ev: Event) -> None:
        """Any thread. Events wait in one FIFO, so one emitted on the Qt thread never
        overtakes one a worker emitted before it; on the Qt thread the queue is drained at
        once (the page that caused an event sees it before its own work returns)."""
        self._pending.append(ev)
        try:
            if QThread.currentThread() is self.thread():
                self._drain()
            else:
                self._arrived.emit(None)   # queued to our thread: wakes _drain there
        except RuntimeError:  # the bridge itself was deleted (window closed): stop quietly
            pass

    def _drain(self, _wake=None) -> None:
        while True:
            try:
                ev = self._pending.popleft()
            except IndexError:
                return
            self._deliver(ev)

    def _deliver(self, ev: Event) -> None:
        for cls in type(ev).__mro__:
            entries = self._listeners.get(cls)
            if not entries:
                continue
            for entry in list(entries):
                fn = entry.target()
                if fn is None:
                    entries.remove(entry)
                    continue
                try:
                    fn(ev)
                except Exception:  # noqa: BLE001 - one listener's bug must not starve the others
                    if entry.target() is None:  # its widget died during the call
                        entries.remove(entry)
                    else:
                        log.exception("listener for %s failed", type(ev).__name__)
        self.delivered.emit(ev)
