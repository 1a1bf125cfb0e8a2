"""The read side of `app.files`: ls, stat, read, open_read, history, share (a FilesService mixin).

Everything is read from the local view (service.py `_view`: the verified head with pending
ops on top) or from a past revision the judge accepted (`revs` in the journal); blocks come
from the journal, the block cache or the server, and the core checks each one as it opens it.
A journal that never recorded a folder's early revisions (made before version 2) replays the
folder from revision 1 through a fresh judge, which must end on the head already verified.
"""

from __future__ import annotations

import asyncio
import threading

from kbapp.core import errors
from kbapp.core.fs.blocks import INDIRECT, open_block
from kbapp.core.fs.dirs import DIR, FILE, EXEC, Entry, lookup
from kbapp.core.fs.names import split_path
from kbapp.core.fs.tree import iter_data, parse_indirect
from kbapp.core.teams.state import Role

from .block_transfer import Prefetch
from . import converged
from .known import verified_members
from .rollback import ops_of, rollbacks
from .sync import unpack_ptr
from .timeview import rev_at_time
from .tree_io import BlockCache


BIG_READ = 4                   # a file over 1/4 of the block cache is streamed past it (open_read)


def row_of(e: Entry, pending: bool = False) -> dict:
    row = {"name": e.name, "type": e.type_name, "size": e.size, "mtime": e.mtime, "writer": e.writer.hex(),
           "pending": pending}
    if e.target is not None:                   # a symlink's target (the mount confines it; never followed here)
        row["target"] = e.target
    return row


