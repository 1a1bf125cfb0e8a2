"""PDF preview under a hostile folder (ATTACK5): a user arrowing through many PDFs another
writer put there must not start a pdfium child per file, all at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from test_files_thumbnails import minimal_pdf

from kbapp.core import errors
from kbapp.gui.pages.files import pdf


def test_a_newer_pdf_preview_kills_the_older_child(run, tmp_path, monkeypatch):
    """Four previews asked one after another (each document keeps pdfium busy: here a worker
    that never answers): only the newest one's child runs; the older ones are killed at once
    and say so (PreviewFailed), the newest meets its timeout, and no process is left."""
    hang = tmp_path / "slow_worker.py"
    hang.write_text("import sys, time\nsys.stdin.buffer.read()\ntime.sleep(120)\n")
    monkeypatch.setattr(pdf, "WORKER", hang)

    def running() -> list[str]:
        out = []
        for d in Path("/proc").iterdir():
            try:
                if d.name.isdigit() and str(hang).encode() in (d / "cmdline").read_bytes() \
                        and "\nState:\tZ" not in (d / "status").read_text():
                    out.append(d.name)
            except OSError:
                pass
        return out

    async def scroll():
        tasks = []
        for _ in range(4):
            tasks.append(asyncio.ensure_future(pdf.render(minimal_pdf(), 300, timeout=6.0)))
            await asyncio.sleep(0.4)
        await asyncio.sleep(1.0)
        alive = running()
        return alive, await asyncio.gather(*tasks, return_exceptions=True)

    alive, results = run(scroll(), timeout=60_000)
    assert len(alive) == 1
    assert [type(r) for r in results] == [errors.PreviewFailed] * 3 + [errors.PreviewTimedOut]
    assert all("newer preview" in str(r) for r in results[:3])
    assert running() == []
