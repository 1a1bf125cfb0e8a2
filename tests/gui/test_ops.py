"""ops.run: busy while a signed operation runs, errors in words, stale results ignored."""

from __future__ import annotations

import asyncio

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMainWindow, QPushButton, QVBoxLayout, QWidget

from kbapp.core import errors
from kbapp.gui import ops
from kbapp.gui.widgets import Banner, BusyBar


class Page(QWidget):
    def __init__(self):
        super().__init__()
        lay = QVBoxLayout(self)
        self.banner, self.busy, self.button = Banner(), BusyBar(), QPushButton("Go")
        for w in (self.banner, self.busy, self.button):
            lay.addWidget(w)
        self.done: list = []


def _window(qtbot):
    win = QMainWindow()
    page = Page()
    win.setCentralWidget(page)
    qtbot.addWidget(win)
    win.show()
    return win, page


def test_busy_shown_then_cleared(qtbot, qloop, run):
    win, page = _window(qtbot)
    gate = asyncio.Event()

    async def work():
        await gate.wait()
        return 42

    task = ops.run(page, work, busy=page.busy, banner=page.banner, disable=[page.button],
                   status="Signing…", on_done=page.done.append)
    qtbot.waitUntil(lambda: page.busy.busy)
    assert not page.button.isEnabled()
    assert win.statusBar().currentMessage() == "Signing…"
    assert QGuiApplication.overrideCursor() is not None
    gate.set()
    out = run(task)
    assert out == ops.Outcome(True, 42) and page.done == [42]
    assert not page.busy.busy and page.button.isEnabled()
    assert win.statusBar().currentMessage() == ""
    assert QGuiApplication.overrideCursor() is None
    assert not page.banner.isVisible()


def test_typed_error_shown_in_words(qtbot, qloop, run):
    _win, page = _window(qtbot)

    async def work():
        raise errors.NotFound("no user <b>mallory</b>")

    out = run(ops.run(page, work, busy=page.busy, banner=page.banner, disable=[page.button],
                      on_done=page.done.append))
    assert not out.ok and isinstance(out.value, errors.NotFound) and page.done == []
    assert page.banner.isVisible()
    assert page.banner.title.text() == "Not found"
    assert page.banner.message.text() == "no user <b>mallory</b>"   # the words, as plain text
    assert not page.busy.busy and page.button.isEnabled()
    # an unexpected error is shown in words too, never raised at the caller
    out = run(ops.run(page, lambda: _boom(), banner=page.banner))
    assert not out.ok and page.banner.title.text() == "Something went wrong"
    # on_error replaces the banner when the caller says how to show it
    seen = []
    page.banner.clear()
    run(ops.run(page, work, banner=page.banner, on_error=seen.append))
    assert len(seen) == 1 and not page.banner.isVisible()


async def _boom():
    raise ValueError("bad state")


def test_stale_result_ignored(qtbot, qloop, run):
    """Typed quickly: 'bo' then 'bob'. 'bo' answers last; what shows is 'bob'."""
    _win, page = _window(qtbot)
    gates = {"bo": asyncio.Event(), "bob": asyncio.Event()}

    def lookup(name):
        async def work():
            await gates[name].wait()
            if name == "bo":
                raise errors.NotFound("bo")
            return name
        return work

    first = ops.run(page, lookup("bo"), key="lookup", busy=page.busy, banner=page.banner, on_done=page.done.append)
    second = ops.run(page, lookup("bob"), key="lookup", busy=page.busy, banner=page.banner,
                     on_done=page.done.append)
    other = ops.run(page, lookup("bob"), key="another", on_done=page.done.append)  # another key: not superseded
    gates["bob"].set()
    assert run(second) == ops.Outcome(True, "bob")
    assert run(other) == ops.Outcome(True, "bob")
    assert page.busy.busy            # 'bo' is still running
    gates["bo"].set()
    out = run(first)
    assert out.stale and not out.ok
    assert page.done == ["bob", "bob"]             # the stale one called nothing...
    assert not page.banner.isVisible()             # ...and showed no error
    assert not page.busy.busy


