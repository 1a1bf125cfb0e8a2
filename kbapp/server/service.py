"""The server's state and its one write path.

The Merkle map and log live in memory (rebuilt from the database at start:
leaf hashes and map entries are all that is needed) and every write goes
through `Service.append_links`, which stores the links, updates the map,
appends the new map root to the log and signs a checkpoint, all in one
database transaction. The server checks links so that garbage never lands,
but clients never rely on that: they verify everything again.
"""

from __future__ import annotations

import asyncio
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.signing
from sqlalchemy import bindparam, func, insert, select, text
from sqlalchemy.engine import Connection, Engine

from kbapp.core import errors
from kbapp.core.chains import Claim, claim_in, claim_sig, highest_sound, judge
from kbapp.core.encoding import b64decode, b64encode, canonical_json
from kbapp.core.keys import kid_hex
from kbapp.core.merkle.log import MerkleLog
from kbapp.core.merkle.note import key_fingerprint, sign_checkpoint, signed_checkpoint, verifier_key
from kbapp.core.merkle.smt import MerkleMap
from kbapp.core.proofs import chain_statements
from kbapp.core.sigchain import check_reset_authorization, link_id_hex, parse_link
from kbapp.core.transparency import ChainTail, LogLeaf
from kbapp.core.uid import check_username, uid_for

from . import db
from .batch_store import store_batches
from .chains import ChainStates, refuse_early, stored_tail
from .service_reads import LEAVES_PAGE, PROOF_OWNERS_PAGE, Q_USER_BY_UID, ServiceReads  # noqa: F401 - page sizes: tests

MAX_LINKS_PER_POST = 64
MAX_BOXES_PER_POST = 256
MAX_BOX_SIZE = 4096


# The write path's statements, built once: SQLAlchemy then reuses their cache
# keys and compiled forms instead of rebuilding them for every epoch.
_Q_NEWEST = select(func.max(db.log_leaves.c.idx))
_Q_KEY_OWNERS = select(db.keys.c.kid, db.keys.c.uid).where(db.keys.c.kid.in_(bindparam("kids", expanding=True)))


def _key_owners(conn: Connection, kids: list[str]):
    return conn.execute(_Q_KEY_OWNERS, {"kids": kids}).all()     # one query, a cached statement
_Q_LEAVES_FROM = (select(db.log_leaves.c.idx, db.log_leaves.c.data, db.log_leaves.c.note)
                  .where(db.log_leaves.c.idx >= bindparam("start")).order_by(db.log_leaves.c.idx))
_Q_MAP_FROM = select(db.map_entries.c.key, db.map_entries.c.value).where(db.map_entries.c.epoch >= bindparam("start"))

def _map_upsert(dialect: str):
    """Insert or replace one map entry in one statement (both dialects have ON CONFLICT)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    stmt = dialect_insert(db.map_entries)
    return stmt.on_conflict_do_update(index_elements=[db.map_entries.c.key],
                                      set_={"value": stmt.excluded.value, "epoch": stmt.excluded.epoch})

_INS_LEAF = insert(db.log_leaves)


def load_or_create_server_key(data_dir: Path) -> nacl.signing.SigningKey:
    """The key that signs checkpoints; clients pin it at first contact."""
    path = data_dir / "server_ed25519.key"
    if path.exists():
        seed = bytes.fromhex(path.read_text().strip())
        if len(seed) != 32:
            raise errors.KeystoreError(f"{path} does not hold a 32-byte key")
        return nacl.signing.SigningKey(seed)
    data_dir.mkdir(parents=True, exist_ok=True)
    key = nacl.signing.SigningKey.generate()
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(bytes(key).hex())
    os.replace(tmp, path)
    return key


@dataclass
class Batch:
    """A validated write, ready to be stored."""

    uid: str
    username: str
    new_links: list[dict]
    link_ids: list[str]
    kids: list[str]
    boxes: list[tuple[int, str, bytes]]
    prev_boxes: list[tuple[int, bytes]]
    tail: ChainTail
    new_user: bool
    statements: list[dict] | None = None   # the live proofs and follows (hints for clients)
    state: object = None                    # the verified ChainState after these links
    base_tail: tuple[int, str | None] = (0, None)   # the stored tail they were validated on
    note: dict | None = None                # remembered with `state` (ChainStates.note)
    statement_change: tuple[list[int], list[dict]] | None = None   # (seqnos gone, rows new) since the base
    wires: list[str] | None = None          # the new links' canonical JSON, encoded before the lock


@dataclass(frozen=True)
class LogView:
    """What the log and map looked like at one committed epoch: reads answer from it
    without the write lock (the map snapshot shares nodes but never changes, the log's
    first `size` leaves never change), so a lookup never queues behind a write."""

    size: int
    map: MerkleMap
    note: str
    leaf: bytes                             # the newest leaf's data (lookup proofs end there)


def _statement_rows(uid: str, statements) -> list[dict]:
    """`statements` rows of chain_statements' (proofs, follows)."""
    proofs, follows = statements
    rows = [{"uid": uid, "seqno": p.seqno, "kind": "proof", "service": p.service[:64], "name": p.username[:255]}
            for p in proofs]
    rows += [{"uid": uid, "seqno": f.seqno, "kind": "follow", "service": "", "name": f.uid} for f in follows.values()]
    return rows


