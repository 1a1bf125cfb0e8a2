"""PDF preview: the first page rendered by pypdfium2 (the optional `pdf` extra) in a separate
process, and "Open with the system viewer" for when it is missing or fails.

PySide6-Essentials has no QtPdf, and a PDF is someone else's program-like file: pdfium runs in
`pdf_worker.py`, a child process with memory and CPU limits, fed the decrypted bytes on stdin,
killed after `TIMEOUT_S`; its PNG (at most `MAX_OUTPUT` bytes) is decoded with the same header
check as thumbnails. A hostile document therefore costs at most a few seconds of a child
process, never the app's event loop or the app itself.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import os
import re
import sys
import tempfile
from pathlib import Path

from kbapp.core import errors

TIMEOUT_S = 10.0
MAX_OUTPUT = 32 << 20
MAX_HEIGHT = 2400            # px of a rendered first page at most
WORKER = Path(__file__).with_name("pdf_worker.py")
# Selecting PDF after PDF (arrow keys through a hostile writer's folder) started a child each,
# up to MEMORY and CPU_S apiece, all at once: a newer render kills the older one's child.
_SEQ = itertools.count(1)
_NEWEST = [0]
_LIVE: dict[int, asyncio.subprocess.Process] = {}
MISSING = ("PDF preview needs the optional pypdfium2 package (pip install 'kbapp[pdf]'). "
           "You can still open the file with the system viewer.")


def available() -> bool:
    return importlib.util.find_spec("pypdfium2") is not None


async def render(data: bytes, width: int, *, timeout: float = TIMEOUT_S) -> tuple[bytes, int]:
    """(PNG bytes of the first page fitted to `width`, page count). Raises PreviewUnavailable
    without pypdfium2, PreviewTimedOut when the child ran too long, PreviewFailed otherwise."""
    if not available():
        raise errors.PreviewUnavailable(MISSING)
    n = next(_SEQ)
    _NEWEST[0] = n
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-I", str(WORKER), str(int(width)), str(MAX_HEIGHT),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _LIVE[n] = proc
    for m, p in list(_LIVE.items()):          # one child at a time: the newest preview's
        if m < _NEWEST[0] and p.returncode is None:
            p.kbapp_superseded = True
            p.kill()
    try:
        out, err = await asyncio.wait_for(_talk(proc, data), timeout)
    except asyncio.TimeoutError:
        raise errors.PreviewTimedOut(f"the PDF took longer than {timeout:g} s to render: not shown") from None
    finally:
        _LIVE.pop(n, None)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if getattr(proc, "kbapp_superseded", False):
        raise errors.PreviewFailed("a newer preview took its place")
    if proc.returncode == 2:
        raise errors.PreviewUnavailable(MISSING)
    lines = err.decode("utf-8", "replace").splitlines()
    if proc.returncode != 0 or not out:
        why = lines[-1] if lines else f"the renderer stopped (exit {proc.returncode})"
        raise errors.PreviewFailed(why[:300])
    if len(out) > MAX_OUTPUT:
        raise errors.PreviewFailed("the rendered page is too large to show")
    pages = next((int(m.group(1)) for ln in lines if (m := re.fullmatch(r"pages (\d{1,9})", ln))), 1)
    return out, pages


async def _talk(proc, data: bytes) -> tuple[bytes, bytes]:
    """Feed stdin while reading stdout (capped) and stderr, so neither pipe can fill and block."""
    async def feed() -> None:
        try:
            proc.stdin.write(data)
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass                            # the worker refused early: its exit code says why
        finally:
            proc.stdin.close()

    async def read(stream, cap: int) -> bytes:
        got = bytearray()
        while chunk := await stream.read(1 << 16):
            got += chunk
            if len(got) > cap:          # more than any page we would show: stop the child
                proc.kill()
                break
        return bytes(got)

    _, out, err = await asyncio.gather(feed(), read(proc.stdout, MAX_OUTPUT), read(proc.stderr, 64 << 10))
    await proc.wait()
    return out, err


def safe_name(name: str) -> str:
    """A local file name for an exported copy: letters, digits, `._- ` only, never hidden."""
    base = re.sub(r"[^A-Za-z0-9._ -]", "_", name)[:100].strip(" .") or "document"
    return base if base.lower().endswith(".pdf") else base + ".pdf"


def export_copy(data: bytes, name: str) -> Path:
    """Write a decrypted copy into a fresh private (0700) temporary directory, for a viewer."""
    d = Path(tempfile.mkdtemp(prefix="kbapp-open-"))
    p = d / safe_name(name)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return p
