"""Moving and pasting on the Files page: Cut/Copy/Paste (Ctrl+X/C/V), "Move to…", and rows
dragged onto a directory row, a breadcrumb or a folder in the sidebar.

Within one folder a move is the engine's rename (`app.files.mv`: one journalled op each).
Across folders it is a copy then a remove, through the transfer queue (a row per file with
its progress, Cancel and Retry like a drop), and the source is removed only once every copy
of it is saved: a failure or a cancel mid-way leaves the source untouched. A source holding
something the copy skips (a symlink) is copied, never removed. Paste of files copied on the
desktop (file URLs on the clipboard) goes the way of a drop: streamed from disk, never read
whole. Folder paths on the clipboard and in drags use our own MIME type (folder_copy.py).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from PySide6.QtCore import QEvent, QMimeData, QObject
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QInputDialog, QToolButton

from kbapp.core import errors
from kbapp.core.fs.names import split_path

from ... import ops
from ...models import ObjectRole
from .actions import FileActions, join
from .folder_copy import ROWS_MIME, rows_from_mime, rows_mime_data
from .move_settle import sig
from .transfers import MAX_DROP, Move, Transfer


def folder_of(path: str) -> str:
    return str(split_path(path)[0])


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0]


def _copy_name(name: str, taken: set[str], *, is_dir: bool = False) -> str:
    """A free name for a pasted copy: "photo (copy).jpg", "photo (copy 2).jpg", the file's
    extension kept last (a trailing " (copy)" turned photo.jpg into a file no viewer opens)."""
    stem, dot, ext = name.rpartition(".")
    if is_dir or not stem or not ext:            # a directory, no extension, ".bashrc"
        stem, dot, ext = name, "", ""
    dest, n = name, 1
    while dest in taken:
        dest = f"{stem} (copy{f' {n}' if n > 1 else ''}){dot}{ext}"
        n += 1
    return dest


async def _walk(files, src: str, dest: str, row: dict, out: list[Transfer], skipped: list[str]) -> bool:
    """Transfers copying `src` (a folder path) to `dest`; False when something was skipped."""
    whole = True
    todo = [(src, dest, row)]
    while todo:
        p, d, r = todo.pop()
        if len(out) >= MAX_DROP:
            raise errors.DropRefused(f"more than {MAX_DROP:,} files and directories: nothing was copied")
        kind = r.get("type")
        if kind == "dir":
            out.append(Transfer(PurePosixPath(p), d, 0, is_dir=True, origin=p, seen=sig(r)))
            kids = sorted(await files.ls(p), key=lambda x: x["name"], reverse=True)
            todo.extend((f"{p}/{k['name']}", f"{d}/{k['name']}", k) for k in kids)
        elif kind in ("file", "exec"):
            out.append(Transfer(PurePosixPath(p), d, int(r.get("size") or 0), origin=p, seen=sig(r)))
        else:
            whole = False
            skipped.append(f"{p}: a {kind or 'special entry'} (not copied)")
    return whole


async def plan_folder_copy(files, srcs: list[str], into: str, *, move: bool):
    """(transfers, moves, skipped) copying folder paths into the directory `into`. A move keeps
    each name (one taken there refuses the whole move before anything is copied); a paste
    takes "name (copy)" names instead."""
    taken = {r["name"] for r in await files.ls(into)}
    items: list[Transfer] = []
    moves: list[Move] = []
    skipped: list[str] = []
    for src in srcs:
        name = src.rsplit("/", 1)[-1]
        if move and name in taken:
            raise errors.PathExists(f"{into}/{name} already exists: nothing was moved")
        row = await files.stat(src)
        dest = _copy_name(name, taken, is_dir=row.get("type") == "dir")
        taken.add(dest)
        mine: list[Transfer] = []
        whole = await _walk(files, src, f"{into}/{dest}", row, mine, skipped)
        items += mine
        if move and whole:
            moves.append(Move(src, mine))
        elif move:
            skipped.append(f"{src} was copied, not moved: it holds what a copy skips")
    return items, moves, skipped


async def refuse_taken(files, srcs: list[str], into: str) -> None:
    """PathExists before anything moves when a name is taken in `into`: the engine's rename,
    like POSIX's, replaces a file of that name, which a move on the page must never do
    silently (the file there, maybe another writer's, would vanish from the folder)."""
    try:
        kind = (await files.stat(into)).get("type")
    except errors.NotFound:
        raise errors.NotFound(f"there is no directory {into}: nothing was moved") from None
    if kind != "dir":
        raise errors.MoveRefused(f"{into} is a file, not a directory: nothing was moved")
    taken = {r["name"] for r in await files.ls(into)}
    clash = [s.rsplit("/", 1)[-1] for s in srcs if s.rsplit("/", 1)[-1] in taken]
    if clash:
        raise errors.PathExists(f"{into}/{clash[0]} already exists: nothing was moved (rename one of them first)")


def rows_or_say(page, mime) -> list[str]:
    """Our rows in `mime`; a foreign offer of them is refused on the page's banner ([])."""
    try:
        return rows_from_mime(mime)
    except errors.RowsRefused as e:
        page.banner.show_error(e)
        return []


class CrumbButton(QToolButton):
    """A breadcrumb: rows dropped on it move into that directory."""

    def __init__(self, page, comps: tuple[str, ...]):
        super().__init__()
        self.page, self.comps = page, tuple(comps)
        self.setAcceptDrops(True)

    def dragEnterEvent(self, e) -> None:
        if e.mimeData().hasFormat(ROWS_MIME):
            e.acceptProposedAction()
        else:
            e.ignore()

    dragMoveEvent = dragEnterEvent

    def dropEvent(self, e) -> None:
        paths = rows_or_say(self.page, e.mimeData())
        if paths and self.page.folder:
            self.page.move_paths(paths, join(self.page.folder, self.comps))
            e.acceptProposedAction()


class SidebarDrops(QObject):
    """Rows of ours dropped on a folder in the sidebar move into its top directory (the
    folder model itself takes desktop files, which a drag of rows also carries: the staged
    decrypted copies, which must not be copied back)."""

    def __init__(self, page, view):
        super().__init__(view)
        self.page, self.view = page, view
        view.viewport().installEventFilter(self)

    def _target(self, e) -> str:
        idx = self.view.indexAt(e.position().toPoint())
        f = idx.data(ObjectRole) if idx.isValid() else None
        return f.path if f is not None and not f.header else ""

    def eventFilter(self, obj, e) -> bool:
        kind = e.type()
        if kind not in (QEvent.DragEnter, QEvent.DragMove, QEvent.Drop) or not e.mimeData().hasFormat(ROWS_MIME):
            return False
        target = self._target(e)
        if kind == QEvent.Drop and target:
            paths = rows_or_say(self.page, e.mimeData())
            if paths:
                self.page.move_paths(paths, target)
        if target or kind == QEvent.DragEnter:
            e.acceptProposedAction()
        else:
            e.ignore()
        return True


class FileMoves:
    """Mixed into FilesPage before FileActions (which it uses: _writable, _run)."""

    clip_cut = False                     # the app's clipboard holds a cut (move on paste), not a copy

    def _clip(self, cut: bool) -> None:
        paths = [self.path_of(r["name"]) for r in self.selected_rows()]
        if not paths:
            return
        FileActions.clipboard, FileMoves.clip_cut = paths, cut
        mime = QMimeData()
        mime.setData(ROWS_MIME, rows_mime_data(paths))
        QGuiApplication.clipboard().setMimeData(mime)
        verb = "Cut" if cut else "Copied"
        self.window().statusBar().showMessage(f"{verb} {len(paths)} item(s)", 3000) \
            if hasattr(self.window(), "statusBar") else None

    def copy_clicked(self) -> None:
        self._clip(False)

    def cut_clicked(self) -> None:
        if self._writable():
            self._clip(True)

    def can_paste(self) -> bool:
        mime = QGuiApplication.clipboard().mimeData()
        return bool(FileActions.clipboard) or (mime is not None and (mime.hasUrls() or mime.hasFormat(ROWS_MIME)))

    def paste_clicked(self) -> None:
        """Our rows (copied or cut), else files copied on the desktop, streamed like a drop."""
        if not self._writable():
            return
        mime = QGuiApplication.clipboard().mimeData()
        if mime is not None and mime.hasFormat(ROWS_MIME):
            paths = rows_or_say(self, mime)
            if not paths:
                return                                     # refused (said), or nothing in it
        else:
            local = [Path(u.toLocalFile()) for u in (mime.urls() if mime is not None else []) if u.isLocalFile()]
            if local:
                self.queue_paths(local, self.path())
                return
            paths = list(FileActions.clipboard) if mime is None or not mime.formats() else []
        if not paths:
            return
        if FileMoves.clip_cut and paths == FileActions.clipboard:
            FileActions.clipboard, FileMoves.clip_cut = [], False     # a cut pastes once
            QGuiApplication.clipboard().clear()
            self.move_paths(paths, self.path())
        else:
            self._copy_across(paths, self.path(), move=False)

    def move_to_clicked(self) -> None:
        rows = self.selected_rows()
        if not rows or not self._writable():
            return
        choices = list(dict.fromkeys([self.path()] + [f.path for f in self.folder_model.items if not f.header]))
        dest, ok = QInputDialog.getItem(self, "Move to", "Move into this folder or directory (a path such as "
                                        "/private/alice,bob/docs, or a directory here such as docs/old):",
                                        choices, 0, True)
        dest = dest.strip().rstrip("/")
        if ok and dest:                      # a name without a leading / is a directory below this one
            into = dest if dest.startswith("/") else f"{self.path()}/{dest}"
            self.move_paths([self.path_of(r["name"]) for r in rows], into)

    def move_paths(self, srcs: list[str], into: str) -> None:
        """Move folder paths into the directory `into` (see the module text)."""
        if self.rev is not None:             # rows of a past revision name today's files: nothing to move
            self._writable()                 # says why
            return
        try:
            inside = [s for s in srcs if into == s or into.startswith(s + "/")]
            if inside:
                raise errors.MoveRefused(f"{inside[0]} cannot move into itself")
            srcs = [s for s in srcs if _parent(s) != into]          # already there: nothing to do
            same = bool(srcs) and all(folder_of(s) == folder_of(into) for s in srcs)
        except errors.KbappError as e:
            self.banner.show_error(e)
            return
        if not srcs:
            return
        if not same:
            self._copy_across(srcs, into, move=True)
            return
        files = self.app.files

        async def rename():
            await refuse_taken(files, srcs, into)
            for s in srcs:
                await files.mv(s, f"{into}/{s.rsplit('/', 1)[-1]}", upload=False)
        self._run(rename, key="mv", status=f"Moving {len(srcs)} item(s)…")

    def _copy_across(self, srcs: list[str], into: str, *, move: bool) -> None:
        files = self.app.files

        async def plan():
            await files.check_writable(into)
            if move:
                for s in srcs:                       # a reader's "move" would copy and then fail to remove
                    await files.check_writable(s)
            return await plan_folder_copy(files, srcs, into, move=move)

        def queued(got) -> None:
            items, moves, skipped = got
            if skipped:
                self.banner.show_message("info", f"{len(skipped)} item(s) were not copied or moved",
                                         "\n".join(skipped[:8]) + ("\n…" if len(skipped) > 8 else ""))
            self.queue.add(items, moves)
            self.transfers.setVisible(True)
            self.cancel_button.show()
            self.ticker.start()
            self._progress()
        ops.run(self, plan, key=("plan-copy", into), clear=False, on_done=queued, on_error=self._drop_refused)

    def rows_dropped(self, mime, into: str) -> bool:
        """Rows of ours dropped on the list: moved into `into`. False: no rows in it (files
        from the desktop); a foreign offer of rows is refused and said (True: handled)."""
        if not mime.hasFormat(ROWS_MIME):
            return False
        paths = rows_or_say(self, mime)
        if paths:
            self.move_paths(paths, into)
        return True
