"""The client's view of the server's log: only ever forward, never forked.

`LogView` checks each checkpoint the server (or a peer, or a link) shows us
against the newest one we trust: same size must mean same root, a bigger log
must come with a consistency proof, a smaller one with a proof that it is a
prefix of ours. Anything else is a rollback or a fork, and raises.
"""

from __future__ import annotations

from dataclasses import dataclass

from kbapp.core import errors
from kbapp.core.encoding import b64decode
from kbapp.core.merkle.log import MerkleLog, verify_consistency
from kbapp.core.merkle.note import Checkpoint, signed_checkpoint, verify_checkpoint
from kbapp.core.transparency import ChainTail, LogLeaf, map_key, verify_lookup

from .api import ServerAPI
from .store import Store, TrustedCheckpoint

MAX_PROOF = 64


def _hashes(items) -> list[bytes]:
    if not isinstance(items, list) or len(items) > MAX_PROOF:
        raise errors.EncodingError("a proof must be a list of at most 64 hashes")
    out = []
    for x in items:
        if not isinstance(x, str):
            raise errors.EncodingError("proof hashes are base64 strings")
        h = b64decode(x, max_size=64)
        if len(h) != 32:
            raise errors.EncodingError("proof hashes are 32 bytes")
        out.append(h)
    return out


@dataclass(frozen=True)
class LogAudit:
    size: int
    root_hex: str
    leaves_checked: int
    trusted_size: int