def _statement_change(uid: str, old, new) -> tuple[list[int], list[dict]]:
    """(seqnos of rows gone, rows added) from the base's (proofs, follows) to the new ones.
    Usually the new proofs extend the old list and the follows dict keeps its unchanged
    entries (chain_statements resumed from the base): then only the tail and the changed
    follows are looked at; otherwise (a revocation, a reset) every row is compared."""
    (old_p, old_f), (new_p, new_f) = old, new
    if len(new_p) >= len(old_p) and new_p[:len(old_p)] == old_p:
        proofs_gone, proofs_new = [], new_p[len(old_p):]
    else:
        before = {(p.seqno, p.service[:64], p.username[:255]) for p in old_p}
        after = {(p.seqno, p.service[:64], p.username[:255]) for p in new_p}
        proofs_gone = [p for p in old_p if (p.seqno, p.service[:64], p.username[:255]) not in after]
        proofs_new = [p for p in new_p if (p.seqno, p.service[:64], p.username[:255]) not in before]
    follows_gone = [f for u, f in old_f.items() if (new_f.get(u) or f).seqno != f.seqno or u not in new_f]
    follows_new = [f for u, f in new_f.items() if u not in old_f or old_f[u].seqno != f.seqno]
    gone = sorted({p.seqno for p in proofs_gone} | {f.seqno for f in follows_gone})
    return gone, _statement_rows(uid, (proofs_new, {f.uid: f for f in follows_new}))


def _kids(state) -> set[str]:
    """Every key a state holds: live sibkeys and subkeys, and every PUK generation's two."""
    kids = set(state.sibkeys) | set(state.subkeys)
    for puk in state.puks.values():
        kids |= {puk.signing_kid, puk.encryption_kid}
    return kids


