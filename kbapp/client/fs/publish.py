"""One upload batch: journal rows -> (merged) ops on the verified head -> one signed revision.

Used by the uploader (uploader.py explains the order and the crash rules). Also turns a
journal row into a core `Op` on an overlay, which the local view uses too.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time

from kbapp.core import errors
from kbapp.core.encoding import unpack
from kbapp.core.fs.blocks import BlockPointer
from kbapp.core.fs.conflict import merge, parked_view_name
from kbapp.core.fs.dirs import EXEC, FILE, Entry
from kbapp.core.fs.revision import Op, Private, make_revision

from . import follow, own_revs, rollback
from .block_transfer import put_blocks
from .overlay import Overlay
from .reseal import reseal

log = logging.getLogger(__name__)


def row_entry(row, writer: bytes) -> Entry:
    ptr = BlockPointer.from_wire(unpack(row.root, max_size=256, max_depth=2))
    return Entry(row.path[-1], row.etype if row.etype in (FILE, EXEC) else FILE, ptr, row.size, row.mtime,
                 bytes.fromhex(row.writer) if row.writer else writer)


async def apply_row(ov: Overlay, row, writer: bytes, *, recursive: bool = True) -> Op | None:
    """Apply one journal row to `ov`; the op a revision lists for it (entries as they ended up)."""
    if row.op == "write":
        e = row_entry(row, writer)
        await ov.write(row.path, e)
        return Op("write", row.path, entry=e)
    if row.op == "mkdir":
        await ov.mkdir(row.path, parents=True, exist_ok=True)
        return Op("mkdir", row.path)
    if row.op == "rm":
        await ov.rm(row.path, recursive=recursive)
        return Op("rm", row.path)
    if row.op == "rename":
        return Op("rename", row.path, to=row.dest, entry=await ov.move(row.path, row.dest))
    if row.op == "setattr":
        old = await ov.entry(row.path)
        if old is None:
            raise errors.NotFound(f"no {'/'.join(row.path)!r}")
        new = dataclasses.replace(old, type=row.etype) if row.attr == "exec" else \
            dataclasses.replace(old, mtime=row.mtime)
        await ov.setattr(row.path, row.attr, new)
        return Op("setattr", row.path, entry=new, attr=row.attr)
    raise errors.EncodingError(f"unknown journal op {row.op!r}")


async def apply_rows(ov: Overlay, rows, writer: bytes, *, strict: bool = False,
                     skipped: list | None = None) -> list[Op]:
    """Rows in order; one that no longer applies (its target gone remotely) is skipped unless
    strict, and added to `skipped` with the reason (the upload keeps those, never marks them
    uploaded: a directory refused for a hostile name is not "gone")."""
    ops = []
    for r in rows:
        try:
            op = await apply_row(ov, r, writer)
        except (errors.NotFound, errors.PathExists, errors.BadPathName, errors.FsPathRefused) as e:
            if strict or isinstance(e, errors.BlockMissing):
                raise                                     # a directory the server withholds is not "gone"
            log.info("journal row %s skipped on the new head: %s", r.id, e)
            if skipped is not None:
                skipped.append((r, f"{e.code}: {e}"))
            continue
        if op is not None:
            ops.append(op)
    return ops


async def _fix_entries(ov: Overlay, ops: list[Op]) -> list[Op]:
    """A rename of a directory changed in the same batch names it with its sealed pointer."""
    out = []
    for op in ops:
        if op.entry is not None and op.entry.ptr is None:
            final = await ov.entry(op.to or op.path)
            if final is None or final.ptr is None:
                continue                                  # gone again in the same batch
            op = dataclasses.replace(op, entry=final)
        out.append(op)
    return out


def _date(clock) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(clock()))


async def upload_batch(files, rows) -> int | None:
    """Upload one batch (see uploader.py); the content bytes sent, or None when it was parked."""
    f = await files._folder_of(rows[0].folder)
    files._check_writer(f)
    journal = files.journal
    rows = await follow.fresh(journal, rows)             # an earlier batch may have rewritten them
    if not rows:
        return 0
    uid, username = files.ctx.require_login()
    writer = bytes.fromhex(uid)
    ids = [r.id for r in rows]
    mine = {r.rev_id for r in rows if r.rev_id}
    signed_now: set = set()                              # own_revs.py: ours, and what each carried
    for attempt in range(4):
        s = await files.fs.sync(f, mine=mine)
        revs = await journal.revs(f.folder_id, lo=rows[0].base)
        revs = await own_revs.mark_own(journal, f.folder_id, revs, await own_revs.signed_ids(journal, rows[0].folder)
                                       | mine)
        done, rows = own_revs.carried(rows, revs, signed_now)
        if done:
            await follow.carry_saved(files, done)        # its merge's renames, saved before its POST
            await _accepted(files, done)                 # accepted before a crash: not resent
            rows = await follow.fresh(journal, rows) if rows else rows
        if not rows:
            return 0
        rows = await reseal(files, f, rows)             # reseal.py: never under a key a removed member holds
        ids = [r.id for r in rows]
        remote = [rv for rv in await rollback.surviving(files, f, revs, rows[0].base) if not rv.mine]
        ov = Overlay(s.root, files._loader(f), writer=writer, now_ns=files._now_ns())
        await rollback.check_head(files, f, s)         # a head no one can read: typed, that folder waits
        base_root = next((rv.root for rv in revs if rv.rev == rows[0].base), None)
        moved: list = []                                 # follow.py: later rows follow the merge's renames
        skipped: list = []                               # rows that did not apply: parked, not lost
        if remote and (rows[0].base == 0 or base_root is not None):
            ops = await _merged(files, f, rows, remote, base_root, ov, writer, username, moved)
            if ops is None:
                return None
        else:
            ops = await apply_rows(ov, rows, writer, skipped=skipped)
            if len(skipped) == len(rows):                 # nothing to send: kept, no empty revision
                await _park_skipped(files, f, skipped)
                return 0
        root, dir_blocks = await ov.commit(f.seal_kw)
        ops = await _fix_entries(ov, ops)
        judge = s.judge
        n, sr = await sign_revision(files, f, judge, root, ops)
        await journal.update(ids, rev_id=sr.id.hex())        # before the POST: crash recovery knows it
        await follow.remember(journal, sr.id.hex(), rows[0].folder, n, moved)
        mine.add(sr.id.hex())
        signed_now.add(sr.id.hex())
        sent = await put_blocks(files.ctx.api, f.folder_id, journal, [b for r in rows for b in r.blocks],
                                dir_blocks, team_id=f.team_id, kind=f.name.kind_code)   # several at once
        for ptr, stored in dir_blocks:
            if files.cache is not None:
                files.cache.put(ptr.id.hex(), stored)
        if files.cache is not None:
            for key, entries in ov.sealed.items():          # our own directories: listed without decoding
                files.cache.put_listing(key, entries)
        try:
            await files.ctx.api.fs_post_revision(f.folder_id, sr.envelope)
        except errors.FolderHeadMoved as moved:
            if moved.head_id != sr.id.hex():
                if attempt < 3:
                    continue                     # someone wrote first: judge theirs, merge ours on top
                raise
        except errors.FolderStaleKeyGenRefused:
            if attempt < 3:
                f = await files.fs.folder(f.name, fresh=True)   # the key rotated since we loaded the team
                continue
            raise
        judge.feed(sr.envelope)
        await files.fs.accepted_own(f, judge, sr, Private(root, tuple(ops)), root)
        files.own_images(f, ops)
        await follow.carry(files, rows[0].folder, ids, n, moved, drop_ids=signed_now)   # first: kill-safe
        parked = await _park_skipped(files, f, skipped)
        await _accepted(files, [r for r in rows if r.id not in parked])
        await follow.forget_orphans(journal)
        files._emit_folder(f, judge.state.head_rev)
        return sent
    raise errors.FolderHeadMoved("the folder kept moving", 409)


async def sign_revision(files, f, judge, root: BlockPointer, ops) -> tuple[int, object]:
    """The folder's next revision after the judge's head, signed by this device: (number, SignedRevision)."""
    uid, _ = files.ctx.require_login()
    me, _signer = await files.teams._me(f.loaded.users)
    cp = await files.ctx.logview.fetch_latest()
    files.fs.known.add((cp.size, cp.root))
    n, prev = judge.next_revision()
    sr = make_revision(team_id=f.team_id, kind=f.name.kind_code, revision=n, prev=prev, key_gen=f.gen,
                       device=(await files.ctx.device_keys()).sibkey, uid=uid,
                       eldest_seqno=me.state.eldest_seqno or 1, checkpoint=(cp.size, cp.root),
                       team_seqno=f.loaded.state.seqno, root=root, ops=tuple(ops), ctime=int(files.ctx.clock()),
                       kbfs_key=None if f.keys is None else f.keys[f.gen],
                       nonce=None if f.keys is None else os.urandom(24))
    return n, sr


async def _park_skipped(files, f, skipped: list) -> set[int]:
    """Rows the revision could not carry (a target gone, a directory refused for a hostile
    name) stay on this device as a read-only "(local conflicted copy DATE)" view, said in a
    notice: never marked uploaded, so never lost. Their ids."""
    if not skipped:
        return set()
    view = parked_view_name(_date(files.ctx.clock))
    for r, why in skipped:
        await files.journal.update([r.id], state="parked", view=view, error=f"not applied: {why}")
    _parked(files, f, view, f"{len(skipped)} change(s) could not be applied: {skipped[0][1]}")
    return {r.id for r, _ in skipped}


async def _park(files, f, rows, view: str, why: str) -> None:
    """The whole batch kept as the read-only view `view` (a merge that cannot carry it)."""
    await files.journal.update([r.id for r in rows], state="parked", view=view, error=why)
    _parked(files, f, view, why)


def _parked(files, f, view: str, why: str) -> None:
    files._stale()
    files._notice({"folder": str(f.name), "kind": "parked", "view": view, "reason": why})


async def _accepted(files, rows) -> None:
    await files.journal.update([r.id for r in rows], state="uploaded", error=None)
    files._stale()
    blocks = [b for r in rows if r.op == "write" for b in r.blocks]
    keep = None if files.cache is None else files.cache.adopt
    freed = await files.pins.release(files.journal, blocks, keep)      # a block another entry names stays
    files.used = max(0, files.used - freed)


async def _merged(files, f, rows, remote, base_root, ov: Overlay, writer: bytes, username: str, moved: list):
    """Merge the batch over the remote revisions since its base; the ops applied to `ov`, or
    None when the merge parked the batch as a read-only view."""
    base_ov = Overlay(None if base_root is None else BlockPointer.from_wire(unpack(base_root, max_size=256,
                                                                                   max_depth=2)),
                      files._loader(f), writer=writer, now_ns=files._now_ns())
    local_ops = [op for op in await apply_rows(base_ov, rows, writer)]
    local_ops = await _fix_entries(base_ov, local_ops) if any(o.entry is not None and o.entry.ptr is None
                                                               for o in local_ops) else local_ops
    remote_ops = [op for rv in remote for op in rollback.ops_of(rv)]
    other = remote[-1]
    u = f.loaded.users.get(other.uid)
    remote_label = (getattr(u, "username", None) or other.uid[:8], "device")
    device = files.ctx.store.get("device_name") or "device"
    m = merge(local_ops, remote_ops, local_label=(username, device), remote_label=remote_label,
              date=_date(files.ctx.clock))
    if m.parked:
        await _park(files, f, rows, m.view, m.reason)
        return None
    ops = []
    for a in m.actions:
        try:
            op = await ov.apply_action(a)
        except (errors.NotFound, errors.PathExists, errors.BadPathName, errors.FsPathRefused) as e:
            if isinstance(e, errors.BlockMissing):
                raise
            if a.kind in ("write", "move"):
                # Content would be lost (a directory refused for a hostile name, a file where a
                # directory goes): the whole batch is kept as a read-only view instead.
                await _park(files, f, rows, parked_view_name(_date(files.ctx.clock)),
                            f"could not be merged: {'/'.join(a.path)}: {e.code}: {e}")
                return None
            log.info("merge action %s %s skipped: %s", a.kind, a.path, e)
            continue
        if op is not None:
            ops.append(op)
    moved[:] = follow.local_renames(m)
    if m.renamed:
        files._notice({"folder": str(f.name), "kind": "conflict",
                       "renamed": [["/".join(a), "/".join(b)] for a, b in m.renamed]})
    return ops
