"""What was dropped on the Files page, on its way into the journal: one row per file.

A drop becomes a list of `Transfer`s (a directory is walked on a worker thread: symlinks,
fifos, devices and sockets are skipped and said so, names that are not UTF-8 are refused by
name). One task feeds them to `app.files.write` in order, each file read through a counting
reader so its row has a progress bar; the engine acknowledges a file once it is durable in
the journal, and its background uploader takes it from there (the status line follows the
engine's queue). Cancel drops waiting rows and stops the running one (nothing half-written
is acknowledged); Retry puts failed rows back in line.

Rows copied from another encrypted folder (`origin`: a move or a paste across folders) are
streamed the same way (folder_copy.py); a `Move` removes its source only once every copy of
it is saved, so a failure or a cancel mid-way leaves the source where it was.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt, Signal

from kbapp.core import errors
from kbapp.client.local_read import identity, open_regular
from kbapp.core.fs.names import MAX_PATH_DEPTH, check_component

from ...plain import plain_tip
from .folder_copy import copy_in_folders
from .models import human_size
from .move_settle import check_unchanged

WAITING, COPYING, SAVED, FAILED, CANCELLED = "waiting", "copying", "saved", "failed", "cancelled"
MAX_DROP = 100_000               # files in one drop; a bigger tree is refused, not half taken


@dataclass
class Transfer:
    src: Path
    dest: str                     # folder path the file goes to
    size: int
    is_dir: bool = False
    done: int = 0
    state: str = WAITING
    error: str = ""
    started: float = field(default=0.0)
    origin: str = ""              # a folder path: copied from an encrypted folder, not the disk
    seen: tuple = ()              # the origin's listing when planned (move_settle.sig)
    ident: tuple | None = None    # (st_dev, st_ino) when planned: the file read is that one


@dataclass
class Move:
    """A move across folders: the source goes once every copy of it is saved (never before)."""
    src: str
    items: list[Transfer]


def _shown(p: Path) -> str:
    """A local path for a message: undecodable bytes escaped, never raw."""
    return repr(str(p))[1:-1] if str(p).isprintable() else repr(os.fsencode(p))


def plan_drop(paths: list[Path], dest_dir: str) -> tuple[list[Transfer], list[str]]:
    """Transfers for dropped local paths (directories walked), and what was skipped and why.
    Runs on a worker thread: it lstats every entry (a symlink is never followed, a fifo never
    opened), walks without recursion, and refuses the whole drop past MAX_DROP entries or a
    tree deeper than a folder path may be, before anything is queued."""
    out: list[Transfer] = []
    skipped: list[str] = []
    base = dest_dir.rstrip("/")
    seen = 0
    todo: list[tuple[Path, str]] = [(Path(p), base) for p in reversed(paths)]
    while todo:
        p, dest = todo.pop()
        seen += 1
        if seen > MAX_DROP:
            raise errors.DropRefused(f"this drop holds more than {MAX_DROP:,} files and directories: nothing was "
                                     "copied. Drop fewer at a time (one directory, then the next).")
        try:
            name = check_component(p.name)
        except errors.BadPathName as e:
            skipped.append(f"{_shown(p)}: a folder cannot store this name ({e})")
            continue
        target = f"{dest}/{name}"
        if target.count("/") - 2 > MAX_PATH_DEPTH:         # "/kind/name/..." : components below the root
            raise errors.DropRefused(f"{_shown(p)} is more than {MAX_PATH_DEPTH} directories deep: nothing was "
                                     "copied")
        try:
            st = os.lstat(p)
        except OSError as e:
            skipped.append(f"{_shown(p)}: {e.strerror or e}")
            continue
        if stat.S_ISLNK(st.st_mode):
            skipped.append(f"{_shown(p)}: a symbolic link (not followed)")
        elif stat.S_ISDIR(st.st_mode):
            out.append(Transfer(p, target, 0, is_dir=True))
            try:
                with os.scandir(p) as it:
                    children = []
                    for c in it:                  # a huge directory is refused while it is read
                        children.append(c)
                        if seen + len(children) > MAX_DROP:
                            raise errors.DropRefused(f"this drop holds more than {MAX_DROP:,} files and "
                                                     "directories: nothing was copied. Drop fewer at a time.")
                children.sort(key=lambda d: d.name)
            except OSError as e:
                skipped.append(f"{_shown(p)}: {e.strerror or e}")
                continue
            todo.extend((Path(c.path), target) for c in reversed(children))
        elif stat.S_ISREG(st.st_mode):
            out.append(Transfer(p, target, st.st_size, ident=identity(st)))
        else:
            skipped.append(f"{_shown(p)}: not a regular file (a device, pipe or socket)")
    return out, skipped


class _CountingReader:
    """A binary file whose reads advance a Transfer's `done` (read by the Qt thread's repaint)."""

    def __init__(self, t: Transfer):
        self.t = t
        # never through a symlink swapped in since the plan, never a fifo's wait on the Qt thread
        self.f = open_regular(t.src, t.ident)

    def read(self, n: int = -1) -> bytes:
        b = self.f.read(n)
        self.t.done += len(b)
        return b

    def close(self) -> None:
        self.f.close()


class TransferModel(QAbstractTableModel):
    """The rows of the transfer panel: name, progress, state."""

    COLUMNS = ("File", "Progress", "State")
    ProgressRole = Qt.UserRole + 7

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[Transfer] = []

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole and 0 <= section < 3:
            return self.COLUMNS[section]
        return None

    def add(self, items: list[Transfer]) -> None:
        if not items:
            return
        self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows) + len(items) - 1)
        self.rows.extend(items)
        self.endInsertRows()

    def changed(self, t: Transfer | None = None) -> None:
        if not self.rows:
            return
        if t is None:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, 2))
            return
        try:
            r = self.rows.index(t)
        except ValueError:
            return
        self.dataChanged.emit(self.index(r, 0), self.index(r, 2))

    def clear_finished(self) -> None:
        keep = [t for t in self.rows if t.state in (WAITING, COPYING, FAILED)]
        if len(keep) != len(self.rows):
            self.beginResetModel()
            self.rows = keep
            self.endResetModel()

    def data(self, index, role=Qt.DisplayRole):
        row = index.row()
        if not 0 <= row < len(self.rows) or not index.isValid():
            return None
        role = int(role)                       # ints: each Qt enum comparison is a Python call
        t, col = self.rows[row], index.column()
        if role == _DISPLAY:
            if col == 0:
                return t.dest.rsplit("/", 1)[-1] + ("/" if t.is_dir else "")
            if col == 1:
                return "" if t.is_dir else f"{_pct(t)}% · {human_size(t.size)}"
            if col == 2:
                return {WAITING: "Waiting", COPYING: "Encrypting", SAVED: "Saved",
                        FAILED: f"Failed: {t.error}", CANCELLED: "Cancelled"}[t.state]
        if role == _PROGRESS:
            return _pct(t)
        if role == _TOOLTIP:
            why = {SAVED: "Saved in the journal on this device: it uploads in the background"}.get(t.state, "")
            return plain_tip(f"{t.src}\n→ {t.dest}" + (f"\n{t.error}" if t.error else "") + (f"\n{why}" if why else ""))
        return None


def _pct(t: Transfer) -> int:
    return 100 if t.state == SAVED else (int(100 * t.done / t.size) if t.size else 0)


_DISPLAY, _TOOLTIP, _PROGRESS = int(Qt.DisplayRole), int(Qt.ToolTipRole), int(TransferModel.ProgressRole)


class TransferQueue(QObject):
    """Feeds transfers to the engine one at a time; signals for the page's bars."""

    progress = Signal()                 # something moved (throttled by the page's timer)
    finished = Signal(int, int)         # saved, failed: the line has nothing left to do
    failed = Signal(str)                # a row failed: its reason, for the banner

    def __init__(self, files, parent=None):
        super().__init__(parent)
        self.files = files
        self.model = TransferModel(self)
        self._task: asyncio.Task | None = None
        self._reader: _CountingReader | None = None
        self.current: Transfer | None = None
        self.last_error: BaseException | None = None     # the last row's failure, for the page's banner
        self.moves: list[Move] = []

    def add(self, items: list[Transfer], moves: list[Move] = ()) -> None:
        self.model.add(items)
        listed = {id(t) for t in self.model.rows}          # a cancelled move cleared from the list: forgotten
        self.moves = [m for m in self.moves if all(id(t) in listed for t in m.items)] + list(moves)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def totals(self) -> dict:
        rows = [t for t in self.model.rows if not t.is_dir]
        live = [t for t in rows if t.state in (WAITING, COPYING)]
        total = sum(t.size for t in live)
        done = sum(t.done for t in live)
        t0 = min((t.started for t in live if t.started), default=0.0)
        speed = done / (time.monotonic() - t0) if t0 and done else 0.0
        return {"files": len(live), "bytes": total, "done": done,
                "eta_s": (total - done) / speed if speed else None,
                "failed": sum(t.state == FAILED for t in rows)}

    async def _run(self) -> None:
        saved = failed = 0
        while True:
            t = next((x for x in self.model.rows if x.state == WAITING), None)
            if t is None:
                break
            t.state, t.started, t.done, self.current = COPYING, time.monotonic(), 0, t
            self.model.changed(t)
            try:
                if t.is_dir:
                    await self.files.mkdir(t.dest, parents=True, upload=False)
                elif t.origin:
                    await copy_in_folders(self.files, t)
                else:
                    self._reader = _CountingReader(t)
                    try:
                        await self.files.write(t.dest, self._reader, upload=False)
                    finally:
                        self._reader.close()
                        self._reader = None
                t.state = SAVED
                saved += 1
                self.files.start()            # the background uploader takes it from the journal
            except asyncio.CancelledError:
                t.state = CANCELLED
                self.model.changed(t)
                raise
            except (errors.KbappError, OSError) as e:
                t.state, t.error = FAILED, str(e) or type(e).__name__
                failed += 1
                self.last_error = e
                if isinstance(e, (errors.JournalFull, errors.FolderNotWriter)):
                    for x in self.model.rows:         # the rest would fail the same way: held, for Retry
                        if x.state == WAITING:
                            x.state, x.error = FAILED, t.error
                            failed += 1
                self.failed.emit(t.error)
            self.current = None
            self.model.changed(t)
            await self._settle_moves()
            self.progress.emit()
        self.finished.emit(saved, failed)

    async def _settle_moves(self) -> None:
        """Remove each moved source whose copies are all saved; a failed remove is said, and
        the source stays (a copy more, never a loss)."""
        for m in [m for m in self.moves if all(t.state == SAVED for t in m.items)]:
            self.moves.remove(m)
            try:
                await check_unchanged(self.files, m)     # nothing added or changed there meanwhile
                await self.files.rm(m.src, recursive=True, upload=False)
                self.files.start()
            except errors.KbappError as e:
                self.last_error = e
                self.failed.emit(f"{m.src} was copied but not removed: {e}")

    def cancel(self) -> None:
        """Waiting rows are dropped and the running one stopped: what it wrote so far is
        not acknowledged, so nothing half done appears in the folder."""
        for t in self.model.rows:
            if t.state == WAITING:
                t.state = CANCELLED
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self.model.changed()

    def retry(self) -> None:
        again = [t for t in self.model.rows if t.state in (FAILED, CANCELLED)]
        for t in again:
            t.state, t.error, t.done = WAITING, "", 0
        self.model.changed()
        if again and (self._task is None or self._task.done()):
            self._task = asyncio.ensure_future(self._run())