def test_dead_widget_result_dropped(qtbot, qloop, run):
    page = Page()
    gate = asyncio.Event()
    called = []

    async def work():
        await gate.wait()
        return 1

    task = ops.run(page, work, busy=page.busy, banner=page.banner, on_done=called.append, on_error=called.append)
    page.deleteLater()
    qtbot.waitUntil(lambda: not ops.alive(page))
    gate.set()
    out = run(task)
    assert out.stale and called == []


def test_refuses_a_coroutine(qtbot, qloop):
    async def work():
        return 1

    coro = work()
    try:
        ops.run(QWidget(), coro)
    except TypeError:
        pass
    else:
        raise AssertionError("a coroutine was accepted")
    finally:
        coro.close()


def test_supersede_drops_a_running_call(qtbot, qloop, run):
    """The input changed to something needing no call (a bad name): the old answer must not land."""
    _win, page = _window(qtbot)
    gate = asyncio.Event()

    async def work():
        await gate.wait()
        return "bob"

    task = ops.run(page, work, key="lookup", on_done=page.done.append)
    ops.supersede(page, "lookup")
    gate.set()
    assert run(task).stale and page.done == []


def test_people_lookups_typed_quickly(qtbot, qloop, run):
    """People: 'bo' (slow, not found) then 'bob' (fast, broken). 'bo' answering last must not
    hide bob's red card or say "Not found" about him."""
    from types import SimpleNamespace

    from kbapp.client.events import EventBus
    from kbapp.gui.bridge import EventBridge
    from kbapp.gui.pages.people import PeoplePage

    gate = asyncio.Event()

    class FakeApp:
        async def status(self):
            return SimpleNamespace(username="alice")

        async def identify(self, name):
            if name == "bo":
                await gate.wait()
                raise errors.NotFound("no user bo")
            raise errors.VerificationError("bob's link 3 does not verify")

    page = PeoplePage(SimpleNamespace(app=FakeApp()), EventBridge(EventBus()))
    qtbot.addWidget(page)
    page.show()
    slow = asyncio.ensure_future(page.lookup("bo"))
    qtbot.waitUntil(lambda: page.busy.busy)
    run(page.lookup("bob"))
    assert page.card.badge.state == "broken" and page.current == "bob"
    gate.set()
    run(slow)
    assert page.card.isVisible() and page.card.badge.state == "broken"
    assert not page.banner.isVisible()
    assert not page.busy.busy


def test_devices_reloads_overlapping(qtbot, qloop, run):
    """Devices: a reload (a click) is overtaken by another (DevicesChanged after a revoke).
    The older list, answered last, must not bring the revoked device back as active."""
    from types import SimpleNamespace

    from kbapp.client.events import EventBus
    from kbapp.client.models import DeviceView
    from kbapp.gui.bridge import EventBridge
    from kbapp.gui.pages.devices import DevicesPage

    before = [DeviceView("d1", "laptop", "desktop", "0120aa", "0121bb", 1, 1_700_000_000, False, True),
              DeviceView("d2", "old-pc", "desktop", "0120cc", None, 2, 1_700_000_100, False, False)]
    after = [before[0], DeviceView("d2", "old-pc", "desktop", "0120cc", None, 2, 1_700_000_100, True, False)]
    gate = asyncio.Event()
    answers = [before, after]

    class FakeApp:
        async def devices(self):
            mine = answers.pop(0)
            if mine is before:
                await gate.wait()
            return mine

    page = DevicesPage(SimpleNamespace(app=FakeApp()), EventBridge(EventBus()))
    qtbot.addWidget(page)
    page.banner.show_message("info", "kept")   # a background reload keeps what the banner says
    slow = asyncio.ensure_future(page.refresh())
    qtbot.waitUntil(lambda: page.busy.busy)
    run(page.refresh())
    assert [d.revoked for d in page.model.devices] == [False, True]
    gate.set()
    run(slow)
    assert [d.revoked for d in page.model.devices] == [False, True]
    assert page.banner.title.text() == "kept" and not page.busy.busy
