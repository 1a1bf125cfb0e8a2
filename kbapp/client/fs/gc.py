"""Collecting a folder's old blocks (a writer's chore; core/fs/gc.py, server/folder_gc.py).

The client syncs and judges the folder, then fetches every revision envelope up to the verified
head and checks they hash-chain to it (so they are the judged ones), walks each revision's tree
and lists the blocks reachable only from revisions <= `upto`. Walking needs the directory and
indirect blocks only (a data block's id is in its parent), and a subtree already walked is not
walked again (same id, same bytes, same subtree), so unchanged parts cost nothing. The list is
signed by this device and posted; the server applies it once revision `upto` is older than its
collection delay (14 days by default) and keeps any block put again since.
"""

from __future__ import annotations

import hashlib

from kbapp.core import errors
from kbapp.core.encoding import b64decode
from kbapp.core.fs.blocks import INDIRECT, BlockPointer, check_stored, open_block
from kbapp.core.fs.dirs import DIR, read_dir
from kbapp.core.fs.gc import MAX_BLOCKS, make_gc
from kbapp.core.fs.names import split_path
from kbapp.core.fs.revision import open_envelope, open_private
from kbapp.core.fs.tree import parse_indirect
from kbapp.core.teams.state import Role

BATCH = 64
PAGE = 100


class _Blocks:
    """Blocks fetched by id (hash-checked), for the core's synchronous readers."""

    def __init__(self, api, folder_id: str):
        self.api, self.folder_id, self.data = api, folder_id, {}

    async def get(self, ptrs: list[BlockPointer]) -> None:
        todo = list(dict.fromkeys(p.id.hex() for p in ptrs if p.id.hex() not in self.data))
        while todo:
            batch, todo = todo[:BATCH], todo[BATCH:]
            ans = await self.api.fs_get_blocks(self.folder_id, batch)
            later = [i for i in ans["later"] if i in batch]
            for i in batch:
                raw = ans["blocks"].get(i)
                if i in later:
                    continue
                if not isinstance(raw, str):
                    raise errors.NotFound(f"block {i[:16]} is not served (collected already?)")
                data = b64decode(raw, max_size=1 << 20)
                if hashlib.sha256(data).hexdigest() != i:
                    raise errors.BlockIdMismatch(f"block {i[:16]} served with bytes of another hash")
                self.data[i] = data
            if later and len(later) == len(batch):
                for i in later:
                    data = await self.api.fs_get_block(self.folder_id, i)
                    if hashlib.sha256(data).hexdigest() != i:
                        raise errors.BlockIdMismatch(f"block {i[:16]} served with bytes of another hash")
                    self.data[i] = data
            else:
                todo = later + todo

    def fetch(self, ptr: BlockPointer) -> bytes:
        data = self.data[ptr.id.hex()]
        check_stored(ptr, data)
        return data


async def _tree_ids(blocks: _Blocks, ptr: BlockPointer, keys, *, whole: bool) -> set[str]:
    """Ids of the blocks under one pointer (a file's or a directory encoding's tree); `whole`:
    fetch the data blocks too (a directory's, to read it)."""
    ids, frontier = {ptr.id.hex()}, [ptr]
    while frontier:
        inner = [p for p in frontier if p.kind == INDIRECT]
        await blocks.get(inner + ([p for p in frontier if p.kind != INDIRECT] if whole else []))
        nxt = []
        for p in inner:
            _level, children = parse_indirect(open_block(p, blocks.fetch(p), keys), p)
            nxt += [c for _, c in children]
        ids.update(c.id.hex() for c in nxt)
        frontier = nxt
    return ids


async def reachable(blocks: _Blocks, root: BlockPointer, keys, seen: set[str], out: set[str]) -> None:
    """Add to `out` every block id under the root directory; `seen`: directory and file trees
    already walked into `out` (skipped)."""
    stack = [(root, True)]
    while stack:
        ptr, is_dir = stack.pop()
        if ptr.id.hex() in seen:
            continue
        seen.add(ptr.id.hex())
        out.update(await _tree_ids(blocks, ptr, keys, whole=is_dir))
        if is_dir:
            for e in read_dir(ptr, blocks.fetch, keys).values():
                if e.ptr is not None:
                    stack.append((e.ptr, e.type == DIR))


