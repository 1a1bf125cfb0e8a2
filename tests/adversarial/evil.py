"""A scriptable malicious server for the adversarial tests.

The attacker of docs/threat-model.md is the server: it answers anything, to
anyone, replays old answers, holds the key that signs checkpoints and writes
to its own database directly. Here it is made of real parts:

* `RealServer`: an honest `python -m kbapp server` process (SQLite in its data
  dir), restartable on the same port, whose data dir (key + database) the
  attacker owns;
* `EvilProxy`: a real HTTP server (Starlette on uvicorn, in a background
  thread, on a free 127.0.0.1 port) in front of it. Clients are pointed at the
  proxy, so they pin the real server's key through it. It forwards every
  request with httpx and records every genuine answer; a test switches
  tampering modes at run time (`proxy.set(mode, **params)`, `proxy.add(...)`
  to stack several) and can reroute it to another upstream (a fork);
* `ForgedLog`: the attacker's own log extension, signed with the stolen (that
  is, its own) server key, so that every proof in it verifies and only the
  client's content checks are left to catch the lie;
* `EvilDB`: writes straight into a stopped server's database through
  `Service` internals, with the server's link checks bypassed, keeping map,
  log and signed checkpoints consistent (a forged link, a user deleted, a
  chain rolled back);
* link forgery helpers (`edit_payload`, `repack_outer`, `resign_from`, ...).

Every tampering mode counts what it changed in `proxy.tampered`, so a test can
assert that the attack really went through the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nacl.signing
import uvicorn
from sqlalchemy import delete, insert
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from server_support import ServerProcess, free_port

from kbapp.core.encoding import b64decode, b64encode, canonical_json, pack, unpack
from kbapp.core.keys import (PREFIX_REVERSE_SIG, SigningKeyPair, decode_sig_packet, kid_hex,
                             make_sig_packet, parse_kid)
from kbapp.core.merkle.log import MerkleLog
from kbapp.core.merkle.note import key_fingerprint, parse_checkpoint_body, sign_checkpoint, verifier_key
from kbapp.core.merkle.smt import MerkleMap
from kbapp.core.puk import box_seed
from kbapp.core.sigchain import link_id, link_id_hex, parse_outer
from kbapp.core.sigchain.build import sign_inner
from kbapp.core.transparency import ChainTail, LogLeaf, map_key

ROOT = Path(__file__).resolve().parents[2]


# --- the honest server underneath ----------------------------------------------------


class RealServer(ServerProcess):
    """`kbapp server` in its own process, started by the test (`.start()`), restartable on
    the same port so that a proxy in front need not change."""

    def __init__(self, data_dir: Path):
        super().__init__(data_dir, start=False)

    def signing_key(self) -> nacl.signing.SigningKey:
        """The checkpoint key: the attacker runs the server, so it has it."""
        seed = bytes.fromhex((self.data_dir / "server_ed25519.key").read_text().strip())
        return nacl.signing.SigningKey(seed)

    def clone(self, data_dir: Path) -> "RealServer":
        """A second server with the same key and a copy of the database (call while stopped)."""
        assert self.proc is None, "stop the server before copying its data dir"
        shutil.copytree(self.data_dir, data_dir)
        return RealServer(data_dir)


# --- the proxy -----------------------------------------------------------------------


@dataclass
class Req:
    method: str
    path: str
    query: dict[str, str]
    key: str            # path?query: what answers are recorded and replayed under
    body: bytes
    auth: str | None = None     # the client's read token (Authorization), passed on as it came
    content_type: str | None = None   # passed on as it came (raw block and envelope bodies)


@dataclass
class Answer:
    status: int
    body: bytes | Callable[[], Iterable[bytes]]    # a callable: streamed, no content-length
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)

    @classmethod
    def of(cls, obj: Any, status: int = 200) -> "Answer":
        return cls(status, json.dumps(obj).encode())


Next = Callable[[], "asyncio.Future[Answer]"]


class EvilProxy:
    """A real HTTP server that forwards to `upstream` and lies when told to."""

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.modes: list[tuple[str, dict]] = []
        self.tampered = 0                        # answers changed by a mode
        self.seen: list[str] = []                # every request, as "METHOD path?query"
        self.recorded: dict[str, Answer] = {}    # newest genuine answer per GET path?query
        self._client: httpx.AsyncClient | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- control (from the test's thread) ----------------------------------------

    def set(self, mode: str, **params) -> "EvilProxy":
        """Replace every active mode by this one (see the `_m_*` methods)."""
        self._check(mode)
        self.modes = [(mode, params)]
        self.tampered = 0
        return self

    def add(self, mode: str, **params) -> "EvilProxy":
        """Stack one more mode; the first one set sees the request first."""
        self._check(mode)
        self.modes = self.modes + [(mode, params)]
        return self

    def clear(self) -> None:
        self.modes = []

    def reset(self, upstream: str | None = None) -> None:
        self.modes, self.tampered, self.seen = [], 0, []
        if upstream is not None:
            self.upstream = upstream.rstrip("/")

    def record(self) -> dict[str, Answer]:
        """A copy of the newest genuine answers, to replay later."""
        return dict(self.recorded)

    @contextlib.contextmanager
    def routed(self, upstream: str):
        """Send everything to another server for a while (a split view)."""
        old, self.upstream = self.upstream, upstream.rstrip("/")
        try:
            yield self
        finally:
            self.upstream = old

    def upstream_json(self, path: str, headers: dict | None = None, **params) -> Any:
        """Ask the real server directly (the attacker can, any time; team reads with a
        member's read token: the server holds every team's data anyway)."""
        r = httpx.get(self.upstream + path, params=params or None, headers=headers, timeout=10)
        r.raise_for_status()
        return r.json()

    def _check(self, mode: str) -> None:
        if not hasattr(self, f"_m_{mode}"):
            raise ValueError(f"no tampering mode {mode!r}")

    # -- life cycle ----------------------------------------------------------------

    def start(self) -> "EvilProxy":
        app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=["GET", "POST", "PUT"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="critical",
                                access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="evil-proxy", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the evil proxy did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    # -- serving (in the proxy's own event loop) ------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        query = dict(request.query_params)
        qs = request.url.query
        req = Req(request.method, request.url.path, query,
                  request.url.path + (f"?{qs}" if qs else ""), await request.body(),
                  request.headers.get("authorization"), request.headers.get("content-type"))
        self.seen.append(f"{req.method} {req.key}")
        modes = list(self.modes)

        async def call(i: int) -> Answer:
            if i == len(modes):
                return await self._forward(req)
            name, params = modes[i]
            return await getattr(self, f"_m_{name}")(req, lambda: call(i + 1), **params)

        ans = await call(0)
        if callable(ans.body):
            return StreamingResponse(_iterate(ans.body), status_code=ans.status,
                                     media_type=ans.content_type, headers=ans.headers)
        return Response(ans.body, status_code=ans.status, media_type=ans.content_type,
                        headers=ans.headers)

    async def _forward(self, req: Req) -> Answer:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=30)
        headers = {"content-type": req.content_type or "application/json"} if req.body else {}
        if req.auth:
            headers["authorization"] = req.auth
        r = await self._client.request(req.method, self.upstream + req.path, params=req.query or None,
                                       content=req.body or None, headers=headers or None)
        ans = Answer(r.status_code, r.content, r.headers.get("content-type", "application/json"))
        if req.method == "GET":
            self.recorded[req.key] = ans
        return ans

    def _hit(self) -> None:
        self.tampered += 1

    # -- tampering modes ----------------------------------------------------------------
    # Each takes the request and `next` (the rest of the stack, ending in the
    # real server) and returns the answer the client gets.

    async def _m_passthrough(self, req: Req, next: Next) -> Answer:
        return await next()

    async def _m_replay(self, req: Req, next: Next, *, answers: dict[str, Answer], match: str) -> Answer:
        """Serve an old recorded answer to GETs whose path?query matches `match`."""
        if req.method == "GET" and re.search(match, req.key) and req.key in answers:
            self._hit()
            return answers[req.key]
        return await next()

    async def _m_json(self, req: Req, next: Next, *, match: str, fn: Callable[[Any], Any]) -> Answer:
        """Rewrite the JSON answer of requests whose path matches `match`."""
        ans = await next()
        if ans.status != 200 or not re.search(match, req.path):
            return ans
        body = fn(copy.deepcopy(ans.json()))
        self._hit()
        return Answer.of(body)

    async def _m_chain(self, req: Req, next: Next, *, uid: str, fn: Callable[[list], list]) -> Answer:
        """Rewrite the links of GET /v1/chain/{uid}."""
        return await self._m_json(req, next, match=f"^/v1/chain/{uid}$",
                                  fn=lambda body: {**body, "links": fn(body["links"])})

    async def _m_lookup(self, req: Req, next: Next, *, uid: str, fn: Callable[[dict], dict]) -> Answer:
        """Rewrite the lookup bundle of a user."""
        return await self._m_json(req, next, match=f"^/v1/lookup/user/{uid}$", fn=fn)

    async def _m_raw(self, req: Req, next: Next, *, match: str, body, status: int = 200,
                     content_type: str = "application/json") -> Answer:
        """Answer with these bytes (or a callable yielding chunks: streamed, no length)."""
        if not re.search(match, req.path):
            return await next()
        self._hit()
        return Answer(status, body, content_type)

    async def _m_consistency(self, req: Req, next: Next, *,
                             sizes: Callable[[int, int], tuple[int, int]] | None = None,
                             proof: list | None = None) -> Answer:
        """Consistency proofs for other sizes than asked (a genuine proof, from the
        real server) or a literal `proof`."""
        if req.path != "/v1/log/consistency":
            return await next()
        first, second = int(req.query["first"]), int(req.query["second"])
        if proof is None:
            proof = await self._genuine_proof(*sizes(first, second))
        self._hit()
        return Answer.of({"first": first, "second": second, "proof": proof})

    async def _genuine_proof(self, first: int, second: int) -> list:
        if first == second:
            return []
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=30)
        r = await self._client.get(self.upstream + "/v1/log/consistency",
                                   params={"first": first, "second": second})
        return r.json()["proof"]

    async def _m_swap_key(self, req: Req, next: Next, *, key: nacl.signing.SigningKey) -> Answer:
        """The server now signs its checkpoints with another key (same origin)."""
        ans = await next()
        if ans.status != 200:
            return ans
        if req.path == "/v1/server":
            info = ans.json()
            pub = bytes(key.verify_key)
            info.update(public_key=b64encode(pub), vkey=verifier_key(info["key_name"], pub),
                        fingerprint=key_fingerprint(pub))
            self._hit()
            return Answer.of(info)
        if req.path == "/v1/checkpoint" or req.path.startswith("/v1/lookup/"):
            body = ans.json()
            field_name = "note" if req.path == "/v1/checkpoint" else "checkpoint"
            body[field_name] = resign_note(body[field_name], key)
            self._hit()
            return Answer.of(body)
        return ans

    async def _m_puk_box(self, req: Req, next: Next, *, seed: bytes) -> Answer:
        """Box a per-user key seed of the server's choosing to the device asking."""
        ans = await next()
        if not req.path.startswith("/v1/puk/") or ans.status != 200:
            return ans
        body = ans.json()
        public = parse_kid(req.query["device_kid"]).public
        body["boxes"] = [{"generation": b["generation"],
                          "box": b64encode(box_seed(seed, b["generation"], public,
                                                    ephemeral_secret=os.urandom(32), nonce=os.urandom(24)))}
                         for b in body["boxes"]]
        self._hit()
        return Answer.of(body)

    async def _m_forged_log(self, req: Req, next: Next, *, log: "ForgedLog") -> Answer:
        """Serve the attacker's own (validly signed) log instead of the real one."""
        if req.path == "/v1/checkpoint":
            self._hit()
            return Answer.of({"note": log.checkpoint()})
        m = re.fullmatch(r"/v1/lookup/(user|team)/([0-9a-f]+)", req.path)
        if m:
            self._hit()
            return Answer.of(log.lookup(m.group(1), m.group(2)))
        if req.path == "/v1/log/consistency":
            self._hit()
            first, second = int(req.query["first"]), int(req.query["second"])
            return Answer.of({"first": first, "second": second,
                              "proof": [b64encode(h) for h in log.log.consistency_proof(first, second)]})
        if req.path == "/v1/log/leaves":
            self._hit()
            start, end = int(req.query["start"]), int(req.query["end"])
            return Answer.of({"start": start, "leaves": [b64encode(x) for x in log.leaves[start:end]]})
        return await next()


