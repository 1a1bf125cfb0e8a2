"""Identify: from a username to a fully verified identity, or a typed error.

Order matters: the checkpoint is verified (signature, no rollback, no fork)
before the lookup proof, the lookup proof before the chain, the chain before
anything is written. Trusted state is written once, at the end, in a single
transaction: an attack detected at any step changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from kbapp.core import errors
from kbapp.core.chains import Claim, check_grows, judge, signatures
from kbapp.core.keys import kid_hex
from kbapp.core.merkle.note import Checkpoint
from kbapp.core.sigchain import ChainState, link_id_hex, parse_link, require_full
from kbapp.core.transparency import check_tail
from kbapp.core.uid import check_username, uid_for

from .api import ServerAPI
from .chainfetch import ChainLoader
from .logview import LogView
from .store import Store, TrustedCheckpoint, TrustedIdentity


@dataclass(frozen=True)
class VerifiedUser:
    uid: str
    username: str
    state: ChainState
    checkpoint: TrustedCheckpoint
    changed: bool
    # links whose embedded checkpoint is unsound: {"seqno", "signer" (device kid), "why"}
    bad_checkpoints: tuple[dict, ...] = ()


class Identifier:
    def __init__(self, api: ServerAPI, store: Store, logview: LogView, clock):
        self.api, self.store, self.logview, self.clock = api, store, logview, clock
        self.chains = ChainLoader(api)

    async def current_checkpoint(self) -> Checkpoint:
        return await self.logview.fetch_latest()

    async def advance_checkpoint(self, cp: Checkpoint | None = None) -> TrustedCheckpoint:
        """Trust a newer verified checkpoint on its own (log audit, gossip)."""
        cp = cp if isinstance(cp, Checkpoint) else await self.logview.fetch_latest()
        trusted = TrustedCheckpoint(cp.size, cp.root, cp.text, int(self.clock()))
        await self.logview.commit(trusted, lambda c: self.store.aio.commit_verified(cp=c))
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

        # Exactly the part the log vouches for (later links wait for the next look), fetched
        # page by page after what we verified before and played back on top of it.
        prev = await self.store.aio.identity(uid)
        # One's own chain is loaded in full: stubs kept from a look as a third party
        # (before this profile logged in) are fetched again, not resumed from.
        full_again = own and prev is not None and any("s2" in w for w in prev.chain)
        links, state = await self.chains.load(uid, username, tail, None if full_again else prev)
        if own:
            require_full(state)
        # An empty chain has no eldest key: still a tail mismatch, not a malformed KID.
        check_tail(tail, state.tail_seqno, state.tail_link_id,
                   kid_hex(state.eldest_kid) if state.eldest_kid is not None else "")

        changed = self._check_growth(prev, links, state)
        state, bad = await self._check_embedded_roots(links, state, prev, cp)
        summary = {**summarise(state), "bad_checkpoints": list(bad)} if bad else summarise(state)

        trusted_cp = TrustedCheckpoint(cp.size, cp.root, cp.text, int(self.clock()))
        ident = TrustedIdentity(uid, username, state.tail_seqno, state.tail_link_id,
                                kid_hex(state.eldest_kid), links, summary, int(self.clock()))
        await self.logview.commit(trusted_cp, lambda c: self.store.aio.commit_verified(cp=c, identity=ident))
        return VerifiedUser(uid, username, state, self.logview.trusted(), changed, tuple(bad))

    @staticmethod
    def _check_growth(prev: TrustedIdentity | None, links: list, state: ChainState) -> bool:
        """A chain may only grow from what we verified before, never shrink or change."""
        if prev is None:
            return False
        return check_grows(state.tail_seqno, lambda n: link_id_hex(links[n - 1]),   # core/chains.py
                           {prev.tail_seqno: prev.tail_link_id})

    async def _check_embedded_roots(self, links: list, state: ChainState, prev: TrustedIdentity | None,
                                    cp: Checkpoint) -> tuple[ChainState, list[dict]]:
        """Each link names the checkpoint its author saw: one of our log's, never older than an
        earlier link's (core/chains.py). An unsound one is its signer's fault, not the server's:
        noted against that device and its claim dropped (so nothing is ordered by it), and the
        chain still loads, so that its owner can revoke the device. A fork still raises."""
        start = prev.tail_seqno if prev is not None else 0
        bad = list(prev.summary.get("bad_checkpoints", [])) if prev is not None else []
        known = {b["seqno"] for b in bad}
        previous = max((size for seqno, size, _ in state.merkle_roots if seqno <= start and seqno not in known),
                       default=0)
        new = [Claim(*r) for r in state.merkle_roots if r[0] > start]
        # one proof per distinct checkpoint, only for those the sizes alone do not rule out
        sigs = signatures((c.size, c.root, _body(links[c.seqno - 1])) for c in new)
        ok = await self.logview.roots_in_log({(c.size, c.root) for c in new if 1 <= c.size < cp.size}, cp, sigs)
        _, why = judge(new, log_size=cp.size, root_ok=lambda size, root: ok[(size, root)], previous=previous)
        bad += [{"seqno": seqno, "signer": kid_hex(parse_link(links[seqno - 1]).signer), "why": w}
                for seqno, w in sorted(why.items())]
        if not bad:
            return state, bad
        dropped = {b["seqno"] for b in bad}
        return replace(state, merkle_roots=[r for r in state.merkle_roots if r[0] not in dropped]), bad


def _body(wire) -> dict | None:
    link = parse_link(wire)
    return link.payload["body"] if link.payload is not None else None


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