async def _envelopes(api, folder_id: str, head: int, head_id: bytes) -> list:
    """Revisions 1..head, checked to hash-chain to the verified head id."""
    out, since = [], 0
    while since < head:
        page = await api.fs_revisions(folder_id, since=since, limit=PAGE)
        got = [open_envelope(b64decode(x["envelope"], max_size=8 << 20)) for x in page["revisions"]
               if isinstance(x, dict) and isinstance(x.get("envelope"), str)]
        got = [sr for sr in got if sr.revision.revision <= head]
        if not got:
            raise errors.HiddenRevision(f"the server stopped serving revisions at {since} of {head}")
        out += got
        since = out[-1].revision.revision
    for i, sr in enumerate(out):
        if sr.revision.revision != i + 1 or (i and sr.revision.prev != out[i - 1].id):
            raise errors.ForkedFolder(f"revision {sr.revision.revision} does not chain to the judged ones")
    if out[-1].id != head_id:
        raise errors.ForkedFolder("the revisions served do not end at the verified head")
    return out


async def unreferenced(files, path: str, upto: int) -> tuple[object, int, list[str]]:
    """(folder, verified head, block ids referenced only by revisions <= upto)."""
    name, _ = split_path(path)
    f = await files._folder(name)
    s = await files.fs.sync(f)
    head, head_id = s.judge.state.head_rev, s.judge.state.head_id
    if not 1 <= upto < head:
        raise errors.FsPathRefused(f"collect up to a revision below the head ({head}), not {upto}")
    revs = await _envelopes(files.ctx.api, f.folder_id, head, head_id)
    blocks = _Blocks(files.ctx.api, f.folder_id)
    live, old = set(), set()
    seen: set[str] = set()
    for sr in reversed(revs[upto:]):                      # the newest first: most of it is shared
        await reachable(blocks, open_private(sr.revision, f.keys).root, f.keys, seen, live)
    seen = set()
    for sr in revs[:upto]:
        await reachable(blocks, open_private(sr.revision, f.keys).root, f.keys, seen, old)
    return f, head, sorted(old - live)


async def collect(files, path: str, upto: int) -> dict:
    """Post signed collection requests for the blocks only revisions <= upto reference:
    {"deleted", "bytes", "kept", "listed"}; FolderGcTooEarly before the server's delay."""
    f, head, ids = await unreferenced(files, path, upto)
    uid, _ = files.ctx.require_login()
    if f.loaded.state.role_of(uid) < Role.WRITER:
        raise errors.FolderNotWriter(f"only a writer of {f.name} collects its blocks", 403)
    me, _signer = await files.teams._me(f.loaded.users)
    device = (await files.ctx.device_keys()).sibkey
    out = {"deleted": 0, "bytes": 0, "kept": [], "listed": len(ids)}
    for i in range(0, len(ids), MAX_BLOCKS):
        env = make_gc(folder_id=f.folder_id, upto=upto, head=head, blocks=ids[i:i + MAX_BLOCKS], device=device,
                      uid=uid, eldest_seqno=me.state.eldest_seqno or 1, ctime=int(files.ctx.clock()))
        api = files.ctx.api
        ans = api._fs_json(*await api._fs("POST", f"/v1/folders/{f.folder_id}/gc", content=env))
        out["deleted"] += int(ans.get("deleted", 0))
        out["bytes"] += int(ans.get("bytes", 0))
        out["kept"] += [k for k in ans.get("kept", []) if isinstance(k, str)]
    return out


async def collected(files, path: str) -> set[int]:
    """Revisions of the folder whose root directory block the server no longer serves: shown as
    "collected" in a history (their ops and writers stay: revisions are never deleted). A server
    could withhold a root it holds; that reads the same, and costs it nothing it lacked."""
    name, _ = split_path(path)
    f = await files._folder(name)
    s = await files.fs.sync(f)
    revs = await _envelopes(files.ctx.api, f.folder_id, s.judge.state.head_rev, s.judge.state.head_id) \
        if s.judge.state.head_rev else []
    roots = {sr.revision.revision: open_private(sr.revision, f.keys).root.id.hex() for sr in revs}
    gone: set[int] = set()
    ids = sorted(set(roots.values()))
    for i in range(0, len(ids), BATCH):
        ans = await files.ctx.api.fs_get_blocks(f.folder_id, ids[i:i + BATCH])
        missing = {b for b in ids[i:i + BATCH] if b in ans["blocks"] and ans["blocks"][b] is None}
        gone |= {n for n, b in roots.items() if b in missing}
    return gone