class Reading:
    # -- past revisions -------------------------------------------------------------------

    async def _revs(self, f):
        """Every revision of the folder the judge accepted (synced now; replayed if older
        revisions were verified before the journal kept them)."""
        try:
            s = await self.fs.current(f, max_age=self._pref_int("fs.fresh_seconds", 0))
        except errors.NetworkError:
            s = await self.fs.saved(f)
        head = s.judge.state.head_rev
        revs = await self.journal.revs(f.folder_id)
        if head and (len(revs) < head or revs[0].rev != 1):
            await self.fs.replay(f)
            revs = await self.journal.revs(f.folder_id)
        return revs

    async def _root_at(self, f, rev, time_s):
        revs = await self._revs(f)
        if time_s is not None:
            at = rev_at_time(revs, int(time_s))           # timeview.py: claimed times, clamped
            return None if at is None else unpack_ptr(at.root)      # None: before the first revision
        if type(rev) is not int or rev < 0:
            raise errors.FsPathRefused("a revision is a number >= 0")
        if rev == 0:
            return None
        hit = [r for r in revs if r.rev == rev]
        if not hit:
            raise errors.NotFound(f"{f.name} has no revision {rev} (its head is {revs[-1].rev if revs else 0})")
        return unpack_ptr(hit[0].root)

    # -- listing ----------------------------------------------------------------------------

    async def ls(self, path: str, *, rev: int | None = None, time: float | None = None,
                 held: bool = False, max_age: float = 0.0) -> list[dict]:
        """Rows of the directory (or the one file) at `path` from the local view or a past revision.
        `held`: from the head this session already verified, without asking the server (what a
        page shows at once, before the fresh listing); None when there is none yet. `max_age`:
        a folder and head verified less than that many seconds ago will do (the mount, which
        trusts a listing that long anyway: a walk down a deep tree is not a team load and a
        head sync per directory)."""
        if held and (rev is not None or time is not None or self.fs.held(split_path(path)[0]) is None):
            return None
        try:
            f, comps, ov = await self._view(path, rev=rev, time_s=time, held=held, max_age=max_age)
        except errors.FolderNotMade:
            if split_path(path)[1]:
                raise
            return []                          # `/public/bob` before bob writes: an empty folder
        comps = tuple(comps)
        if comps:
            e = await ov.entry(comps)
            if e is None:
                raise errors.NotFound(f"no {path!r}")
            if not e.is_dir:
                return [row_of(e, comps in ov.touched)]
        d = await ov.dir(comps)
        rows = [row_of(e, comps + (e.name,) in ov.touched) for e in d.values()]
        if not comps and rev is None and time is None and split_path(path)[1] == ():
            for v in sorted({r.view for r in await self.journal.of_folder(str(f.name), ("parked",))}):
                rows.append({"name": v, "type": "dir", "size": 0, "mtime": 0, "writer": "", "pending": True,
                             "parked": True})
            rows += await converged.root_rows(self, f)         # a folder this name held before it converged
        return sorted(rows, key=lambda r: r["name"])

    async def stat(self, path: str, *, rev: int | None = None) -> dict:
        f, comps, ov = await self._view(path, rev=rev)
        s = self.fs.synced.get(f.folder_id)
        revision = rev if rev is not None else (s.judge.state.head_rev if s else 0)
        if not comps:
            await ov.dir(())
            return {"name": str(f.name), "type": "dir", "size": 0, "mtime": 0, "writer": "", "pending": False,
                    "revision": revision}
        e = await ov.entry(tuple(comps))
        if e is None:
            raise errors.NotFound(f"no {path!r}")
        return {**row_of(e, tuple(comps) in ov.touched), "revision": revision}

    # -- reading ----------------------------------------------------------------------------

    async def _file(self, path: str, rev):
        f, comps, ov = await self._view(path, rev=rev)
        e = await ov.entry(tuple(comps)) if comps else None
        if e is None or e.type not in (FILE, EXEC):
            raise errors.NotFound(f"no file {path!r}" + (f" at revision {rev}" if rev is not None else ""))
        return f, e

    async def read(self, path: str, *, rev: int | None = None) -> bytes:
        """A file's bytes (the local view: a pending write reads back at once)."""
        f, e = await self._file(path, rev)
        cache = BlockCache(self.ctx.api, f.folder_id, self.journal, f.keys, self.cache)
        await cache.load(e.ptr)
        return b"".join(iter_data(e.ptr, cache.fetch, f.keys))

    async def open_read(self, path: str, *, rev: int | None = None):
        """The file's bytes as chunks, fetched as they are needed (memory stays flat): the core's
        reader runs on a thread; the blocks an indirect block names are fetched ahead of it,
        several at once (block_transfer.Prefetch, a bounded window)."""
        f, e = await self._file(path, rev)
        inner = self.read_entry(f, e)
        try:
            async for chunk in inner:
                yield chunk
        finally:
            await inner.aclose()                  # its reader thread stops now, not when collected

    async def read_entry(self, f, e: Entry):
        """`open_read` of an entry already looked up (an export's pinned snapshot: no new lookup)."""
        cache = BlockCache(self.ctx.api, f.folder_id, self.journal, f.keys, self.cache)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue(maxsize=4)
        stop = threading.Event()
        cap = getattr(self.cache, "max_bytes", None)
        ahead = Prefetch(cache, loop, keep=cap is None or e.size <= cap // BIG_READ)   # see Prefetch

        def fetch(ptr):
            data = ahead.take(ptr.id.hex())
            if ptr.kind == INDIRECT:
                ahead.plan([c.id.hex() for _, c in parse_indirect(open_block(ptr, data, f.keys), ptr)[1]])
            return data

        def put(item) -> None:
            asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

        def work() -> None:
            try:
                for chunk in iter_data(e.ptr, fetch, f.keys):
                    if stop.is_set():
                        return
                    put(("data", chunk))
                put(("end", None))
            except BaseException as ex:  # noqa: BLE001 - handed to the reader
                put(("error", ex))

        worker = threading.Thread(target=work, name="kbapp-fs-read", daemon=True)
        worker.start()
        try:
            while True:
                kind, item = await queue.get()
                if kind == "end":
                    return
                if kind == "error":
                    raise item
                yield item
        finally:
            stop.set()
            ahead.close()
            while not queue.empty():
                queue.get_nowait()

    # -- history, share -----------------------------------------------------------------------

    async def history(self, path: str) -> list[dict]:
        """Each accepted revision whose ops touched `path` (or something below it), and each
        rollback that undid such a revision (op "rollback", `rolled_back_to`: rollback.py)."""
        name, comps = split_path(path)
        f = await self.fs.folder(name)
        await self.open()
        comps = tuple(comps)
        out = []
        revs = await self._revs(f)
        back = await rollbacks(self, f, revs)
        touched: set[int] = set()               # revisions that changed `path`
        for r in revs:
            u = f.loaded.users.get(r.uid)
            row = {"revision": r.rev, "time": r.ctime, "writer": r.uid, "username": getattr(u, "username", None),
                   "device": r.kid}
            if r.rev in back:
                undone = range(back[r.rev] + 1, r.rev)
                if touched.intersection(undone):
                    touched.add(r.rev)                     # a later rollback undoing this one changes it too
                    out.append(row | {"op": "rollback", "path": "/".join(comps), "to": None, "size": None,
                                      "rolled_back_to": back[r.rev]})
                continue
            for op in ops_of(r):
                hit = [p for p in (op.path, op.to) if p is not None and p[:len(comps)] == comps]
                if not hit:
                    continue
                touched.add(r.rev)
                out.append(row | {"op": op.op, "path": "/".join(op.path),
                                  "to": None if op.to is None else "/".join(op.to),
                                  "size": op.entry.size if op.entry is not None else None})
        return out

    async def share(self, path: str) -> dict:
        """Who can read and write the folder, from its verified team (roles by the team chain)."""
        f = await self.fs.folder(split_path(path)[0], fresh=True)
        st = f.loaded.state
        readers, writers = [], []
        users = await verified_members(self.teams, f)
        for uid, m in sorted(st.members.items()):
            name = getattr(users.get(uid), "username", None) or uid
            (writers if m.role >= Role.WRITER else readers).append({"username": name, "uid": uid,
                                                                     "role": m.role.label})
        return {"folder": str(f.name), "team": st.name, "writers": writers, "readers": readers,
                "public": f.keys is None}

    # -- the first slice's helpers (export.py's fallback, tests) --------------------------------

    async def _at(self, path: str):
        name, comps = split_path(path)
        f = await self.fs.folder(name)
        s = await self.fs.sync(f)
        return f, comps, s.root, BlockCache(self.ctx.api, f.folder_id, await self.open(), f.keys, self.cache)

    async def _lookup(self, cache: BlockCache, root, comps) -> Entry | None:
        if root is None:
            return None
        ptr, entry = root, None
        for i, name in enumerate(comps):
            entries = await cache.read_dir(ptr)
            entry = entries.get(name)
            if entry is None or (i < len(comps) - 1 and entry.type != DIR):
                return None
            ptr = entry.ptr
        return lookup(root, comps, cache.fetch, cache.keys) if entry is not None else None
