"""Who proves `bob@github`? The server's hints, checked live, whatever number of false claimants.

Anyone can sign a link that claims `bob@github` (the claim costs a free account);
only the real bob can post the proof text where GitHub shows it. So the server's
list of claimants (`/v1/proofs/search`, in uid order, a page at a time) is only
where to look: each candidate's chain is verified (one at a time: the log view
is shared state) and the claims that match the assertion are checked live on the
service, several candidates at once (bounded). The first candidate, in the
server's order, whose matching claims all check out is the answer; squatters
only cost the search time, up to MAX_CHECKED of them.
"""

from __future__ import annotations

import asyncio

from kbapp.core import errors
from kbapp.core.proofs import OK, chain_statements
from kbapp.core.uid import check_username

MAX_CHECKED = 2000        # candidates checked per assertion, at most
MAX_PAGES = 100           # pages of hints asked for, at most (a server cannot keep us paging)
CONCURRENCY = 8           # candidates whose proofs are fetched at once


async def find_prover(social, norm: list[tuple[str, str]]) -> tuple[str | None, int]:
    """(the username of the first candidate proving every (service, name) of `norm`
    live, or None; how many candidates were checked)."""
    want = set(norm)
    sem = asyncio.Semaphore(CONCURRENCY)
    after, seen = "", set()

    async def proves(username: str, claims: list) -> bool:
        async with sem:
            views = await social.check_claims(username, claims)
        return {(v.service, v.name) for v in views if v.state == OK} >= want

    for _page in range(MAX_PAGES):
        hints, nxt = await social.ctx.api.proof_owners_page(*norm[0], after)
        todo = []
        for h in hints:
            name = h.get("username") if isinstance(h, dict) else None
            if not isinstance(name, str) or name in seen or len(seen) >= MAX_CHECKED:
                continue
            seen.add(name)
            try:
                user = await social.ctx.identifier.identify(check_username(name))
            except errors.KbappError:
                continue              # no such user, or a chain that does not verify: not the prover
            claims = [c for c in chain_statements(user.state)[0] if (c.service, c.username) in want]
            if {(c.service, c.username) for c in claims} == want:
                todo.append((user.username, claims))
        results = await asyncio.gather(*(proves(n, c) for n, c in todo))
        for (name, _claims), ok in zip(todo, results):
            if ok:
                return name, len(seen)
        if nxt is None or len(seen) >= MAX_CHECKED:
            break
        after = nxt
    return None, len(seen)
