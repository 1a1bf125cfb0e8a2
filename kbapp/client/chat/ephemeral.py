"""Exploding messages on this device: ephemeral keys, and forgetting what exploded.

* **Device EK**: a new one each day (`ensure_device_ek`), its seed kept in the profile's
  `ephemeral.sqlite3`, its statement signed by our sibkey and published.
* **Team EK**: the newest generation is used for sending while it is less than a day old
  and bound to the team's newest PTK; otherwise a new one is made: every member device's
  EK statement is verified (signature, a member of the verified team, its sibkey live now
  and at the statement's checkpoint, the checkpoint in our log, not stale) and gets a box.
  Reading opens our box with the device EK it names and checks the seed against the
  PTK-signed statement.
* **Deletion**: a generation's seeds are deleted a week after the next one began (at most
  `GENERATION_INTERVAL + KEEP_AFTER_NEXT` after its own start); a deleted team EK leaves a
  tombstone without the seed, so its box is never opened again.
* **Scrubbing** (`scrub`): an exploded message leaves every local copy: its body and text,
  its FTS rows (then an FTS `optimize`, so no index segment keeps its words), edits of it,
  the outbox entry that sent it; with `secure_delete`, a VACUUM and a WAL checkpoint
  (TRUNCATE) so no free page or WAL frame keeps the plaintext.

Every deletion here runs with `PRAGMA secure_delete=ON`, then VACUUM and a truncating WAL
checkpoint: a copy of the profile's files taken afterwards holds neither the seeds nor the
plaintext (tests/integration/test_chat_exploding.py scans for both).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import text

from kbapp.core import errors
from kbapp.core.chat import ephemeral as ek
from kbapp.core.chat.seal import exploding_body_key
from kbapp.core.encoding import b64decode, b64encode
from kbapp.core.teams import Role, SigPoint

from ..db import Database, Step

log = logging.getLogger(__name__)

FILE = "ephemeral.sqlite3"
LIVE_FOR = ek.GENERATION_INTERVAL + ek.KEEP_AFTER_NEXT    # at most this long after a generation began
SWEEP_EVERY = 5.0                                          # seconds between scrubs while the app runs
COMPLETE_FOR_S = 60.0                                      # a generation's recipients judged complete: kept this long


def _v1(conn) -> None:
    conn.exec_driver_sql("CREATE TABLE device_ek (uid TEXT NOT NULL, generation INTEGER NOT NULL, seed BLOB, "
                         "ctime INTEGER NOT NULL, statement TEXT NOT NULL, published INTEGER NOT NULL, "
                         "PRIMARY KEY (uid, generation))")
    conn.exec_driver_sql("CREATE TABLE team_ek (team_id TEXT NOT NULL, generation INTEGER NOT NULL, seed BLOB, "
                         "ptk_generation INTEGER NOT NULL, ctime INTEGER NOT NULL, delete_after INTEGER NOT NULL, "
                         "PRIMARY KEY (team_id, generation))")


MIGRATIONS = (Step(1, "ephemeral keys: device EK seeds, team EK seeds and tombstones", _v1),)


def _scrubbed(engine) -> None:
    """VACUUM, then a truncating WAL checkpoint: no free page nor WAL frame keeps old rows."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("PRAGMA secure_delete=ON")
        c.exec_driver_sql("VACUUM")
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


