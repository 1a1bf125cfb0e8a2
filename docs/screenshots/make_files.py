"""Screenshots of the Files page for docs/user-guide.md and the README (issue 17).

Run under a virtual X server, like make.py:

    xvfb-run -a -s "-screen 0 2240x900x24" .venv/bin/python docs/screenshots/make_files.py

In a throwaway folder: alice's window runs the embedded server, bob's window is his own
profile on it. alice drops a directory of trip photos and notes onto /private/alice,bob,
bob sees it arrive (pushed, verified) and adds a file; a report gets three versions
(history); a pending change alice cancels is kept as a "(local conflicted copy)" view.
Shots: files-shared (alice, a picture previewed), files-two-profiles (both windows),
files-thumbnails (bob: thumbnails and his photo library's tags), files-upload (a drop in progress), files-history, files-conflict, files-dark.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

from make import alice_and_bob, dev_images, settle, shoot, shoot_side_by_side, until  # make.py's set-up

import qasync  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QIcon  # noqa: E402

from kbapp.gui import theme  # noqa: E402
from kbapp.gui.main import setup_application  # noqa: E402

SHARED = "/private/alice,bob"
PHOTOS = ("ILSVRC2012_val_00000355.JPEG", "ILSVRC2012_val_00000363.JPEG", "ILSVRC2012_val_00000580.JPEG")


def names(page) -> set[str]:
    return {r["name"] for r in page.model.rows}


def thumbnails_shown(page) -> bool:
    """Every picture's row has its thumbnail (a pixmap, not the generic icon)."""
    return all(not isinstance(page.model.index(r, 0).data(Qt.DecorationRole), QIcon)
               for r in range(page.model.rowCount()) if page.model.rows[r]["name"].endswith(".jpg"))


def select(page, name: str) -> None:
    sel = page.list.selectionModel()
    sel.clearSelection()
    idx = page.model.index(page.model.row_named(name), 0)
    sel.select(idx, sel.SelectionFlag.Select | sel.SelectionFlag.Rows)
    page.list.setCurrentIndex(idx)


