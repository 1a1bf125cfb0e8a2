"""ops.py: preconditions declared once (login before unlock, nothing run when one
fails) and locks per resource (one team's writes in order, another team's beside them)."""

from __future__ import annotations

import asyncio

import pytest

from kbapp.client.ops import USER, Locks, operation
from kbapp.core import errors


class FakeCtx:
    def __init__(self, logged_in=True):
        self.logged_in, self.unlocks, self.locks = logged_in, 0, Locks()
        self.uid = "u1"

    def require_login(self):
        if not self.logged_in:
            raise errors.NotLoggedIn("no")
        return self.uid, "alice"

    async def unlock(self):
        self.unlocks += 1


async def team_lock(_svc, team: str, *_a, **_k) -> str:
    """Like teams.team_lock: an awaited key (a name and an id of one team share it)."""
    await asyncio.sleep(0)
    return f"team:{ {'acme': 'id1', 'other': 'id2', 'id1': 'id1'}[team.lower()] }"


class Service:
    def __init__(self, ctx):
        self.ctx, self.ran, self.log = ctx, 0, []

    @operation(login=True, unlock=True, lock=team_lock)
    async def write(self, team: str, pause: float = 0.05):
        self.log.append(("start", team, self.ctx.locks.held()))
        await asyncio.sleep(pause)
        self.log.append(("end", team))

    @operation(login=True, unlock=True, lock=USER)
    async def follow(self):
        self.ran += 1
        return self.ctx.locks.held()


async def test_login_is_checked_before_the_keystore_opens_and_nothing_runs():
    svc = Service(FakeCtx(logged_in=False))
    with pytest.raises(errors.NotLoggedIn):
        await svc.follow()
    assert svc.ran == 0 and svc.ctx.unlocks == 0


async def test_user_lock_is_held_for_the_call():
    svc = Service(FakeCtx())
    assert await svc.follow() == ["user:u1"]
    assert svc.ctx.unlocks == 1 and svc.ctx.locks.held() == []
    assert Service.follow.preconditions.lock == USER


async def test_one_team_in_order_two_teams_side_by_side():
    svc = Service(FakeCtx())
    await asyncio.gather(svc.write("Acme"), svc.write("id1"), svc.write("other"))
    order = [(e[0], e[1]) for e in svc.log]
    # the two writes to acme (by name, by id) never overlap
    first = order.index(("start", "Acme"))
    assert order[first + 1:].index(("end", "Acme")) < order[first + 1:].index(("start", "id1"))
    # the other team's write started while acme's first was held
    other = next(e for e in svc.log if e[:2] == ("start", "other"))
    assert "team:id1" in other[2]


def test_idle_locks_are_dropped_past_the_limit(monkeypatch):
    import kbapp.client.ops as ops
    monkeypatch.setattr(ops, "MAX_IDLE_LOCKS", 3)
    locks = Locks()
    for i in range(10):
        locks(f"team:{i}")
    assert len(locks._locks) <= 3
