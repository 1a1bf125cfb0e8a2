"""The cyclic collector runs on the Qt thread only (kbapp/gui/gcpolicy.py): a collection in
the embedded server's thread destroyed a PySide object there and deadlocked the window and
the server (a Qt mutex against the GIL; a CI hang)."""

from __future__ import annotations

import gc
import threading
import weakref


def test_cycles_are_collected_by_the_qt_thread_not_where_they_were_made(qtbot, qloop):
    assert not gc.isenabled()                         # no automatic collection in any thread
    where: list[bool] = []

    class Node:
        pass

    def make_garbage() -> None:                       # cyclic garbage made in another thread
        for _ in range(2000):
            n = Node()
            n.me = n
        last = Node()
        last.me = last
        weakref.finalize(last, lambda: where.append(threading.current_thread() is threading.main_thread()))

    t = threading.Thread(target=make_garbage)
    t.start()
    t.join()
    assert where == []                                # nothing collected there
    qtbot.waitUntil(lambda: where != [], timeout=5000)
    assert where == [True]                            # collected by the Qt thread's timer