class EkStore:
    """The profile's ephemeral secrets (its own SQLite file, its own db thread)."""

    def __init__(self, path: Path):
        self.db = Database(path, MIGRATIONS, name="ephemeral key store")

    def _conn(self):
        c = self.db.engine.connect()
        c.exec_driver_sql("PRAGMA secure_delete=ON")
        return c

    # device EKs (ours)
    def _device_top(self, uid: str):
        with self._conn() as c:
            return c.execute(text("SELECT generation, seed, ctime, statement, published FROM device_ek "
                                  "WHERE uid = :u AND seed IS NOT NULL "
                                  "ORDER BY generation DESC LIMIT 1"), {"u": uid}).first()

    def _device_max_gen(self, uid: str) -> int:
        with self._conn() as c:
            return c.execute(text("SELECT max(generation) FROM device_ek WHERE uid = :u"), {"u": uid}).scalar() or 0

    def _device_seed(self, uid: str, generation: int) -> bytes | None:
        with self._conn() as c:
            return c.execute(text("SELECT seed FROM device_ek WHERE uid = :u AND generation = :g"),
                             {"u": uid, "g": generation}).scalar()

    def _put_device(self, uid: str, generation: int, seed: bytes, ctime: int, statement: str) -> str:
        """Keep a new generation unless one is there already (another process of this profile
        made it first); the statement kept, which is the one to publish."""
        with self._conn() as c:
            c.execute(text("INSERT OR IGNORE INTO device_ek (uid, generation, seed, ctime, statement, published) "
                           "VALUES (:u, :g, :s, :t, :st, 0)"),
                      {"u": uid, "g": generation, "s": seed, "t": ctime, "st": statement})
            c.commit()
            return c.execute(text("SELECT statement FROM device_ek WHERE uid = :u AND generation = :g"),
                             {"u": uid, "g": generation}).scalar()

    def _published(self, uid: str, generation: int) -> None:
        with self._conn() as c:
            c.execute(text("UPDATE device_ek SET published = 1 WHERE uid = :u AND generation = :g"),
                      {"u": uid, "g": generation})
            c.commit()

    # team EKs
    def _team(self, team_id: str, generation: int):
        with self._conn() as c:
            return c.execute(text("SELECT seed, ptk_generation, ctime, delete_after FROM team_ek "
                                  "WHERE team_id = :t AND generation = :g"), {"t": team_id, "g": generation}).first()

    def _put_team(self, team_id: str, generation: int, seed: bytes | None, ptk_generation: int, ctime: int,
                  delete_after: int) -> None:
        with self._conn() as c:
            c.execute(text("INSERT OR REPLACE INTO team_ek (team_id, generation, seed, ptk_generation, ctime, "
                           "delete_after) VALUES (:t, :g, :s, :p, :c, :d)"),
                      {"t": team_id, "g": generation, "s": seed, "p": ptk_generation, "c": ctime, "d": delete_after})
            c.commit()

    def _purge(self, now: int) -> int:
        """Delete seeds whose time is up (device EKs: a week after the next generation began, or
        LIVE_FOR after their own start; team EKs: at delete_after, leaving a tombstone)."""
        n = 0
        with self._conn() as c:
            rows = c.execute(text("SELECT uid, generation, ctime FROM device_ek WHERE seed IS NOT NULL "
                                  "ORDER BY uid, generation")).all()
            for i, r in enumerate(rows):
                nxt = rows[i + 1].ctime if i + 1 < len(rows) and rows[i + 1].uid == r.uid else None
                start_next = r.ctime + ek.GENERATION_INTERVAL
                if nxt is not None:
                    start_next = min(nxt, start_next)
                if now >= ek.delete_after(start_next):
                    c.execute(text("UPDATE device_ek SET seed = NULL WHERE uid = :u AND generation = :g"),
                              {"u": r.uid, "g": r.generation})
                    n += 1
            n += c.execute(text("UPDATE team_ek SET seed = NULL WHERE seed IS NOT NULL AND delete_after <= :n"),
                           {"n": now}).rowcount
            c.commit()
        if n:
            _scrubbed(self.db.engine)
        return n

    async def run(self, fn, *args):
        return await self.db.run(fn, *args)


@dataclass(frozen=True)
class SendEk:
    generation: int
    seed: bytes

    def body_key(self, conv_id: str) -> bytes:
        return exploding_body_key(self.seed, conv_id)


