"""Folder writers for the folder server's tests: real devices, real team keys, real sealed blocks
and signed envelopes (core/fs), sent as raw HTTP so tests see every status and error code.
(tests/fs_support.py is the core's in-memory world.) Not a test module; tests/ is on sys.path.
"""

from __future__ import annotations

import os
import time

import httpx

from kbapp.core.encoding import b64decode
from kbapp.core.fs.dirs import FILE, Entry, pack_dir
from kbapp.core.fs.names import KIND_CODES
from kbapp.core.fs.revision import Op, folder_id_for, make_revision
from kbapp.core.fs.tree import write_all
from kbapp.core.merkle.note import verify_checkpoint
from kbapp.core.tokens import make_read_token, parse_read_token
from kbapp.core.transparency import FolderHead, map_key, verify_lookup


def code(r: httpx.Response) -> str:
    return r.json()["error"]["code"]


def server_checkpoint(url: str):
    info = httpx.get(url + "/v1/server", timeout=10).json()
    note = httpx.get(url + "/v1/checkpoint", timeout=10).json()["note"]
    return verify_checkpoint(note, info["key_name"], b64decode(info["public_key"]), origin=info["origin"])


def verify_head(url: str, folder_id: str, bundle: dict) -> FolderHead | None:
    """The folder head a lookup bundle proves against the server's signed checkpoint."""
    cp = server_checkpoint(url)
    head, _ = verify_lookup(bundle, cp, map_key("folder", folder_id), decode=FolderHead.decode)
    return head


class Writer:
    """One user's device writing one team's folder of `kind` ('private', 'public', 'team')."""

    def __init__(self, app, url: str, team_id: str, kind: str = "team", device=None):
        self.app, self.url, self.team_id = app, url, team_id
        self.kind = KIND_CODES[kind]
        self.public = kind == "public"
        self.folder_id = folder_id_for(team_id, self.kind).hex()
        self._device = device

    async def device(self):
        return self._device or (await self.app.ctx.device_keys()).sibkey

    async def token(self) -> str:
        if self._device is None:
            return await self.app.api.read_tokens.header()
        uid = await self.uid()
        return make_read_token(self._device, uid=uid, origin=self.app.store.get("server_origin"),
                               ctime=int(time.time()), lifetime=300, nonce=os.urandom(16))[0]

    async def uid(self) -> str:
        return parse_read_token(await self.app.api.read_tokens.header())[0].uid

    async def key(self, team_name: str) -> tuple[int, bytes | None]:
        if self.public:
            return 0, None
        k = await self.app.teams.team_key(team_name, app="kbfs")
        return k.generation, k.key

    async def tree(self, team_name: str, files: dict[str, bytes]):
        """(root pointer, [(pointer, stored)]) of a root directory holding `files`."""
        gen, key = await self.key(team_name)
        kw = {"folder_key": key} if self.public else {"folder_key": key, "key_gen": gen,
                                                      "halves": lambda: os.urandom(32)}
        blocks, entries = [], []
        uid = bytes.fromhex(await self.uid())
        for name, data in sorted(files.items()):
            ptr, stored = write_all([data], **kw)
            blocks += stored
            entries.append(Entry(name, FILE, ptr, len(data), time.time_ns(), uid))
        root, stored = write_all([pack_dir(entries)], **kw)
        return root, blocks + stored, entries

    async def revision(self, team_name: str, n: int, prev: bytes | None, root, ops=(), **over):
        gen, key = await self.key(team_name)
        cp = server_checkpoint(self.url)
        seqno = over.pop("team_seqno", 1)
        kw = dict(team_id=self.team_id, kind=self.kind, revision=n, prev=prev, key_gen=gen,
                  device=await self.device(), uid=await self.uid(), eldest_seqno=1,
                  checkpoint=(cp.size, cp.root), team_seqno=seqno, root=root, ops=list(ops),
                  ctime=int(time.time()), kbfs_key=key, nonce=None if self.public else os.urandom(24))
        kw.update(over)
        return make_revision(**kw)

    @staticmethod
    def write_ops(entries) -> list:
        return [Op("write", (e.name,), entry=e) for e in entries]


class FolderHTTP:
    """Raw folder requests to one server, each with the writer's read token (None: no token)."""

    def __init__(self, url: str):
        self.client = httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=30))

    async def aclose(self) -> None:
        await self.client.aclose()

    @staticmethod
    async def _h(who) -> dict:
        return {"Authorization": await who.token()} if who is not None else {}

    async def put_block(self, who, fid: str, block_id: str, data: bytes, team_id: str | None = None,
                        kind: int | None = None) -> httpx.Response:
        params = {"team": team_id, "kind": kind} if team_id is not None else None
        return await self.client.put(f"/v1/folders/{fid}/blocks/{block_id}", content=data, params=params,
                                     headers=await self._h(who))

    async def put_blocks(self, who, blocks) -> None:
        for ptr, stored in blocks:
            r = await self.put_block(who, who.folder_id, ptr.id.hex(), stored, who.team_id, who.kind)
            assert r.status_code == 200, (r.status_code, r.text)

    async def get_block(self, who, fid: str, block_id: str) -> httpx.Response:
        return await self.client.get(f"/v1/folders/{fid}/blocks/{block_id}", headers=await self._h(who))

    async def post_revision(self, who, fid: str, envelope: bytes) -> httpx.Response:
        return await self.client.post(f"/v1/folders/{fid}/revisions", content=envelope, headers=await self._h(who))

    async def revisions(self, who, fid: str, **params) -> httpx.Response:
        return await self.client.get(f"/v1/folders/{fid}/revisions", params=params, headers=await self._h(who))

    async def head(self, who, fid: str) -> httpx.Response:
        return await self.client.get(f"/v1/folders/{fid}/head", headers=await self._h(who))