class Service(ServiceReads):
    def __init__(self, engine: Engine, signing_key: nacl.signing.SigningKey, origin: str,
                 clock=time.time):
        self.engine = engine
        self.key = signing_key
        self.origin = origin
        self.public_key = bytes(signing_key.verify_key)
        self.clock = clock
        self.log = MerkleLog()
        self.map = MerkleMap()
        self.checkpoint_note = ""
        self.view: LogView | None = None        # set by every commit and catch-up
        self.lock = asyncio.Lock()
        self.chains = ChainStates()
        self._upsert_map = _map_upsert(engine.dialect.name)
        self._load()

    # -- start-up ---------------------------------------------------------

    def _load(self) -> None:
        with self.engine.connect() as conn:
            with self._epoch(conn) as apply:
                if self.log.size == 0:
                    apply([])  # genesis: an empty map, so there is always a checkpoint

    def _catch_up(self, conn: Connection) -> None:
        """Fold in leaves and map entries another server process wrote.

        All or nothing: memory changes only once what was read checks out (the
        map entries lead to the root in the newest leaf, the leaves have no hole).
        """
        start = self.log.size
        newest = conn.execute(_Q_NEWEST).scalar()
        if newest is None or newest < start:
            return
        rows = conn.execute(_Q_LEAVES_FROM, {"start": start}).all()
        if [r.idx for r in rows] != list(range(start, start + len(rows))):
            raise errors.ServerError(f"the log table has a hole after leaf {start}")
        want_root = LogLeaf.decode(rows[-1].data).map_root
        undo: list[tuple[bytes, bytes | None]] = []
        for row in conn.execute(_Q_MAP_FROM, {"start": start}):
            key = bytes.fromhex(row.key)
            undo.append((key, self.map.get(key)))
            self.map.set(key, row.value)
        if self.map.root() != want_root:
            self._undo_map(undo)
            raise errors.ServerError("stored map entries do not match the newest log leaf")
        for row in rows:
            self.log.append(row.data)
        self.checkpoint_note = rows[-1].note or self._sign(self.log.size)
        self._publish(rows[-1].data)

    def _publish(self, leaf: bytes) -> None:
        self.view = LogView(self.log.size, self.map.snapshot(), self.checkpoint_note, leaf)

    def _undo_map(self, undo: list[tuple[bytes, bytes | None]]) -> None:
        for k, v in reversed(undo):
            if v is None:
                self.map.delete(k)
            else:
                self.map.set(k, v)

    def behind(self) -> bool:
        """Has another server process committed an epoch this one has not folded in?
        One indexed read, no lock: reads take the lock only when it says yes."""
        with self.engine.connect() as conn:
            newest = conn.execute(_Q_NEWEST).scalar()
        return newest is not None and (self.view is None or newest >= self.view.size)

    def refresh(self) -> None:
        """Fold in what other server processes wrote before serving a read, so that
        no process answers from an older map or log than the database holds (a
        client would see a rollback, or a chain the map does not know yet). The
        shared advisory lock gives a snapshot no writer is half-way through.
        Call under self.lock."""
        with self.engine.connect() as conn:
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock_shared(7305)"))
                self._catch_up(conn)

    def _sign(self, size: int) -> str:
        return sign_checkpoint(self.origin, size, self.log.root(size), self.origin, self.key)

    # -- info ---------------------------------------------------------------

    def info(self) -> dict:
        return {
            "origin": self.origin,
            "key_name": self.origin,
            "public_key": b64encode(self.public_key),
            "vkey": verifier_key(self.origin, self.public_key),
            "fingerprint": key_fingerprint(self.public_key),
            "version": 1,
        }

    # -- writes ---------------------------------------------------------------

    def validate(self, conn: Connection, uid: str, body: dict, *, signup: bool) -> Batch:
        links_in = body.get("links")
        if not isinstance(links_in, list) or not links_in or len(links_in) > MAX_LINKS_PER_POST:
            raise errors.EncodingError(f"links must be a list of 1..{MAX_LINKS_PER_POST}")
        if not all(isinstance(x, dict) for x in links_in):
            raise errors.EncodingError("each link must be an object")
        row = conn.execute(Q_USER_BY_UID, {"uid": uid}).first()
        if signup:
            username = check_username(body.get("username", ""))
            if uid_for(username) != uid:
                raise errors.WrongUid("uid does not belong to this username")
            if row is not None:
                raise errors.Conflict(f"username {username!r} is taken")
            base, base_tail = None, (0, None)
        else:
            if row is None:
                raise errors.NotFound(f"no user with uid {uid}")
            username = row.username
            base_tail = stored_tail(conn, uid)
            if self.chains.get(uid) is None:
                self._precheck(links_in, base_tail)    # refuse garbage before a whole playback
            base = self.chains.load(conn, uid, username, base_tail)
            base_tail = (base.tail_seqno, base.tail_link_id)   # newer if a post committed meanwhile
            refuse_early(links_in[0], base)     # a stranger's key: refused before the state is copied
        n_existing = base_tail[0]
        # Only the new links are played back, on top of the stored chain's verified state.
        state = self.chains.play(links_in, uid=uid, username=username, resume=base)
        if state.tail_seqno != n_existing + len(links_in):
            raise errors.BadChainLink("the chain's tail is not the last link posted")
        self._check_resets(state, n_existing, links_in, uid=uid, auth=body.get("reset_authorization"))
        # What the stored tail's checks gave (the newest sound checkpoint, the live
        # statements), remembered with its state: a post then reads only its own links.
        note = self.chains.note(uid, base)
        sound = self.check_claims(state.merkle_roots, n_existing, previous=note.get("sound"))
        self.check_claim_sigs(links_in)
        ids = [link_id_hex(w) for w in links_in]
        kids = _kids(state) - (_kids(base) if base is not None else set())   # the base's are stored
        boxes = self._boxes(body.get("puk_boxes", []), state)
        prev = self._prev_boxes(body.get("puk_prev", []), state)
        tail = ChainTail(state.tail_seqno, state.tail_link_id, kid_hex(state.eldest_kid))
        proofs, follows = statements = chain_statements(
            state, since=(base, note["statements"]) if "statements" in note else None)
        if "statements" in note:            # the base's rows are the stored ones: write the change only
            stmts, change = None, _statement_change(uid, note["statements"], statements)
        else:
            stmts, change = _statement_rows(uid, statements), None
        return Batch(uid, username, links_in, ids, sorted(kid_hex(k) for k in kids), boxes, prev,
                     tail, signup, stmts, state, base_tail, {"sound": sound, "statements": statements}, change,
                     [canonical_json(w).decode() for w in links_in])

    @staticmethod
    def _precheck(links_in: list, base_tail: tuple[int, str | None]) -> None:
        """What needs no chain state: each link parses, continues the stored tail and
        carries a good signature by the key it names (playback then checks that key)."""
        seqno, prev = base_tail
        for wire in links_in:
            link = parse_link(wire)
            if link.seqno != seqno + 1 or link.prev != (None if prev is None else bytes.fromhex(prev)):
                raise errors.WrongSeqno(f"link {link.seqno} does not continue the stored chain at {seqno}")
            if not link.stubbed:
                try:
                    nacl.signing.VerifyKey(link.signer[2:34]).verify(link.signed_message, link.signature)
                except (nacl.exceptions.BadSignatureError, ValueError):
                    raise errors.BadSignature(f"link {link.seqno}: bad signature") from None
            seqno, prev = link.seqno, link.link_id.hex()

    def prepare(self, uid: str, body: dict, *, signup: bool) -> Batch | None:
        """Validate a post WITHOUT the write lock: parsing, signatures and playback of the
        new links (the slow part) run here, so a stream of posts, refused or not, never
        holds up other writers. `append_links` then only checks that the stored tail did
        not move meanwhile. None: judge it under the lock (this process's log is behind
        the database's, so a refusal might be stale)."""
        with self.engine.connect() as conn:
            try:
                return self.validate(conn, uid, body, signup=signup)
            except errors.KbappError:
                newest = conn.execute(_Q_NEWEST).scalar()
                if newest is not None and newest >= self.log.size:
                    return None
                raise

    def root_ok(self, size: int, root_hex: str) -> bool:
        """Is `root_hex` this log's root at `size`? (a link's embedded checkpoint)"""
        return 1 <= size <= self.log.size and self.log.root(size).hex() == root_hex

    def check_claim_sigs(self, links_in: list) -> None:
        """A server signature a new link embeds beside its checkpoint (core/chains.py `embed`)
        must be this server's, on that checkpoint: readers take a valid one on a root that
        is not in their log as proof of a fork, so garbage there is refused, not stored."""
        for wire in links_in:
            link = parse_link(wire)
            body = link.payload["body"] if link.payload is not None else None
            claim, sig = claim_in(body), claim_sig(body)
            if claim is not None and sig is not None and not signed_checkpoint(
                    self.origin, claim[0], bytes.fromhex(claim[1]), sig, self.origin, self.public_key):
                raise errors.BadEmbeddedCheckpoint(
                    f"link {link.seqno}: the checkpoint signature it embeds is not this server's")

    def check_claims(self, merkle_roots, n_existing: int, previous: int | None = None) -> int | None:
        """Each new link's embedded checkpoint is one of this log's, no older than the chain's
        newest sound one (kbapp/core/chains.py); else BadEmbeddedCheckpoint, nothing stored.
        `merkle_roots`: (seqno, size, root hex) of the whole chain, new links after `n_existing`;
        `previous`: the stored links' newest sound size, if known (else found from them).
        Returns the newest sound size after the new links."""
        first = len(merkle_roots)           # in seqno order: the new links' claims are a suffix
        while first and merkle_roots[first - 1][0] > n_existing:
            first -= 1
        new = [Claim(*r) for r in merkle_roots[first:]]
        if not new:
            return previous
        log_size = self.log.size + 1          # the epoch this post makes
        if previous is None:
            previous = highest_sound([Claim(*r) for r in merkle_roots if r[0] <= n_existing],
                                     log_size=log_size, root_ok=self.root_ok)
        after, bad = judge(new, log_size=log_size, root_ok=self.root_ok, previous=previous)
        if bad:
            seqno = min(bad)
            raise errors.BadEmbeddedCheckpoint(f"link {seqno}: its embedded checkpoint {bad[seqno]}")
        return after

    @staticmethod
    def _check_resets(state, n_existing: int, links_in: list[dict], *, uid: str, auth: object) -> None:
        """A reset (an eldest link after the chain's start) only with its owner's authorization
        (kbapp/core/sigchain/reset.py), and one per post."""
        if not n_existing:
            return
        subchains = [*state.previous_subchains, state]
        resets = [i for i, s in enumerate(subchains) if s.eldest_seqno > n_existing]
        if not resets:
            return
        if len(resets) > 1:
            raise errors.ResetNotAuthorized("one account reset per post")
        # The subchain the reset ends already holds the keys live just before it: no second playback.
        at = subchains[resets[0]].eldest_seqno - n_existing - 1      # the reset link's place in this post
        check_reset_authorization(subchains[resets[0] - 1].sibkeys, uid=uid, eldest_link=links_in[at], auth=auth)

    @staticmethod
    def _boxes(items, state) -> list[tuple[int, str, bytes]]:
        if not isinstance(items, list) or len(items) > MAX_BOXES_PER_POST:
            raise errors.EncodingError("puk_boxes must be a short list")
        active_subkeys = {kid_hex(k) for k in state.subkeys}
        out = []
        for item in items:
            if not isinstance(item, dict):
                raise errors.EncodingError("a PUK box must be an object")
            gen, kid = item.get("generation"), item.get("device_kid")
            if not isinstance(gen, int) or gen not in state.puks:
                raise errors.BadPerUserKey(f"box for unknown PUK generation {gen!r}")
            if not isinstance(kid, str) or kid_hex(kid) not in active_subkeys:
                raise errors.BadPerUserKey("box for a key that is not an active device encryption key")
            out.append((gen, kid_hex(kid), b64decode(item.get("box", ""), max_size=MAX_BOX_SIZE)))
        return out

    @staticmethod
    def _prev_boxes(items, state) -> list[tuple[int, bytes]]:
        if not isinstance(items, list) or len(items) > MAX_BOXES_PER_POST:
            raise errors.EncodingError("puk_prev must be a short list")
        out = []
        for item in items:
            if not isinstance(item, dict) or item.get("generation") not in state.puks:
                raise errors.BadPerUserKey("prev-seed box for an unknown generation")
            out.append((item["generation"], b64decode(item.get("box", ""), max_size=MAX_BOX_SIZE)))
        return out

    def append_links(self, uid: str, body: dict, *, signup: bool, batch: Batch | None = None) -> dict:
        """Store a batch of links as one new log epoch. Call under self.lock. `batch`
        (from `prepare`) is used as it is if the stored tail is still the one it was
        validated on; otherwise (or without one) the post is validated here, on top of
        the now stored chain (incrementally too)."""
        with self.engine.connect() as conn:
            with self._epoch(conn) as apply:
                if batch is None or stored_tail(conn, uid) != batch.base_tail:
                    batch = self.validate(conn, uid, body, signup=signup)
                apply([self.store_batch(conn, batch, int(self.clock()))])
        self.chains.put(batch.state, batch.note)      # committed: the next post starts from here
        return {"uid": uid, "seqno": batch.tail.seqno, "log_size": self.log.size}

    def store_batch(self, conn: Connection, batch: Batch, now: int) -> tuple[bytes, bytes]:
        """Write a validated batch's rows in the open epoch; its map update (key, new tail)."""
        return store_batches(conn, [batch], now, _key_owners)[0]

    @staticmethod
    def store_batches(conn: Connection, batches: list[Batch], now: int) -> list[tuple[bytes, bytes]]:
        """A group's batches (distinct accounts), one statement per table (batch_store.py)."""
        return store_batches(conn, batches, now, _key_owners)

    @contextmanager
    def _epoch(self, conn: Connection):
        """One transaction = one epoch. Memory follows the database: on any
        failure before the commit returns, the map and log are put back."""
        trans = conn.begin()
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7305)"))
        self._catch_up(conn)
        size = self.log.size
        undo: list[tuple[bytes, bytes | None]] = []
        note = self.checkpoint_note
        leaf = b""

        def apply(updates: list[tuple[bytes, bytes]]) -> None:
            nonlocal note, leaf
            rows = {}
            for k, v in updates:
                undo.append((k, self.map.get(k)))
                self.map.set(k, v)
                rows[k] = {"key": k.hex(), "value": v, "epoch": size}   # a key set twice: its last value
            if rows:    # one statement for a group's entries (each a round trip on PostgreSQL)
                conn.execute(self._upsert_map, list(rows.values()))
            leaf = LogLeaf(size, self.map.root(), int(self.clock())).encode()
            self.log.append(leaf)
            note = self._sign(size + 1)
            conn.execute(_INS_LEAF, {"idx": size, "data": leaf, "note": note})

        try:
            yield apply
            trans.commit()
        except BaseException:
            trans.rollback()
            self._undo_map(undo)
            self.log.truncate(size)
            raise
        self.checkpoint_note = note
        if leaf:
            self._publish(leaf)

    def write_raw_epoch(self, updates: list[tuple[bytes, bytes]]) -> int:
        """One epoch of map updates taken as they are (no chain behind them), through the
        same transaction, leaf and signed checkpoint as a post; returns the new log size.
        For `kbapp bench identity` and tools only: no route calls it, since nothing here
        checks that a value is the tail of a verified chain."""
        with self.engine.connect() as conn:
            with self._epoch(conn) as apply:
                apply(list(updates))
        return self.log.size
