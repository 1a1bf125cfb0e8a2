"""The Files page against hostile input and new users' surprises (issue 17), with real profiles
(alice's window runs the embedded server, bob's is another profile on it).

A drop is planned with lstat and no recursion: symlinks, fifos, sockets and names a folder
cannot store are skipped by name, a too-deep or too-big tree is refused whole; a reader is
told before anything is sealed; a full journal says what to do; a 2 GB file is sealed off
the Qt thread (the window keeps painting); names from other writers are plain text; offline,
the list keeps the verified view and says so.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QToolButton

from gui_support import TIMEOUT_MS
from test_files_page import SHARED, drop, files_windows, names, open_shared, select_names, wait_idle

pytestmark = pytest.mark.timeout(600)


def said(page) -> str:
    return page.banner.title.text() + " | " + page.banner.message.text()


def test_hostile_local_trees_are_skipped_or_refused_by_name_never_followed(
        qtbot, alice_window, make_window, tmp_path, run):
    a, _b = files_windows(alice_window, make_window, tmp_path, qtbot)
    open_shared(qtbot, a)
    src = tmp_path / "drop"
    src.mkdir()
    (src / "ok.txt").write_bytes(b"fine")
    (src / "root").symlink_to("/")                                   # never followed
    os.mkfifo(src / "pipe")                                          # never opened (it would block)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(src / "sock"))
    fd = os.open(os.fsencode(src) + b"/caf\xe9.txt", os.O_CREAT | os.O_WRONLY)   # not UTF-8
    os.close(fd)
    for bad in ("CON", "line\nbreak.txt", "invoice\u202etxt.exe", "trailing."):
        (src / bad).write_bytes(b"x")
    try:
        drop(a, [src])
        qtbot.waitUntil(lambda: a.queue.model.rowCount() > 0 and a.banner.isVisible(), timeout=TIMEOUT_MS)
        wait_idle(qtbot, a)
    finally:
        sock.close()
    assert a.banner.title.text() == "8 item(s) were not copied", said(a)
    for why in ("symbolic link (not followed)", "device, pipe or socket", "cannot store this name"):
        assert why in a.banner.message.text(), said(a)
    assert a.banner.message.textFormat() == Qt.PlainText
    assert [(t.dest.rsplit("/", 1)[-1], t.state) for t in a.queue.model.rows] == []     # all saved, none failed
    assert run(a.app.files.read(SHARED + "/drop/ok.txt")) == b"fine"
    assert sorted(r["name"] for r in run(a.app.files.ls(SHARED + "/drop"))) == ["ok.txt"]

    # a tree deeper than a folder path may be: refused whole, not a RecursionError
    deep = tmp_path / "deep"
    subprocess.run(["mkdir", "-p", os.path.join(deep, *(["d"] * 1200))], check=True)     # os.makedirs recurses
    try:
        drop(a, [deep])
        qtbot.waitUntil(lambda: a.banner.title.text() == "Nothing was copied", timeout=TIMEOUT_MS)
    finally:          # pytest's own clean-up of old temp dirs recurses too: it would break later runs
        subprocess.run(["rm", "-rf", str(deep)], check=True)
    assert "256 directories deep" in a.banner.message.text(), said(a)
    assert a.queue.model.rowCount() == 0

    # more than 100,000 entries in one drop: refused whole, clearly
    many = tmp_path / "many"
    many.mkdir()
    for i in range(100_001):
        os.close(os.open(many / f"f{i}", os.O_CREAT | os.O_WRONLY))
    a.banner.clear()
    drop(a, [many])
    qtbot.waitUntil(lambda: a.banner.title.text() == "Nothing was copied", timeout=120_000)
    assert "100,000" in a.banner.message.text() and "Drop fewer" in a.banner.message.text(), said(a)
    subprocess.run(["rm", "-rf", str(many)], check=True)
    assert a.queue.model.rowCount() == 0


def test_a_reader_is_told_before_any_byte_is_sealed(qtbot, alice_window, make_window, tmp_path, run):
    a, b = files_windows(alice_window, make_window, tmp_path, qtbot)
    folder = "/private/alice#bob"
    run(a.app.files.write(folder + "/notes.txt", b"read me"))
    run(a.app.files.sync(timeout=60), timeout=90_000)
    b.select_folder(folder)
    qtbot.waitUntil(lambda: b.folder == folder and names(b) == {"notes.txt"}, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not b.upload_button.isEnabled(), timeout=TIMEOUT_MS)
    assert "read this folder" in b.upload_button.toolTip()
    src = tmp_path / "mine.txt"
    src.write_bytes(b"x" * 100_000)
    b.banner.clear()
    drop(b, [src])
    qtbot.waitUntil(lambda: b.banner.isVisible(), timeout=TIMEOUT_MS)
    assert b.banner.title.text() == "You can't add files to this folder", said(b)
    assert "Nothing was copied" in b.banner.message.text()
    assert b.queue.model.rowCount() == 0
    st = run(b.app.files.status())
    assert st["entries"] == [] and not st.get("pending")
    assert run(b.app.files.ls(folder))[0]["name"] == "notes.txt" and len(run(b.app.files.ls(folder))) == 1


def test_a_full_journal_says_what_to_do(qtbot, alice_window, make_window, tmp_path, run):
    a, _b = files_windows(alice_window, make_window, tmp_path, qtbot)
    open_shared(qtbot, a)
    a.app.ctx.store.set_preference("fs.journal_max_bytes", "50000")
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(200_000))
    (tmp_path / "after.txt").write_bytes(b"after")
    drop(a, [src, tmp_path / "after.txt"])
    qtbot.waitUntil(lambda: a.banner.isVisible(), timeout=TIMEOUT_MS)
    wait_idle(qtbot, a)
    assert a.banner.title.text() == "Not saved: the local journal is full", said(a)
    assert "fs.journal_max_bytes" in a.banner.message.text() and "Retry" in a.banner.message.text()
    # the rest of the drop is held (failed, for Retry), not refused file by file
    assert {t.state for t in a.queue.model.rows} == {"failed"} and a.retry_button.isVisible()
    assert run(a.app.files.status())["entries"] == []


def test_a_2gb_sparse_file_is_sealed_while_the_window_keeps_painting(qtbot, alice_window, make_window, tmp_path,
                                                                     run):
    a, _b = files_windows(alice_window, make_window, tmp_path, qtbot)
    open_shared(qtbot, a)
    big = tmp_path / "sparse.img"
    with open(big, "wb") as f:
        f.truncate(2 << 30)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    drop(a, [big])
    qtbot.waitUntil(lambda: a.queue.current is not None and a.queue.current.done >= 256 << 20, timeout=300_000)
    qtbot.waitUntil(lambda: a.bar.isVisible() and a.bar.value() > 0, timeout=TIMEOUT_MS)
    assert "Encrypting 1 file(s)" in a.status_line.text()
    st = a.window().files_status                  # the window's status bar says it too: files and bytes left
    qtbot.waitUntil(lambda: st.isVisible() and st.text.text().startswith("Files: uploading 1 (")
                    and ("GB" in st.text.text() or "MB" in st.text.text()), timeout=TIMEOUT_MS)
    timer.stop()
    assert len(ticks) > 5, f"the window painted {len(ticks)} time(s) while 256 MiB were sealed"
    gaps = [y - x for x, y in zip(ticks, ticks[1:])]
    print(f"ticks {len(ticks)}, longest gap {max(gaps):.3f} s")
    assert max(gaps) < 2.0, max(gaps)
    a.cancel_button.click()
    wait_idle(qtbot, a)
    assert run(a.app.files.status())["entries"] == []
    assert "sparse.img" not in {r["name"] for r in run(a.app.files.ls(SHARED))}


def test_other_writers_names_are_plain_text_in_crumbs_preview_and_history(
        qtbot, alice_window, make_window, tmp_path, run):
    a, b = files_windows(alice_window, make_window, tmp_path, qtbot)
    d, n = "<img src=x>&co", "<b>bold<b> & <i>x.txt"
    run(a.app.files.write(f"{SHARED}/{d}/{n}", b"hello"))
    run(a.app.files.sync(timeout=60), timeout=90_000)
    open_shared(qtbot, b)
    b.open_dir(SHARED, (d,))
    qtbot.waitUntil(lambda: names(b) == {n}, timeout=TIMEOUT_MS)
    crumbs = [w.text() for w in b.findChildren(QToolButton, "crumb") if w.isVisible()]
    assert crumbs[-1] == "<img src=x>&&co", crumbs             # shown as typed ('&&' is a literal '&')
    select_names(b, n)
    qtbot.waitUntil(lambda: b.preview.name.text() == n, timeout=TIMEOUT_MS)
    assert b.preview.name.textFormat() == Qt.PlainText
    r = b.model.row_named(n)
    assert b.model.data(b.model.index(r, 0)) == n


def test_offline_the_list_keeps_the_verified_view_and_says_so(qtbot, alice_window, make_window, tmp_path, run):
    a, b = files_windows(alice_window, make_window, tmp_path, qtbot)
    run(a.app.files.write(SHARED + "/kept.txt", b"kept"))
    run(a.app.files.sync(timeout=60), timeout=90_000)
    open_shared(qtbot, b)
    qtbot.waitUntil(lambda: names(b) == {"kept.txt"}, timeout=TIMEOUT_MS)
    api = b.app.ctx.api
    url = api.base_url
    api.base_url = "http://127.0.0.1:9"             # nothing listens there: the server is away
    try:
        b.reload()
        qtbot.waitUntil(lambda: b.banner.title.text() == "Offline: showing the last verified view",
                        timeout=TIMEOUT_MS)
        assert names(b) == {"kept.txt"} and not b.empty.isVisible()
        assert "out of date" in b.banner.message.text()
    finally:
        api.base_url = url
    b.reload()
    qtbot.waitUntil(lambda: not b.banner.isVisible(), timeout=TIMEOUT_MS)
    assert names(b) == {"kept.txt"}


def test_a_new_user_reads_what_an_empty_folder_and_the_trash_are(qtbot, alice_window, make_window, tmp_path):
    a, _b = files_windows(alice_window, make_window, tmp_path, qtbot)
    open_shared(qtbot, a)                            # never written: empty, not an error
    qtbot.waitUntil(lambda: a.empty.isVisible(), timeout=TIMEOUT_MS)
    assert not a.banner.isVisible() or a.banner.property("kind") == "info", said(a)
    assert "Drop files here" in a.empty.text() and "uploaded in the background" in a.empty.text()
    a.trash_button.click()
    qtbot.waitUntil(lambda: a.comps == (".trash",) and not a.busy.isVisible(), timeout=TIMEOUT_MS)
    assert "trash is empty" in a.empty.text() and "Restore" in a.empty.text(), a.empty.text()
