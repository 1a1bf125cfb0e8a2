"""The client's side of the embedded-checkpoint rule (kbapp/core/chains.py) for team chains.

The team loader judges each link's `body.merkle_root` while it plays the chain; it
only needs to know whether a root is our log's at its size. That takes proofs
from the server, so they are fetched here first, once per distinct checkpoint of
the links we have not verified before (`LogView.roots_in_log`: a fork still
raises ForkDetected, a bad root is the signer's). Links verified before keep
their verdict: the roots found bad then are kept in the team's trusted summary.
"""

from __future__ import annotations

from kbapp.core.chains import RootOk, claim_in, signatures
from kbapp.core.merkle.note import Checkpoint
from kbapp.core.sigchain import parse_link
from kbapp.core.teams import TeamState

from .logview import LogView


def _claims(links: list, start: int) -> list[tuple[int, str, dict]]:
    """(size, root hex, body) of each link after `start` that embeds a checkpoint."""
    out = []
    for wire in links[start:]:
        lk = parse_link(wire)
        body = lk.payload["body"] if lk.payload is not None else None
        claim = claim_in(body)
        if claim is not None:
            out.append((*claim, body))
    return out


async def team_root_ok(logview: LogView, links: list, start: int, cp: Checkpoint,
                       summary: dict | None) -> RootOk:
    """`root_ok` for load_team: proofs for the links after `start`, the stored verdicts
    (summary["bad_roots"]) for those before, which were all checked when first seen."""
    claims = _claims(links, start)
    pairs = {(size, root) for size, root, _ in claims if 1 <= size < cp.size}
    ok = await logview.roots_in_log(pairs, cp, signatures(claims))
    bad = {(size, root) for size, root in (summary or {}).get("bad_roots", [])}

    def root_ok(size: int, root: str) -> bool:
        return ok.get((size, root), (size, root) not in bad)
    return root_ok


def with_bad_roots(summary: dict, state: TeamState, links: list) -> dict:
    """The trusted summary, plus the roots of the links whose checkpoint was unsound."""
    if not state.bad_checkpoints:
        return summary
    roots = set()
    for seqno, *_ in state.bad_checkpoints:
        claim = claim_in(parse_link(links[seqno - 1]).payload["body"])
        if claim is not None:
            roots.add(claim)
    return {**summary, "bad_roots": sorted([size, root] for size, root in roots)}