def _iterate(chunks: Callable[[], Iterable[bytes]]):
    async def gen():
        for chunk in chunks():
            yield chunk
            await asyncio.sleep(0)
    return gen()


def resign_note(note: str, key: nacl.signing.SigningKey) -> str:
    """The same checkpoint (origin, size, root), signed by another key."""
    text = note.split("\n\n", 1)[0] + "\n"
    origin, size, root, _ = parse_checkpoint_body(text)
    return sign_checkpoint(origin, size, root, origin, key)


# --- the attacker's own log ------------------------------------------------------------


class ForgedLog:
    """The real log's leaves plus leaves the attacker makes up, each holding the
    root of a map of its choosing; checkpoints signed with the server key. Every
    inclusion and consistency proof from it verifies."""

    def __init__(self, key: nacl.signing.SigningKey, origin: str, leaves: list[bytes]):
        self.key, self.origin = key, origin
        self.leaves = list(leaves)
        self.log = MerkleLog()
        for leaf in self.leaves:
            self.log.append(leaf)
        self.maps: dict[int, MerkleMap] = {}

    @classmethod
    def of(cls, server: RealServer) -> "ForgedLog":
        """Start from everything the real server has logged so far."""
        info = httpx.get(server.url + "/v1/server", timeout=10).json()
        size = parse_checkpoint_body(
            httpx.get(server.url + "/v1/checkpoint", timeout=10).json()["note"].split("\n\n")[0] + "\n")[1]
        leaves: list[bytes] = []
        while len(leaves) < size:
            page = httpx.get(server.url + "/v1/log/leaves", params={"start": len(leaves), "end": size},
                             timeout=10).json()
            leaves += [b64decode(x) for x in page["leaves"]]
        return cls(server.signing_key(), info["origin"], leaves)

    def append(self, entries: dict[bytes, bytes] | None = None, *, raw_leaf: bytes | None = None) -> int:
        """A new epoch whose map holds exactly `entries` (or a raw, made-up leaf)."""
        m = MerkleMap()
        for k, v in (entries or {}).items():
            m.set(k, v)
        index = self.log.size
        leaf = raw_leaf if raw_leaf is not None else LogLeaf(index, m.root(), int(time.time())).encode()
        self.leaves.append(leaf)
        self.log.append(leaf)
        self.maps[index] = m
        return index

    def checkpoint(self) -> str:
        return sign_checkpoint(self.origin, self.log.size, self.log.root(), self.origin, self.key)

    def lookup(self, kind: str, ident: str) -> dict:
        size = self.log.size
        m = self.maps.get(size - 1, MerkleMap())
        key = map_key(kind, ident)
        value = m.get(key)
        return {"checkpoint": self.checkpoint(), "leaf_index": size - 1,
                "leaf_data": b64encode(self.leaves[size - 1]),
                "inclusion": [b64encode(h) for h in self.log.inclusion_proof(size - 1, size)],
                "value": None if value is None else b64encode(value),
                "map_proof": m.prove(key).to_wire()}


