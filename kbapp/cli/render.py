"""Human-readable text for the CLI's results."""

from __future__ import annotations

import time

from kbapp.client.models import Account, DeviceView, Identity, Status


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


def devices(items: list[DeviceView]) -> str:
    if not items:
        return "no devices"
    rows = []
    for d in items:
        state = "revoked" if d.revoked else ("this device" if d.current else "active")
        rows.append(f"  {d.name:<24} {d.type:<8} {state:<12} added {time.strftime('%Y-%m-%d', time.gmtime(d.ctime))}  {d.id}")
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
    return "\n".join(lines)


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
