"""Thumbnails, photo-library tags and the PDF preview of the Files page (issue 17), on two real
profiles and one real embedded server, with the real tagging model.

alice drops pictures into the folder she shares with bob: her list shows their thumbnails
(decoded off the Qt thread); a corrupt JPEG and a decompression bomb get the generic icon
while the event loop keeps turning. bob's engine hands the pictures to his photo library
after its verified sync; when it has tagged them (`FolderImagesIndexed`, a push) his list's
Tags column and the preview say "dog". A PDF's first page is rendered in a limited child
process; a corrupt one, and one that would hang the renderer, give a clear message.
"""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QIcon, QPixmap
from PIL import Image

from gui_support import TIMEOUT_MS
from photo_support import DEV
from test_files_page import SHARED, drop, files_windows, names, open_shared, select_names, wait_idle

from kbapp.core import errors
from kbapp.gui.pages.files import pdf
from kbapp.gui.pages.files.models import TAGS

pytestmark = pytest.mark.timeout(300)
DOG = "ILSVRC2012_val_00000355.JPEG"


def png_bomb(side: int) -> bytes:
    """A valid grey PNG of side×side pixels (side² bytes once decoded) that is a few hundred KB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    z = zlib.compressobj(9)
    row = b"\0" * (side + 1)                  # filter byte + one byte per pixel
    body = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def minimal_pdf(pages: int = 1) -> bytes:
    """A hand-written valid PDF: pages of 200×100 pt, each a red rectangle."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            f"<< /Type /Pages /Kids [{' '.join(f'{3 + 2 * i} 0 R' for i in range(pages))}] /Count {pages} >>".encode()]
    for i in range(pages):
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents {4 + 2 * i} 0 R >>".encode())
        content = b"1 0 0 rg 20 20 160 60 re f"
        objs.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


class StallMeter:
    """The longest gap between ticks of a 10 ms timer: how long the event loop was held."""

    def __init__(self):
        self.last = time.monotonic()
        self.worst = 0.0
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.monotonic()
        self.worst = max(self.worst, now - self.last)
        self.last = now

    def stop(self) -> float:
        self.timer.stop()
        return self.worst


def decoration(page, name: str):
    return page.model.index(page.model.row_named(name), 0).data(Qt.DecorationRole)


def has_thumbnail(page, name: str) -> bool:
    return isinstance(decoration(page, name), QPixmap)


def tags_text(page, name: str) -> str:
    return page.model.index(page.model.row_named(name), TAGS).data() or ""


