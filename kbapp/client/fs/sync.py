"""Bringing a folder up to date: load its verified team, judge every served revision, prove the head.

`FolderSync.sync(f)` pages through the revisions the server serves after the saved head,
feeds each to `FolderJudge` (writers' chains refreshed when stale, checkpoints proven in
our log), checks the head against the transparency map, and only then saves the judge's
state, the verified root and one `revs` row per accepted revision (history, `--rev`,
merges) in the journal. Any lie is a typed error and nothing is saved.

A folder synced less than `FRESH_S` ago (or whose push hint names the head we hold) is
*fresh*: reads are served from the local view without a round trip.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from kbapp.core import errors
from kbapp.core.encoding import b64decode, pack, unpack
from kbapp.core.fs.blocks import BlockPointer
from kbapp.core.fs.judge import FolderJudge, FolderState
from kbapp.core.fs.names import PUBLIC, FolderName
from kbapp.core.fs.revision import folder_id_for, open_envelope, open_private
from kbapp.core.transparency import FolderHead, map_key, verify_lookup

from .absence import prove_absent
from .journal import RevRow

PAGE = 100
FRESH_S = 5.0
FOLDER_TTL_S = 30.0


@dataclass
class Folder:
    name: FolderName
    team_id: str
    folder_id: str
    loaded: object                  # the verified team (team_loading._Loaded)
    keys: dict | None               # generation -> kbfs key; None for a public folder
    gen: int                        # the generation new blocks are sealed with (0: public)

    def seal_kw(self) -> dict:
        if self.keys is None:
            return {"folder_key": None}
        return {"folder_key": self.keys[self.gen], "key_gen": self.gen, "halves": lambda: os.urandom(32)}


@dataclass
class Synced:
    judge: FolderJudge
    root: BlockPointer | None
    at: float                       # time.monotonic() of the sync
    hinted: float = 0.0             # time.monotonic() of a push hint naming the head we hold


def unpack_ptr(b: bytes | None) -> BlockPointer | None:
    return None if not b else BlockPointer.from_wire(unpack(b, max_size=256, max_depth=2))


class FolderSync:
    def __init__(self, ctx, teams, journal_fn):
        self.ctx, self.teams, self._journal = ctx, teams, journal_fn
        self.known: set = set()           # (size, root) checkpoints our log proved ours (this session)
        self.synced: dict[str, Synced] = {}
        self._folders: dict[str, tuple[float, Folder]] = {}
        self.on_revisions = None          # async (folder, [(SignedRevision, Private)]) after each verified sync

    # -- folders ---------------------------------------------------------------------------

    async def folder(self, name: FolderName, *, fresh: bool = False, cached: bool = False,
                     max_age: float = 0.0) -> Folder:
        """The folder's verified team and keys: loaded again (the team may have changed) unless
        a push hint keeps the folder fresh or the caller takes a recent one (`cached`: writes,
        which the upload checks again, FOLDER_TTL_S at most; `max_age`: one loaded less than
        that many seconds ago, as the mount, which trusts what it listed for that long)."""
        hit = self._folders.get(str(name))
        age = time.monotonic() - hit[0] if hit is not None else None
        if (hit is not None and not fresh and age < FOLDER_TTL_S
                and (cached or age < max_age or self.is_hinted(hit[1]))):
            return hit[1]
        if self.ctx.identifier is None:
            await self.ctx.connect()
        if name.implicit:
            try:
                team_id = (await self.teams.implicit_team(name.team_name)).team_id
            except errors.ImplicitTeamNotMade:
                raise errors.FolderNotMade(f"{name} holds nothing yet: none of its writers has written to it") from None
            loaded = await self.teams._load_ref(team_id)
        else:
            loaded = await self.teams._load_ref(name.team_name)
        st = loaded.state
        keys = None
        if name.kind != PUBLIC:
            keys = {g: k.application_key("kbfs") for g, k in (await self.teams._team_keys(st)).items()}
        f = Folder(name, st.id, folder_id_for(st.id, name.kind_code).hex(), loaded, keys,
                   0 if keys is None else st.generation)
        self._folders[str(name)] = (time.monotonic(), f)
        return f

    def held(self, name: FolderName) -> Folder | None:
        """The folder as this session last loaded and synced it (verified then; maybe old), or
        None: what a page shows at once while it asks for the fresh one."""
        hit = self._folders.get(str(name))
        return hit[1] if hit is not None and hit[1].folder_id in self.synced else None

    def is_hinted(self, f: Folder) -> bool:
        """A push hint said, less than FRESH_S ago, that the head we hold is the newest."""
        s = self.synced.get(f.folder_id)
        return s is not None and time.monotonic() - s.hinted < FRESH_S

    def hint(self, folder_id: str, revision: int) -> None:
        """A push hint (`folder` topic): a head we already hold keeps the view fresh for FRESH_S;
        a newer one makes it stale (the next read syncs). A lying hint costs freshness only:
        reads still serve verified revisions."""
        s = self.synced.get(folder_id)
        if s is None:
            return
        if revision <= s.judge.state.head_rev:
            s.hinted = time.monotonic()
        else:
            s.at = s.hinted = 0.0

    async def current(self, f: Folder, *, max_age: float = FRESH_S) -> Synced:
        """The verified head, synced again unless it is younger than `max_age` seconds."""
        s = self.synced.get(f.folder_id)
        if s is not None and time.monotonic() - s.at < max_age:
            return s
        return await self.sync(f)

    async def saved(self, f: Folder) -> Synced:
        """What the journal last verified, without the network (offline reads); not fresh."""
        s = self.synced.get(f.folder_id)
        if s is not None:
            return s
        state, root = await (await self._journal()).folder(f.folder_id)
        judge = self._judge(f, state)
        s = self.synced[f.folder_id] = Synced(judge, unpack_ptr(root), 0.0)
        return s

    # -- judging ---------------------------------------------------------------------------

    def _judge(self, f: Folder, saved) -> FolderJudge:
        trusted = self.ctx.logview.trusted()
        if trusted is not None:
            self.known.add((trusted.size, trusted.root))
        return FolderJudge(folder_id=bytes.fromhex(f.folder_id), team=f.loaded.state,
                           key_at=self.teams._user_key_at(f.loaded.users), known_checkpoints=self.known,
                           state=FolderState.from_dict(saved) if saved else None)

    async def _checkpoints_known(self, points: set) -> None:
        """Add each (size, root) our log proves ours; the rest stay unknown (the judge refuses them)."""
        await self.ctx.logview.add_known(points, self.known)

    async def _writers(self, f: Folder, revs) -> None:
        """Verified chains of the writers named, fresh when the cached one cannot judge them."""
        users = f.loaded.users
        for r in revs:
            u = users.get(r.uid)
            live = set() if u is None else {k.hex() if isinstance(k, bytes) else str(k) for k in u.state.sibkeys}
            if u is None or r.kid not in live or r.checkpoint[0] > u.checkpoint.size:
                users.pop(r.uid, None)
                try:
                    await self.teams._user_by_uid(r.uid, None, users)
                except errors.NotFound:
                    pass                  # the judge finds the key not live

    async def _proven_head(self, f: Folder, bundle: dict, since: int) -> FolderHead | None:
        lv = self.ctx.logview
        note = bundle.get("checkpoint") if isinstance(bundle, dict) else None
        cp = await lv.check_forward(lv.parse(note if isinstance(note, str) else ""), since=since)
        head, _leaf = verify_lookup(bundle, cp, map_key("folder", f.folder_id), decode=FolderHead.decode)
        return head

    async def replay(self, f: Folder) -> None:
        """Judge the folder again from revision 1 with a fresh judge (the head map-proven at
        the end) only to record the `revs` rows a version-1 journal never kept."""
        await self.sync(f, replay=True)

    async def sync(self, f: Folder, *, mine: set | None = None, replay: bool = False) -> Synced:
        """Judge what is new in the folder; the verified (judge, root), saved, or a typed error
        and nothing saved. `mine`: revision ids this device posted (marked in `revs`)."""
        journal = await self._journal()
        saved, root = await journal.folder(f.folder_id)
        judge = self._judge(f, None if replay else saved)
        accepted: list = []
        while True:
            try:
                mark = self.ctx.logview.mark()             # its lookup may be older than what we trust by then
                page = await self.ctx.api.fs_revisions(f.folder_id, since=judge.state.head_rev, limit=PAGE)
            except errors.NotFound:
                # A folder never written: the map must prove it absent (client/fs/absence.py).
                await prove_absent(self.ctx, f.folder_id, f.team_id, f.name.kind_code, str(f.name),
                                   judge.state.head_rev if not replay else FolderState.from_dict(saved).head_rev
                                   if saved else 0)
                s = self.synced[f.folder_id] = Synced(judge, None, time.monotonic())
                return s
            envs = []
            for x in page["revisions"]:
                if not isinstance(x, dict) or not isinstance(x.get("envelope"), str):
                    raise errors.EncodingError("malformed folder revision")
                envs.append(b64decode(x["envelope"], max_size=8 << 20))
            revs = [open_envelope(e).revision for e in envs]
            if any(r.team_seqno > f.loaded.state.seqno for r in revs):
                f.loaded = await self.teams._load_ref(f.team_id)        # once; then FolderUnknownTeamState
                judge.update_team(f.loaded.state)
                judge.key_at = self.teams._user_key_at(f.loaded.users)
                if f.keys is not None:
                    f.keys = {g: k.application_key("kbfs")
                              for g, k in (await self.teams._team_keys(f.loaded.state)).items()}
                    f.gen = f.loaded.state.generation
            await self._writers(f, revs)
            await self._checkpoints_known({r.checkpoint for r in revs})
            for e in envs:
                sr = judge.feed(e)
                accepted.append((sr, open_private(sr.revision, f.keys)))
            if not envs or type(page.get("head")) is not int or judge.state.head_rev >= page["head"]:
                break
        head = await self._proven_head(f, page["lookup"], mark)
        judge.check_head(head.revision if head else 0, bytes.fromhex(head.revision_id) if head else None)
        if accepted:
            root = pack(accepted[-1][1].root.to_wire())
            mine = mine or set()
            await journal.add_revs(f.folder_id, [
                RevRow(sr.revision.revision, sr.id.hex(), sr.revision.uid, sr.revision.kid, sr.revision.ctime,
                       pack(p.root.to_wire()), pack([o.to_wire() for o in p.ops]), sr.id.hex() in mine)
                for sr, p in accepted])
        if replay:
            return self.synced.get(f.folder_id) or Synced(judge, unpack_ptr(root), 0.0)
        await journal.save_folder(f.folder_id, str(f.name), judge.state.to_dict(), root)
        s = self.synced[f.folder_id] = Synced(judge, unpack_ptr(root), time.monotonic())
        if accepted and self.on_revisions is not None:
            await self.on_revisions(f, accepted)
        return s

    async def accepted_own(self, f: Folder, judge: FolderJudge, sr, private, root: BlockPointer) -> None:
        """Our revision was accepted (its envelope fed to the judge): save as a sync would."""
        journal = await self._journal()
        await journal.add_revs(f.folder_id, [RevRow(sr.revision.revision, sr.id.hex(), sr.revision.uid,
                                                    sr.revision.kid, sr.revision.ctime, pack(root.to_wire()),
                                                    pack([o.to_wire() for o in private.ops]), True)])
        await journal.save_folder(f.folder_id, str(f.name), judge.state.to_dict(), pack(root.to_wire()))
        self.synced[f.folder_id] = Synced(judge, root, time.monotonic())