# --- writing straight into the server's database -------------------------------------------


class EvilDB:
    """The server's own database, written through `Service` internals with its
    link checks bypassed. Each method is one epoch: map updated, new map root
    appended to the log, checkpoint signed with the server key; so the server,
    once restarted, serves a fully consistent (signed, provable) lie."""

    def __init__(self, data_dir: Path):
        from kbapp.server.main import ServerConfig, build

        self.service, _ = build(ServerConfig(data_dir=Path(data_dir)))

    def close(self) -> None:
        self.service.engine.dispose()

    @contextlib.contextmanager
    def _epoch(self):
        svc = self.service
        with svc.engine.connect() as conn:
            with svc._epoch(conn) as apply:
                yield conn, apply

    def checkpoint(self) -> dict:
        """What a link author would embed as merkle_root right now."""
        return {"size": self.service.log.size, "hash": self.service.log.root().hex()}

    def chain(self, uid: str) -> list[dict]:
        with self.service.engine.connect() as conn:
            return self.service.chain_wires(conn, uid)

    def tail(self, uid: str) -> ChainTail:
        return ChainTail.decode(self.service.map.get(map_key("user", uid)))

    def append_links(self, uid: str, wires: list[dict]) -> None:
        """Store links as the next ones of uid's chain, unchecked, and commit to them."""
        from kbapp.server import db

        old = self.tail(uid)
        now = int(time.time())
        with self._epoch() as (conn, apply):
            conn.execute(insert(db.links), [
                {"uid": uid, "seqno": old.seqno + 1 + i, "link_id": link_id_hex(w),
                 "wire": canonical_json(w).decode(), "received": now} for i, w in enumerate(wires)])
            tail = ChainTail(old.seqno + len(wires), link_id_hex(wires[-1]), old.eldest_kid)
            apply([(map_key("user", uid), tail.encode())])

    def rollback_chain(self, uid: str, seqno: int) -> None:
        """Forget uid's links after `seqno` and point the map back at link `seqno`."""
        from kbapp.server import db

        wires = self.chain(uid)
        old = self.tail(uid)
        with self._epoch() as (conn, apply):
            conn.execute(delete(db.links).where((db.links.c.uid == uid) & (db.links.c.seqno > seqno)))
            tail = ChainTail(seqno, link_id_hex(wires[seqno - 1]), old.eldest_kid)
            apply([(map_key("user", uid), tail.encode())])

    def delete_user(self, uid: str) -> None:
        """Drop uid from the map (its chain stays in the links table)."""
        from kbapp.server import db

        key = map_key("user", uid)
        with self._epoch() as (conn, apply):
            self.service.map.delete(key)
            conn.execute(delete(db.map_entries).where(db.map_entries.c.key == key.hex()))
            apply([])