class Ephemeral:
    """One profile's ephemeral keys, on top of app.chat (svc)."""

    def __init__(self, svc):
        self.svc, self.ctx = svc, svc.ctx
        self.store: EkStore | None = None
        self._sweeper: asyncio.Task | None = None
        self._ek_lock = asyncio.Lock()            # one device EK made at a time (concurrent syncs)
        self._complete: dict[tuple, tuple[float, bool]] = {}   # (team, generation, seqno) -> (when, boxed to all)

    async def open(self) -> EkStore:
        if self.store is None:
            store = EkStore(self.ctx.home / FILE)
            await store.db.open()
            self.store = store
        return self.store

    def start_sweeper(self, every: float = SWEEP_EVERY) -> None:
        """Scrub exploded messages and purge due keys every `every` seconds while the app runs
        (reads and syncs scrub too: a short-lived CLI process never shows an exploded message)."""
        if self._sweeper is not None and not self._sweeper.done():
            return

        async def loop() -> None:
            while True:
                await asyncio.sleep(every)
                try:
                    await self.scrub()
                except errors.KbappError as e:
                    log.info("ephemeral: sweep: %s", e)
        try:
            self._sweeper = asyncio.get_running_loop().create_task(loop())
        except RuntimeError:
            pass                                  # no loop: reads and syncs still scrub

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            try:
                await self._sweeper
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping
                pass
            self._sweeper = None
        if self.store is not None:
            store, self.store = self.store, None
            await asyncio.get_running_loop().run_in_executor(None, store.db.close)

    def _now(self) -> int:
        return int(self.ctx.clock())

    # -- device EKs ----------------------------------------------------------------------
    async def ensure_device_ek(self) -> int:
        """Our device EK generation for today: made, published and kept when due. Serialised:
        two syncs at once would both see none and both make generation N."""
        async with self._ek_lock:
            return await self._ensure_device_ek()

    async def _ensure_device_ek(self) -> int:
        st = await self.open()
        uid = self.ctx.uid
        top = await st.run(st._device_top, uid)
        now = self._now()
        if top is not None and not ek.due(top.ctime, now):
            if not top.published:                # made, but the answer to its publication was lost
                await self._publish_device(uid, top.generation, json.loads(top.statement))
            return top.generation
        gen = await st.run(st._device_max_gen, uid) + 1
        cp = self.ctx.logview.trusted()
        if cp is None:
            raise errors.NotLoggedIn("no verified log checkpoint yet: run `kbapp log verify`")
        device = (await self.ctx.device_keys()).sibkey
        seed = self.ctx.rng(32)
        stmt = ek.make_device_ek(device, uid=uid, generation=gen, seed=seed, ctime=now, checkpoint=(cp.size, cp.root))
        kept = await st.run(st._put_device, uid, gen, seed, now, json.dumps(stmt.wire()))   # kept first: retried as is
        await self._publish_device(uid, gen, json.loads(kept))
        await self.purge()
        return gen

    async def _publish_device(self, uid: str, generation: int, wire: dict) -> None:
        st = await self.open()
        await self.ctx.api._request("POST", "/v1/ek/device", json=wire, auth=True)     # idempotent on the bytes
        await st.run(st._published, uid, generation)

    # -- verifying member device EKs -------------------------------------------------------
    async def verify_device_ek(self, wire: dict, loaded, refreshed: set | None = None) -> ek.DeviceEk:
        """A member device's EK statement we may box to: signed by the key it names, a member of
        the verified team, that key a live sibkey now and at the statement's checkpoint, the
        checkpoint in our log, and not stale. A key the cached chain lacks makes us identify
        that member again, once per uid in `refreshed` (a device added since we last did)."""
        stmt = ek.parse_device_ek(wire)
        state = loaded.state
        if state.role_of(stmt.uid) < Role.READER:
            raise errors.RevokedEkDevice(f"device EK of {stmt.uid}, who is not a member of {state.name}")
        teams = self.svc.teams
        try:
            await teams._user_by_uid(stmt.uid, None, loaded.users)
        except errors.NotFound:
            raise errors.RevokedEkDevice(f"no verified chain for {stmt.uid}") from None
        key_at = teams._user_key_at(loaded.users)
        now_point = SigPoint(state.id, state.seqno, stmt.ctime, merkle_size=None)
        at_point = SigPoint(state.id, state.seqno, stmt.ctime, merkle_size=stmt.checkpoint[0])
        eldest = key_at(stmt.uid, stmt.kid, now_point)
        if eldest is None and refreshed is not None and stmt.uid not in refreshed:
            refreshed.add(stmt.uid)                      # the chain as the log has it now
            old = loaded.users.pop(stmt.uid, None)
            try:
                await teams._user_by_uid(stmt.uid, old.username if old is not None else None, loaded.users)
            except errors.NotFound:
                raise errors.RevokedEkDevice(f"no verified chain for {stmt.uid}") from None
            key_at = teams._user_key_at(loaded.users)
            eldest = key_at(stmt.uid, stmt.kid, now_point)
        if eldest is None or key_at(stmt.uid, stmt.kid, at_point) is None:
            raise errors.RevokedEkDevice(f"the device EK of {stmt.uid} is signed by {stmt.kid[:16]}..., "
                                         "not a live sibkey of theirs")
        member = state.members.get(stmt.uid)
        if member is None or member.uv.eldest_seqno != eldest:
            raise errors.RevokedEkDevice("the device key belongs to another incarnation of the member")
        await self.svc._checkpoints_known({stmt.checkpoint})
        if stmt.checkpoint not in self.svc._known:
            raise errors.ForkedCheckpoint(f"the device EK's checkpoint at size {stmt.checkpoint[0]} is not in our log")
        if stmt.stale(self._now()):
            raise errors.EkKeyDeleted(f"the device EK of {stmt.uid} is more than 90 days old")
        return stmt

    async def _listed(self, team_id: str) -> list:
        """The member device EKs the server lists for the team (unverified)."""
        ans = await self.ctx.api.get_auth(f"/v1/ek/team/{quote(team_id, safe='')}/devices")
        items = ans.get("devices") if isinstance(ans, dict) else None
        if not isinstance(items, list):
            raise errors.EncodingError("malformed device EK list")
        return items

    async def member_device_eks(self, loaded, items: list | None = None) -> list[ek.DeviceEk]:
        """The newest verified device EK of each member device the server lists (the rest: logged)."""
        if items is None:
            items = await self._listed(loaded.state.id)
        best: dict[tuple[str, str], ek.DeviceEk] = {}
        refreshed: set = set()
        for item in items[:ek.MAX_BOXES]:
            try:
                stmt = await self.verify_device_ek(item, loaded, refreshed)
            except (errors.EphemeralError, errors.ChatError, errors.EkKeyDeleted) as e:
                log.info("ephemeral: device EK refused for %s: %s", loaded.state.name, e)
                continue
            key = (stmt.uid, stmt.kid)
            if key not in best or best[key].generation < stmt.generation:
                best[key] = stmt
        return list(best.values())

    # -- team EKs ----------------------------------------------------------------------------
    async def _fetch(self, team_id: str, generation: int | None) -> dict | None:
        params = {} if generation is None else {"generation": generation}
        try:
            ans = await self.ctx.api.get_auth(f"/v1/ek/team/{quote(team_id, safe='')}/box", **params)
        except errors.NotFound:
            return None
        if not isinstance(ans, dict):
            raise errors.EncodingError("malformed team EK answer")
        return ans

    async def _open(self, ans: dict, loaded, generation: int | None, *,
                    current: bool = False) -> tuple[ek.TeamEk, bytes | None]:
        """(verified statement, seed or None when deleted): from the local store, else our box.
        With `current` (sending), a team EK bound to an older PTK is refused before anything is kept."""
        st = await self.open()
        team_id = loaded.state.id
        stmt = ek.verify_team_ek(ans, loaded.state, team_id=team_id, generation=generation)
        if current:
            ek.check_current(stmt, loaded.state)
        row = await st.run(st._team, team_id, stmt.generation)
        if row is not None:
            return stmt, row.seed
        now = self._now()
        delete_after = min(stmt.ctime, now) + LIVE_FOR
        if now >= delete_after:
            await st.run(st._put_team, team_id, stmt.generation, None, stmt.ptk_generation, stmt.ctime, delete_after)
            return stmt, None
        box, dgen = ans.get("box"), ans.get("device_ek_gen")
        if box is None or type(dgen) is not int:
            raise errors.EkKeyDeleted(f"team EK generation {stmt.generation} has no box for this device")
        dseed = await st.run(st._device_seed, self.ctx.uid, dgen)
        if dseed is None:
            raise errors.EkKeyDeleted(f"device EK generation {dgen} of this device is deleted")
        seed = ek.open_seed_box(b64decode(box, max_size=ek.BOX_SIZE), dseed, stmt)
        await st.run(st._put_team, team_id, stmt.generation, seed, stmt.ptk_generation, stmt.ctime, delete_after)
        return stmt, seed

    async def seed_for(self, loaded, generation: int) -> bytes | None:
        """The seed of team EK `generation` for reading (None when deleted); typed errors when a
        statement or box does not check out."""
        st = await self.open()
        row = await st.run(st._team, loaded.state.id, generation)
        if row is not None:
            return row.seed
        ans = await self._fetch(loaded.state.id, generation)
        if ans is None:
            return None
        return (await self._open(ans, loaded, generation))[1]

    async def for_send(self, team_id: str) -> SendEk:
        """The team EK to seal an exploding message with now: the newest generation if it is
        current (a day old at most, bound to the newest PTK) and opens, else a new one."""
        await self.ensure_device_ek()
        for _ in range(3):
            loaded, keys = await self.svc.team_for_chat(team_id)
            ans = await self._fetch(team_id, None)
            top, usable = 0, None
            if ans is not None:
                top = ans.get("generation") if type(ans.get("generation")) is int else 0
                try:
                    stmt, seed = await self._open(ans, loaded, top, current=True)
                    if seed is not None and not ek.due(stmt.ctime, self._now()):
                        usable = SendEk(stmt.generation, seed)
                        if await self._boxed_to_all(ans, loaded):
                            return usable
                except (errors.EphemeralError, errors.EkKeyDeleted) as e:
                    log.info("ephemeral: a new team EK for %s: %s", loaded.state.name, e)
            try:
                return await self._make(loaded, keys, top + 1)
            except errors.EkGenerationTaken:
                continue                        # another writer was first: use theirs (or the next)
            except errors.RateLimited:
                if usable is None:              # a writer who keeps leaving someone out cannot stop our sends:
                    raise                       # past our rate, the current (valid, signed) generation serves
                log.info("ephemeral: rate-limited making a team EK for %s: the current one serves", loaded.state.name)
                return usable
        raise errors.EkGenerationTaken("could not agree on a team EK generation with the server")

    async def _boxed_to_all(self, ans: dict, loaded) -> bool:
        """Whether the generation the server serves is boxed to exactly the member devices this
        device would box to now. Left out (a writer's malice, an older list): our messages are
        not sealed under it. Boxed to a device no longer listed (revoked since, or its member
        gone): not either, a stolen device kept its seed. Either way we make the next
        generation. The lists are the server's word: a server that lies here could as well
        withhold a box. The listed kids are compared first (one request); only kids missing
        from the generation are verified, and a verdict holds for a minute."""
        recipients = ans.get("recipients")
        if not isinstance(recipients, list):
            return True                      # an older server: nothing to compare
        got = {r for r in recipients if isinstance(r, str)}
        key = (loaded.state.id, ans.get("generation"), loaded.state.seqno)
        hit = self._complete.get(key)
        if hit is not None and self._now() - hit[0] < COMPLETE_FOR_S:
            return hit[1]
        items = await self._listed(loaded.state.id)
        listed = {i.get("kid") for i in items if isinstance(i, dict) and isinstance(i.get("kid"), str)}
        ok = not (got - listed)
        if ok and listed - got:
            missing = [i for i in items if isinstance(i, dict) and i.get("kid") in listed - got]
            ok = not await self.member_device_eks(loaded, missing)    # only a device we would box to counts
        if not ok:
            log.info("ephemeral: the team EK of %s is not boxed to its member devices now: a new generation",
                     loaded.state.name)
        self._complete[key] = (self._now(), ok)
        return ok

    async def _make(self, loaded, keys: dict, generation: int) -> SendEk:
        state = loaded.state
        ptk = keys.get(state.generation)
        if ptk is None:
            raise errors.BadTeamKey(f"no key of {state.name}'s newest generation {state.generation}")
        devices = await self.member_device_eks(loaded)
        me = (await self.ctx.device_keys()).sibkey.kid.hex()
        if not any(d.kid == me for d in devices):
            raise errors.EkKeyDeleted("the server does not list this device's own EK: try again")
        cp = self.ctx.logview.trusted()
        now, rng = self._now(), self.ctx.rng
        seed = rng(32)
        stmt = ek.make_team_ek(ptk, team_id=state.id, generation=generation, seed=seed, ctime=now,
                               checkpoint=(cp.size, cp.root))
        boxes = [{"recipient_uid": d.uid, "recipient_kid": d.kid, "device_ek_gen": d.generation,
                  "box": b64encode(ek.box_seed(seed, d, ephemeral_secret=rng(32), nonce=rng(24)))} for d in devices]
        await self.ctx.api._request("POST", f"/v1/ek/team/{quote(state.id, safe='')}", auth=True,
                                    json={"generation": generation, **stmt.wire(), "boxes": boxes})
        st = await self.open()
        await st.run(st._put_team, state.id, generation, seed, stmt.ptk_generation, now, now + LIVE_FOR)
        return SendEk(generation, seed)

    # -- reading and forgetting ---------------------------------------------------------------
    async def judge_keys(self, judge, team_id: str, wires: list, loaded) -> None:
        """Give the judge the team EK seeds it can open for the generations `wires` name."""
        gens = {w.get("ek_gen") for w in wires if isinstance(w, dict) and type(w.get("ek_gen")) is int}
        for gen in sorted(gens - set(judge.ek_keys)):
            try:
                seed = await self.seed_for(loaded, gen)
            except (errors.EphemeralError, errors.EkKeyDeleted, errors.NotFound) as e:
                log.info("ephemeral: team EK %d of %s: %s", gen, loaded.state.name, e)
                continue
            if seed is not None:
                judge.ek_keys[gen] = seed

    async def purge(self) -> int:
        st = await self.open()
        return await st.run(st._purge, self._now())

    async def housekeep(self) -> None:
        """What a running client does on each sync: today's device EK (a failure is logged:
        exploding messages then wait for the next try), then `scrub`."""
        try:
            await self.ensure_device_ek()
        except errors.KbappError as e:
            log.info("ephemeral: no device EK for today yet: %s", e)
        await self.scrub()

    async def scrub(self) -> int:
        """Forget exploded messages everywhere in the chat store and purge due keys; each
        conversation that changed gets a ChatMessagesChanged (views drop what they show).
        How many conversations changed."""
        from .models import ChatMessagesChanged

        changed = await self.svc.store.db.run(scrub_chat_store, self.svc.store, self._now())
        if changed:                               # their cached previews and photo index entries too
            from . import media
            await media.of(self.svc).sweep(set(changed))
        for conv_id in changed:
            row = await self.svc.store.aio.conv(conv_id)
            if row is not None:
                self.ctx.events.emit(ChatMessagesChanged(row.conv_id, row.name, row.cursor))
        await self.purge()
        return len(changed)


