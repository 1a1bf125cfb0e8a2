"""Identify: from a username to a fully verified identity, or a typed error.

Order matters: the checkpoint is verified (signature, no rollback, no fork)
before the lookup proof, the lookup proof before the chain, the chain before
anything is written. Trusted state is written once, at the end, in a single
transaction: an attack detected at any step changes nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from kbapp.core import errors
from kbapp.core.keys import kid_hex
from kbapp.core.merkle.note import Checkpoint
from kbapp.core.sigchain import ChainState, link_id_hex, require_full, verify_chain
from kbapp.core.transparency import check_tail
from kbapp.core.uid import check_username, uid_for

from .api import ServerAPI
from .logview import LogView
from .store import Store, TrustedCheckpoint, TrustedIdentity

# Chains longer than this are verified in a worker thread so the GUI's event
# loop never stalls on signature checks.
THREAD_THRESHOLD = 64


@dataclass(frozen=True)
class VerifiedUser:
    uid: str
    username: str
    state: ChainState
    checkpoint: TrustedCheckpoint
    changed: bool


class Identifier:
    def __init__(self, api: ServerAPI, store: Store, logview: LogView, clock):
        self.api, self.store, self.logview, self.clock = api, store, logview, clock

    async def current_checkpoint(self) -> Checkpoint:
        return await self.logview.fetch_latest()

    async def advance_checkpoint(self, cp: Checkpoint | None = None) -> TrustedCheckpoint:
        """Trust a newer verified checkpoint on its own (log audit, gossip)."""
        cp = cp if isinstance(cp, Checkpoint) else await self.logview.fetch_latest()
        trusted = TrustedCheckpoint(cp.size, cp.root, cp.text, int(self.clock()))
        old = self.logview.trusted()
        if old is None or cp.size > old.size:
            self.store.commit_verified(cp=trusted)
        return self.logview.trusted()

    async def identify(self, username: str, *, own: bool | None = None) -> VerifiedUser:
        """`own` (default: `username` is the logged-in user; login flows say True)
        loads the chain in full: a stub in one's own chain is refused (stubs.py)."""
        username = check_username(username)
        uid = uid_for(username)
        if own is None:
            own = uid == self.store.get("uid")
        tail, cp = await self.logview.lookup("user", uid)
        if tail is None:
            raise errors.NotFound(f"no user named {username!r} (the verified log proves it absent)")

        answer = await self.api.chain(uid)
        if answer.get("uid") != uid or answer.get("username") != username:
            raise errors.WrongUid("the server answered with another user's chain")
        links = answer.get("links")
        if not isinstance(links, list):
            raise errors.EncodingError("chain answer has no link list")
        # Links posted after our checkpoint are not committed to yet: play back
        # exactly the part the log vouches for, the rest waits for the next look.
        links = links[:tail.seqno]
        if len(links) > THREAD_THRESHOLD:
            state = await asyncio.get_running_loop().run_in_executor(
                None, lambda: verify_chain(links, uid=uid, username=username))
        else:
            state = verify_chain(links, uid=uid, username=username)
        if own:
            require_full(state)
        # An empty chain has no eldest key: still a tail mismatch, not a malformed KID.
        check_tail(tail, state.tail_seqno, state.tail_link_id,
                   kid_hex(state.eldest_kid) if state.eldest_kid is not None else "")

        prev = self.store.identity(uid)
        changed = self._check_growth(prev, links, state)
        await self._check_embedded_roots(username, state, prev, cp)

        trusted_cp = TrustedCheckpoint(cp.size, cp.root, cp.text, int(self.clock()))
        old_cp = self.logview.trusted()
        self.store.commit_verified(
            cp=trusted_cp if old_cp is None or cp.size > old_cp.size else None,
            identity=TrustedIdentity(uid, username, state.tail_seqno, state.tail_link_id,
                                     kid_hex(state.eldest_kid), links, summarise(state), int(self.clock())))
        return VerifiedUser(uid, username, state, self.logview.trusted(), changed)

    @staticmethod
    def _check_growth(prev: TrustedIdentity | None, links: list, state: ChainState) -> bool:
        """A chain may only grow from what we verified before, never shrink or change."""
        if prev is None:
            return False
        if state.tail_seqno < prev.tail_seqno:
            raise errors.RollbackDetected(
                f"the chain ends at link {state.tail_seqno}, but we already verified link {prev.tail_seqno}")
        if link_id_hex(links[prev.tail_seqno - 1]) != prev.tail_link_id:
            raise errors.ForkDetected(f"link {prev.tail_seqno} differs from the one we verified before")
        return state.tail_seqno != prev.tail_seqno

    async def _check_embedded_roots(self, username: str, state: ChainState,
                                    prev: TrustedIdentity | None, cp: Checkpoint) -> None:
        """Each link names the checkpoint its author saw: it must be in our log."""
        start = prev.tail_seqno if prev is not None else 0
        seen: dict[tuple[int, str], int] = {}
        for seqno, size, root_hex in state.merkle_roots:
            if seqno > start:
                seen.setdefault((size, root_hex), seqno)
        for (size, root_hex), seqno in seen.items():  # one proof per distinct checkpoint
            await self.logview.check_seen(size, bytes.fromhex(root_hex), cp, who=f"{username}'s link {seqno}")


def summarise(state: ChainState) -> dict:
    return {
        "eldest_kid": kid_hex(state.eldest_kid),
        "tail_seqno": state.tail_seqno,
        "devices": {d.id: {"name": d.name, "type": d.type, "revoked": d.revoked_seqno is not None}
                    for d in state.devices.values()},
        "sibkeys": sorted(kid_hex(k) for k in state.sibkeys),
        "subkeys": sorted(kid_hex(k) for k in state.subkeys),
        "puk_generation": max(state.puks) if state.puks else 0,
    }
