"""Files page moves from the attacker's and the careless user's side (ATTACK5): a move or a
rename onto a name another writer already took must not replace their file silently."""

from __future__ import annotations

from PySide6.QtCore import Qt

from gui_support import TIMEOUT_MS
from test_files_moves import ls, said
from test_files_page import SHARED, files_windows, names, open_shared, select_names


def test_move_or_rename_onto_a_taken_name_replaces_nothing(qtbot, alice_window, make_window, tmp_path, run,
                                                          monkeypatch):
    """Two rows moved into a directory that already holds a file named like the second: the
    whole move is refused before anything moves (the engine's rename, like POSIX's, would
    replace that file), said in words with a typed error; F2 onto a taken name likewise."""
    from PySide6.QtWidgets import QInputDialog

    a, b = files_windows(alice_window, make_window, tmp_path, qtbot)
    run(a.app.files.mkdir(f"{SHARED}/docs", upload=False))
    for p, body in (("a.txt", b"mine a"), ("b.txt", b"mine b"), ("docs/b.txt", b"theirs")):
        run(a.app.files.write(f"{SHARED}/{p}", body, upload=False))
    open_shared(qtbot, a)
    qtbot.waitUntil(lambda: names(a) == {"a.txt", "b.txt", "docs"}, timeout=TIMEOUT_MS)
    shown = said(a)
    a.move_paths([f"{SHARED}/a.txt", f"{SHARED}/b.txt"], f"{SHARED}/docs")
    qtbot.waitUntil(lambda: bool(shown), timeout=TIMEOUT_MS)
    assert [e.code for e in shown] == ["FS_EXISTS"] and "docs/b.txt already exists" in str(shown[0])
    assert ls(run, a.app, SHARED) == {"a.txt", "b.txt", "docs"}
    assert ls(run, a.app, f"{SHARED}/docs") == {"b.txt"}
    assert run(a.app.files.read(f"{SHARED}/docs/b.txt")) == b"theirs"

    # F2: a.txt renamed to b.txt is refused; b.txt keeps its bytes
    qtbot.waitUntil(lambda: not a.busy.isVisible(), timeout=TIMEOUT_MS)
    select_names(a, "a.txt")
    monkeypatch.setattr(QInputDialog, "getText", lambda *a_, **k: ("b.txt", True))
    a.list.setFocus()
    qtbot.keyClick(a.list, Qt.Key_F2)
    qtbot.waitUntil(lambda: len(shown) == 2, timeout=TIMEOUT_MS)
    assert shown[1].code == "FS_EXISTS"
    assert ls(run, a.app, SHARED) == {"a.txt", "b.txt", "docs"}
    assert run(a.app.files.read(f"{SHARED}/b.txt")) == b"mine b"

    # what bob gets after the upload: both files of each name
    run(a.app.files.sync(timeout=60), timeout=90_000)
    assert ls(run, b.app, f"{SHARED}/docs") == {"b.txt"}
    assert run(b.app.files.read(f"{SHARED}/docs/b.txt")) == b"theirs"
    assert run(b.app.files.read(f"{SHARED}/a.txt")) == b"mine a"


def test_move_to_takes_a_name_typed_without_a_slash_as_a_directory_here(qtbot, alice_window, make_window,
                                                                        tmp_path, run, monkeypatch):
    """A newcomer types "docs" (not /private/…/docs) into Move to…: the rows move into the
    directory docs below the one shown (it was refused as a bad folder name); a name that
    is not there is said in words and nothing moves."""
    from PySide6.QtWidgets import QInputDialog

    a, _b = files_windows(alice_window, make_window, tmp_path, qtbot)
    run(a.app.files.mkdir(f"{SHARED}/docs", upload=False))
    run(a.app.files.write(f"{SHARED}/a.txt", b"a", upload=False))
    open_shared(qtbot, a)
    qtbot.waitUntil(lambda: names(a) == {"a.txt", "docs"}, timeout=TIMEOUT_MS)
    shown = said(a)
    select_names(a, "a.txt")
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a_, **k: ("no-such-dir", True))
    a.move_to_clicked()
    qtbot.waitUntil(lambda: bool(shown), timeout=TIMEOUT_MS)
    assert shown[0].code == "NOT_FOUND" and "there is no directory /private/" in str(shown[0])
    assert ls(run, a.app, SHARED) == {"a.txt", "docs"}
    qtbot.waitUntil(lambda: not a.busy.isVisible(), timeout=TIMEOUT_MS)
    select_names(a, "a.txt")
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a_, **k: (" docs/ ", True))
    a.move_to_clicked()
    qtbot.waitUntil(lambda: names(a) == {"docs"}, timeout=TIMEOUT_MS)
    assert ls(run, a.app, f"{SHARED}/docs") == {"a.txt"} and len(shown) == 1

    # into a file: refused in words, nothing moves
    run(a.app.files.write(f"{SHARED}/b.txt", b"b", upload=False))
    qtbot.waitUntil(lambda: not a.busy.isVisible(), timeout=TIMEOUT_MS)
    a.move_paths([f"{SHARED}/docs"], f"{SHARED}/b.txt")
    qtbot.waitUntil(lambda: len(shown) == 2, timeout=TIMEOUT_MS)
    assert shown[1].code == "FS_MOVE_REFUSED" and "is a file, not a directory" in str(shown[1])
    assert ls(run, a.app, SHARED) == {"b.txt", "docs"}