class LogView:
    def __init__(self, api: ServerAPI, store: Store, origin: str, public_key: bytes):
        self.api, self.store, self.origin, self.public_key = api, store, origin, public_key

    def parse(self, note: str) -> Checkpoint:
        """Signature and format check against the pinned server key."""
        try:
            return verify_checkpoint(note, self.origin, self.public_key, origin=self.origin)
        except errors.CheckpointError:
            raise
        except errors.KbappError as e:
            raise errors.CheckpointError(f"bad checkpoint: {e}") from None

    def trusted(self) -> TrustedCheckpoint | None:
        return self.store.checkpoint()

    async def fetch_latest(self) -> Checkpoint:
        """The server's newest checkpoint, verified to extend what we trust."""
        since = self.mark()
        return await self.check_forward(self.parse(await self.api.checkpoint()), since=since)

    def mark(self) -> int:
        """The size we trust now: taken before a request, handed to `check_forward` with its answer."""
        t = self.trusted()
        return t.size if t is not None else 0

    async def lookup(self, kind: str, key_id: str) -> tuple[ChainTail | None, Checkpoint]:
        """A chain's tail in the Merkle map (None: proven absent) and the checkpoint it was
        proven against, which must be no older than the newest one just shown and extend
        what we trust (users and teams are looked up the same way)."""
        since = self.mark()
        first = await self.fetch_latest()
        bundle = await self.api.lookup(kind, key_id)
        cp = self.parse(bundle.get("checkpoint") if isinstance(bundle.get("checkpoint"), str) else "")
        if cp.size < first.size:
            raise errors.RollbackDetected(
                f"the lookup is against a log of {cp.size} entries, older than the {first.size} just shown")
        cp = await self.check_forward(cp, since=since)
        tail, _leaf = verify_lookup(bundle, cp, map_key(kind, key_id))
        return tail, cp

    async def check_forward(self, cp: Checkpoint, *, since: int | None = None) -> Checkpoint:
        """cp must be our trusted checkpoint or a consistent extension of it. `since` (`mark()`
        taken before the request that brought cp): if our trust moved past cp while the answer
        was on its way (another verification, or one this flow ran meanwhile), cp is no rollback:
        it must then be a prefix of what we trust now (proven, else ForkDetected)."""
        old = self.trusted()
        if old is None:
            return cp
        if cp.size < old.size and since is not None and cp.size >= since:
            await self.check_seen(cp.size, cp.root, old, who="an answer sent before our newest checkpoint")
            return cp
        if cp.size < old.size:
            raise errors.RollbackDetected(
                f"the server shows a log of {cp.size} entries, but we already verified {old.size}")
        if cp.size == old.size:
            if cp.root != old.root:
                raise errors.ForkDetected(f"two different logs of size {cp.size}, both signed by the server")
            return cp
        proof = _hashes(await self.api.consistency(old.size, cp.size))
        try:
            verify_consistency(old.size, cp.size, proof, old.root, cp.root)
        except errors.ConsistencyProofError as e:
            raise errors.ForkDetected(
                f"the log of size {cp.size} does not extend the one of size {old.size} we verified: {e}") from None
        return cp

    async def commit(self, cp: TrustedCheckpoint, write) -> None:
        """`await write(cp or None)`: what a verification against `cp` established, with `cp`
        when it is newer than what we trust. Verifications run side by side: one may trust a
        newer checkpoint between another's check and its commit; ours must then be a prefix
        of it (proven, else ForkDetected) and is committed without its checkpoint."""
        for _ in range(4):
            old = self.trusted()
            if old is not None and old.size >= cp.size:
                await self.check_seen(cp.size, cp.root, old, who="a verification beside this one")
                await write(None)
                return
            try:
                await write(cp)
                return
            except errors.CheckpointMoved:
                continue                  # trusted moved on under us: prove ours against it
        raise errors.CheckpointMoved("the trusted checkpoint kept moving")

    async def check_seen(self, size: int, root: bytes, current: Checkpoint, *, who: str) -> None:
        """A root someone else saw (a peer, a link's author) must be in our log."""
        if size < 1:
            raise errors.EncodingError(f"{who} reports an empty log")
        if size > current.size:
            raise errors.ForkDetected(
                f"{who} saw a log of {size} entries, more than the {current.size} the server shows us")
        if size == current.size:
            if root != current.root:
                raise errors.ForkDetected(f"{who} saw a different log of size {size}")
            return
        await self._prefix(size, root, current.size, current.root,
                           f"{who} saw a log of size {size} that is not a prefix of ours: the server forked")

    async def add_known(self, points, known: set) -> None:
        """Add to `known` each (size, root) of `points` that our log proves ours (the newest
        checkpoint itself, or a root the log is consistent with); the rest stay unknown, for
        the caller's judge to refuse (chat messages, folder revisions)."""
        todo = {c for c in points if c not in known}
        if not todo:
            return
        cp = await self.fetch_latest()
        below = sorted((s, r.hex()) for s, r in todo if 1 <= s < cp.size)
        res = await self.roots_in_log(below, cp) if below else {}
        for s, r in todo:
            if (s == cp.size and r == cp.root) or res.get((s, r.hex())) is True:
                known.add((s, r))

    async def roots_in_log(self, pairs, current: Checkpoint, sigs=None) -> dict[tuple[int, str], bool]:
        """For links' embedded checkpoints (size, root hex), 1 <= size < current.size: is each
        our log's root at that size? A link's root carries no server signature, so when its
        consistency proof fails we ask for the server's own signed checkpoint of that size:
        if that one is a prefix of `current`, the link's signer named a root the server never
        showed (False: its fault, core/chains.py); if the server cannot show one, or signed
        the link's root and cannot prove it a prefix, the server forked (ForkDetected).
        `sigs`: (size, root hex) -> the server signatures links embed beside it: a valid one
        on a root that is not our log's proves the server signed two logs (ForkDetected)."""
        out: dict[tuple[int, str], bool] = {}
        for size, root_hex in pairs:
            if not 1 <= size < current.size:
                raise ValueError(f"no root to check at size {size} against a log of {current.size}")
            out[(size, root_hex)] = await self._root_in_log(size, bytes.fromhex(root_hex), current,
                                                            (sigs or {}).get((size, root_hex), ()))
        return out

    async def _root_in_log(self, size: int, root: bytes, current: Checkpoint, sigs=()) -> bool:
        why = f"the server cannot prove its log of size {size} a prefix of the one of size {current.size}"
        try:
            proof = _hashes(await self.api.consistency(size, current.size))
        except errors.NotFound:
            raise errors.ForkDetected(why) from None
        try:
            verify_consistency(size, current.size, proof, root, current.root)
            return True
        except errors.ConsistencyProofError:
            pass
        if any(signed_checkpoint(self.origin, size, root, sig, self.origin, self.public_key) for sig in sigs):
            raise errors.ForkDetected(f"a link names a log of size {size} that the server signed, and that "
                                      f"is not a prefix of ours: the server showed two different logs")
        try:
            signed = self.parse(await self.api.checkpoint(size))
        except errors.NotFound:
            raise errors.ForkDetected(why) from None
        if signed.size != size:
            raise errors.ForkDetected(f"asked for the checkpoint of size {size}, the server signed one of {signed.size}")
        if signed.root == root:
            raise errors.ForkDetected(f"the server signed the log of size {size} a link names, but its proof "
                                      f"that the log is a prefix of ours fails: the server forked")
        await self._prefix(size, signed.root, current.size, current.root, why + ": the server forked")
        return False

    async def _prefix(self, size1: int, root1: bytes, size2: int, root2: bytes, why: str) -> None:
        """Both checkpoints are the server's own: it can always prove the smaller
        one a prefix of the bigger. A refusal (404) hides a fork just as well as
        a bad proof, so both are a fork."""
        try:
            proof = _hashes(await self.api.consistency(size1, size2))
            verify_consistency(size1, size2, proof, root1, root2)
        except (errors.ConsistencyProofError, errors.NotFound):
            raise errors.ForkDetected(why) from None

    async def check_peer_note(self, note: str) -> Checkpoint:
        """Gossip: a checkpoint a peer received must agree with ours."""
        peer = self.parse(note)
        current = await self.fetch_latest()
        if peer.size > current.size:
            # The server signed a bigger log than the one it shows us as its
            # newest: that log must extend this one (and so what we trust).
            await self._prefix(current.size, current.root, peer.size, peer.root,
                               f"a peer saw a log of size {peer.size} that does not extend the one of size "
                               f"{current.size} the server shows us: the server forked")
        else:
            await self.check_seen(peer.size, peer.root, current, who="a peer")
        return current

    async def audit(self) -> LogAudit:
        """Download every leaf, rebuild the tree and compare with the checkpoint."""
        cp = await self.fetch_latest()
        log = MerkleLog()
        while log.size < cp.size:
            batch = await self.api.leaves(log.size, cp.size)
            if not batch:
                raise errors.EncodingError(f"the server returned no leaves at {log.size}")
            for item in batch:
                if log.size >= cp.size:
                    raise errors.EncodingError("the server returned more leaves than asked for")
                data = b64decode(item, max_size=256)
                leaf = LogLeaf.decode(data)
                if leaf.epoch != log.size:
                    raise errors.InclusionProofError(f"leaf {log.size} claims epoch {leaf.epoch}")
                log.append(data)
        if log.root() != cp.root:
            raise errors.ForkDetected("the leaves the server serves do not hash to its signed checkpoint")
        old = self.trusted()
        if old is not None and log.root(old.size) != old.root:
            raise errors.ForkDetected(f"the log no longer matches the checkpoint of size {old.size} we trusted")
        return LogAudit(cp.size, cp.root.hex(), log.size, old.size if old else 0)
