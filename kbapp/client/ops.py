"""Operations: preconditions declared once, and locks per resource.

An operation states what it needs (`@operation(login=True, unlock=True,
lock=...)`) instead of repeating `require_login(); await unlock(); async with
lock` in its body (Electrum's `@command` flags and Keybase's engine `Prereqs`
are the models). Locks are per resource: writes to one user chain
(`user:<uid>`: devices, per-user keys, proofs, follows) are serialised with
each other, and writes to one team (`team:<id>`) with each other, but a team
change never waits for another team's, nor for a follow.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
from typing import Callable

USER = "user"     # `lock=USER`: the lock of our own user chain, `user:<uid>`
MAX_IDLE_LOCKS = 1024   # idle locks dropped beyond this many (a long session touches many teams)


class Locks:
    """One asyncio lock per resource key, made on first use."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    def __call__(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            if len(self._locks) >= MAX_IDLE_LOCKS:
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def held(self) -> list[str]:
        """The keys locked now (for tests and the housekeeper's log)."""
        return sorted(k for k, v in self._locks.items() if v.locked())


@dataclasses.dataclass(frozen=True)
class Preconditions:
    login: bool = False
    unlock: bool = False
    lock: str | Callable | None = None


def operation(*, login: bool = False, unlock: bool = False, lock: str | Callable | None = None):
    """Decorate an async method of an object with a `ctx` (context.AccountContext).

    `login`: raise NotLoggedIn unless this profile has an account and a server;
    `unlock`: open the keystore first (a wrong passphrase: nothing was done);
    `lock`: USER, a fixed key, or `f(self, *args, **kwargs) -> key` (or an awaitable key:
    a team's lock is named by its id, which a subteam's name gives only after a lookup),
    held for the call.
    """
    pre = Preconditions(login, unlock, lock)

    def wrap(fn):
        @functools.wraps(fn)
        async def run(self, *args, **kwargs):
            ctx = self.ctx
            if login or lock == USER:
                ctx.require_login()
            if unlock:
                await ctx.unlock()
            if lock is None:
                return await fn(self, *args, **kwargs)
            if lock == USER:
                key = f"user:{ctx.uid}"
            elif callable(lock):
                key = lock(self, *args, **kwargs)
                if inspect.isawaitable(key):
                    key = await key
            else:
                key = lock
            async with ctx.locks(key):
                return await fn(self, *args, **kwargs)
        run.preconditions = pre
        return run
    return wrap
