"""The Teams page: the list and the details scroll each on their own; the team's name stays in view;
the empty state's explanation is at the top."""

from __future__ import annotations

from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QScrollArea

from gui_support import TIMEOUT_MS


def _scroll_areas_above(widget, stop) -> list:
    out, p = [], widget.parentWidget()
    while p is not None and p is not stop:
        if isinstance(p, QScrollArea):
            out.append(p)
        p = p.parentWidget()
    return out


def test_list_and_details_scroll_separately(qtbot, alice_window, run):
    w, _ = alice_window
    page = w.shell.teams
    w.shell.go("teams")
    qtbot.waitUntil(lambda: page.loaded and not page.busy.busy, timeout=TIMEOUT_MS)
    # empty: the explanation sits at the top of the pane, not in the middle of a tall one
    assert page.right.currentWidget() is page.empty and not page.team_head.isVisible()
    w.resize(1120, 1300)                          # a tall window: the pane is taller than what it says
    qtbot.waitUntil(lambda: page.right_scroll.viewport().height() > 900, timeout=5000)
    explanation = next(lab for lab in page.empty.findChildren(type(page.empty_text))
                       if lab.text().startswith("Create one and add people"))
    top = explanation.mapTo(page.right_scroll.viewport(), QPoint(0, 0)).y()
    assert 0 <= top < 200, top

    run(w.app.create_team("acme"))
    run(page.refresh(select="acme"))
    qtbot.waitUntil(lambda: page.view is not None and page.view.name == "acme", timeout=TIMEOUT_MS)
    # the tree is in no scroll area of the page: it stays while the details scroll
    assert _scroll_areas_above(page.tree, page) == []
    assert _scroll_areas_above(page.members_view, page) == [page.right_scroll]
    w.resize(w.minimumSize())
    qtbot.waitUntil(lambda: page.right_scroll.verticalScrollBar().maximum() > 0, timeout=5000)
    bar = page.right_scroll.verticalScrollBar()
    bar.setValue(bar.maximum())
    qtbot.wait(20)
    assert page.team_name.text() == "acme" and not page.team_name.visibleRegion().isEmpty()
    assert not page.tree.visibleRegion().isEmpty()
