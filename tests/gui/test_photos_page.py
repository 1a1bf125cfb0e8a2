"""The Photos page on a real index: index a folder (progress in the status bar), search,
more like this, search by a dropped image, tag chips, blurred sensitive photos, the
thumbnail cache, watched folders in Settings (removing one keeps or forgets its photos),
Cancel (ends the pass, not the watching) and the ML provider in the status bar.

Photos: 15 ImageNet validation photos from the dev set (tests only, never shipped):
8 dogs, 2 cats, 3 vehicles, and two that the real open_nsfw model scores in its
"review" band (0.735: a person in a bonnet; 0.385: a baby in a bassinet). No score is
injected: the blur test uses what the shipped NSFW model says about those photos.
The library is indexed once per module (with the real tagging and NSFW models);
each test opens its own page and service on it.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageStat
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QImage
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton, QToolButton

from gui_support import TIMEOUT_MS
from photo_support import DEV, altered_copy, need_model

DOGS = ["ILSVRC2012_val_00000355.JPEG", "ILSVRC2012_val_00001872.JPEG", "ILSVRC2012_val_00002318.JPEG",
        "ILSVRC2012_val_00002393.JPEG", "ILSVRC2012_val_00002609.JPEG", "ILSVRC2012_val_00003953.JPEG",
        "ILSVRC2012_val_00004049.JPEG", "ILSVRC2012_val_00004097.JPEG"]
CATS = ["ILSVRC2012_val_00000796.JPEG", "ILSVRC2012_val_00005362.JPEG"]
VEHICLES = ["ILSVRC2012_val_00000347.JPEG", "ILSVRC2012_val_00000556.JPEG", "ILSVRC2012_val_00000560.JPEG"]
SENSITIVE = ["ILSVRC2012_val_00006236.JPEG", "ILSVRC2012_val_00000947.JPEG"]   # open_nsfw: 0.735, 0.385
ALL = DOGS + CATS + VEHICLES + SENSITIVE


def _copy(dest: Path, names) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for n in names:
        src = DEV / "images" / n
        if not src.is_file():
            pytest.fail(f"dev photo {src} missing")
        shutil.copyfile(src, dest / n)
    return dest


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    need_model()
    return _copy(tmp_path_factory.mktemp("photos") / "Pictures", ALL)


@pytest.fixture(scope="module")
def indexed_home(tmp_path_factory, photo_dir):
    """One profile folder whose photo index holds the 15 photos (real models, NSFW on)."""
    from kbapp.ml.library import PhotoLibrary

    home = tmp_path_factory.mktemp("home")
    with PhotoLibrary.open(home) as lib:
        s = lib.index([photo_dir])
    assert s.indexed == len(ALL) and not s.skipped
    return home


@pytest.fixture
def make_page(qtbot, qloop, run):
    from kbapp.gui.pages.photos import IndexStatus, PhotosPage
    from kbapp.gui.photo_service import DictPrefs, PhotoService

    made = []

    def make(home: Path, *, load: bool = True, interval: float = 0.5):
        service = PhotoService(home, DictPrefs(), watch_interval=interval)
        page = PhotosPage(service)
        status = IndexStatus(service)
        qtbot.addWidget(page)
        qtbot.addWidget(status)
        page.resize(1100, 760)
        page.show()
        made.append((page, service))
        if load:
            with qtbot.waitSignal(page.searched, timeout=TIMEOUT_MS):
                page.shown()
        return page, service, status

    yield make
    for page, service in made:
        run(page.shutdown())
        run(service.close())


def names(page) -> list[str]:
    return [Path(it.path).name for it in page.model.items]


def search(qtbot, page, text: str) -> list[str]:
    page.search.setText(text)
    with qtbot.waitSignal(page.searched, timeout=TIMEOUT_MS):
        page.search_button.click()
    return names(page)


def row_of(page, name: str) -> int:
    return next(i for i, it in enumerate(page.model.items) if Path(it.path).name == name)


# --- indexing ------------------------------------------------------------------------------


def test_index_a_folder_from_the_page_with_progress(qtbot, make_page, tmp_path, photo_dir):
    from kbapp.gui.photo_service import PREF_PHOTO_FOLDERS

    page, service, status = make_page(tmp_path / "home")
    assert page.model.rowCount() == 0 and page.empty.isVisible()
    assert "Add a folder" in page.empty.text()
    providers = []
    service.providerChanged.connect(providers.append)
    with qtbot.waitSignal(service.indexFinished, timeout=TIMEOUT_MS) as done:
        page.add_folder(str(photo_dir))
        qtbot.waitUntil(status.isVisible, timeout=TIMEOUT_MS)
    summary = done.args[0]
    assert summary.indexed == len(ALL) and not summary.cancelled
    # progress reached the status bar: the analyze phase up to the total, then done
    analyze = [s for s in status.seen if s[0] == "analyze"]
    assert analyze and analyze[-1] == ("analyze", len(ALL), len(ALL))
    assert status.seen[-1][0] == "done"
    assert status.text.text() == f"Photos up to date · {len(ALL)} new · watching"
    assert not status.bar.isVisible()
    # the grid fills itself once the pass is done, and the folder is remembered
    qtbot.waitUntil(lambda: page.model.rowCount() == len(ALL), timeout=TIMEOUT_MS)
    assert sorted(names(page)) == sorted(ALL)
    assert service.prefs.preference(PREF_PHOTO_FOLDERS) == f'["{photo_dir.resolve()}"]'
    assert providers and providers[0].endswith("ExecutionProvider")
    # the watcher picks up a new photo on its own
    shutil.copyfile(DEV / "images" / "ILSVRC2012_val_00007137.JPEG", photo_dir.parent / "new.jpg")
    shutil.move(photo_dir.parent / "new.jpg", photo_dir / "new.jpg")
    try:
        with qtbot.waitSignal(service.indexFinished, timeout=TIMEOUT_MS,
                              check_params_cb=lambda s: s.indexed == 1) as again:
            pass
        assert again.args[0].indexed == 1
        qtbot.waitUntil(lambda: "new.jpg" in names(page), timeout=TIMEOUT_MS)
    finally:
        (photo_dir / "new.jpg").unlink()


def test_cancel_stops_the_pass_but_watching_goes_on(qtbot, make_page, tmp_path):
    import threading

    folder = _copy(tmp_path / "Mine", DOGS[:4] + CATS)
    page, service, status = make_page(tmp_path / "home")
    # hold the job thread at its first progress report with a photo done, so Cancel lands mid-pass
    held, go, at = threading.Event(), threading.Event(), []

    def hold(phase, done, total):   # runs in the job thread (direct connection)
        if phase == "analyze" and done >= 1 and not held.is_set():
            at.append(done)
            held.set()
            go.wait(30)
    service.progress.connect(hold, Qt.DirectConnection)
    try:
        with qtbot.waitSignal(service.indexFinished, timeout=TIMEOUT_MS) as first:
            page.add_folder(str(folder))
            qtbot.waitUntil(held.is_set, timeout=TIMEOUT_MS)
            qtbot.waitUntil(status.cancel_button.isVisible, timeout=TIMEOUT_MS)
            status.cancel_button.click()
            go.set()
    finally:
        go.set()   # never leave the job thread waiting
    s = first.args[0]
    assert s.cancelled and s.indexed == at[0]
    # the pass stopped, the watcher did not
    assert service.indexing and not status.cancel_button.isVisible()
    assert status.text.text().startswith("Photo indexing stopped") and status.text.text().endswith("· watching")
    # a new photo starts a new pass, which also indexes what the cancelled one left
    shutil.copyfile(DEV / "images" / VEHICLES[0], tmp_path / "car.jpg")
    shutil.move(tmp_path / "car.jpg", folder / "car.jpg")
    with qtbot.waitSignal(service.indexFinished, timeout=TIMEOUT_MS) as second:
        pass
    assert not second.args[0].cancelled and second.args[0].indexed == 7 - at[0]
    qtbot.waitUntil(lambda: page.model.rowCount() == 7, timeout=TIMEOUT_MS)
    assert status.text.text() == f"Photos up to date · {7 - at[0]} new · watching"


def test_removing_a_folder_keeps_or_forgets_its_photos(qtbot, make_page, tmp_path, run):
    outer = _copy(tmp_path / "Pictures", DOGS[:2])
    inner = _copy(outer / "Cats", CATS[:1])
    other = _copy(tmp_path / "Cars", VEHICLES[:1])
    page, service, _ = make_page(tmp_path / "home")
    with qtbot.waitSignal(service.indexFinished, timeout=TIMEOUT_MS):
        service.set_folders([str(outer), str(inner), str(other)])
    qtbot.waitUntil(lambda: page.model.rowCount() == 4, timeout=TIMEOUT_MS)
    forgotten = []
    service.folderForgotten.connect(lambda f, n: forgotten.append((f, n)))
    # stop watching Cars, keeping its photo: still in the index
    with qtbot.waitSignal(service.indexFinished, timeout=TIMEOUT_MS):
        service.remove_folder(str(other.resolve()))
    assert run(service.count()) == 4 and forgotten == []
    # forget the nested Cats while Pictures is still watched: Pictures covers its photo, so it stays
    with qtbot.waitSignal(service.folderForgotten, timeout=TIMEOUT_MS):
        service.remove_folder(str(inner.resolve()), forget=True)
    assert forgotten == [(str(inner.resolve()), 0)] and run(service.count()) == 4
    # forget Pictures: its three photos leave the index and the grid; the files stay on disk
    with qtbot.waitSignal(service.folderForgotten, timeout=TIMEOUT_MS):
        service.remove_folder(str(outer.resolve()), forget=True)
    assert forgotten[-1] == (str(outer.resolve()), 3) and service.folders() == []
    qtbot.waitUntil(lambda: names(page) == [VEHICLES[0]], timeout=TIMEOUT_MS)
    assert run(service.count()) == 1 and (outer / DOGS[0]).is_file() and (inner / CATS[0]).is_file()
    qtbot.waitUntil(lambda: not service.indexing, timeout=TIMEOUT_MS)


# --- searching -----------------------------------------------------------------------------


def test_search_dog_gives_the_dogs_and_tags_complete(qtbot, make_page, indexed_home):
    page, _, _ = make_page(indexed_home)
    assert sorted(names(page)) == sorted(ALL)             # no query: every photo, newest first
    assert sorted(search(qtbot, page, "dog")) == sorted(DOGS)
    assert sorted(search(qtbot, page, "cat")) == sorted(CATS)
    assert page.summary.text() == "2 photos · matching “cat”"
    # the completer offers the index's own tags
    qtbot.waitUntil(lambda: "dog" in page.tag_model.stringList(), timeout=TIMEOUT_MS)
    assert {"cat", "vehicle", "boat"} <= set(page.tag_model.stringList())
    # a free-text query goes through the sentence encoder to tags
    assert set(search(qtbot, page, "puppy")) & set(DOGS)


def test_more_like_this_puts_the_photo_first(qtbot, make_page, indexed_home):
    page, _, _ = make_page(indexed_home)
    me = "ILSVRC2012_val_00002318.JPEG"
    page.grid.setCurrentIndex(page.model.index(row_of(page, me)))
    assert page.detail.path.endswith(me) and page.detail.like_button.isEnabled()
    with qtbot.waitSignal(page.searched, timeout=TIMEOUT_MS):
        page.detail.like_button.click()
    got = names(page)
    assert got[0] == me and page.model.items[0].hit.why == ["this photo"]
    assert got[1] in DOGS                                   # its nearest neighbour is a dog too
    assert len(got) == len(ALL) and len(set(got)) == len(ALL)
    assert page.example_chip.isVisible() and me in page.example_label.text()
    assert page.summary.text() == f"{len(ALL)} photos · most similar to {me}"
    # an example and typed text together: the label names both
    page.search.setText("dog")
    with qtbot.waitSignal(page.searched, timeout=TIMEOUT_MS):
        page.search_button.click()
    n = len(page.model.items)
    assert page.summary.text() == f"{n} photo{'s' if n != 1 else ''} · matching “dog” · like {me}"
    # the near-duplicates view ignores the query: the controls show none
    with qtbot.waitSignal(page.searched, timeout=TIMEOUT_MS):
        page.dupes_button.click()
    assert page.search.text() == "" and not page.example_chip.isVisible() and not page.example
    assert "near-duplicates" in page.summary.text()
    with qtbot.waitSignal(page.searched, timeout=TIMEOUT_MS):
        page.dupes_button.click()
    assert page.summary.text() == f"{len(ALL)} photos · newest first"
    # the context menu offers the same, on any tile
    page.search.setText("")
    page.clear_example()
    qtbot.waitUntil(lambda: not page.example, timeout=TIMEOUT_MS)
    cat = CATS[0]
    rect = page.grid.visualRect(page.model.index(row_of(page, cat)))
    page._context_menu(rect.center())
    like = next(a for a in page.menu.actions() if a.text() == "More like this")
    with qtbot.waitSignal(page.searched, timeout=TIMEOUT_MS):
        like.trigger()
    page.menu.close()
    assert names(page)[0] == cat


def test_dropping_an_image_on_the_search_bar_searches_by_it(qtbot, make_page, indexed_home, tmp_path):
    page, _, _ = make_page(indexed_home)
    # an altered copy the index has never seen (cropped to 80%): the original must come first
    src = DEV / "images" / "ILSVRC2012_val_00004097.JPEG"
    example = altered_copy(src, tmp_path / "desktop" / "spaniel.jpg", "crop")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(example))])
    pos = QPointF(page.search.rect().center())
    enter_accepted = []
    from PySide6.QtGui import QDragEnterEvent

    enter = QDragEnterEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(page.search, enter)
    enter_accepted.append(enter.isAccepted())
    drop = QDropEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    with qtbot.waitSignal(page.searched, timeout=TIMEOUT_MS):
        QApplication.sendEvent(page.search, drop)
    assert enter_accepted == [True] and drop.isAccepted()
    assert page.example == str(example) and page.example_chip.isVisible()
    assert page.search.text() == ""                          # the path is not pasted as text
    assert names(page)[0] == src.name
    assert set(names(page)[:3]) <= set(DOGS)
    # a non-image file is refused by the drag, so it is never searched
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    mime2 = QMimeData()
    mime2.setUrls([QUrl.fromLocalFile(str(text_file))])
    from kbapp.gui.pages.photos import local_image
    assert local_image(mime2) is None
    drop2 = QDropEvent(QPointF(5, 5), Qt.CopyAction, mime2, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(page.search, drop2)
    qtbot.wait(200)
    assert page.example == str(example) and names(page)[0] == src.name   # no search by a text file
    page.search.clear()
    # clearing the example browses again
    with qtbot.waitSignal(page.searched, timeout=TIMEOUT_MS):
        page.example_chip.findChild(QToolButton, "clearExampleButton").click()
    assert page.example is None and len(names(page)) == len(ALL)


def test_tag_chips_show_the_photo_tags_and_search_them(qtbot, make_page, indexed_home):
    page, _, _ = make_page(indexed_home)
    boat = VEHICLES[0]
    page.grid.setCurrentIndex(page.model.index(row_of(page, boat)))
    chips = page.detail.chips_model
    qtbot.waitUntil(lambda: chips.rowCount() > 0 and chips.tags[0][1] > 0, timeout=TIMEOUT_MS)
    tags = [t for t, _, _ in chips.tags]
    assert "boat" in tags and "canoe" in tags
    assert "×" in page.detail.meta.text()                     # its pixel size, read from the index
    ix = chips.index(tags.index("boat"))
    rect = page.detail.chips.visualRect(ix)
    assert rect.isValid()
    with qtbot.waitSignal(page.searched, timeout=TIMEOUT_MS):
        qtbot.mouseClick(page.detail.chips.viewport(), Qt.LeftButton, pos=rect.center())
    assert page.search.text() == "boat"
    assert set(names(page)) == {"ILSVRC2012_val_00000347.JPEG", "ILSVRC2012_val_00000556.JPEG"}


# --- sensitive photos and thumbnails ---------------------------------------------------------


def _variance(img: QImage) -> float:
    """Mean per-channel standard deviation of local differences: low for a blurred image."""
    import io

    from PySide6.QtCore import QBuffer, QIODevice

    buf = QBuffer()
    buf.open(QIODevice.WriteOnly)
    img.save(buf, "PNG")
    im = Image.open(io.BytesIO(bytes(buf.data()))).convert("L")
    from PIL import ImageChops, ImageFilter
    edges = ImageChops.difference(im, im.filter(ImageFilter.BoxBlur(1)))
    return ImageStat.Stat(edges).mean[0]


def test_sensitive_photo_is_blurred_until_clicked(qtbot, make_page, indexed_home):
    from kbapp.gui.photo_models import BandRole, BlurredRole, StateRole

    page, _, _ = make_page(indexed_home)
    model, grid = page.model, page.grid
    bonnet, safe = row_of(page, SENSITIVE[0]), row_of(page, DOGS[0])
    ix, safe_ix = model.index(bonnet), model.index(safe)
    assert ix.data(BandRole) == "review" and model.index(row_of(page, SENSITIVE[1])).data(BlurredRole)
    assert ix.data(BlurredRole) is True and safe_ix.data(BlurredRole) is False
    grid.scrollTo(safe_ix)
    qtbot.waitUntil(lambda: safe_ix.data(StateRole) == "ready", timeout=TIMEOUT_MS)   # painted, so made
    grid.scrollTo(ix)
    qtbot.waitUntil(lambda: ix.data(StateRole) == "ready", timeout=TIMEOUT_MS)
    blurred = ix.data(Qt.DecorationRole).toImage()
    # what is drawn is the blurred file from the cache: never the clear thumbnail
    sha = hashlib.sha256(Path(model.item(bonnet).path).read_bytes()).hexdigest()
    clear_file = page.thumbs.dir / f"{sha}-256.jpg"
    blur_file = page.thumbs.dir / f"{sha}-256-blur.jpg"
    assert blur_file.is_file()
    assert blurred == QImage(str(blur_file))
    assert _variance(blurred) < 0.35 * _variance(QImage(str(clear_file)))
    assert "click to show" in ix.data(Qt.ToolTipRole)
    # tooltips are escaped: a file name is never read as HTML
    from kbapp.gui.photo_models import plain_tip
    assert plain_tip("<img src=x>.jpg") == "<p style='white-space:pre-wrap'>&lt;img src=x&gt;.jpg</p>"
    # the detail pane says so and its preview is the blurred one too
    grid.setCurrentIndex(safe_ix)
    # one click reveals it
    qtbot.mouseClick(grid.viewport(), Qt.LeftButton, pos=grid.visualRect(ix).center())
    assert ix.data(BlurredRole) is False
    qtbot.waitUntil(lambda: ix.data(StateRole) == "ready", timeout=TIMEOUT_MS)
    assert ix.data(Qt.DecorationRole).toImage() == QImage(str(clear_file))
    assert page.detail.path == model.item(bonnet).path and page.detail.hide_button.isVisible()
    # "Hide again" blurs it again
    page.detail.hide_button.click()
    assert ix.data(BlurredRole) is True
    assert ix.data(Qt.DecorationRole).toImage() == QImage(str(blur_file))
    # the filter: sensitive photos only / hidden (library threshold 0.7)
    with qtbot.waitSignal(page.searched, timeout=TIMEOUT_MS):
        page.nsfw_filter.setCurrentIndex(page.nsfw_filter.findData("only"))
    assert names(page) == [SENSITIVE[0]]
    with qtbot.waitSignal(page.searched, timeout=TIMEOUT_MS):
        page.nsfw_filter.setCurrentIndex(page.nsfw_filter.findData("exclude"))
    assert SENSITIVE[0] not in names(page) and len(names(page)) == len(ALL) - 1


def test_thumbnails_are_cached_on_disk_by_content(qtbot, make_page, indexed_home):
    from kbapp.gui.photo_models import StateRole, make_thumbnail

    page, _, _ = make_page(indexed_home)
    model = page.model
    ix = model.index(row_of(page, CATS[1]))
    page.grid.scrollTo(ix)
    qtbot.waitUntil(lambda: ix.data(StateRole) == "ready", timeout=TIMEOUT_MS)
    path = Path(model.item(ix.row()).path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    thumb = page.thumbs.dir / f"{sha}-256.jpg"
    assert thumb.is_file() and page.thumbs.dir == indexed_home / "thumbs"
    with Image.open(thumb) as im, Image.open(path) as orig:
        assert max(im.size) == min(256, max(orig.size)) and im.format == "JPEG"   # never upscaled
    # a second request (a new session) reads the file instead of decoding the photo again
    before = thumb.stat().st_mtime_ns
    got_sha, data = make_thumbnail(path, page.thumbs.dir, blurred=False)
    assert got_sha == sha and data == thumb.read_bytes() and thumb.stat().st_mtime_ns == before
    # a file that is not an image shows as broken, with a typed reason, and nothing is cached
    from kbapp.core import errors

    bad = indexed_home / "bad.jpg"
    bad.write_bytes(b"not a jpeg at all")
    with pytest.raises(errors.ImageError):
        make_thumbnail(bad, page.thumbs.dir, blurred=False)
    assert not (page.thumbs.dir / f"{hashlib.sha256(bad.read_bytes()).hexdigest()}-256.jpg").exists()


def test_photo_models_pass_qtmodeltester(qtmodeltester, qtbot, make_page, indexed_home):
    page, _, _ = make_page(indexed_home)
    qtmodeltester.check(page.model)
    page.grid.setCurrentIndex(page.model.index(0))
    qtbot.waitUntil(lambda: page.detail.chips_model.rowCount() > 0, timeout=TIMEOUT_MS)
    qtmodeltester.check(page.detail.chips_model)


# --- in the window -------------------------------------------------------------------------------


def test_window_status_bar_and_settings_folders(qtbot, alice_window, tmp_path, run):
    w, _ = alice_window
    shell = w.shell
    assert w.ml_status.text.text() == "ML: not loaded"
    folder = _copy(tmp_path / "Camera", DOGS[:2])
    shell.go("settings")
    s = shell.settings
    assert s.folders_model.stringList() == []
    # "Add a folder…" opens a folder dialog with open() (no nested loop); choosing one starts indexing
    s.add_folder_button.click()
    dlg = s.folder_dialog
    assert dlg is not None and dlg.isVisible() and dlg.isModal()
    s.add_folder_button.click()
    assert s.folder_dialog is dlg                       # one dialog at a time
    dlg.setDirectory(str(folder.parent))
    dlg.selectFile(str(folder))
    with qtbot.waitSignal(shell.photo_service.indexFinished, timeout=TIMEOUT_MS):
        dlg.accept()
    assert s.folder_dialog is None
    assert s.folders_model.stringList() == [str(folder.resolve())]
    assert w.photo_status.isVisible() and "Photos up to date · 2 new" in w.photo_status.text.text()
    # the provider onnxruntime really uses, as read from the session
    provider = shell.photo_service.provider
    assert provider in ("CPUExecutionProvider", "CUDAExecutionProvider")
    assert w.ml_status.text.text() == "ML: " + provider.removesuffix("ExecutionProvider")
    shell.go("photos")
    qtbot.waitUntil(lambda: shell.photos.model.rowCount() == 2, timeout=TIMEOUT_MS)
    # remove it in Settings: a message box (open(), no nested loop) asks about its photos; Cancel keeps all
    s.folders_view.setCurrentIndex(s.folders_model.index(0))
    assert s.remove_folder_button.isEnabled()
    s.remove_folder_button.click()
    box = s.remove_box
    assert box is not None and box.isVisible() and box.isModal() and box.textFormat() == Qt.PlainText
    s.remove_folder_button.click()
    assert s.remove_box is box                          # one question at a time
    box.button(QMessageBox.Cancel).click()
    assert s.remove_box is None and s.folders_model.stringList() == [str(folder.resolve())]
    # again, forgetting its photos: the preference follows, watching stops, the index and grid empty
    s.remove_folder_button.click()
    with qtbot.waitSignal(shell.photo_service.folderForgotten, timeout=TIMEOUT_MS) as forgot:
        s.remove_box.findChild(QPushButton, "forgetFolderPhotosButton").click()
    assert forgot.args == [str(folder.resolve()), 2]
    assert s.folders_model.stringList() == [] and shell.photo_service.folders() == []
    qtbot.waitUntil(lambda: not shell.photo_service.indexing, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: shell.photos.model.rowCount() == 0, timeout=TIMEOUT_MS)
    assert run(shell.photo_service.count()) == 0 and (folder / DOGS[0]).is_file()


def test_near_duplicates_view(qtbot, make_page, tmp_path):
    from kbapp.ml.library import PhotoLibrary

    folder = _copy(tmp_path / "Trip", [DOGS[0], CATS[0], VEHICLES[0]])
    altered_copy(folder / DOGS[0], folder / "dog-cropped.jpg", "crop")      # a crop of the first dog
    altered_copy(folder / CATS[0], folder / "cat-small.jpg", "resize")     # a smaller copy of the cat
    with PhotoLibrary.open(tmp_path / "home") as lib:
        assert lib.index([folder]).indexed == 5
    page, _, _ = make_page(tmp_path / "home")
    with qtbot.waitSignal(page.searched, timeout=TIMEOUT_MS):
        page.dupes_button.click()
    assert page.summary.text() == "4 photos in 2 groups of near-duplicates"
    got = names(page)
    assert len(got) == 4 and VEHICLES[0] not in got
    pairs = {frozenset(got[:2]), frozenset(got[2:])}
    assert pairs == {frozenset({DOGS[0], "dog-cropped.jpg"}), frozenset({CATS[0], "cat-small.jpg"})}
    assert "near-duplicates 1" in page.model.index(0).data(Qt.ToolTipRole)
    # a search leaves the view
    assert search(qtbot, page, "boat") == [VEHICLES[0]] and not page.dupes_button.isChecked()


def test_photos_appear_during_the_first_pass(qtbot, make_page, tmp_path, photo_dir):  # noqa: ARG001
    """Not "No photos match." while half the folder is indexed: what is done so far is shown, and
    the label says it is a part."""
    many = tmp_path / "many"                             # enough photos for a pass that takes a while
    for i in range(4):
        _copy(many / f"set{i}", ALL)
    total = 4 * len(ALL)
    page, service, _status = make_page(tmp_path / "home-live")
    seen = []
    page.searched.connect(lambda: seen.append((page.model.rowCount(), service.last_summary is None,
                                               page.summary.text(), page.empty.isVisible())))
    with qtbot.waitSignal(service.indexFinished, timeout=TIMEOUT_MS):
        page.add_folder(str(many))
    during = [s for s in seen if s[1] and s[0] > 0]
    assert during, seen                                  # photos showed before the first pass ended
    rows, _, text, empty = during[0]
    assert rows < total and not empty
    assert "so far · indexing" in text and text.startswith(f"{rows} photo")
    qtbot.waitUntil(lambda: page.model.rowCount() == total, timeout=TIMEOUT_MS)
    assert "so far" not in page.summary.text()


def test_skipped_files_are_listed_with_their_reasons(qtbot, make_page, tmp_path):
    folder = _copy(tmp_path / "with-bad", DOGS[:2])
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "notes.jpg").write_bytes(b"")
    page, service, status = make_page(tmp_path / "home-skip")
    with qtbot.waitSignal(service.indexFinished, timeout=TIMEOUT_MS):
        page.add_folder(str(folder))
    link = status.skipped_button
    qtbot.waitUntil(link.isVisible, timeout=TIMEOUT_MS)
    assert link.text() == "2 skipped"
    qtbot.mouseClick(link, Qt.LeftButton)
    dlg = status.skipped_dialog
    assert dlg is not None and dlg.isVisible()
    rows = {Path(dlg.table.item(r, 0).text()).name: dlg.table.item(r, 1).text() for r in range(dlg.table.rowCount())}
    assert set(rows) == {"broken.jpg", "notes.jpg"}
    assert "not an image" in rows["broken.jpg"] and "empty" in rows["notes.jpg"]
    assert "left out 2 files" in dlg.note.text()
    dlg.reject()


def test_thumbnails_are_sized_to_the_space(qtbot, make_page, indexed_home):
    """At the default window size the grid has more than 2 columns, and rows are filled: tiles grow
    or shrink with the width instead of leaving a wide empty margin."""
    page, _service, _ = make_page(indexed_home)
    for page_width in (888, 648, 1400):      # the default window (1120 - sidebar), the minimum, wide
        page.resize(page_width, 700)
        qtbot.wait(30)
        vp = page.grid.viewport().width()
        cell = page.grid.gridSize().width()
        cols = vp // cell
        assert cols >= (3 if page_width >= 888 else 2), (page_width, vp, cell)
        assert vp - cols * cell < cell * 0.5 or page.tiles.tile == 220, (vp, cell)   # rows filled
        r0, r1 = page.grid.visualRect(page.model.index(0)), page.grid.visualRect(page.model.index(1))
        assert r1.left() - r0.left() == cell and r0.width() == cell, (page_width, vp, cell)


def test_not_sensitive_correction_is_remembered(qtbot, make_page, indexed_home, run):
    """The doll in a bonnet (open_nsfw 0.735) is not sensitive: the user says so once, and the
    photo stays unblurred, here and in the next session; the correction can be undone."""
    from kbapp.gui.pages.photos import PhotosPage
    from kbapp.gui.photo_models import BlurredRole
    from kbapp.gui.photo_service import PREF_NOT_SENSITIVE, PhotoService

    page, service, _ = make_page(indexed_home)
    row = row_of(page, SENSITIVE[0])
    ix = page.model.index(row)
    assert ix.data(BlurredRole) is True
    page.grid.setCurrentIndex(ix)
    assert page.detail.not_sensitive_button.isVisible()
    page.detail.not_sensitive_button.click()
    assert ix.data(BlurredRole) is False and not page.detail.sensitive.isVisible()
    assert not page.detail.not_sensitive_button.isVisible()
    key = page.model.item(row).key
    assert key.startswith("sha256:") and key in service.prefs.preference(PREF_NOT_SENSITIVE)   # by content

    # the next session (same profile preferences): still unblurred after a search
    again = PhotoService(indexed_home, service.prefs, watch_interval=0.5)
    page2 = PhotosPage(again)
    qtbot.addWidget(page2)
    page2.resize(1100, 760)
    page2.show()
    try:
        with qtbot.waitSignal(page2.searched, timeout=TIMEOUT_MS):
            page2.shown()
        ix2 = page2.model.index(row_of(page2, SENSITIVE[0]))
        assert ix2.data(BlurredRole) is False
        assert page2.model.index(row_of(page2, SENSITIVE[1])).data(BlurredRole) is True   # only that one
        # undo from the photo's menu
        page2._context_menu(page2.grid.visualRect(ix2).center())
        undo = next(a for a in page2.menu.actions() if a.objectName() == "notSensitiveAction")
        assert undo.text() == "Mark as sensitive again"
        undo.trigger()
        page2.menu.close()
        assert ix2.data(BlurredRole) is True
        assert key not in again.prefs.preference(PREF_NOT_SENSITIVE)
    finally:
        run(page2.shutdown())
        run(again.close())
