"""`app.files`: the encrypted folder engine (issue 16; docs/folders-plan.md).

Write path: bytes are sealed as they come (core `TreeWriter`, the team's newest kbfs key),
each block kept durably in the journal, then one journal row (an op: write, mkdir, rm,
rename, setattr); only then is the change acknowledged. The disk cap is checked before the
first byte. Uploads (uploader.py, publish.py) squash pending ops into revisions, merge on a
lost compare-and-swap, and move uploaded blocks into the block cache.

Read path: the *local view* is the verified head (sync.py: every revision judged, the head
proven by the transparency map) with the pending ops on top (overlay.py), its blocks from
the journal, the on-disk block cache (cache.py) or the server, each checked. A listing is
served without a round trip when a push hint said the head we hold is current (or within
`fs.fresh_seconds` of a sync, 0 by default: without a push channel every read syncs), and
from the saved head when the network is down. Past revisions (`rev`, `time`) are served
from the revisions the judge accepted.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import logging
import shutil
import time
from collections import OrderedDict
from pathlib import Path

from kbapp.core import errors
from kbapp.core.encoding import pack
from kbapp.core.fs.blocks import MAX_DATA, MAX_STORED, MAC, padded_size
from kbapp.core.fs.conflict import parked_view_name
from kbapp.core.fs.dirs import EXEC, FILE, Entry, read_dir
from kbapp.core.fs.names import split_path
from kbapp.core.fs.tree import TreeWriter
from kbapp.core.teams.state import Role

from . import converged, rollback
from .cache import DEFAULT_MAX, DiskBlockCache
from .journal import Journal
from ..local_read import open_regular
from .overlay import Overlay
from .pins import BlockPins
from .publish import apply_row, apply_rows, upload_batch
from .reading import Reading
from .sync import Folder, FolderSync, unpack_ptr
from .tree_io import BlockCache
from .uploader import Uploader

try:                                         # the Files page's events (its own module)
    from .events import FilesQueueChanged, FolderChanged
except ImportError:                          # pragma: no cover
    FilesQueueChanged = FolderChanged = None

log = logging.getLogger(__name__)
CHUNK = 1 << 20
DIR_MEMO = 256                               # decoded directories kept in memory, by block id
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".heic", ".bmp", ".tif", ".tiff")


def stored_estimate(n: int) -> int:
    """An upper bound of the sealed bytes of an n-byte file (full blocks, padded tail, indirect)."""
    full, rest = divmod(n, MAX_DATA)
    tail = padded_size(rest) + MAC + 64 if rest or not full else 0
    return full * MAX_STORED + tail + (MAX_STORED * (1 + full // 8000) if full else 0)


class FilesService(Reading):
    def __init__(self, ctx, teams):
        self.ctx, self.teams = ctx, teams
        self.journal: Journal | None = None
        self.cache: DiskBlockCache | None = None
        self.used = 0                              # bytes of sealed blocks in the journal
        self.fs = FolderSync(ctx, teams, self.open)
        self.fs.on_revisions = self._verified
        self.uploader = Uploader(self)
        self.pins = BlockPins()                    # blocks of writes in progress (pins.py)
        self._dirs: OrderedDict[str, dict] = OrderedDict()
        self.root_verdicts: dict[str, tuple[float, str | None]] = {}   # rollback.py: root id -> (when, why not)
        self._views: dict[str, tuple] = {}         # folder id -> (head root id, local view Overlay)
        self.photo_hook = None                     # async (folder path, [(path, Entry)]): tests, other libraries
        self.photos = None                         # app.photos (set by the App): images others write go there
        self._tasks: set = set()
        self._handing: dict[str, bool] = {}        # folder id -> a photo hand-off runs (True: again after)
        self.offline = ""                          # why the last read was served from the saved view ("" online)

    async def open(self) -> Journal:
        if self.journal is None:
            journal = await Journal(self.ctx.home).open()
            cap = self._pref_int("fs.cache_max_bytes", DEFAULT_MAX)
            self.cache = await asyncio.to_thread(DiskBlockCache(self.ctx.home, cap).open)
            journal.cache = self.cache
            self.used = await asyncio.to_thread(journal.used_bytes)
            self.journal = journal
        return self.journal

    async def close(self) -> None:
        await self.uploader.stop()
        for t in list(self._tasks):
            t.cancel()
        if self.journal is not None:
            self.journal.close()
            self.journal = None

    # -- compatibility with the first slice (export.py, tests) -------------------------------

    @property
    def _known(self) -> set:
        return self.fs.known

    async def _folder(self, name) -> Folder:
        return await self.fs.folder(name)

    async def _folder_of(self, path: str) -> Folder:
        return await self.fs.folder(split_path(path)[0])

    async def _sync(self, f: Folder):
        s = await self.fs.sync(f)
        return s.judge, s.root

    # -- settings, events ------------------------------------------------------------------

    def _pref_int(self, key: str, default: int) -> int:
        store = getattr(self.ctx, "store", None)
        raw = store.preference(key) if store is not None and hasattr(store, "preference") else None
        try:
            return int(raw) if raw not in (None, "") else default
        except ValueError:
            return default

    def journal_max_bytes(self) -> int:
        """`fs.journal_max_bytes`, else min(10 GiB, 25 % of the free space where the profile is)."""
        free = shutil.disk_usage(self.ctx.home).free
        return self._pref_int("fs.journal_max_bytes", min(10 << 30, free // 4))

    def _emit(self, ev) -> None:
        events = getattr(self.ctx, "events", None)
        if ev is not None and events is not None:
            events.emit(ev)

    def _emit_folder(self, f: Folder, revision: int = 0) -> None:
        if FolderChanged is not None:
            self._emit(FolderChanged(str(f.name), revision))

    def _emit_queue(self) -> None:
        if FilesQueueChanged is not None:
            self._emit(FilesQueueChanged(paused=self.uploader.paused))

    def _notice(self, notice: dict) -> None:
        self.uploader.notices = (self.uploader.notices + [notice])[-20:]

    def _now_ns(self) -> int:
        return int(self.ctx.clock() * 1_000_000_000)

    def _uid(self) -> bytes:
        return bytes.fromhex(self.ctx.require_login()[0])

    # -- directories through the caches ------------------------------------------------------

    def _loader(self, f: Folder):
        cache = BlockCache(self.ctx.api, f.folder_id, self.journal, f.keys, self.cache)

        async def load(ptr) -> dict:
            key = ptr.id.hex()
            hit = self._dirs.get(key)
            if hit is not None:
                self._dirs.move_to_end(key)
                return hit
            d = None if self.cache is None else self.cache.get_listing(key)
            if d is None:
                await cache.load(ptr)
                d = read_dir(ptr, cache.fetch, f.keys)
                cache.blocks.clear()
                if self.cache is not None:
                    self.cache.put_listing(key, d)
            self._dirs[key] = d
            while len(self._dirs) > DIR_MEMO:
                self._dirs.popitem(last=False)
            return d
        return load

    async def _head(self, f: Folder, *, allow_stale: bool, for_write: bool = False, max_age: float = 0.0):
        """The verified head: synced now unless fresh (younger than the `fs.fresh_seconds`
        setting or `max_age`; or, for a write, any head we hold: the upload merges); the saved
        one if offline and allowed."""
        if self.fs.is_hinted(f) or (for_write and f.folder_id in self.fs.synced):
            return self.fs.synced[f.folder_id]
        try:
            s = await self.fs.current(f, max_age=max(self._pref_int("fs.fresh_seconds", 0), max_age, 0))
        except errors.NetworkError as e:
            if not allow_stale:
                raise
            self.offline = str(e) or "the server can't be reached"     # the Files page says so
            return await self.fs.saved(f)
        self.offline = ""
        return s

    async def _local(self, f: Folder, *, for_write: bool = False, max_age: float = 0.0) -> Overlay:
        """The folder's local view, kept between calls while its head and rows are unchanged
        (so a thousand writes do not replay a thousand rows each)."""
        s = await self._head(f, allow_stale=True, for_write=for_write, max_age=max_age)
        key = None if s.root is None else s.root.id.hex()
        hit = self._views.get(f.folder_id)
        if hit is not None and hit[0] == key:
            hit[1].now = self._now_ns()
            return hit[1]
        uid = self._uid()
        ov = Overlay(s.root, self._loader(f), writer=uid, now_ns=self._now_ns())
        await rollback.check_head(self, f, s)      # a head no one can read: typed, with the way out
        await apply_rows(ov, await self.journal.of_folder(str(f.name)), uid)
        self._views[f.folder_id] = (key, ov)
        return ov

    def _stale(self, folder_id: str | None = None) -> None:
        """Rows changed other than by a local op (uploaded, parked, cancelled): rebuild the view."""
        if folder_id is None:
            self._views.clear()
        else:
            self._views.pop(folder_id, None)

    async def _view(self, path: str, *, rev=None, time_s=None, allow_stale: bool = True, held: bool = False,
                    max_age: float = 0.0):
        """(folder, components, overlay) of the local view at `path` (or of a past revision,
        or of a parked view when the first component names one). Read it, do not edit it.
        `held`: the folder and head this session already verified, no network; `max_age`: a
        folder and head verified less than that many seconds ago will do (the mount)."""
        name, comps = split_path(path)
        f = (self.fs.held(name) if held else None) or await self.fs.folder(name, max_age=max_age)
        journal = await self.open()
        uid = self._uid()
        conv = await converged.view(self, f, comps, rev, time_s)      # the folder this name held before
        if conv is not None:
            return conv
        if rev is not None or time_s is not None:
            root = await self._root_at(f, rev, time_s)
            return f, comps, Overlay(root, self._loader(f), writer=uid, now_ns=self._now_ns())
        parked = await journal.of_folder(str(f.name), ("parked",)) if comps else []
        views = {r.view for r in parked}
        if comps and comps[0] in views:
            rows = [r for r in parked if r.view == comps[0]]
            base = (await journal.revs(f.folder_id, rows[0].base, rows[0].base)) if rows[0].base else []
            ov = Overlay(unpack_ptr(base[0].root) if base else None, self._loader(f), writer=uid,
                         now_ns=self._now_ns())
            await apply_rows(ov, rows, uid)
            return f, comps[1:], ov
        if held and (hit := self._views.get(f.folder_id)) is not None:
            # the view this session built last, whose blocks are local: a background sync may
            # have verified a newer head since without fetching its blocks
            hit[1].now = self._now_ns()
            return f, comps, hit[1]
        return f, comps, await self._local(f, for_write=held, max_age=max_age)

    # -- writing ---------------------------------------------------------------------------

    def _check_writer(self, f: Folder) -> None:
        uid, _ = self.ctx.require_login()
        if f.loaded.state.role_of(uid) < Role.WRITER:
            raise errors.FolderNotWriter(f"you are not a writer of {f.name}: it is read-only for you", 403)

    async def check_writable(self, path: str) -> None:
        """FolderNotWriter (or ReadOnlyView) now, from the cached verified team, before anything is
        read or sealed: the Files page asks before a drop, the mount at open/create."""
        if split_path(path)[1]:
            await self._writable(path)
        else:
            self._check_writer(await self.fs.folder(split_path(path)[0], cached=True))

    async def _writable(self, path: str):
        name, comps = split_path(path)
        if not comps:
            raise errors.FsPathRefused("name something inside the folder")
        f = await self.fs.folder(name, cached=True)
        self._check_writer(f)
        converged.refuse_write(f, comps)
        journal = await self.open()
        if any(r.view == comps[0] for r in await journal.of_folder(str(f.name), ("parked",))):
            raise errors.ReadOnlyView(f"{comps[0]!r} is a parked local copy: read-only (copy out of it)")
        return f, comps, journal

    def _base(self, f: Folder) -> int:
        s = self.fs.synced.get(f.folder_id)
        return 0 if s is None else s.judge.state.head_rev

    async def _base_now(self, f: Folder) -> int:
        if f.folder_id not in self.fs.synced:
            await self.fs.saved(f)
            state, _root = await self.journal.folder(f.folder_id)
            return 0 if not state else int(state["head_rev"])
        return self._base(f)

    async def _journal_op(self, f: Folder, comps, op: str, **kw) -> dict:
        """Journal one metadata op after applying it to the local view (which checks it first:
        NotFound, PathExists, a non-empty directory)."""
        ov = await self._local(f, for_write=True)
        row = type("Row", (), dict(op=op, path=tuple(comps), dest=kw.get("dest"), attr=kw.get("attr"),
                                   etype=kw.get("etype", FILE), mtime=self._now_ns(), size=0, root=b"",
                                   writer=None, id=0))
        await apply_row(ov, row, self._uid(), recursive=kw.get("recursive", True))
        try:
            entry_id = await self.journal.add(str(f.name), comps, b"", 0, row.mtime, [], op=op,
                                              dest=kw.get("dest"), etype=row.etype, attr=kw.get("attr"),
                                              base=await self._base_now(f), writer=self.ctx.require_login()[0])
        except BaseException:
            self._stale(f.folder_id)
            raise
        self._emit_folder(f)
        return {"entry": entry_id, "op": op, "path": str(f.name) + "/" + "/".join(comps), "state": "pending"}

    async def _after(self, out: dict, upload: bool) -> dict:
        if upload:
            try:
                await self.uploader.run_once()
            except errors.FolderHeadUnreadable as e:      # another folder's rows wait (this one was written)
                out["error"] = f"{e.code}: {e}"
                self.uploader.start()
            except errors.VerificationError:
                raise
            except errors.KbappError as e:
                if isinstance(e, errors.FolderRefused) and not isinstance(e, errors.FolderHeadMoved):
                    raise
                out["error"] = f"{e.code}: {e}"
                self.uploader.start()                         # retried in the background
                return out
            row = await self.journal.get(out["entry"])
            out["state"] = row.state if row is not None else out["state"]
        self._emit_queue()
        return out

    async def write(self, path: str, data, *, upload: bool = True, mtime_ns: int | None = None,
                    executable: bool = False) -> dict:
        """Seal and journal one file; returns once it is durable (the ack); with `upload`, the
        pending changes are uploaded before returning. `data`: bytes, a binary file or a Path
        (opened by local_read.py: never through a symlink, never waiting on a fifo)."""
        if not isinstance(data, Path):
            return await self._write(path, data, upload, mtime_ns, executable)
        stream = await asyncio.to_thread(open_regular, data)
        try:
            return await self._write(path, stream, upload, mtime_ns, executable)
        finally:
            stream.close()

    async def _write(self, path: str, data, upload: bool, mtime_ns: int | None, executable: bool) -> dict:
        f, comps, journal = await self._writable(path)
        size = _size_of(data)
        cap = self.journal_max_bytes()
        if size is not None and self.used + stored_estimate(size) > cap:
            raise errors.JournalFull(f"the journal holds {self.used} bytes; this file would pass its cap of "
                                     f"{cap} (fs.journal_max_bytes): upload or wait, or raise the cap")
        ov = await self._file_fits(f, path, comps)
        stream = io.BytesIO(data) if isinstance(data, bytes) else data
        w = TreeWriter(**f.seal_kw())
        ids: list[str] = []
        kept = 0

        def keep(pairs) -> None:
            nonlocal kept
            for ptr, stored in pairs:
                if self.used + kept + len(stored) > cap:          # its blocks are released below
                    raise errors.JournalFull(f"this file passed the journal's cap of {cap} bytes "
                                             "(fs.journal_max_bytes): nothing of it was kept")
                self.pins.pin(ptr.id.hex())                      # pins.py: shared blocks survive
                ids.append(ptr.id.hex())
                journal.put_block(ptr.id.hex(), stored)
                kept += len(stored)

        def step() -> bool:
            """Read, seal and keep one chunk: on a worker thread, so a big file never blocks the
            loop (the Files page's window, the mount's other calls) for more than a chunk."""
            chunk = stream.read(CHUNK)
            if chunk:
                keep(w.write(chunk))
            return bool(chunk)

        try:
            while await asyncio.to_thread(step):
                pass
            root, rest = await asyncio.to_thread(w.finish)
            await asyncio.to_thread(keep, rest)
            mtime = mtime_ns if mtime_ns is not None else self._now_ns()
            uid = self.ctx.require_login()[0]
            entry_id = await journal.add(str(f.name), comps, pack(root.to_wire()), w.size, mtime, ids,
                                         etype=EXEC if executable else FILE, base=await self._base_now(f),
                                         writer=uid)
        except Exception:                   # not journalled: its blocks go, unless another entry names them
            await self.pins.release(journal, ids, pinned=True)
            raise
        except BaseException:               # cancelled: no journal row, so nothing is acknowledged
            self.pins.unpin(ids)
            raise
        self.pins.unpin(ids)                # the row names them now
        self.used += kept
        await ov.write(tuple(comps), Entry(comps[-1], EXEC if executable else FILE, root, w.size, mtime,
                                           bytes.fromhex(uid)))
        self._emit_folder(f)
        return await self._after({"entry": entry_id, "path": path, "size": w.size, "state": "pending"}, upload)

    async def mkdir(self, path: str, *, parents: bool = False, upload: bool = True) -> dict:
        f, comps, _j = await self._writable(path)
        ov = await self._local(f, for_write=True)
        e = await ov.entry(tuple(comps))
        if e is not None:
            if parents and e.is_dir:
                return {"entry": None, "op": "mkdir", "path": path, "state": "exists"}
            raise errors.PathExists(f"{path!r} already exists")
        if not parents:
            await ov.dir(tuple(comps[:-1]))                  # NotFound without -p
        return await self._after(await self._journal_op(f, comps, "mkdir"), upload)

    async def rm(self, path: str, *, recursive: bool = False, upload: bool = True) -> dict:
        f, comps, _j = await self._writable(path)
        return await self._after(await self._journal_op(f, comps, "rm", recursive=recursive), upload)

    async def mv(self, src: str, dst: str, *, upload: bool = True) -> dict:
        f, comps, _j = await self._writable(src)
        g, to, _j = await self._writable(dst)
        if f.folder_id != g.folder_id:
            raise errors.FsPathRefused("mv renames within one folder (copy across folders, then remove)")
        out = await self._journal_op(f, comps, "rename", dest=tuple(to))
        out["to"] = dst
        return await self._after(out, upload)

    async def _file_fits(self, f, path: str, comps):
        """The local view, where a file can go at `comps`: no directory there, no file in the
        way of a parent (refused now, not parked at upload while the command said it was done)."""
        ov = await self._local(f, for_write=True)
        old = await ov.entry(tuple(comps))
        if old is not None and old.is_dir:
            raise errors.FsPathRefused(f"{path!r} is a directory")
        for i in range(1, len(comps)):
            e = await ov.entry(tuple(comps[:i]))
            if e is not None and not e.is_dir:
                raise errors.FsPathRefused(f"{'/'.join(comps[:i])!r} is a file, not a directory")
        return ov

    async def restore(self, path: str, rev: int, *, upload: bool = True) -> dict:
        """Write the content `path` had at revision `rev` as a new change (no bytes re-sent:
        the blocks are the server's already)."""
        f, comps, journal = await self._writable(path)
        _f, _c, past = await self._view(path, rev=rev)
        e = await past.entry(tuple(comps))
        if e is None or e.type not in (FILE, EXEC):
            raise errors.NotFound(f"no file {path!r} at revision {rev}")
        await self._file_fits(f, path, comps)
        entry_id = await journal.add(str(f.name), comps, pack(e.ptr.to_wire()), e.size, self._now_ns(), [],
                                     etype=e.type, base=await self._base_now(f), writer=self.ctx.require_login()[0])
        self._stale(f.folder_id)            # the local view shows it now, not after the upload
        self._emit_folder(f)
        return await self._after({"entry": entry_id, "path": path, "size": e.size, "restored_from": rev,
                                  "state": "pending"}, upload)

    # -- the queue -------------------------------------------------------------------------

    async def rollback(self, folder: str, rev: int, *, expect_head: int | None = None) -> dict:
        """Roll `folder` back to revision `rev` with a new revision (rollback.py: the way out of
        a head no one can read)."""
        return await rollback.rollback(self, folder, rev, expect_head=expect_head)

    async def upload(self) -> dict:
        """Upload every pending change now; {"uploaded": [ids], "failed": [ids]} (errors raised)."""
        return await self.uploader.run_once()

    async def _upload_batch(self, rows):
        return await upload_batch(self, rows)

    def start(self) -> None:
        """Run the background uploader (the GUI calls it once logged in); resumes from the journal."""
        self.uploader.start()

    def pause(self, reason: str = "paused by you") -> None:
        self.uploader.pause(reason)
        self._emit_queue()

    def resume(self) -> None:
        self.uploader.resume()
        self._emit_queue()

    async def sync(self, timeout: float | None = None) -> dict:
        """Wait until nothing is pending (FolderSyncTimeout, UploadFailed, or a verification error)."""
        return await self.uploader.sync(timeout)

    async def cancel(self, entry_id: int) -> dict:
        """Stop uploading a pending change (or give up a failed one, which `sync` reports until
        then). Never lost: it moves to a read-only parked view "(local conflicted copy DATE)"
        of its folder, from where it can be copied back."""
        journal = await self.open()
        async with self.uploader.lock:
            row = await journal.get(entry_id)
            if row is None:
                raise errors.NotFound(f"no journal entry {entry_id}")
            if row.state not in ("pending", "failed"):
                raise errors.Conflict(f"entry {entry_id} is {row.state}: only a pending or failed change "
                                      "can be cancelled")
            view = parked_view_name(time.strftime("%Y-%m-%d", time.gmtime(self.ctx.clock())))
            await journal.update([entry_id], state="parked", view=view, error="cancelled by you")
            self._stale()
        self._emit_queue()
        return {"entry": entry_id, "state": "parked", "view": view}

    async def status(self) -> dict:
        journal = await self.open()
        rows, uploaded, recent = await journal.summary(50)
        pending = [r for r in rows if r.state == "pending"]
        pbytes = sum(r.size for r in pending if r.op == "write" and r.blocks)
        up = self.uploader
        return {"pending": len(pending), "pending_files": sum(r.op == "write" for r in pending),
                "pending_bytes": pbytes, "uploaded": uploaded,
                "failed": [{"id": r.id, "error": r.error} for r in rows if r.state == "failed"],
                "parked": sorted({f"{r.folder}/{r.view}" for r in rows if r.state == "parked"}),
                "speed_bps": round(up.speed_bps), "eta_s": (round(pbytes / up.speed_bps, 1)
                                                            if up.speed_bps and pbytes else (0 if not pbytes else None)),
                "paused": up.paused, "reason": up.reason, "last_error": up.last_error, "tries": up.fails,
                "running": up.task is not None and not up.task.done(), "notices": list(up.notices),
                "journal_bytes": self.used, "journal_max_bytes": self.journal_max_bytes(),
                "entries": [{"id": r.id, "op": r.op, "path": r.folder + "/" + "/".join(r.path),
                             "to": None if r.dest is None else r.folder + "/" + "/".join(r.dest), "size": r.size,
                             "state": r.state, "error": r.error, "tries": r.tries, "view": r.view}
                            for r in recent]}

    # -- after a verified revision from others -------------------------------------------------

    async def _verified(self, f: Folder, accepted) -> None:
        """After a verified sync with revisions by others: images go to the photo library
        (`photo_hook(folder, [(path, entry)])` if set, else photos.py's `hand_off` over the
        folder's head, in the background so a listing never waits on tagging)."""
        self._emit_folder(f, accepted[-1][0].revision.revision)
        me = self.ctx.require_login()[0]
        theirs = [(sr, p) for sr, p in accepted if sr.revision.uid != me]
        if not theirs:
            return
        if self.photo_hook is not None:
            items = [("/".join(op.path), op.entry) for _sr, p in theirs for op in p.ops
                     if op.op == "write" and op.path[-1].lower().endswith(IMAGE_EXT)]
            if items:
                await self.photo_hook(str(f.name), items)
            return
        self._hand_off_soon(f)

    def own_images(self, f: Folder, ops) -> None:
        """Our own accepted revision wrote images: the library takes them too (tags for what we
        dropped ourselves, not only for what others wrote)."""
        if any(op.op == "write" and op.path and op.path[-1].lower().endswith(IMAGE_EXT) for op in ops):
            self._hand_off_soon(f)

    def _hand_off_soon(self, f: Folder) -> None:
        """photos.py's `hand_off` over the folder's head, in the background so a listing never
        waits on tagging; one run per folder at a time, and a request during a run runs once more."""
        if self.photo_hook is not None or self.photos is None \
                or importlib.util.find_spec(__package__ + ".photos") is None:
            return
        key = f.folder_id
        if key in self._handing:
            self._handing[key] = True
            return
        self._handing[key] = False
        from . import photos as fs_photos

        async def hand_off() -> None:
            try:
                while True:
                    try:
                        got = await fs_photos.hand_off(self, self.photos, str(f.name))
                        if got.get("indexed") or got.get("forgotten"):     # the Files page asks for tags again
                            from .events import FolderImagesIndexed
                            self._emit(FolderImagesIndexed(str(f.name), got.get("indexed", 0)))
                    except errors.KbappError as e:
                        log.info("fs: photo hand-off of %s: %s", f.name, e)
                    if not self._handing.get(key):
                        return
                    self._handing[key] = False
            finally:
                self._handing.pop(key, None)
        task = asyncio.get_running_loop().create_task(hand_off(), name="kbapp-fs-photos")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _size_of(data) -> int | None:
    if isinstance(data, bytes):
        return len(data)
    try:
        import os
        import stat
        info = os.fstat(data.fileno())
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None     # a pipe's size says nothing

