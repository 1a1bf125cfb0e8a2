"""A folder whose newest revision cannot be read, and the way out: a rollback revision.

The server cannot read trees, so it accepts a writer's revision whose root directory is a
block it never received, an altered one, or one that is no directory (a hostile member, a
stolen device, a buggy client; or the server withholds the block). Every read and write of
the folder goes through that root, so without a way out one member could make the folder
unusable for everyone (threat-model.md "Folder engine correctness").

Reads and writes on such a head fail with the typed `FolderHeadUnreadable`, which names
the revision, its writer and `readable`: the newest earlier revision whose root still
loads. Any writer can then post a *rollback*: the next revision, signed as usual, whose
root is that earlier revision's root and which lists no ops. Nothing is re-uploaded (the
blocks are the server's already), history keeps the broken revision, and the writer who
broke it can be removed from the team by its admins.

What a rollback undid is read from the revisions themselves (`rolled_back`, `surviving`): a
revision that lists no ops and changes the root to an earlier revision's root (the newest
such is its target) or to an empty directory (a rollback to 0). Another revision without ops
that changes the root is not taken for one: a writer could otherwise hide its others' changes
from a merge by posting a re-sealed copy of the tree. Merges
replay only the ops that still hold at the head (a broken revision's ops, which may lie,
would show up as phantom conflicts), and `history` lists the rollback on each path it undid.
"""

from __future__ import annotations

import time

from kbapp.core import errors
from kbapp.core.encoding import unpack
from kbapp.core.fs.names import split_path
from kbapp.core.fs.revision import Op, Private, check_op

from . import own_revs
from .block_transfer import put_blocks
from .overlay import Overlay
from .sync import unpack_ptr

PROBE = 50                     # earlier revisions tried when looking for a readable root
MEMO_S = 60.0                  # a verdict on a root is kept this long (a withheld block may come back)


def ops_of(rv) -> list[Op]:
    """A journal revision row's ops (checked again: the row holds what the judge accepted)."""
    return [check_op(o) for o in unpack(rv.ops, max_size=8 << 20, max_depth=None)]


def _root_id(rv) -> bytes | None:
    p = unpack_ptr(rv.root)
    return None if p is None else p.id


def _no_ops(rv) -> bool:
    return not unpack(rv.ops, max_size=8 << 20, max_depth=None)


def _steps(revs):
    """(row, its root id, the newest earlier row's revision with that root, or None) for each row
    of `revs` (oldest first) that lists no ops and changes the root: the rollback candidates."""
    seen: dict[bytes | None, int] = {}
    prev = None
    for rv in revs:
        root = _root_id(rv)
        if prev is not None and root != prev and _no_ops(rv):
            yield rv, root, seen.get(root)
        seen[root] = rv.rev
        prev = root


def rolled_back(revs, empty: frozenset | set = frozenset()) -> dict[int, int]:
    """{rollback revision: the revision it went back to (0: an empty folder)} over consecutive
    journal rows `revs` (oldest first; the first row is only a predecessor). A rollback lists
    no ops and changes the root to an earlier revision's root, or to an empty directory (its
    root id in `empty`). Any other revision without ops (a tree replaced) is not one: it says
    nothing of what it changed, so merges keep the others' ops against it."""
    return {rv.rev: 0 if j is None else j for rv, root, j in _steps(revs) if j is not None or root in empty}


async def rollbacks(files, f, revs) -> dict[int, int]:
    """`rolled_back` over `revs`, each candidate root that is no earlier one's loaded to see
    whether it is an empty directory (a rollback to 0). One that does not load is not; that
    verdict is the memo's (`_why_unreadable`), so a hostile writer's junk roots load once."""
    empty = set()
    for rv, root, j in _steps(revs):
        if j is not None:
            continue
        ptr = unpack_ptr(rv.root)
        try:
            if await _why_unreadable(files, f, ptr) is None and not await files._loader(f)(ptr):
                empty.add(root)
        except errors.NetworkError:
            raise
        except errors.KbappError:
            pass                                   # it does not load: no rollback
    return rolled_back(revs, empty)


async def surviving(files, f, revs, base: int) -> list:
    """The rows of `revs` after `base` whose ops still hold at the newest: a rollback to revision j
    drops the rows after j, all of them when j is older than `base` (what it undid there cannot be
    written as ops). All of the folder's revisions are read only when one after `base` lists no ops."""
    since = [rv for rv in revs if rv.rev > base]
    if not any(_no_ops(rv) for rv in since):
        return since
    back = await rollbacks(files, f, await files.journal.revs(f.folder_id))
    kept: list = []
    for rv in since:
        if rv.rev in back:
            kept = [k for k in kept if k.rev <= back[rv.rev]]
            continue
        kept.append(rv)
    return kept


def _unreadable(e: BaseException) -> bool:
    """Loading a *root* failed because of the block itself: missing, altered, not a directory,
    or holding a name no writer may use (the whole directory is refused for it)."""
    return isinstance(e, (errors.FolderError, errors.BlockMissing))