def test_move_across_folders_keeps_what_arrived_in_the_source_meanwhile(qtbot, alice_window, make_window,
                                                                      tmp_path, run, monkeypatch):
    """A directory is moved to another folder; while its files are being copied, a file lands
    in it (another writer's, or one dropped in another window) and a copied one changes. The
    old end of the move removed the source recursively: both went from the folder, though no
    copy held them. Now the source is listed again first and stays whole, and it is said."""
    from kbapp.gui.pages.files import transfers
    from test_files_moves import MINE, drag_rows, drop_on_sidebar

    a, _b = files_windows(alice_window, make_window, tmp_path, qtbot)
    files = a.app.files
    run(files.mkdir(f"{SHARED}/trip", upload=False))
    for n in ("x.txt", "y.txt", "z.txt"):
        run(files.write(f"{SHARED}/trip/{n}", n.encode() * 1000, upload=False))
    a.select_folder(MINE)
    open_shared(qtbot, a)
    qtbot.waitUntil(lambda: names(a) == {"trip"}, timeout=TIMEOUT_MS)

    real_copy, landed = transfers.copy_in_folders, []

    async def copy_then_meddle(fs, t):
        await real_copy(fs, t)
        if not landed:                          # after the first copy: a newcomer, and x.txt edited
            landed.append(t.origin)
            await files.write(f"{SHARED}/trip/new.txt", b"arrived meanwhile", upload=False)
            await files.write(f"{SHARED}/trip/x.txt", b"edited meanwhile", upload=False)
    monkeypatch.setattr(transfers, "copy_in_folders", copy_then_meddle)
    drop_on_sidebar(a, drag_rows(qtbot, a, "trip"), MINE)
    qtbot.waitUntil(lambda: bool(landed) and not a.queue.busy, timeout=TIMEOUT_MS)
    qtbot.wait(300)
    assert ls(run, a.app, f"{SHARED}/trip") == {"new.txt", "x.txt", "y.txt", "z.txt"}     # nothing lost
    assert run(files.read(f"{SHARED}/trip/new.txt")) == b"arrived meanwhile"
    assert run(files.read(f"{SHARED}/trip/x.txt")) == b"edited meanwhile"
    assert ls(run, a.app, f"{MINE}/trip") == {"x.txt", "y.txt", "z.txt"}               # the copy is whole
    err = a.queue.last_error
    assert err is not None and err.code == "FS_MOVE_REFUSED" and "trip/new.txt was added" in str(err)

    # unchanged since: moved again (another drag), the source goes this time
    qtbot.waitUntil(lambda: "trip" in names(a), timeout=TIMEOUT_MS)
    run(files.rm(f"{MINE}/trip", recursive=True, upload=False))
    drop_on_sidebar(a, drag_rows(qtbot, a, "trip"), MINE)
    qtbot.waitUntil(lambda: "trip" not in ls(run, a.app, SHARED), timeout=TIMEOUT_MS)
    assert ls(run, a.app, f"{MINE}/trip") == {"new.txt", "x.txt", "y.txt", "z.txt"}
    assert run(files.read(f"{MINE}/trip/x.txt")) == b"edited meanwhile"


def test_a_pasted_copy_keeps_its_extension_last(qtbot, alice_window, make_window, tmp_path, run):
    """Copy and paste in the same directory: "photo (copy).jpg", then "photo (copy 2).jpg" (a
    picture still, with its thumbnail and preview), a directory "docs (copy)"; the copy named
    "photo.jpg (copy)" was a file no viewer opens."""

    a, _b = files_windows(alice_window, make_window, tmp_path, qtbot)
    run(a.app.files.write(f"{SHARED}/photo.jpg", b"not really a jpeg", upload=False))
    run(a.app.files.mkdir(f"{SHARED}/docs", upload=False))
    open_shared(qtbot, a)
    qtbot.waitUntil(lambda: names(a) == {"photo.jpg", "docs"}, timeout=TIMEOUT_MS)
    for expect in ({"photo (copy).jpg", "docs (copy)"}, {"photo (copy 2).jpg", "docs (copy 2)"}):
        select_names(a, "photo.jpg", "docs")
        a.list.setFocus()
        qtbot.keyClick(a.list, Qt.Key_C, Qt.ControlModifier)
        qtbot.keyClick(a.list, Qt.Key_V, Qt.ControlModifier)
        qtbot.waitUntil(lambda: expect <= ls(run, a.app, SHARED) and not a.queue.busy, timeout=TIMEOUT_MS)
    assert run(a.app.files.read(f"{SHARED}/photo (copy 2).jpg")) == b"not really a jpeg"
