"""Human-readable text for the CLI's results."""

from __future__ import annotations

import time

from kbapp.client.models import (Account, DeviceView, FollowView, Identity, ProofRequest, ProofView, Resolved,
                                 Status)
from kbapp.core.display import one_line


def _age(ts: int) -> str:
    secs = max(0, int(time.time()) - int(ts))
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= n:
            return f"{secs // n}{unit} ago"
    return f"{secs}s ago"


def account(acct: Account, *, created: bool) -> str:
    verb = "Created" if created else "Logged in as"
    lines = [f"{verb} {acct.username} (uid {acct.uid})",
             f"  this device: {acct.device_name} ({acct.device_id})",
             f"  server:      {acct.server.url}",
             f"  server key:  {acct.server.fingerprint}" + ("  (pinned now, first contact)" if acct.server.pinned_now else "")]
    if created:
        lines.append("Next: `kbapp paperkey` makes a paper key, so you can recover if you lose this device.")
    return "\n".join(lines)


def paperkey(phrase: str) -> str:
    return ("Your new paper key (shown once; write it down and keep it safe):\n\n"
            f"    {phrase}\n\n"
            "It can provision a new device with `kbapp login USERNAME --paperkey`.")


def provision_phrase(phrase: str, username: str | None) -> str:
    return ("On the new device, run\n\n"
            f"    kbapp login {username or 'USERNAME'} --phrase\n\n"
            "and type this phrase (it works once, for a few minutes):\n\n"
            f"    {phrase}\n\nWaiting for the new device...")


def _day(ts: int) -> str:
    try:
        return time.strftime("%Y-%m-%d", time.gmtime(ts))
    except (ValueError, OverflowError, OSError):
        return f"@{ts}"


def devices(items: list[DeviceView]) -> str:
    if not items:
        return "no devices"
    rows = []
    for d in items:
        state = "revoked" if d.revoked else ("this device" if d.current else "active")
        rows.append(f"  {one_line(d.name):<24} {one_line(d.type):<8} {state:<12} added {_day(d.ctime)}  {d.id}")
    return "\n".join(rows)


def identity(ident: Identity) -> str:
    lines = [f"{ident.username}  VERIFIED" + ("  (chain changed since last check)" if ident.changed else ""),
             f"  uid:           {ident.uid}",
             f"  chain:         {ident.chain_length} links, tail {ident.tail_link_id[:16]}...",
             f"  eldest key:    {ident.eldest_kid}",
             f"  per-user key:  generation {ident.puk_generation}"]
    if ident.checkpoint:
        lines.append(f"  checkpoint:    log size {ident.checkpoint.size}, root {ident.checkpoint.root_hex[:16]}...")
    lines.append("  devices:")
    lines.append(devices(ident.devices))
    lines.append("  keys:")
    lines.extend(f"    {k.kind:<15} {k.fingerprint}" for k in ident.keys)
    if ident.proofs:
        lines.append("  proofs:")
        lines.append(proofs(ident.proofs, indent="    "))
    if ident.following:
        lines.append(f"  you follow {ident.username} (link {ident.followed_at_seqno} of your chain)"
                     + ("; no change since" if not ident.follow_diff else "; changed since:"))
        lines.extend(f"    ! {c.kind:<15} {one_line(c.detail)}" for c in ident.follow_diff)
    return "\n".join(lines)


STATE_MARK = {"ok": "ok", "temporary": "?? temporary failure", "broken": "!! BROKEN",
              "changed": "!! CHANGED", "unchecked": "-- unchecked", "revoked": "revoked"}


def proofs(items: list[ProofView], indent: str = "  ") -> str:
    if not items:
        return f"{indent}no proofs"
    rows = []
    for p in items:
        mark = STATE_MARK.get(p.state, p.state)
        rows.append(f"{indent}{one_line(p.assertion):<36} {mark:<22} sig {p.sig_id[:16]}"
                    + (f"  ({one_line(p.reason)})" if p.state != "ok" and p.reason else ""))
    return "\n".join(rows)


def proof_request(req: ProofRequest) -> str:
    return (f"{req.instructions}:\n\n    {req.text}\n\n"
            f"(The text names your kbapp username and the sig id of the proof link, {req.sig_id[:16]}...;\n"
            "the link is posted to your chain once the text is found.)")


def resolved(res: Resolved) -> str:
    lines = [f"{res.assertion} is {res.username} (verified)"]
    lines.extend(f"  {p.assertion:<36} ok" for p in res.matched)
    return "\n".join(lines)


def follows(items: list[FollowView], what: str) -> str:
    if not items:
        return f"no {what}"
    return "\n".join(f"  {f.username:<20} since link {f.seqno}" for f in items)


def status(st: Status) -> str:
    lines = [f"profile:    {st.home}",
             f"keystore:   {st.keystore}"]
    if st.logged_in:
        lines.append(f"user:       {st.username} (uid {st.uid})")
        lines.append(f"device:     {st.device_name} ({st.device_id})")
    else:
        lines.append("user:       not logged in")
    if st.server_url:
        lines.append(f"server:     {st.server_url}")
        lines.append(f"server key: {st.server_fingerprint}")
    if st.checkpoint:
        lines.append(f"checkpoint: log size {st.checkpoint.size}, root {st.checkpoint.root_hex[:16]}..., "
                     f"verified {_age(st.checkpoint.seen_at)}")
    return "\n".join(lines)
