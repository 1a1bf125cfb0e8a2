"""The generic event bridge: widgets say what they listen to; delivery is on the Qt
thread, follows the event's class, and never reaches a deleted widget."""

from __future__ import annotations

import gc
import threading
from dataclasses import dataclass

from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication, QWidget

from kbapp.client.events import DevicesChanged, Event, EventBus, TeamChanged
from kbapp.client.sync import ConnectionStateChanged
from kbapp.gui.bridge import EventBridge


class Listener(QWidget):
    LISTENS = {DevicesChanged: "on_devices", TeamChanged: "on_team"}

    def __init__(self):
        super().__init__()
        self.got: list[tuple[Event, bool]] = []   # (event, delivered on the Qt thread)

    def _note(self, ev) -> None:
        self.got.append((ev, QThread.currentThread() is QApplication.instance().thread()))

    on_devices = on_team = _note


def _from_worker(bus: EventBus, ev: Event) -> None:
    t = threading.Thread(target=bus.emit, args=(ev,))
    t.start()
    t.join()


def test_worker_thread_event_reaches_widget_on_qt_thread(qtbot, qloop):
    bus = EventBus()
    bridge = EventBridge(bus)
    w = Listener()
    qtbot.addWidget(w)
    bridge.attach(w)
    _from_worker(bus, DevicesChanged("alice"))
    assert w.got == []  # queued, not called on the worker
    qtbot.waitUntil(lambda: len(w.got) == 1)
    ev, on_qt_thread = w.got[0]
    assert ev == DevicesChanged("alice") and on_qt_thread
    # an event it did not declare never arrives
    _from_worker(bus, ConnectionStateChanged("online", 0.0))
    qtbot.wait(50)
    assert len(w.got) == 1


def test_deleted_widget_never_receives(qtbot, qloop):
    bus = EventBus()
    bridge = EventBridge(bus)
    seen: list[Event] = []
    gone = Listener()
    gone.on_devices = lambda ev: seen.append(ev)   # a plain callable owned by the widget
    bridge.listen(DevicesChanged, gone.on_devices, owner=gone)
    bridge.attach(gone)
    kept = Listener()
    qtbot.addWidget(kept)
    bridge.attach(kept)
    # the C++ widget dies (a page closed) while the Python wrapper may still be referenced
    gone.deleteLater()
    qtbot.waitUntil(lambda: not __import__("shiboken6").isValid(gone))
    _from_worker(bus, DevicesChanged("bob"))
    bus.emit(TeamChanged("t", "id", 3))           # and once on the Qt thread itself
    qtbot.waitUntil(lambda: len(kept.got) == 2)
    assert seen == []
    assert [e for e, _ in kept.got] == [DevicesChanged("bob"), TeamChanged("t", "id", 3)]
    assert bridge.listener_count() == 2           # the dead widget's registrations were dropped

    # a Python-only listener collected by the GC is dropped too (bound methods held weakly)
    class Plain:
        def __init__(self):
            self.n = 0

        def hit(self, _ev):
            self.n += 1

    p = Plain()
    bridge.listen(DevicesChanged, p.hit)
    bus.emit(DevicesChanged("x"))
    assert p.n == 1
    del p
    gc.collect()
    bus.emit(DevicesChanged("y"))
    assert bridge.listener_count() == 2


def test_new_event_class_needs_no_bridge_edit(qtbot, qloop):
    """Delivery goes by class: a brand-new event, and its base classes, just work."""

    @dataclass(frozen=True)
    class ChatMessageArrived(Event):
        conversation: str
        text: str

    bus = EventBus()
    bridge = EventBridge(bus)
    w = QWidget()
    qtbot.addWidget(w)
    chat: list[Event] = []
    everything: list[Event] = []
    bridge.listen(ChatMessageArrived, chat.append, owner=w)
    bridge.listen(Event, everything.append, owner=w)
    ev = ChatMessageArrived("c1", "<b>hi</b>")
    _from_worker(bus, ev)
    qtbot.waitUntil(lambda: len(everything) == 1)
    assert chat == [ev] and everything == [ev]


def test_listen_refuses_a_non_event(qtbot, qloop):
    bridge = EventBridge(EventBus())
    try:
        bridge.listen(str, print)
    except TypeError:
        pass
    else:
        raise AssertionError("listen(str) was accepted")
