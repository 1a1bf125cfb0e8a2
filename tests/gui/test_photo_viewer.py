"""Double-click a photo: the full-size viewer (zoom, previous/next, tags, Open with…, Show in folder)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from PySide6.QtCore import Qt

from gui_support import TIMEOUT_MS
from test_photos_page import DOGS, SENSITIVE, indexed_home, make_page, photo_dir, search  # noqa: F401


def test_double_click_opens_the_viewer(qtbot, make_page, indexed_home):  # noqa: F811
    page, _service, _ = make_page(indexed_home)
    got = search(qtbot, page, "dog")
    assert len(got) >= 3
    rect = page.grid.visualRect(page.model.index(1))
    qtbot.mouseClick(page.grid.viewport(), Qt.LeftButton, pos=rect.center())   # a double-click, as the
    qtbot.mouseDClick(page.grid.viewport(), Qt.LeftButton, pos=rect.center())  # window system sends it
    qtbot.waitUntil(lambda: page.viewer is not None and page.viewer.isVisible(), timeout=TIMEOUT_MS)
    v = page.viewer
    assert v.row == 1 and v.path == page.model.item(1).path
    qtbot.waitUntil(lambda: v.image is not None, timeout=TIMEOUT_MS)
    with Image.open(v.path) as im:                        # full size, not the thumbnail
        assert (v.image.width(), v.image.height()) == im.size
    assert "dog" in v.tags.text()

    fit = v.scale()
    v.actual()
    assert v.zoom_label.text() == "100%" and v.picture.pixmap().width() == v.image.width()
    v.zoom_in()
    assert v.scale() > 1.0 and v.picture.pixmap().width() > v.image.width()
    v.zoom_out()
    v.zoom_out()
    assert v.scale() < 1.0
    v.fit()
    assert v.zoom_label.text() == "Fit" and abs(v.scale() - fit) < 1e-6

    qtbot.keyClick(v, Qt.Key_Right)                       # next
    assert v.row == 2 and page.grid.currentIndex().row() == 2
    qtbot.keyClick(v, Qt.Key_Left)
    qtbot.keyClick(v, Qt.Key_Left)
    assert v.row == 0 and not v.prev_button.isEnabled()

    opened = []
    v.open_url = opened.append
    v.open_with()
    v.show_in_folder()
    assert [u.toLocalFile() for u in opened] == [v.path, str(Path(v.path).parent)]

    qtbot.keyClick(v, Qt.Key_Escape)
    qtbot.waitUntil(lambda: page.viewer is None, timeout=TIMEOUT_MS)
    # the keyboard way: Enter on the selected tile
    page.activateWindow()
    qtbot.waitUntil(page.isActiveWindow, timeout=5000)
    page.grid.setFocus()
    page.grid.setCurrentIndex(page.model.index(2))
    qtbot.keyClick(page.grid, Qt.Key_Return)
    qtbot.waitUntil(lambda: page.viewer is not None and page.viewer.row == 2, timeout=TIMEOUT_MS)
    page.viewer.reject()


def test_a_sensitive_photo_stays_hidden_in_the_viewer_until_shown(qtbot, make_page, indexed_home):  # noqa: F811
    page, _service, _ = make_page(indexed_home)
    with qtbot.waitSignal(page.searched, timeout=TIMEOUT_MS):
        page.search_clicked()
    row = next(i for i, it in enumerate(page.model.items) if Path(it.path).name == SENSITIVE[0])
    assert page.model.item(row).blurred
    page.open_viewer(row)
    v = page.viewer
    assert v.reveal_button.isVisible() and "Hidden" in v.picture.text() and v.image is None
    v.reveal()
    qtbot.waitUntil(lambda: v.image is not None, timeout=TIMEOUT_MS)
    assert not page.model.item(row).blurred
    v.reject()