# --- forging links ---------------------------------------------------------------------


def payload_of(wire: dict) -> dict:
    return json.loads(wire["payload_json"])


def outer_type(wire: dict) -> int:
    return parse_outer(decode_sig_packet(wire["sig"])["body"]["payload"]).link_type


def edit_payload(wire: dict, edit: Callable[[dict], None]) -> dict:
    """Change a link's inner JSON and nothing else (the naive attacker)."""
    payload = payload_of(wire)
    edit(payload)
    return {**wire, "payload_json": canonical_json(payload).decode()}


def repack_outer(wire: dict) -> dict:
    """Make the signed outer link name the (edited) payload's hash again, keeping
    the old signature bytes: the smarter attacker, who still has no key."""
    packet = decode_sig_packet(wire["sig"])
    outer = unpack(packet["body"]["payload"])
    outer[3] = hashlib.sha256(wire["payload_json"].encode()).digest()
    packet["body"]["payload"] = pack(outer)
    return {**wire, "sig": b64encode(pack(packet))}


def reverse_sign(payload: dict, section: str, key: SigningKeyPair) -> None:
    """Fill body[section].reverse_sig with `key`'s signature of the link (in place)."""
    payload["body"][section]["reverse_sig"] = None
    payload["body"][section]["reverse_sig"] = make_sig_packet(
        key, canonical_json(payload), prefix=PREFIX_REVERSE_SIG, detached=True)


