"""Who may be served a stub of which link: the rule for a reader's own chain.

A stub hides a link's body. Keybase lets a server stub track, untrack and
announcement links (and ignorable unknown types) for third parties: they only
lose statements, never keys (verify_chain enforces that for everyone). A
reader's own chain is different: its track links pin what the reader checked
of the people it follows, and a stubbed track would make a followed identity
that was rewritten look new (no follow, so no diff). So a client loads its own
chain in full, and `require_full` refuses any stub in it, live subchain or not.
"""

from __future__ import annotations

from ..errors import OwnChainStubbed
from .verify import ChainState


def require_full(state: ChainState) -> ChainState:
    """`state` if no link of it (earlier subchains included) is a stub; else OwnChainStubbed."""
    for links in [state.links, *(sc.links for sc in state.previous_subchains)]:
        for link in links:
            if link.stubbed:
                raise OwnChainStubbed(f"link {link.seqno}: the server stubbed a link of your own chain, "
                                      "which is always loaded in full")
    return state
