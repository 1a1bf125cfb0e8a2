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
"""

from __future__ import annotations

from kbapp.core import errors
from kbapp.core.fs.names import split_path
from kbapp.core.fs.revision import Private

from . import own_revs
from .block_transfer import put_blocks
from .overlay import Overlay
from .sync import unpack_ptr

PROBE = 50                     # earlier revisions tried when looking for a readable root


def _unreadable(e: BaseException) -> bool:
    """An error that means the directory block itself is bad (not a hostile *name* in it)."""
    return isinstance(e, (errors.FolderError, errors.NotFound)) and not isinstance(e, errors.BadPathName)


async def _readable(files, f, root_packed: bytes) -> bool:
    root = unpack_ptr(root_packed)
    if root is None:
        return True
    try:
        await files._loader(f)(root)
    except errors.NetworkError:
        raise
    except errors.KbappError as e:
        if _unreadable(e):
            return False
        raise
    return True


async def newest_readable(files, f, below: int) -> int:
    """The newest revision before `below` whose root loads (0: none; the folder empty)."""
    revs = await files.journal.revs(f.folder_id, max(1, below - PROBE), below - 1)
    for rv in reversed(revs):
        if await _readable(files, f, rv.root):
            return rv.rev
    return 0


async def check_head(files, f, s, ov: Overlay) -> None:
    """FolderHeadUnreadable when the root of the verified head `s` does not load."""
    if s.root is None:
        return
    try:
        await ov.dir(())
    except errors.KbappError as e:
        if not _unreadable(e):
            raise
        head = s.judge.state.head_rev
        rv = await files.journal.revs(f.folder_id, head, head)
        u = f.loaded.users.get(rv[0].uid) if rv else None
        writer = getattr(u, "username", None) or (rv[0].uid[:16] if rv else "?")
        readable = await newest_readable(files, f, head)
        raise errors.FolderHeadUnreadable(
            f"the newest revision of {f.name} (revision {head}, by {writer}) cannot be read ({e.code}: {e}). "
            f"A writer can roll the folder back to revision {readable}, the newest that reads: "
            f"kbapp fs rollback {f.name} --rev {readable}", revision=head, writer=writer, readable=readable) from e


async def rollback(files, folder: str, rev: int) -> dict:
    """Post the next revision of `folder` with revision `rev`'s root (0: an empty folder) and
    no ops; {"folder", "revision", "rolled_back_to"}. A writer only; `rev` must be older than
    the head and read (FolderHeadUnreadable otherwise, naming one that does)."""
    from .publish import sign_revision

    name, comps = split_path(folder)
    if comps:
        raise errors.BadPathName("a rollback is of a whole folder: name the folder, not a path in it")
    if type(rev) is not int or rev < 0:
        raise errors.BadPathName("a revision is a number >= 0")
    f = await files.fs.folder(name, fresh=True)
    files._check_writer(f)
    journal = await files.open()
    async with files.uploader.lock:                  # no batch signs on this head meanwhile
        s = await files.fs.sync(f, mine=await own_revs.signed_ids(journal, str(f.name)))
        head = s.judge.state.head_rev
        if rev >= head:
            raise errors.NotFound(f"{f.name} is at revision {head}: roll back to an earlier one")
        root = None
        if rev:
            hit = await journal.revs(f.folder_id, rev, rev)
            if not hit:
                raise errors.NotFound(f"{f.name} has no revision {rev}")
            if not await _readable(files, f, hit[0].root):
                readable = await newest_readable(files, f, rev)
                raise errors.FolderHeadUnreadable(f"revision {rev} of {f.name} cannot be read either; the "
                                                  f"newest that reads is {readable}", revision=rev,
                                                  readable=readable)
            root = unpack_ptr(hit[0].root)
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
    if files.uploader.paused and "FS_HEAD_UNREADABLE" in files.uploader.reason:
        files.resume()                                 # what waited on the broken head goes up now
    return {"folder": str(f.name), "revision": n, "rolled_back_to": rev}
