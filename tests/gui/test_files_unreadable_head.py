"""The Files page when a writer made the folder's newest revision unreadable (rollback.py).

bob (a real client, core bypassed: tests/fs_hostile_support.py) posts a revision whose root
block he never uploads. alice's page says who broke it and offers the way out as a button
on its banner; she confirms, the folder is rolled back for everyone and lists again, and
bob's window sees the rolled-back folder too.
"""

from __future__ import annotations

from gui_support import TIMEOUT_MS
from test_files_page import SHARED, files_windows, names, open_shared


def test_an_unreadable_head_is_explained_and_rolled_back_from_the_banner(qtbot, alice_window, make_window,
                                                                       tmp_path, run, monkeypatch):
    from fs_hostile_support import HostileTree
    from kbapp.gui import dialogs

    a, b = files_windows(alice_window, make_window, tmp_path, qtbot)
    run(a.app.files.write(SHARED + "/plan.txt", b"the plan"))
    open_shared(qtbot, a)
    qtbot.waitUntil(lambda: names(a) == {"plan.txt"}, timeout=TIMEOUT_MS)

    async def hostile():
        evil = await HostileTree(b.app, SHARED).start()
        return await evil.post([evil.file("<b>gone</b>.txt", b"never uploaded")], withhold=True)
    bad = run(hostile())
    a.app.files.fs.synced.clear()
    a.open_dir(SHARED, ())
    qtbot.waitUntil(lambda: a.banner.isVisible() and a.banner.action.isVisible(), timeout=TIMEOUT_MS)
    assert "can't be read" in a.banner.title.text()
    assert f"Revision {bad}" in a.banner.message.text() and "bob" in a.banner.message.text()
    assert a.banner.action.text() == f"Roll back to revision {bad - 1}"
    assert names(a) == set()

    asked = []

    async def yes(*args):
        asked.append(args[2])
        return True
    monkeypatch.setattr(dialogs, "confirm", yes)
    a.banner.action.click()
    qtbot.waitUntil(lambda: names(a) == {"plan.txt"}, timeout=TIMEOUT_MS)
    assert asked and f"revision {bad - 1}" in asked[0]
    assert not a.banner.action.isVisible()
    assert run(b.app.files.read(SHARED + "/plan.txt")) == b"the plan"
    open_shared(qtbot, b)
    qtbot.waitUntil(lambda: names(b) == {"plan.txt"}, timeout=TIMEOUT_MS)