def resign_from(links: list[dict], seqno: int, key: SigningKeyPair,
                edit: Callable[[dict], None] | None = None) -> list[dict]:
    """The smart attacker: edit link `seqno` (`edit(payload)` sees every re-signed
    link: check payload["seqno"]), then sign it and every later link with its
    own key, fixing each `prev` (and so each link id) so that the chain hashes
    together again; reverse sigs naming `key` are redone with it."""
    out = list(links[:seqno - 1])
    prev = link_id(out[-1]) if out else None
    me = kid_hex(key.kid)
    for wire in links[seqno - 1:]:
        payload = payload_of(wire)
        if edit is not None:
            edit(payload)
        payload["prev"] = prev.hex() if prev is not None else None
        body = payload["body"]
        body["key"]["kid"] = me
        if isinstance(body.get("subkey"), dict):
            body["subkey"]["parent_kid"] = me
        if isinstance(body.get("sibkey"), dict) and body["sibkey"].get("kid") == me:
            reverse_sign(payload, "sibkey", key)
        new = sign_inner(key, canonical_json(payload), seqno=payload["seqno"], prev=prev,
                         link_type=outer_type(wire), ctime=payload["ctime"])
        out.append(new)
        prev = link_id(new)
    return out


def stub(wire: dict) -> dict:
    """The stubbed form of a link: its outer link only, no signature."""
    return {"s2": b64encode(decode_sig_packet(wire["sig"])["body"]["payload"])}


def relay_links(src: str, dst: str, uid: str) -> int:
    """Copy the links `src` has and `dst` lacks through `dst`'s normal API (its
    link checks pass: they are genuine links). Returns how many."""
    have = httpx.get(f"{dst}/v1/chain/{uid}", timeout=10).json()["links"]
    new = httpx.get(f"{src}/v1/chain/{uid}", params={"since": len(have)}, timeout=10).json()["links"]
    r = httpx.post(f"{dst}/v1/chain/{uid}/links", json={"links": new}, timeout=10)
    r.raise_for_status()
    return len(new)


def deep_json(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


