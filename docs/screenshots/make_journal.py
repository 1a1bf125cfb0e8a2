"""Screenshot of the Files page's journal panel ("Sync details") for docs/user-guide.md.

Run under a virtual X server, like make.py:

    xvfb-run -a -s "-screen 0 2240x900x24" .venv/bin/python docs/screenshots/make_journal.py

In a throwaway folder: alice (with the embedded server) drops three files on
/private/alice,bob while the server refuses block uploads (an imitation of a server that
went away), makes a directory, uploads one earlier file; the panel shows each change's state
and reason. Shot: files-journal.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from make import alice_and_bob, settle, shoot, until  # make.py's set-up

import qasync  # noqa: E402

from kbapp.client.fs import publish  # noqa: E402
from kbapp.core import errors  # noqa: E402
from kbapp.gui.main import setup_application  # noqa: E402

SHARED = "/private/alice,bob"


async def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="kbapp-journal-shots-"))
    wa, wb = await alice_and_bob(tmp, 800)
    wa.shell.go("files")
    await until(lambda: wa.shell.files.folder_model.rowCount() > 0, 60)
    a = wa.shell.files
    await wa.app.files.write(f"{SHARED}/notes.txt", b"Uploaded before the server went away.\n")
    a.select_folder(SHARED)
    await until(lambda: a.folder == SHARED, 60)

    async def refused(*_a, **_k):
        raise errors.NetworkError("the server can't be reached (connection refused)")
    wa.app.ctx.api.fs_put_block = refused
    real_put = getattr(publish, "put_blocks", None)
    publish.put_blocks = refused
    files = []
    for name, size in (("Lake trip.mov", 3_400_000), ("budget.csv", 2_000), ("route.gpx", 48_000)):
        p = tmp / name
        p.write_bytes(b"x" * size)
        files.append(p)
    a.queue_paths(files, SHARED)
    await until(lambda: not a.queue.busy and a.queue.model.rowCount() == 0, 60)
    await wa.app.files.mkdir(f"{SHARED}/Photos", upload=False)
    a.journal_button.click()
    panel = a.journal_panel
    await until(lambda: any(e.get("error") for e in panel.model.rows), 60)
    await settle(1.0)
    shoot(wa, "files-journal")
    if real_put is not None:
        publish.put_blocks = real_put
    for w in (wb, wa):
        await w.shutdown()


if __name__ == "__main__":
    qapp = setup_application(sys.argv)
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(main())
