"""Grow-only chains with roots in our log: the two rules every chain (user, team, and later
folder) is held to, here once.

1. A chain only grows from the links we verified (`check_grows`): never shorter than our
   tail, never a different link where we verified one. Links name their predecessor's
   hash, so the same link at our tail means the same links below it.
2. The checkpoint a link embeds is one of our log's (below).

Every link of a user, team (and later folder) chain names the log checkpoint its
author last verified (`body.merkle_root = {"size", "hash"}`). That claim orders
the link against others (a revoked key still counts for team links that saw an
older log than its revocation), so it must be a checkpoint of *our* log, and a
chain's claims never go back in time. The server refuses a link that breaks this
(`BadEmbeddedCheckpoint`). A client that meets one anyway (stored by an older or
lying server) blames the link's signer, not the server, and drops the claim: the
chain still loads, so its owner can revoke that device or remove that member.

Pure: the caller says how big the log holding the links is and whether a root
is the log's at a size (the server from its own tree, a client from proofs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ForkDetected, RollbackDetected
from .merkle.note import note_signature

RootOk = Callable[[int, str], bool]     # (size, root hex) -> is it our log's root at that size?


@dataclass(frozen=True, slots=True)
class Claim:
    """One link's embedded checkpoint."""

    seqno: int
    size: int
    root: str          # lowercase hex


def claim_in(body: Any) -> tuple[int, str] | None:
    """(size, root hex) of a well-formed `body.merkle_root`, else None (absent, or a
    shape the chain's own parser judges: Keybase's, or malformed)."""
    mr = body.get("merkle_root") if isinstance(body, dict) else None
    if type(mr) is not dict:
        return None
    size, root = mr.get("size"), mr.get("hash")
    if type(size) is not int or not isinstance(root, str) or len(root) != 64:
        return None
    try:
        bytes.fromhex(root)
    except ValueError:
        return None
    return size, root.lower()


def embed(cp: Any) -> dict | None:
    """`body.merkle_root` for a new link: the checkpoint its author verified (size, root)
    and the server's signature of it (`sig`), taken from the signed note. With the
    signature, a root that is not in a reader's log proves the server signed two logs
    (a fork, the server's fault); without it, only the signer's word is against the log."""
    if cp is None:
        return None
    out = {"size": cp.size, "hash": cp.root.hex()}
    note = getattr(cp, "note", None) or getattr(cp, "text", "")
    if note:
        out["sig"] = note_signature(note)
    return out


def claim_sig(body: Any) -> str | None:
    """The server signature a link's `body.merkle_root` carries, if any (unchecked)."""
    mr = body.get("merkle_root") if isinstance(body, dict) else None
    sig = mr.get("sig") if type(mr) is dict else None
    return sig if isinstance(sig, str) else None


def signatures(items: Iterable[tuple[int, str, Any]]) -> dict[tuple[int, str], set[str]]:
    """(size, root hex) -> the server signatures that links embed beside that checkpoint;
    `items`: (size, root hex, link body) of the links to judge."""
    out: dict[tuple[int, str], set[str]] = {}
    for size, root, body in items:
        sig = claim_sig(body)
        if sig is not None:
            out.setdefault((size, root), set()).add(sig)
    return out


def fault(size: int, root: str, *, log_size: int, previous: int, root_ok: RootOk) -> str | None:
    """Why a claim is unsound, or None. `log_size`: the size of a log that holds the link
    (an honest author saw a smaller one before posting); `previous`: the highest sound
    claim of an earlier link of the same chain."""
    if size < 1:
        return "names an empty log"
    if size >= log_size:
        return f"names a log of {size} entries, but the log holding the link has {log_size}"
    if size < previous:
        return f"names a log of {size} entries, older than the {previous} an earlier link named"
    if not root_ok(size, root):
        return f"names a root that is not our log's at size {size}"
    return None


def judge(claims: Iterable[Claim], *, log_size: int, root_ok: RootOk,
          previous: int = 0) -> tuple[int, dict[int, str]]:
    """Walk a chain's claims in order: the highest sound size at the end, and why each
    unsound claim (by seqno) is unsound. An unsound claim does not move `previous`, so
    one bad link cannot hold back every later one."""
    bad: dict[int, str] = {}
    memo: dict[tuple[int, str], bool] = {}      # a post's links share one checkpoint: one root check

    def ok(size: int, root: str) -> bool:
        if (size, root) not in memo:
            memo[(size, root)] = root_ok(size, root)
        return memo[(size, root)]
    for c in claims:
        why = fault(c.size, c.root, log_size=log_size, previous=previous, root_ok=ok)
        if why is None:
            previous = c.size
        else:
            bad[c.seqno] = why
    return previous, bad


def highest_sound(claims: Iterable[Claim], *, log_size: int, root_ok: RootOk) -> int:
    """The highest sound size in a chain, cheaply: the biggest claim in the log whose root
    is right is sound (nothing earlier and sound can be bigger), so only the biggest few
    roots are checked, not one per link."""
    for size, root in sorted({(c.size, c.root) for c in claims}, reverse=True):
        if 1 <= size < log_size and root_ok(size, root):
            return size
    return 0


def sound_roots(merkle_roots: Iterable[tuple[int, int, str]], *, log_size: int, root_ok: RootOk,
                previous: int = 0, bad: Iterable[int] = ()) -> tuple[list[tuple[int, int, str]], dict[int, str]]:
    """A user chain's `merkle_roots` (seqno, size, root hex) without its unsound claims, and
    why each dropped one is unsound: what sibkey_eldest_at may rely on. `bad`: seqnos
    already judged unsound (kept out without asking again)."""
    known = set(bad)
    kept = [r for r in merkle_roots if r[0] not in known]
    _, why = judge((Claim(*r) for r in kept), log_size=log_size, root_ok=root_ok, previous=previous)
    return [r for r in kept if r[0] not in why], why


def check_grows(served: int, link_id_at: Callable[[int], str], known: Mapping[int, str], *,
                what: str = "chain") -> bool:
    """Rule 1: the served chain (`served` links; `link_id_at(seqno)` the hex id of one of
    them) keeps every link we verified (`known`: seqno -> link id, at least our tail).
    Returns whether it grew; `RollbackDetected` if it ends before our tail,
    `ForkDetected` if a link we verified changed."""
    if not known:
        return served > 0
    tail = max(known)
    if served < tail:
        raise RollbackDetected(f"the {what} ends at link {served}, but we already verified link {tail}")
    for seqno in sorted(known):
        if link_id_at(seqno) != known[seqno]:
            raise ForkDetected(f"{what} link {seqno} differs from the one we verified before")
    return served != tail
