"""One name per live device of an account, so a list (and a revoke dialog) can tell them apart.

The default name is the machine's, so two virtual machines both called "vm" would
both join as "vm". A name a live device already uses is refused when it was
typed, with a free one suggested, and replaced by that free one when it was only
the default. Names compare without case or surrounding space; revoked devices
free their name. Pure: the caller passes the names read from the verified chain.
"""

from __future__ import annotations

from .errors import DuplicateDeviceName

MAX_LEN = 32


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


def live_device_names(state) -> set[str]:
    """Names of the devices not revoked in a verified ChainState (paper keys included)."""
    return {d.name for d in state.devices.values() if d.revoked_seqno is None and d.name}


def suggest_device_name(name: str, taken: set[str] | list[str]) -> str:
    """`name`, or `name-2`, `name-3`… : the first one no live device uses."""
    used = {_key(t) for t in taken}
    base = " ".join(name.split())[:MAX_LEN] or "device"
    if _key(base) not in used:
        return base
    n = 2
    while True:
        tail = f"-{n}"
        cand = base[:MAX_LEN - len(tail)] + tail
        if _key(cand) not in used:
            return cand
        n += 1


def choose_device_name(typed: str | None, default: str, taken: set[str] | list[str]) -> str:
    """The name for a new device: `typed` if free (else DuplicateDeviceName naming a free one),
    or `default` made free when nothing was typed."""
    if typed is None or not typed.strip():
        return suggest_device_name(default, taken)
    if _key(typed) in {_key(t) for t in taken}:
        raise DuplicateDeviceName(f"a device of this account is already called {typed.strip()!r}; "
                                  f"try {suggest_device_name(typed, taken)!r}")
    return typed.strip()
