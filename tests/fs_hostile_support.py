"""A hostile writer of an encrypted folder: a real client (real account, device key, team
keys, a real server) whose core checks are bypassed to write the trees an honest client
never would: directory blocks packed by hand (so `..`, `/`, NUL, bidi or reserved names
pass), symlinks, case clashes, trees deeper than a reader walks. The revision is signed and
posted like any other: the server cannot read the tree, so only readers can refuse it.
"""

from __future__ import annotations

import os

from kbapp.core.encoding import pack
from kbapp.core.fs.dirs import DIR, FILE, SYMLINK
from kbapp.core.fs.names import split_path
from kbapp.core.fs.revision import make_revision
from kbapp.core.fs.tree import write_all


class HostileTree:
    """Build a tree bottom-up with `file`, `symlink` and `dir` (raw wire entries), then `post` it
    as the folder's next revision."""

    def __init__(self, app, folder: str):
        self.app, self.folder = app, folder
        self.blocks: list = []

    async def start(self) -> "HostileTree":
        files = self.app.files
        self.f = await files._folder(split_path(self.folder)[0])
        self.uid, _ = files.ctx.require_login()
        return self

    def _seal(self, data: bytes):
        ptr, stored = write_all([data], **self.f.seal_kw())
        self.blocks += stored
        return ptr

    def file(self, name: str, data: bytes, mtime: int = 1_700_000_000 * 10**9) -> list:
        ptr = self._seal(data)
        return [name, FILE, ptr.to_wire(), ptr.size, mtime, bytes.fromhex(self.uid), None]

    def symlink(self, name: str, target: str) -> list:
        return [name, SYMLINK, None, len(target.encode()), 1, bytes.fromhex(self.uid), target]

    def dir(self, name: str, entries: list) -> list:
        ptr = self.dir_ptr(entries)
        return [name, DIR, ptr.to_wire(), ptr.size, 1, bytes.fromhex(self.uid), None]

    def dir_ptr(self, entries: list):
        """A directory block packed by hand: sorted and canonical, names NOT checked."""
        entries = sorted(entries, key=lambda w: w[0].encode("utf-8"))
        return self._seal(pack([1, entries]))

    def junk_ptr(self, data: bytes = b"not a directory"):
        """A block sealed under the folder's key that is no directory at all."""
        return self._seal(data)

    async def post(self, root_entries: list | None, *, root=None, withhold: bool = False, ops: tuple = ()) -> int:
        """Seal the root, PUT every block, sign and POST the revision; its number. `root`: this
        pointer as the root instead; `withhold`: the root block is never PUT (the server gets a
        revision naming a block it does not hold); `ops`: what the revision claims it did (core
        Ops; nothing checks them against the tree)."""
        files = self.app.files
        root = root if root is not None else self.dir_ptr(root_entries)
        if withhold:
            self.blocks = [(p, b) for p, b in self.blocks if p.id != root.id]
        judge, _old = await files._sync(self.f)
        me, _ = await files.teams._me(self.f.loaded.users)
        cp = await files.ctx.logview.fetch_latest()
        files._known.add((cp.size, cp.root))
        n, prev = judge.next_revision()
        sr = make_revision(team_id=self.f.team_id, kind=self.f.name.kind_code, revision=n, prev=prev,
                           key_gen=self.f.gen, device=(await files.ctx.device_keys()).sibkey, uid=self.uid,
                           eldest_seqno=me.state.eldest_seqno or 1, checkpoint=(cp.size, cp.root),
                           team_seqno=self.f.loaded.state.seqno, root=root, ops=tuple(ops), ctime=int(files.ctx.clock()),
                           kbfs_key=None if self.f.keys is None else self.f.keys[self.f.gen],
                           nonce=None if self.f.keys is None else os.urandom(24))
        for ptr, stored in self.blocks:
            await files.ctx.api.fs_put_block(self.f.folder_id, ptr.id.hex(), stored, team_id=self.f.team_id,
                                             kind=self.f.name.kind_code)
        await files.ctx.api.fs_post_revision(self.f.folder_id, sr.envelope)
        self.blocks = []
        return n
