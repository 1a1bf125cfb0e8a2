"""The server's share of forward secrecy for exploding messages: old ephemeral key boxes go.

Clients delete their seeds on a schedule (client/chat/ephemeral.py); the server deletes, by
its own clock (the service's, a seam tests move), what it holds for the same generations:

* a team EK generation's boxes a week after the next generation began, and at the latest
  `GENERATION_INTERVAL + KEEP_AFTER_NEXT` (8 days) after its own publication: every message
  under it exploded by then (sent within its first day, living at most 7 days). The signed
  statement stays (about 200 public bytes): the next generation's number is counted from it,
  and a box-less generation answers `box: null` (the client's "key deleted");
* a device EK statement once a newer one of the same device is that old (a device's newest
  statement stays: it is what the next team EK is boxed to). Statements hold public keys
  only; they go to keep the table small.

A box alone opens nothing without its device EK seed (deleted on the device), so this is
defence in depth for a device whose seeds leaked later, not the only line.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, delete, func, select
from sqlalchemy.engine import Engine

from kbapp.core.chat.ephemeral import GENERATION_INTERVAL, KEEP_AFTER_NEXT

from .ek_tables import device_eks, team_ek_boxes, team_eks


@dataclass(frozen=True)
class EkSweep:
    boxes: int          # team EK boxes deleted
    generations: int    # team EK generations whose boxes went
    devices: int        # superseded device EK statements deleted


def _due(ctime: int, next_ctime: int | None, now: int) -> bool:
    start_next = ctime + GENERATION_INTERVAL if next_ctime is None else min(next_ctime, ctime + GENERATION_INTERVAL)
    return now >= start_next + KEEP_AFTER_NEXT


def sweep_eks(engine: Engine, now: int) -> EkSweep:
    """Delete due team EK boxes and superseded device EK statements; what went."""
    boxes = gens = devices = 0
    with engine.begin() as conn:
        rows = conn.execute(select(team_eks.c.team_id, team_eks.c.generation, team_eks.c.ctime)
                            .where(team_eks.c.ctime <= now - KEEP_AFTER_NEXT)
                            .order_by(team_eks.c.team_id, team_eks.c.generation)).all()
        for r in rows:
            nxt = conn.execute(select(func.min(team_eks.c.ctime)).where(
                (team_eks.c.team_id == r.team_id) & (team_eks.c.generation > r.generation))).scalar()
            if not _due(r.ctime, nxt, now):
                continue
            n = conn.execute(delete(team_ek_boxes).where(
                (team_ek_boxes.c.team_id == r.team_id) & (team_ek_boxes.c.generation == r.generation))).rowcount
            boxes += n
            gens += bool(n)
        newest = select(device_eks.c.uid, device_eks.c.device_kid,
                        func.max(device_eks.c.generation).label("top")) \
            .group_by(device_eks.c.uid, device_eks.c.device_kid).subquery()
        olds = conn.execute(select(device_eks.c.uid, device_eks.c.device_kid, device_eks.c.generation,
                                   device_eks.c.ctime).join(newest, and_(
                                       newest.c.uid == device_eks.c.uid, newest.c.device_kid == device_eks.c.device_kid))
                            .where(device_eks.c.generation < newest.c.top)
                            .where(device_eks.c.ctime <= now - KEEP_AFTER_NEXT)).all()
        for r in olds:
            nxt = conn.execute(select(func.min(device_eks.c.ctime)).where(
                (device_eks.c.uid == r.uid) & (device_eks.c.device_kid == r.device_kid)
                & (device_eks.c.generation > r.generation))).scalar()
            if _due(r.ctime, nxt, now):
                devices += conn.execute(delete(device_eks).where(
                    (device_eks.c.uid == r.uid) & (device_eks.c.device_kid == r.device_kid)
                    & (device_eks.c.generation == r.generation))).rowcount
    return EkSweep(boxes, gens, devices)