def spread(pm: QPixmap) -> float:
    """Fine detail: the mean lightness step between neighbouring pixels (a blurred picture has little)."""
    img = pm.toImage()
    step = max(1, img.height() // 40)
    diffs = [abs(img.pixelColor(x, y).lightness() - img.pixelColor(x + 1, y).lightness())
             for y in range(0, img.height(), step) for x in range(img.width() - 1)]
    return sum(diffs) / max(1, len(diffs))


def test_thumbnails_tags_by_push_and_hostile_images(qtbot, qtmodeltester, alice_window, make_window, tmp_path,
                                                     run, photo_analyzer):
    from kbapp.ml.library import PhotoLibrary

    a, b = files_windows(alice_window, make_window, tmp_path, qtbot)
    b.app.photos._factory = lambda home: PhotoLibrary.open(home, analyzer=photo_analyzer)
    src = tmp_path / "holiday"
    src.mkdir()
    with Image.open(DEV / "images" / DOG) as im:
        im.convert("RGB").resize((800, 600)).save(src / "rex.jpg", "JPEG", quality=90)
    good = (src / "rex.jpg").read_bytes()
    (src / "broken.jpg").write_bytes(good[:2000] + b"\0garbage" * 200)        # a JPEG that stops
    (src / "bomb.png").write_bytes(png_bomb(12_000))                          # 144 Mpx, ~140 KB
    (src / "notes.txt").write_bytes(b"not a picture")
    open_shared(qtbot, a)
    open_shared(qtbot, b)
    drop(a, sorted(src.iterdir()))
    wait_idle(qtbot, a)
    qtbot.waitUntil(lambda: names(a) == {"rex.jpg", "broken.jpg", "bomb.png", "notes.txt"}, timeout=TIMEOUT_MS)

    # alice: the list asks for the thumbnails it paints; the hostile two get the generic icon,
    # and the event loop is never held while they are looked at
    meter = StallMeter()
    for n in ("rex.jpg", "broken.jpg", "bomb.png"):
        decoration(a, n)
    qtbot.waitUntil(lambda: has_thumbnail(a, "rex.jpg") and a.images.failed("broken.jpg")
                    and a.images.failed("bomb.png"), timeout=TIMEOUT_MS)
    stall = meter.stop()
    assert stall < 1.0, f"the event loop stalled {stall:.2f} s"
    assert max(decoration(a, "rex.jpg").width(), decoration(a, "rex.jpg").height()) == 32
    for n in ("broken.jpg", "bomb.png", "notes.txt"):
        assert isinstance(decoration(a, n), QIcon) and decoration(a, n).cacheKey() == a.images.file_icon.cacheKey()
    assert a.list.isColumnHidden(TAGS)              # alice's own drop: nothing tagged yet, no empty column
    qtmodeltester.check(a.model)

    # bob: his verified sync hands the pictures to his library; when it has tagged them the
    # engine says so and his open list shows the tags (nothing here asks it to re-read)
    qtbot.waitUntil(lambda: "rex.jpg" in names(b), timeout=60_000)
    qtbot.waitUntil(lambda: "dog" in tags_text(b, "rex.jpg"), timeout=180_000)
    assert not b.list.isColumnHidden(TAGS)
    assert tags_text(b, "notes.txt") == "" and tags_text(b, "bomb.png") == ""
    qtmodeltester.check(b.model)
    select_names(b, "rex.jpg")
    qtbot.waitUntil(lambda: b.preview.picture.isVisible(), timeout=TIMEOUT_MS)
    assert b.preview.tags.isVisible() and "dog" in b.preview.tags.text()
    assert not b.preview.reveal_button.isVisible()
    qtbot.waitUntil(lambda: has_thumbnail(b, "rex.jpg"), timeout=TIMEOUT_MS)
    clear = decoration(b, "rex.jpg")
    shown = spread(b.preview.picture.pixmap())

    # a picture the library scores as NSFW is drawn blurred, in the list and the preview (the
    # test's model has no NSFW head: its score is set on the library's real answer)
    real = b.app.photos.photos_at

    async def scored(paths):
        hits = await real(paths)
        for h in hits.values():
            h.nsfw = 0.95
        return hits
    b.app.photos.photos_at = scored
    b.images.read_tags(b.model.rows)
    qtbot.waitUntil(lambda: has_thumbnail(b, "rex.jpg") and decoration(b, "rex.jpg").cacheKey() != clear.cacheKey(),
                    timeout=TIMEOUT_MS)
    assert spread(decoration(b, "rex.jpg")) < spread(clear) / 2
    assert b.images.is_sensitive("rex.jpg") and b.preview.reveal_button.isVisible()
    qtbot.waitUntil(lambda: spread(b.preview.picture.pixmap()) < shown / 2, timeout=TIMEOUT_MS)   # drawn again
    b.preview.reveal_button.click()                 # "Show": the user chose to see it
    qtbot.waitUntil(lambda: not b.preview.reveal_button.isVisible()
                    and spread(b.preview.picture.pixmap()) > shown * 0.8, timeout=TIMEOUT_MS)


def test_big_file_is_not_read_for_a_thumbnail(qtbot, alice_window, make_window, tmp_path, run):
    from kbapp.gui.pages.files import thumbs

    a, _b = files_windows(alice_window, make_window, tmp_path, qtbot)
    run(a.app.files.write(SHARED + "/huge.jpg", b"\xff\xd8\xff" + b"\0" * (thumbs.MAX_BYTES + 1)))
    open_shared(qtbot, a)
    qtbot.waitUntil(lambda: names(a) == {"huge.jpg"}, timeout=TIMEOUT_MS)
    assert isinstance(decoration(a, "huge.jpg"), QIcon) and not a.images._want and a.images.made == 0


def test_pdf_preview_corrupt_pdf_and_system_viewer(qtbot, alice_window, make_window, tmp_path, run, monkeypatch):
    a, _b = files_windows(alice_window, make_window, tmp_path, qtbot)
    doc = minimal_pdf(2)
    run(a.app.files.write(SHARED + "/plan.pdf", doc))
    run(a.app.files.write(SHARED + "/broken.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 40))
    open_shared(qtbot, a)
    qtbot.waitUntil(lambda: names(a) == {"plan.pdf", "broken.pdf"}, timeout=TIMEOUT_MS)
    assert pdf.available()

    select_names(a, "plan.pdf")
    qtbot.waitUntil(lambda: a.preview.picture.isVisible(), timeout=TIMEOUT_MS)
    img = a.preview.picture.pixmap().toImage()
    assert img.width() > 100 and abs(img.width() / img.height() - 2.0) < 0.05      # the 200×100 pt page
    centre = img.pixelColor(img.width() // 2, img.height() // 2)
    assert (centre.red(), centre.green(), centre.blue()) == (255, 0, 0)             # its red rectangle
    assert a.preview.note.text() == "Page 1 of 2" and a.preview.open_button.isVisible()

    meter = StallMeter()
    select_names(a, "broken.pdf")
    qtbot.waitUntil(lambda: a.preview.note.text().startswith("Could not preview: the document does not render"),
                    timeout=TIMEOUT_MS)
    assert meter.stop() < 1.0
    assert not a.preview.picture.isVisible() and a.preview.open_button.isVisible()

    # no pypdfium2: the panel says what is missing; the system viewer gets a private decrypted copy
    monkeypatch.setattr(pdf, "available", lambda: False)
    opened = []
    a.preview.open_url = opened.append
    a.preview.clear()
    select_names(a, "plan.pdf")
    qtbot.waitUntil(lambda: a.preview.path is not None, timeout=TIMEOUT_MS)
    assert a.preview.note.text() == pdf.MISSING and a.preview.open_button.isVisible()
    a.preview.open_button.click()
    qtbot.waitUntil(lambda: bool(opened), timeout=TIMEOUT_MS)
    local = Path(opened[0])
    assert local.name == "plan.pdf" and local.read_bytes() == doc
    assert oct(local.parent.stat().st_mode & 0o777) == "0o700" and oct(local.stat().st_mode & 0o777) == "0o600"


def test_a_pdf_that_hangs_the_renderer_is_killed(run, tmp_path, monkeypatch):
    """A document that keeps pdfium busy forever (here: a worker that never answers) costs the
    timeout, then the child is killed: PreviewTimedOut, and no process is left behind."""
    hang = tmp_path / "hang_worker.py"
    hang.write_text("import sys, time\nsys.stdin.buffer.read()\ntime.sleep(120)\n")
    monkeypatch.setattr(pdf, "WORKER", hang)

    def running() -> list[str]:             # live processes running that script (Linux /proc)
        out = []
        for d in Path("/proc").iterdir():
            try:
                if d.name.isdigit() and str(hang).encode() in (d / "cmdline").read_bytes() \
                        and "\nState:\tZ" not in (d / "status").read_text():
                    out.append(d.name)
            except OSError:
                pass
        return out
    t0 = time.monotonic()
    with pytest.raises(errors.PreviewTimedOut) as e:
        run(pdf.render(minimal_pdf(), 300, timeout=1.0))
    assert e.value.code == "PREVIEW_TIMEOUT" and time.monotonic() - t0 < 5
    assert running() == []


def test_pdf_export_names_are_safe():
    assert pdf.safe_name("../../etc/passwd") == "_.._etc_passwd.pdf"
    assert pdf.safe_name("..") == "document.pdf"
    assert pdf.safe_name("r\u00e9sum\u00e9\n.pdf") == "r_sum__.pdf"
    assert "/" not in pdf.safe_name("a/b.pdf")


def test_png_bomb_is_what_it_claims():
    with Image.open(io.BytesIO(png_bomb(64))) as im:
        im.load()
        assert im.size == (64, 64)


def test_a_pdf_that_crashes_the_renderer_is_a_clear_error(run, tmp_path, monkeypatch):
    """pdfium crashing on a hostile document (here: the worker dies of SIGSEGV) takes only the
    child process down: PreviewFailed says the renderer stopped."""
    crash = tmp_path / "crash_worker.py"
    crash.write_text("import os, signal, sys\nsys.stdin.buffer.read()\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    monkeypatch.setattr(pdf, "WORKER", crash)
    with pytest.raises(errors.PreviewFailed) as e:
        run(pdf.render(minimal_pdf(), 300))
    assert e.value.code == "PREVIEW_FAILED" and "the renderer stopped (exit -11)" in str(e.value)


def test_without_pillow_qt_decodes_with_the_same_rules(qtbot):
    """No Pillow (a bare install): Qt's reader fits the box, refuses a bomb from its header and
    says a corrupt file is no picture; a blurred picture keeps no detail."""
    from kbapp.gui.pages.files.picture import _decode_qt
    with Image.open(DEV / "images" / DOG) as im:
        out = io.BytesIO()
        im.convert("RGB").resize((800, 600)).save(out, "JPEG", quality=90)
    good = out.getvalue()
    img = _decode_qt(good, False, (32, 32), 8192)
    assert (img.width(), img.height()) == (32, 24)
    assert spread(QPixmap.fromImage(_decode_qt(good, True, (320, 320), 8192))) < spread(
        QPixmap.fromImage(_decode_qt(good, False, (320, 320), 8192))) / 2
    with pytest.raises(errors.ImageTooLarge):
        _decode_qt(png_bomb(9000), False, (32, 32), 8192)
    with pytest.raises(ValueError):
        _decode_qt(b"\xff\xd8\xff" + b"\0garbage" * 100, False, (32, 32), 8192)