async def _why_unreadable(files, f, root) -> str | None:
    """None when the root (a BlockPointer, or None: empty) loads, else why not. The verdict is
    kept per root block for MEMO_S: a hostile writer's fifty broken revisions cost fifty
    fetches once, not on every listing."""
    if root is None:
        return None
    memo = files.root_verdicts
    key = root.id.hex()
    hit = memo.get(key)
    if hit is not None and time.monotonic() - hit[0] < MEMO_S:
        return hit[1]
    why = None
    try:
        await files._loader(f)(root)
    except errors.NetworkError:
        raise
    except errors.KbappError as e:
        if not _unreadable(e):
            raise
        why = f"{e.code}: {e}"
    if len(memo) > 1000:
        memo.clear()
    memo[key] = (time.monotonic(), why)
    return why


async def newest_readable(files, f, below: int) -> int | None:
    """The newest of the PROBE revisions before `below` whose root loads; 0 when every revision
    before `below` was probed and none reads (then only an empty folder is left); None when
    none of the PROBE newest reads and older ones were not tried (the user names one)."""
    lo = max(1, below - PROBE)
    revs = await files.journal.revs(f.folder_id, lo, below - 1)
    for rv in reversed(revs):
        if await _why_unreadable(files, f, unpack_ptr(rv.root)) is None:
            return rv.rev
    return 0 if lo == 1 else None


def _way_out(name, readable: int | None) -> str:
    if readable is None:
        return (f"None of the {PROBE} revisions before it reads either: a writer can roll the folder back to an "
                f"older one that does: kbapp fs rollback {name} --rev N")
    what = f"revision {readable}, the newest that reads" if readable else "an empty folder (no earlier one reads)"
    return f"A writer can roll the folder back to {what}: kbapp fs rollback {name} --rev {readable}"


async def check_head(files, f, s) -> None:
    """FolderHeadUnreadable when the root of the verified head `s` does not load."""
    why = await _why_unreadable(files, f, s.root)
    if why is None:
        return
    head = s.judge.state.head_rev
    rv = await files.journal.revs(f.folder_id, head, head)
    u = f.loaded.users.get(rv[0].uid) if rv else None
    writer = getattr(u, "username", None) or (rv[0].uid[:16] if rv else "?")
    readable = await newest_readable(files, f, head)
    raise errors.FolderHeadUnreadable(
        f"the newest revision of {f.name} (revision {head}, by {writer}) cannot be read: the server does not "
        f"serve its root directory, or it is damaged ({why}). {_way_out(f.name, readable)}",
        revision=head, writer=writer, readable=readable)


async def rollback(files, folder: str, rev: int, *, expect_head: int | None = None) -> dict:
    """Post the next revision of `folder` with revision `rev`'s root (0: an empty folder) and
    no ops; {"folder", "revision", "rolled_back_to"}. A writer only; `rev` must be older than
    the head and read (FolderHeadUnreadable otherwise, naming one that does). `expect_head`:
    refused (Conflict) unless the head is still that revision (a button offered for a broken
    head must not roll back a head someone has fixed meanwhile)."""
    from .publish import sign_revision

    name, comps = split_path(folder)
    if comps:
        raise errors.FsPathRefused("a rollback is of a whole folder: name the folder, not a path in it")
    if type(rev) is not int or rev < 0:
        raise errors.FsPathRefused("a revision is a number >= 0")
    f = await files.fs.folder(name, fresh=True)
    files._check_writer(f)
    journal = await files.open()
    async with files.uploader.lock:                  # no batch signs on this head meanwhile
        s = await files.fs.sync(f, mine=await own_revs.signed_ids(journal, str(f.name)))
        head = s.judge.state.head_rev
        if expect_head is not None and head != expect_head:
            raise errors.Conflict(f"{f.name} is at revision {head} now, not {expect_head}: look again before "
                                  "rolling it back")
        if rev >= head:
            raise errors.NotFound(f"{f.name} is at revision {head}: roll back to an earlier one")
        root = None
        if rev:
            hit = await journal.revs(f.folder_id, rev, rev)
            if not hit:
                raise errors.NotFound(f"{f.name} has no revision {rev}")
            root = unpack_ptr(hit[0].root)
            if await _why_unreadable(files, f, root) is not None:
                readable = await newest_readable(files, f, rev)
                raise errors.FolderHeadUnreadable(f"revision {rev} of {f.name} cannot be read either. "
                                                  f"{_way_out(f.name, readable)}", revision=rev, readable=readable)
        ov = Overlay(root, files._loader(f), writer=files._uid(), now_ns=files._now_ns())
        new_root, dir_blocks = await ov.commit(f.seal_kw)        # the same root; an empty one for 0
        n, sr = await sign_revision(files, f, s.judge, new_root, ())
        await put_blocks(files.ctx.api, f.folder_id, journal, [], dir_blocks, team_id=f.team_id,
                         kind=f.name.kind_code)
        await files.ctx.api.fs_post_revision(f.folder_id, sr.envelope)     # FolderHeadMoved: asked again
        s.judge.feed(sr.envelope)
        await files.fs.accepted_own(f, s.judge, sr, Private(new_root, ()), new_root)
    files._stale(f.folder_id)
    files._emit_folder(f, n)
    files.uploader.fails = 0
    if files.uploader.task is not None:
        files.uploader.kick()                          # what waited on the broken head goes up now
    return {"folder": str(f.name), "revision": n, "rolled_back_to": rev}
