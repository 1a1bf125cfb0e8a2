"""A folder tree with local changes on top: the local view, the upload's new tree, a merge's result.

An `Overlay` starts from a verified root and materialises only the directories an op
touches (read through `load_dir`, which checks every block); ops (journal rows, merge
actions) edit those in memory. `commit` seals the changed directories, deepest first, and
returns the new root with the blocks to upload. Unchanged subtrees keep their pointers, so
a change costs the blocks on its path, not the tree. A directory made here and not yet
sealed has an entry with no pointer (`ptr=None`) until `commit`.
"""

from __future__ import annotations

import dataclasses
from typing import Awaitable, Callable

from kbapp.core import errors
from kbapp.core.fs.blocks import BlockPointer
from kbapp.core.fs.dirs import DIR, Entry, pack_dir
from kbapp.core.fs.revision import Op
from kbapp.core.fs.tree import write_all

Path = tuple[str, ...]
LoadDir = Callable[[BlockPointer], Awaitable[dict]]


def _show(p: Path) -> str:
    return "/" + "/".join(p)


class Overlay:
    def __init__(self, root: BlockPointer | None, load_dir: LoadDir, *, writer: bytes, now_ns: int):
        self.root, self.load, self.writer, self.now = root, load_dir, writer, now_ns
        self.dirs: dict[Path, dict[str, Entry]] = {}
        self.changed: set[Path] = set()
        self.touched: set[Path] = set()        # paths a local op changed (the `pending` flag)
        self.sealed: dict[str, dict] = {}      # after commit: directory block id -> its entries

    async def dir(self, path: Path) -> dict[str, Entry]:
        """The entries of the directory at `path` (NotFound, or BadPathName for a file)."""
        d = self.dirs.get(path)
        if d is not None:
            return d
        if not path:
            d = {} if self.root is None else dict(await self.load(self.root))
        else:
            parent = await self.dir(path[:-1])
            e = parent.get(path[-1])
            if e is None:
                raise errors.NotFound(f"no {_show(path)!r}")
            if not e.is_dir:
                raise errors.FsPathRefused(f"{_show(path)!r} is a file, not a directory")
            d = {} if e.ptr is None else dict(await self.load(e.ptr))
        self.dirs[path] = d
        return d

    async def entry(self, path: Path) -> Entry | None:
        if not path:
            return None
        try:
            return (await self.dir(path[:-1])).get(path[-1])
        except errors.NotFound:
            return None

    def _dirty(self, path: Path) -> None:
        for i in range(len(path) + 1):
            self.changed.add(path[:i])

    async def _parent(self, path: Path, parents: bool) -> dict[str, Entry]:
        if not path:
            raise errors.FsPathRefused("name something inside the folder")
        for i in range(len(path) - 1):
            sub = path[:i + 1]
            up = await self.dir(sub[:-1])
            e = up.get(sub[-1])
            if e is None:
                if not parents:
                    raise errors.NotFound(f"no directory {_show(sub)!r}")
                up[sub[-1]] = Entry(sub[-1], DIR, None, 0, self.now, self.writer)
                self.dirs[sub] = {}
                self._dirty(sub)
            elif not e.is_dir:
                raise errors.FsPathRefused(f"{_show(sub)!r} is a file, not a directory")
        return await self.dir(path[:-1])

    # -- edits ------------------------------------------------------------------------------

    async def write(self, path: Path, entry: Entry, *, parents: bool = True) -> None:
        d = await self._parent(path, parents)
        old = d.get(path[-1])
        if old is not None and old.is_dir:
            raise errors.FsPathRefused(f"{_show(path)!r} is a directory")
        d[path[-1]] = dataclasses.replace(entry, name=path[-1])
        self._dirty(path[:-1])
        self.touched.add(path)

    async def mkdir(self, path: Path, *, parents: bool = False, exist_ok: bool = False) -> None:
        d = await self._parent(path, parents)
        old = d.get(path[-1])
        if old is not None:
            if old.is_dir and exist_ok:
                return
            raise errors.PathExists(f"{_show(path)!r} already exists")
        d[path[-1]] = Entry(path[-1], DIR, None, 0, self.now, self.writer)
        self.dirs[path] = {}
        self._dirty(path)
        self.touched.add(path)

    async def rm(self, path: Path, *, recursive: bool = False) -> Entry:
        d = await self._parent(path, False)
        old = d.get(path[-1])
        if old is None:
            raise errors.NotFound(f"no {_show(path)!r}")
        if old.is_dir and not recursive and (await self.dir(path)):
            raise errors.FsPathRefused(f"{_show(path)!r} is a directory that is not empty (rm -r)")
        del d[path[-1]]
        for p in [p for p in self.dirs if p[:len(path)] == path]:
            self.dirs.pop(p)
            self.changed.discard(p)
        self._dirty(path[:-1])
        self.touched.add(path)
        return old

    async def move(self, src: Path, dst: Path) -> Entry:
        if dst[:len(src)] == src:
            raise errors.FsPathRefused(f"cannot move {_show(src)!r} inside itself")
        d = await self._parent(src, False)
        e = d.get(src[-1])
        if e is None:
            raise errors.NotFound(f"no {_show(src)!r}")
        to = await self._parent(dst, False)
        old = to.get(dst[-1])
        if old is not None and (old.is_dir or e.is_dir):
            raise errors.PathExists(f"{_show(dst)!r} already exists")
        if e.is_dir:
            await self.dir(src)                    # carried along materialised, so edits below follow
        del d[src[-1]]
        moved = dataclasses.replace(e, name=dst[-1])
        to[dst[-1]] = moved
        for p in sorted([p for p in self.dirs if p[:len(src)] == src], key=len):
            self.dirs[dst + p[len(src):]] = self.dirs.pop(p)
            if p in self.changed:
                self.changed.discard(p)
                self.changed.add(dst + p[len(src):])
        self._dirty(src[:-1])
        self._dirty(dst[:-1])
        if e.is_dir:
            self._dirty(dst)
        self.touched.update({src, dst})
        return moved

    async def setattr(self, path: Path, attr: str, entry: Entry) -> None:
        d = await self._parent(path, False)
        if path[-1] not in d:
            raise errors.NotFound(f"no {_show(path)!r}")
        d[path[-1]] = dataclasses.replace(entry, name=path[-1])
        self._dirty(path[:-1])
        self.touched.add(path)

    async def apply(self, op: Op) -> None:
        """One core op (a journal row or a remote op) on this tree."""
        if op.op == "write":
            await self.write(op.path, op.entry)
        elif op.op == "mkdir":
            await self.mkdir(op.path, parents=True, exist_ok=True)
        elif op.op == "rm":
            await self.rm(op.path, recursive=True)
        elif op.op == "rename":
            await self.move(op.path, op.to)
        elif op.op == "setattr":
            await self.setattr(op.path, op.attr, op.entry)
        else:
            raise errors.EncodingError(f"unknown op {op.op!r}")

    async def apply_action(self, a) -> Op | None:
        """One `conflict.merge` action; the op the resolution revision lists for it (None: keep)."""
        if a.kind == "write":
            await self.write(a.path, a.entry)
            return Op("write", a.path, entry=dataclasses.replace(a.entry, name=a.path[-1]))
        if a.kind == "mkdir":
            await self.mkdir(a.path, parents=True, exist_ok=True)
            return Op("mkdir", a.path)
        if a.kind == "rm":
            await self.rm(a.path, recursive=True)
            return Op("rm", a.path)
        if a.kind == "move":
            return Op("rename", a.path, to=a.to, entry=await self.move(a.path, a.to))
        if a.kind == "setattr":
            await self.setattr(a.path, a.attr, a.entry)
            return Op("setattr", a.path, entry=dataclasses.replace(a.entry, name=a.path[-1]), attr=a.attr)
        return None

    # -- sealing ---------------------------------------------------------------------------

    async def commit(self, seal_kw: Callable[[], dict]) -> tuple[BlockPointer, list]:
        """Seal every changed directory, deepest first: (new root, [(pointer, stored), ...])."""
        await self.dir(())
        blocks: list = []
        ptr = self.root
        for path in sorted(self.changed, key=len, reverse=True):
            entries = self.dirs.get(path)
            if entries is None:
                continue                               # removed after it changed
            p, stored = write_all([pack_dir(entries.values())], **seal_kw())
            blocks += stored
            self.sealed[p.id.hex()] = dict(entries)
            if path:
                parent = self.dirs[path[:-1]]
                old = parent[path[-1]]
                parent[path[-1]] = Entry(path[-1], DIR, p, p.size, self.now if old.ptr is None else
                                         max(old.mtime, self.now), self.writer)
            else:
                ptr = p
        self.changed.clear()
        if ptr is None:
            ptr, stored = write_all([pack_dir([])], **seal_kw())
            blocks += stored
        self.root = ptr
        return ptr, blocks

    async def final_entry(self, path: Path) -> Entry | None:
        """After commit: the entry at path (a rename op names the entry as it ended up)."""
        return await self.entry(path)
