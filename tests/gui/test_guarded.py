"""guarded(): an answer that arrives after its page died is dropped, not applied to a
deleted widget or model (an async slot finishing after the window closed used to raise
"Internal C++ object already deleted" from the Qt event loop)."""

from __future__ import annotations

import asyncio

import shiboken6
from PySide6.QtCore import QStringListModel

from kbapp.core import errors
from kbapp.gui.widgets import guarded


def test_an_answer_for_a_dead_owner_is_dropped(qtbot, run):
    model = QStringListModel()
    answer = asyncio.get_event_loop().create_future()

    async def page_slot():
        ok, tags = await guarded(answer, clear=False, owner=model)
        if ok:
            model.setStringList(tags)      # would raise RuntimeError on a deleted model
        return ok, tags

    task = asyncio.ensure_future(page_slot())
    qtbot.wait(10)
    shiboken6.delete(model)                # the page (and its model) went away meanwhile
    answer.set_result(["dog", "cat"])
    ok, got = run(task)
    assert ok is False and isinstance(got, errors.Cancelled)


def test_an_answer_for_a_live_owner_is_kept(qtbot, run):
    model = QStringListModel()

    async def work():
        return ["dog"]

    ok, tags = run(guarded(work(), clear=False, owner=model))
    assert ok is True and tags == ["dog"]
