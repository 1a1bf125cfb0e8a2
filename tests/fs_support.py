"""An encrypted folder in memory for the folder core's tests (no server).

Real team chains and keys (team_support), real device keys; a dict plays the block store
and a list the served revisions, and tests tamper with both the way a malicious server (or
writer) would.
"""

from __future__ import annotations

import hashlib

from team_support import TeamBuilder, World

from kbapp.core.fs.blocks import BlockPointer
from kbapp.core.fs.dirs import DIR, FILE, Entry, pack_dir, read_dir
from kbapp.core.fs.judge import FolderJudge
from kbapp.core.fs.names import KIND_CODES
from kbapp.core.fs.revision import Op, folder_id_for, make_revision
from kbapp.core.fs.tree import write_all
from kbapp.core.teams import Role


def root_at(size: int) -> bytes:
    return hashlib.sha256(str(size).encode()).digest()       # team_support's stand-in log roots


class FolderWorld:
    def __init__(self, seed: str = "fs", kind: str = "team", members: dict | None = None):
        self.w = World(seed)
        self.alice, self.bob, self.carol = (self.w.user(n) for n in ("alice", "bob", "carol"))
        members = {"bob": Role.WRITER, "carol": Role.READER} if members is None else members
        self.team = TeamBuilder(self.w, "acme", self.alice, members)
        self.kind = KIND_CODES[kind]
        self.public = kind == "public"
        self.folder_id = folder_id_for(self.team.id, self.kind)
        self.blocks: dict[bytes, bytes] = {}
        self.served: list[bytes] = []
        self.signed: list = []
        self.time = 1_700_000_000

    # -- keys, blocks --------------------------------------------------------------------
    def kbfs_key(self, gen: int | None = None) -> bytes:
        gen = self.team.state.generation if gen is None else gen
        return self.team.keys[gen].application_key("kbfs")

    def keys(self):
        return None if self.public else {g: k.application_key("kbfs") for g, k in self.team.keys.items()}

    def writer_kw(self) -> dict:
        if self.public:
            return {"folder_key": None}
        return {"folder_key": self.kbfs_key(), "key_gen": self.team.state.generation, "halves": lambda: self.w.rand(32)}

    def fetch(self, ptr: BlockPointer) -> bytes:
        return self.blocks[ptr.id]

    def store(self, blocks) -> None:
        for ptr, stored in blocks:
            self.blocks[ptr.id] = stored

    def put_bytes(self, data: bytes) -> BlockPointer:
        root, blocks = write_all([data], **self.writer_kw())
        self.store(blocks)
        return root

    def file_entry(self, name: str, data: bytes, user=None, typ: int = FILE) -> Entry:
        ptr = self.put_bytes(data)
        return Entry(name, typ, ptr, ptr.size, self.time * 10**9, bytes.fromhex((user or self.alice).uid))

    def dir_entry(self, name: str, entries, user=None) -> Entry:
        ptr = self.put_bytes(pack_dir(entries))
        return Entry(name, DIR, ptr, ptr.size, self.time * 10**9, bytes.fromhex((user or self.alice).uid))

    def root(self, entries) -> BlockPointer:
        return self.put_bytes(pack_dir(entries))

    def read_root(self, root: BlockPointer) -> dict:
        return read_dir(root, self.fetch, self.keys())

    # -- revisions -----------------------------------------------------------------------
    def checkpoint(self) -> tuple:
        return (self.w.log_size, root_at(self.w.log_size))

    def known(self) -> set:
        return {(s, root_at(s)) for s in range(1, self.w.log_size + 1)}

    def compose(self, user, root: BlockPointer, ops=(), *, device=None, **over):
        st = self.team.state
        self.time += 1
        n = len(self.signed) + 1
        kw = dict(team_id=self.team.id, kind=self.kind, revision=n,
                  prev=self.signed[-1].id if self.signed else None,
                  key_gen=0 if self.public else st.generation, device=device or user.device, uid=user.uid,
                  eldest_seqno=user.eldest_seqno, checkpoint=self.checkpoint(), team_seqno=st.seqno,
                  root=root, ops=list(ops), ctime=self.time, nonce=None if self.public else self.w.rand(24))
        kw.update(over)
        if "kbfs_key" not in kw:
            kw["kbfs_key"] = None if self.public else self.kbfs_key(kw["key_gen"])
        return make_revision(**kw)

    def commit(self, user, entries=(), ops=(), **kw):
        sr = self.compose(user, self.root(entries), ops, **kw)
        self.signed.append(sr)
        self.served.append(sr.envelope)
        return sr

    def judge(self, **kw) -> FolderJudge:
        kw.setdefault("known_checkpoints", self.known())
        kw.setdefault("team", self.team.state)
        return FolderJudge(folder_id=self.folder_id, key_at=self.w.user_key_at, **kw)


def write_op(entry: Entry, *path: str) -> Op:
    return Op("write", tuple(path) + (entry.name,), entry=entry)
