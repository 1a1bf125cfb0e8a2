"""Models that insert rows and fetch pages as the view scrolls (the chat timeline's shape)."""

from __future__ import annotations

import asyncio
import time

from PySide6.QtCore import QModelIndex, QTimer
from PySide6.QtWidgets import QListView

from kbapp.gui.list_models import ItemListModel, PagedListModel
from kbapp.gui.models import ObjectRole

N = 10_000
PAGE = 500


def fake_source(n: int = N, work_s: float = 0.3):
    """A page loader over n items; each page costs `work_s` of blocking work, done off the
    Qt thread as a facade call does (SQLite, HTTP)."""
    calls = []

    def page(cursor, limit):
        time.sleep(work_s)
        start = cursor or 0
        end = min(n, start + limit)
        return [f"message {i}" for i in range(start, end)], (end if end < n else None)

    async def loader(cursor, limit):
        calls.append(cursor)
        return await asyncio.get_running_loop().run_in_executor(None, page, cursor, limit)

    return loader, calls


def test_insert_append_prepend(qtmodeltester, qloop):
    model = ItemListModel(["b", "c"])
    qtmodeltester.check(model)
    seen = []
    model.rowsInserted.connect(lambda _p, first, last: seen.append((first, last)))
    model.append(["d", "e"])
    model.prepend(["a"])
    model.insert_rows(3, ["c2"])
    assert model.items == ["a", "b", "c", "c2", "d", "e"]
    assert seen == [(2, 3), (0, 0), (3, 3)]
    assert model.data(model.index(0)) == "a" and model.data(model.index(5), ObjectRole) == "e"
    assert model.insert_rows(0, []) == 0
    try:
        model.insert_rows(99, ["x"])
    except IndexError:
        pass
    else:
        raise AssertionError("row 99 accepted")
    qtmodeltester.check(model)


def test_paged_model_passes_model_tester(qtmodeltester, qtbot, qloop):
    loader, _calls = fake_source(250, work_s=0)
    model = PagedListModel(loader, page_size=100)
    qtmodeltester.check(model)
    model.fetchMore(QModelIndex())
    qtbot.waitUntil(lambda: model.rowCount() == 100)
    qtmodeltester.check(model)


def test_scrolling_fetches_pages_without_blocking(qtbot, qloop):
    loader, calls = fake_source()
    model = PagedListModel(loader, page_size=PAGE)
    view = QListView()
    view.resize(300, 400)
    view.setUniformItemSizes(True)
    view.setModel(model)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitUntil(lambda: model.rowCount() >= PAGE)   # the view asked for the first page itself
    assert model.rowCount() < N

    # the GUI thread's heartbeat: a 5 ms timer; its longest gap says whether anything blocked
    beats = [time.monotonic()]
    gaps = []

    def beat():
        now = time.monotonic()
        gaps.append(now - beats[-1])
        beats.append(now)

    hb = QTimer()
    hb.setInterval(5)
    hb.timeout.connect(beat)
    hb.start()
    pages_seen = []
    model.pageLoaded.connect(pages_seen.append)
    bar = view.verticalScrollBar()
    deadline = time.monotonic() + 60
    while not model.exhausted and time.monotonic() < deadline:
        bar.setValue(bar.maximum())          # the user drags to the end: Qt calls fetchMore
        qtbot.wait(10)
    hb.stop()
    assert model.exhausted and model.rowCount() == N
    assert model.items[-1] == f"message {N - 1}" and len(set(model.items)) == N
    assert len(pages_seen) == N // PAGE - 1 and calls[:2] == [None, PAGE]
    assert len(calls) == len(set(map(str, calls))) == N // PAGE     # one request per page, none twice
    # each page cost 300 ms of blocking work; none of it ran on the GUI thread
    print(f"pages {len(calls)}, longest GUI-thread gap {max(gaps) * 1000:.0f} ms over {len(gaps)} beats")
    assert max(gaps) < 0.25, f"GUI thread blocked for {max(gaps):.3f} s"
    assert not model.canFetchMore(QModelIndex())


def test_restart_drops_a_page_in_flight(qtbot, qloop):
    gate = asyncio.Event()

    async def slow(cursor, limit):
        await gate.wait()
        return ["old"], None

    async def fresh(cursor, limit):
        return ["new"], None

    model = PagedListModel(slow, page_size=10)
    model.fetchMore(QModelIndex())
    assert model.loading
    model.restart(fresh)
    model.fetchMore(QModelIndex())
    qtbot.waitUntil(lambda: model.rowCount() == 1)
    gate.set()
    qtbot.wait(50)
    assert model.items == ["new"]


def test_failing_page_reported_and_fetching_stops(qtbot, qloop):
    from kbapp.core import errors

    async def broken(cursor, limit):
        raise errors.NetworkError("server down")

    model = PagedListModel(broken)
    got = []
    model.failed.connect(got.append)
    model.fetchMore(QModelIndex())
    qtbot.waitUntil(lambda: bool(got))
    assert isinstance(got[0], errors.NetworkError) and not model.canFetchMore(QModelIndex())