async def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="kbapp-files-shots-"))
    wa, wb = await alice_and_bob(tmp, 800)
    for w in (wa, wb):
        w.shell.go("files")
        await until(lambda w=w: w.shell.files.folder_model.rowCount() > 0, 60)
    a, bp = wa.shell.files, wb.shell.files

    dev = dev_images()
    trip = tmp / "Lake trip"
    trip.mkdir()
    for i, name in enumerate(PHOTOS):
        shutil.copyfile(dev / name, trip / f"lake-{i + 1}.jpg")
    (trip / "route.txt").write_text("Day 1: parking to the north shore, 9 km.\nDay 2: ridge path back, 12 km.\n")
    (tmp / "budget.csv").write_text("item,cost\ncabin,240\nboat,60\nfood,95\n")

    a.select_folder(SHARED)
    bp.select_folder(SHARED)
    await until(lambda: a.folder == SHARED and bp.folder == SHARED, 60)
    a.queue_paths([trip, tmp / "budget.csv"], SHARED)
    await until(lambda: a.queue.model.rowCount() > 0, 30)
    await until(lambda: not a.queue.busy, 120)
    await until(lambda: "Lake trip" in names(a), 60)
    await wa.app.files.sync(timeout=120)
    await until(lambda: "Lake trip" in names(bp), 60)          # pushed to bob, verified
    for i, text in enumerate(("Draft: the trip report.", "Draft 2: with the route.", "Final: photos added.")):
        who = wa.app if i != 1 else wb.app
        if i:                                   # each writes on top of what the other wrote
            want = ("Draft: the trip report.", "Draft 2: with the route.")[i - 1]
            for _ in range(100):
                if (await who.files.read(f"{SHARED}/Trip report.txt")).decode().strip() == want:
                    break
                await asyncio.sleep(0.2)
        await who.files.write(f"{SHARED}/Trip report.txt", (text + "\n").encode())
        await who.files.sync(timeout=60)
    await until(lambda: "Trip report.txt" in names(a) and "Trip report.txt" in names(bp), 60)
    a.open_dir(SHARED, ("Lake trip",))
    await until(lambda: "lake-1.jpg" in names(a), 30)
    select(a, "lake-1.jpg")
    await until(lambda: a.preview.picture.isVisible() and thumbnails_shown(a), 60)
    await settle(1.0)
    shoot(wa, "files-shared")

    shoot_side_by_side(wa, wb, "files-two-profiles")

    # bob's photo library tagged alice's pictures (its hand-off after his verified sync): his
    # list shows their thumbnails and tags, his preview the tags of the one selected
    bp.open_dir(SHARED, ("Lake trip",))
    await until(lambda: "lake-1.jpg" in names(bp), 30)
    await until(lambda: all(bp.images.tags_of(f"lake-{i + 1}.jpg") for i in range(len(PHOTOS))), 300)
    try:                                        # the By column says "alice", not her uid
        await until(lambda: not bp.model.writer_text(bp.model.rows[0]).endswith("…"), 30)
    except TimeoutError:
        print("bob's window did not resolve alice's name in time")
    wb.move(0, 0)                               # wider for this shot: names, tags and the preview
    wb.resize(1500, 800)
    wb.raise_()
    bp.split.setSizes([220, 880, 320])
    select(bp, "lake-1.jpg")
    await until(lambda: bp.preview.picture.isVisible() and bp.preview.tags.isVisible(), 30)
    await until(lambda: thumbnails_shown(bp), 60)
    await settle(1.0)
    shoot(wb, "files-thumbnails")
    wb.resize(1100, 800)
    wb.move(1120, 0)

    # a drop in progress: bigger files, shot while rows are still encrypting
    big = tmp / "Videos"
    big.mkdir()
    for i in range(12):
        (big / f"clip-{i + 1:02d}.mp4").write_bytes(os.urandom(24 << 20))
    a.open_dir(SHARED, ())
    await until(lambda: "Lake trip" in names(a), 30)
    a.queue_paths([big], SHARED)
    await until(lambda: sum(t.state == "saved" for t in a.queue.model.rows) >= 2, 120)
    await settle(0.3)
    shoot(wa, "files-upload")
    await until(lambda: not a.queue.busy, 600)

    await until(lambda: "Trip report.txt" in names(a), 30)
    select(a, "Trip report.txt")
    a.history_clicked()
    from kbapp.gui.pages.files.dialogs import HistoryDialog
    dlg = next(w for w in a.findChildren(HistoryDialog))
    try:
        await until(lambda: dlg.model.rowCount() >= 3, 60)
    except TimeoutError:
        print("history rows:", dlg.model.rows, dlg.banner.title.text(), dlg.banner.message.text())
        raise
    await settle(0.8)
    shoot(dlg, "files-history")
    dlg.close()

    # a change that is cancelled is kept as a read-only view of the folder, never lost
    for _ in range(600):                        # the clips are up first: the status line is about the view
        if not (await wa.app.files.status())["pending"]:
            break
        await asyncio.sleep(0.5)
    wa.app.files.pause()
    out = await wa.app.files.write(f"{SHARED}/Trip report.txt", b"My edit, made offline.\n", upload=False)
    parked = await wa.app.files.cancel(out["entry"])
    wa.app.files.resume()
    a.open_dir(SHARED, (parked["view"],))
    await until(lambda: "Trip report.txt" in names(a) and a.view_banner.isVisible()      # listed, not loading
                and not a.busy.isVisible(), 60)
    select(a, "Trip report.txt")
    await until(lambda: a.preview.text.isVisible(), 30)
    await settle(1.0)
    shoot(wa, "files-conflict")

    a.open_dir(SHARED, ())
    await until(lambda: "Trip report.txt" in names(a), 30)
    theme.current().set_choice("dark")
    select(a, "budget.csv")
    await settle(1.0)
    shoot(wa, "files-dark")
    theme.current().set_choice("light")

    for w in (wb, wa):
        await w.shutdown()


if __name__ == "__main__":
    qapp = setup_application(sys.argv)
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(main())
