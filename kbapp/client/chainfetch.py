"""A user's chain, fetched and verified from what we verified before.

The server sends a chain page by page (GET /v1/chain/{uid}?since=N: at most
1000 links, about 2 MiB each), so a long chain never needs one answer over the
8 MiB cap. A chain we verified before is fetched only after its known tail and
played back on top of its verified state (kept in memory; otherwise rebuilt
from the links in our store, with no network), so identifying a known user
costs what its chain grew by. Every page is a hint: playback, the Merkle map's
tail and the links we already trust decide.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from kbapp.core import errors
from kbapp.core.sigchain import ChainState, parse_link, verify_chain

from .api import ServerAPI
from .store import TrustedIdentity

# Chains longer than this are verified in a worker thread so the GUI's event
# loop never stalls on signature checks.
THREAD_THRESHOLD = 64
MAX_STATES = 64            # verified states kept in memory (least recently used out)


async def fetch_links(api: ServerAPI, uid: str, username: str, *, since: int, upto: int) -> list:
    """Links since+1 .. upto, page by page. Stops at `upto` (the map's tail: later links
    are not committed to yet) or when the server has no more; never loops on empty pages."""
    out: list = []
    while since + len(out) < upto:
        ans = await api.chain(uid, since=since + len(out))
        if ans.get("uid") != uid or ans.get("username") != username:
            raise errors.WrongUid("the server answered with another user's chain")
        page = ans.get("links")
        if not isinstance(page, list):
            raise errors.EncodingError("chain answer has no link list")
        out += page[:upto - since - len(out)]
        if not page or not ans.get("more"):
            break
    return out


class ChainLoader:
    def __init__(self, api: ServerAPI):
        self.api = api
        self._states: OrderedDict[str, ChainState] = OrderedDict()

    async def load(self, uid: str, username: str, tail, prev: TrustedIdentity | None) -> tuple[list, ChainState]:
        """(links 1..tail.seqno, their verified state). `tail`: the Merkle map's verified
        entry; `prev`: what we verified before, which the chain may only extend."""
        if prev is None:
            links = await fetch_links(self.api, uid, username, since=0, upto=tail.seqno)
            return links, await self._play(links, uid, username)
        if tail.seqno < prev.tail_seqno:
            raise errors.RollbackDetected(
                f"the chain ends at link {tail.seqno}, but we already verified link {prev.tail_seqno}")
        if tail.seqno == prev.tail_seqno and tail.link_id != prev.tail_link_id:
            raise errors.ForkDetected(f"link {prev.tail_seqno} differs from the one we verified before")
        new = await fetch_links(self.api, uid, username, since=prev.tail_seqno, upto=tail.seqno)
        if new:
            first = parse_link(new[0])
            if first.seqno == prev.tail_seqno + 1 and first.prev != bytes.fromhex(prev.tail_link_id):
                raise errors.ForkDetected(
                    f"link {first.seqno} does not follow link {prev.tail_seqno}, the one we verified before")
        links = list(prev.chain) + new
        base = self._states.get(uid)
        if base is not None and (base.tail_seqno, base.tail_link_id) == (prev.tail_seqno, prev.tail_link_id):
            return links, (await self._play(new, uid, username, resume=base) if new else base)
        return links, await self._play(links, uid, username)

    async def _play(self, links: list, uid: str, username: str, resume: ChainState | None = None) -> ChainState:
        if len(links) > THREAD_THRESHOLD:
            state = await asyncio.get_running_loop().run_in_executor(
                None, lambda: verify_chain(links, uid=uid, username=username, resume=resume))
        else:
            state = verify_chain(links, uid=uid, username=username, resume=resume)
        # A playback's result is the same whoever asks; only a state whose tail is the one we
        # then trust (in the store) is ever resumed from.
        self._states[uid] = state
        self._states.move_to_end(uid)
        while len(self._states) > MAX_STATES:
            self._states.popitem(last=False)
        return state
