"""Push hints chat acts on besides new messages: a new team EK, and being added to a team.

* `team:<id>` kind `ek` (subject: the generation): a member published a new team EK. We
  fetch our box and open it now, while our device EK that it is boxed to is surely still
  here, and keep the seed (client/chat/ephemeral.py verifies the PTK-signed statement and
  the seed against it). Exploding messages under it then open without a round trip, and a
  device that is offline for days does not lose the generation to its device EK's deletion.
* `user:<me>` kind `team` (subject: the team id): the server says we were added to a team.
  We load the team (a full verified load: a made-up hint fails there and changes nothing),
  put its `#general` and listed channels in the local store and sync them, so the new
  conversations are in the inbox without polling; then a TeamChanged (a first load emits
  none), on which the push channel subscribes to the team's topic (client/sync.py) and a
  Teams page reloads.

Both are hints: the server could make them up, drop or delay them; each costs at most a
verified load, and a dropped one costs latency only (the next send or read does the same).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

from kbapp.core import errors

from ..events import Event, TeamChanged
from . import ephemeral
from .models import ChatMessagesChanged

log = logging.getLogger(__name__)

_HEX32 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class ChatEkReady(Event):
    """Our seed of team EK `generation` of `team_id` was opened and kept (after an `ek` hint)."""

    team_id: str
    generation: int


@dataclass(frozen=True)
class ChatTeamAdded(Event):
    """We were added to a team (a hint, then a verified load): its conversations are stored."""

    team_id: str
    name: str
    convs: tuple[str, ...]


def listen(svc) -> None:
    """Install the listener on the profile's event bus (once per ChatService)."""
    if svc.__dict__.get("_hints_listening"):
        return
    svc.__dict__["_hints_listening"] = True
    from ..sync import PushHint

    def on_event(ev) -> None:
        if not isinstance(ev, PushHint):
            return
        kind, _, ident = ev.topic.partition(":")
        if ev.kind == "ek" and kind == "team" and _HEX32.match(ident):
            _spawn(svc, f"ek:{ident}", refresh_ek(svc, ident, ev.subject))
        elif ev.kind == "team" and kind == "user" and ident == svc.ctx.uid and _HEX32.match(ev.subject or ""):
            _spawn(svc, f"team:{ev.subject}", added_to_team(svc, ev.subject))
    svc.ctx.events.on(on_event)


def _spawn(svc, key: str, coro) -> None:
    """One task per key at a time (a burst of hints is one refresh)."""
    tasks = svc.__dict__.setdefault("_hint_tasks", {})
    running = tasks.get(key)
    if running is not None and not running.done():
        coro.close()
        return
    try:
        tasks[key] = asyncio.get_running_loop().create_task(_quiet(key, coro))
    except RuntimeError:
        coro.close()                                  # no loop: nothing to wake


async def _quiet(key: str, coro) -> None:
    try:
        await coro
    except errors.KbappError as e:
        log.info("chat: push hint %s: %s", key, e)


async def refresh_ek(svc, team_id: str, subject: str = "") -> int | None:
    """Open and keep our seed of the team EK the hint names (the newest when it names none);
    its generation, or None when there is no box for this device."""
    if not svc.ctx.store.get("uid"):
        return None
    await svc.open()
    eph = ephemeral.of(svc)
    loaded, _keys = await svc.team_for_chat(team_id)
    gen = int(subject) if subject.isdigit() and 0 < len(subject) <= 10 else None
    if gen is None:
        ans = await eph._fetch(team_id, None)
        gen = ans.get("generation") if isinstance(ans, dict) and type(ans.get("generation")) is int else None
        if gen is None:
            return None
    try:
        seed = await eph.seed_for(loaded, gen)
    except (errors.EphemeralError, errors.EkKeyDeleted, errors.NotFound) as e:
        log.info("ephemeral: team EK %s of %s after a hint: %s", gen, loaded.state.name, e)
        return None
    if seed is None:
        return None
    svc.ctx.events.emit(ChatEkReady(team_id, gen))
    return gen


async def added_to_team(svc, team_id: str) -> list[str]:
    """A verified load of the team we were told we joined; its channels stored and synced."""
    if not svc.ctx.store.get("uid"):
        return []
    await svc.open()
    try:
        view = await svc.teams.team(team_id, badges=False)
    except (errors.ReadNotAllowed, errors.NotFound) as e:
        log.info("chat: told we were added to %s, but: %s", team_id, e)      # a made-up hint
        return []
    await svc._put_general_row(view)
    rows = await svc.sync_channels(view.team_id, view.name)
    convs = [r.conv_id for r in rows] or [c.conv_id for c in await svc.store.aio.convs(view.team_id)]
    for r in rows:
        svc.ctx.events.emit(ChatMessagesChanged(r.conv_id, r.name, r.cursor))
    svc.ctx.events.emit(TeamChanged(view.name, view.team_id, view.seqno))
    svc.ctx.events.emit(ChatTeamAdded(view.team_id, view.name, tuple(convs)))
    return convs


__all__ = ["ChatEkReady", "ChatTeamAdded", "added_to_team", "listen", "refresh_ek"]