def scrub_chat_store(store, now: int) -> list[str]:
    """On the chat store's db thread: every exploded message's plaintext out of the file;
    the conversations it touched."""
    with store.engine.connect() as c:
        c.exec_driver_sql("PRAGMA secure_delete=ON")
        rows = c.exec_driver_sql(
            "SELECT id, conv_id, msg_id FROM messages WHERE explodes_at IS NOT NULL AND explodes_at <= ? "
            "AND (body IS NOT NULL OR text IS NOT NULL OR status NOT IN ('exploded', 'bad'))", (now,)).all()
        gone, convs = [], {r.conv_id for r in rows}
        for oid, conv_id, payload in c.exec_driver_sql("SELECT outbox_id, conv_id, payload FROM outbox").all():
            try:
                p = json.loads(payload)
                life = p.get("exploding")
                if type(life) is int and int(p.get("compose_time") or 0) + life <= now:
                    gone.append(oid)
                    convs.add(conv_id)
            except (ValueError, AttributeError):
                continue
        if not rows and not gone:
            return []
        for rid, conv_id, msg_id in rows:
            c.exec_driver_sql("DELETE FROM messages_fts WHERE rowid = ?", (rid,))
            c.exec_driver_sql("UPDATE messages SET status = 'exploded', body = NULL, text = NULL, error = NULL, "
                              "error_code = NULL WHERE id = ?", (rid,))
            for (eid,) in c.exec_driver_sql("SELECT id FROM messages WHERE conv_id = ? AND supersedes = ? "
                                            "AND type = 'edit'", (conv_id, msg_id)).all():
                c.exec_driver_sql("DELETE FROM messages_fts WHERE rowid = ?", (eid,))
                c.exec_driver_sql("UPDATE messages SET body = NULL, text = NULL WHERE id = ?", (eid,))
        for oid in gone:
            c.exec_driver_sql("DELETE FROM outbox WHERE outbox_id = ?", (oid,))
        c.exec_driver_sql("INSERT INTO messages_fts(messages_fts) VALUES('optimize')")
        c.commit()
    _scrubbed(store.engine)
    return sorted(convs)


def of(svc) -> Ephemeral:
    """The Ephemeral helper of one ChatService (made on first use)."""
    found = svc.__dict__.get("_ephemeral")
    if found is None:
        found = svc.__dict__["_ephemeral"] = Ephemeral(svc)
    return found


__all__ = ["Ephemeral", "EkStore", "SendEk", "of", "scrub_chat_store"]
