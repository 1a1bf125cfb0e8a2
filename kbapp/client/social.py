"""Proofs, assertions and follows: the social service (`app.social`).

A service on the account context (context.py); its writes go to our own user
chain and hold its lock (`user:<uid>`, ops.py). Nothing the server says is taken
as true: proofs are read from verified chains and checked live on their
services; resolving an assertion and listing followers start from server
hints, each checked by identifying the user it names.
"""

from __future__ import annotations

import asyncio
import dataclasses
from functools import partial

from kbapp.core import errors
from kbapp.core.keys import kid_hex
from kbapp.core.proofs import (BROKEN, CHANGED, OK, TEMPORARY, UNCHECKED, ProofClaim, Snapshot,
                               chain_statements, check_proof_text, follow_diff, parse_assertion,
                               proof_body, proof_text, snapshot_from_track, track_body, untrack_body)
from kbapp.core.proofs import SERVICE_ALIASES
from kbapp.core.sigchain import build_link, build_revoke, require_full, verify_chain
from kbapp.core.uid import check_username, uid_for

from . import chainops
from .context import AccountContext
from .events import FollowChanged, FollowedIdentityChanged, ProofsChanged, ProofsChecked, ProofsChecking
from .ops import USER, operation
from .models import (FollowChangeView, FollowView, Identity, ProofRequest, ProofResult, ProofView,
                     Resolved)
from .proofs.base import (Fetcher, PermanentFailure, ProofConfig, ProofService, TemporaryFailure,
                          proof_http_client, services)
from .resolve import find_prover

TEMPORARY_TTL = 30        # seconds a temporary failure is cached (a proof that is up is cached `ttl`)
MAX_FOLLOWERS = 200       # followers identified per call


async def run_check(svc: ProofService, fetcher: Fetcher, name: str, username: str,
                    sig_id: str) -> tuple[str, str]:
    """Fetch one proof and classify it: (state, reason)."""
    try:
        name = svc.normalize(name)
        texts = await asyncio.wait_for(svc.fetch(fetcher, name), fetcher.config.timeout * 3)
    except TemporaryFailure as e:
        return TEMPORARY, str(e)
    except PermanentFailure as e:
        return BROKEN, str(e)
    except (asyncio.TimeoutError, TimeoutError):
        return TEMPORARY, f"no answer within {fetcher.config.timeout * 3:g} s"
    except errors.EncodingError as e:
        return BROKEN, f"malformed: {e}"
    except errors.ProofHostRefused as e:
        return BROKEN, str(e)
    res = check_proof_text(texts, username, sig_id)
    return res.state, res.reason


class SocialService:
    def __init__(self, ctx: AccountContext):
        self.ctx = ctx
        self._proof_config: ProofConfig | None = None
        self._follows_cache: tuple[str, dict] | None = None

    # -- configuration and services -------------------------------------------------

    @property
    def proof_config(self) -> ProofConfig:
        if self._proof_config is None:
            self._proof_config = ProofConfig.load(self.ctx.home)
        return self._proof_config

    @proof_config.setter
    def proof_config(self, cfg: ProofConfig) -> None:
        self._proof_config = cfg

    def proof_services(self) -> dict[str, ProofService]:
        return services(self.proof_config)

    def service(self, service: str) -> ProofService:
        svcs = self.proof_services()
        key = SERVICE_ALIASES.get(service.lower(), service.lower())
        if key not in svcs:
            raise errors.NotFound(f"no proof service {service!r} (known: {', '.join(sorted(svcs))})")
        return svcs[key]

    # -- checking proofs ------------------------------------------------------------------

    async def check_claims(self, username: str, claims: list[ProofClaim], *,
                            force: bool = False) -> list[ProofView]:
        cfg = self.proof_config
        svcs = self.proof_services()
        now = int(self.ctx.clock())
        views: list[ProofView | None] = [None] * len(claims)
        todo: list[int] = []
        for i, c in enumerate(claims):
            svc = svcs.get(c.service)
            base = ProofView(c.service, c.username, c.kind, c.sig_id, c.seqno, c.ctime)
            if svc is None:
                views[i] = dataclasses.replace(base, state=UNCHECKED,
                                               reason=f"this client knows no service {c.service!r}")
                continue
            try:
                base = dataclasses.replace(base, proof_url=svc.proof_url(c.username))
            except Exception:   # a malformed name: run_check reports it
                pass
            views[i] = base
            cached = None if force else await self.ctx.store.aio.proof_check(c.sig_id)
            if cached is not None:
                state, reason, at = cached
                ttl = cfg.ttl if state != TEMPORARY else min(cfg.ttl, TEMPORARY_TTL)
                if now - at < ttl:
                    views[i] = dataclasses.replace(base, state=state, reason=reason, checked_at=at, cached=True)
                    continue
            todo.append(i)
        if todo:
            self.ctx.events.emit(ProofsChecking(username, tuple(v for v in views if v is not None)))
            async with proof_http_client(cfg) as client:
                fetcher = Fetcher(client, cfg)
                results = await asyncio.gather(*(
                    run_check(svcs[claims[i].service], fetcher, claims[i].username, username, claims[i].sig_id)
                    for i in todo))
            now = int(self.ctx.clock())
            fresh = {}
            for i, (state, reason) in zip(todo, results):
                views[i] = dataclasses.replace(views[i], state=state, reason=reason, checked_at=now)
                fresh[claims[i].sig_id] = (state, reason, now)
            await self.ctx.store.aio.put_proof_checks(fresh)
        return [v for v in views if v is not None]

    async def with_social(self, user, ident: Identity, *, force: bool = False) -> Identity:
        """Check the identity's live proofs and compare it with our follow, if any."""
        claims, _follows = chain_statements(user.state)
        proofs = await self.check_claims(user.username, claims, force=force)
        ident = dataclasses.replace(ident, proofs=proofs)
        self.ctx.events.emit(ProofsChecked(user.username, tuple((p.assertion, p.state) for p in proofs)))
        my_uid = self.ctx.store.get("uid")
        if not my_uid or my_uid == user.uid:
            return ident
        follow = (await self._my_follows()).get(user.uid)
        if follow is None:
            return ident
        try:
            before = snapshot_from_track(follow.body)
        except errors.EncodingError:
            return dataclasses.replace(ident, following=True, followed_at_seqno=follow.seqno)
        changes = [FollowChangeView(c.kind, c.detail, c.subject)
                   for c in follow_diff(before, current_snapshot(user.state, proofs))]
        if changes:
            self.ctx.events.emit(FollowedIdentityChanged(user.username, tuple(changes)))
        return dataclasses.replace(ident, following=True, followed_at_seqno=follow.seqno, follow_diff=changes)

    async def _my_follows(self) -> dict:
        """The live follows of our own chain, as we last verified it."""
        uid, username = self.ctx.store.get("uid"), self.ctx.store.get("username")
        trusted = await self.ctx.store.aio.identity(uid) if uid else None
        if trusted is None:
            return {}
        cache = self._follows_cache
        if cache is not None and cache[0] == trusted.tail_link_id:
            return cache[1]
        # Already verified (a replay), and in full: a stub would hide one of our follows.
        state = require_full(await asyncio.get_running_loop().run_in_executor(
            None, partial(verify_chain, trusted.chain, uid=uid, username=username)))   # CPU: off the loop
        follows = chain_statements(state)[1]
        self._follows_cache = (trusted.tail_link_id, follows)
        return follows

    # -- proving ---------------------------------------------------------------------------

    @operation(login=True, unlock=True)
    async def start_proof(self, service: str, name: str) -> ProofRequest:
        """Sign a proof link (not posted yet) and return the text to post on the service."""
        uid, username = self.ctx.require_login()
        svc = self.service(service)
        name = svc.normalize(name)
        user = await self.ctx.identifier.identify(username)
        self.ctx.my_active_device(user)
        me = await self.ctx.device_keys()
        chain = chainops._Chain.after(user.state, int(self.ctx.clock()), self.ctx.logview.trusted())
        chain.add(build_link, me.sibkey, link_type="web_service_binding",
                  body_fields=proof_body(svc.name, name, svc.kind))
        link = chain.links[0]
        text = proof_text(username, link["sig_id"])
        return ProofRequest(service=svc.name, name=name, kind=svc.kind, username=username, text=text,
                            instructions=svc.instructions(name, text), proof_url=svc.proof_url(name),
                            sig_id=link["sig_id"], link=link, prev_link_id=user.state.tail_link_id)

    async def check_proof(self, request: ProofRequest) -> ProofResult:
        """Is the text of `request` on the service yet?"""
        svc = self.service(request.service)
        async with proof_http_client(self.proof_config) as client:
            state, reason = await run_check(svc, Fetcher(client, self.proof_config), request.name,
                                            request.username, request.sig_id)
        return ProofResult(state, reason, int(self.ctx.clock()))

    @operation(login=True, unlock=True, lock=USER)
    async def finish_proof(self, request: ProofRequest, *, check: bool = True) -> ProofView:
        """Check the proof once more and post its link; the proof is then live."""
        uid, username = self.ctx.require_login()
        if request.username != username:
            raise errors.Conflict("this proof request was made by another account")
        user = await self.ctx.identifier.identify(username)
        self.ctx.my_active_device(user)
        if user.state.tail_link_id != request.prev_link_id:
            raise errors.Conflict("your chain changed since this proof was signed: start the proof again")
        result = await self.check_proof(request) if check else ProofResult(UNCHECKED, "not checked", 0)
        if check and not result.ok:
            raise errors.ProofCheckFailed(f"{request.name} on {request.service}: {result.state}: {result.reason}")
        await self.ctx.api.post_links(uid, {"links": [request.link]})
        if check:
            await self.ctx.store.aio.put_proof_checks({request.sig_id: (OK, result.reason, result.checked_at)})
        ident = await self.ctx.identify(username)
        self.ctx.events.emit(ProofsChanged(username))
        return next(p for p in ident.proofs if p.sig_id == request.sig_id)

    async def list_proofs(self, username: str | None = None, *, force: bool = False) -> list[ProofView]:
        if username is None:
            _, username = self.ctx.require_login()
        return (await self.ctx.identify(username, force_proofs=force)).proofs

    @operation(login=True, unlock=True, lock=USER)
    async def revoke_proof(self, proof_id: str) -> ProofView:
        """Revoke one of our proofs: `proof_id` is its sig id (or a unique prefix of
        at least 8 hex digits), or an assertion such as `alice@github`."""
        uid, username = self.ctx.require_login()
        user = await self.ctx.identifier.identify(username)
        self.ctx.my_active_device(user)
        claims = chain_statements(user.state)[0]
        pid = proof_id.strip().lower()
        found = [c for c in claims if len(pid) >= 8 and c.sig_id.startswith(pid)]
        if not found and "@" in pid:
            parts = parse_assertion(pid, generic_services=set(self.proof_config.generic))
            if len(parts) == 1:
                part = parts[0]
                found = [c for c in claims if c.service == part.service and c.username == part.name]
        if not found:
            raise errors.NotFound(f"no live proof {proof_id!r} in your chain")
        if len({c.sig_id for c in found}) > 1 and len(pid) >= 8 and "@" not in pid:
            raise errors.Conflict(f"{proof_id!r} names several proofs: give more of the sig id")
        me = await self.ctx.device_keys()
        chain = chainops._Chain.after(user.state, int(self.ctx.clock()), self.ctx.logview.trusted())
        chain.add(build_revoke, me.sibkey, sig_ids=[c.sig_id for c in found])
        await self.ctx.api.post_links(uid, {"links": chain.links})
        await self.ctx.identifier.identify(username)
        self.ctx.events.emit(ProofsChanged(username))
        c = found[0]
        return ProofView(c.service, c.username, c.kind, c.sig_id, c.seqno, c.ctime, state="revoked",
                         reason="revoked by this device")

    # -- assertions -------------------------------------------------------------------------

    async def resolve(self, assertion: str) -> Resolved:
        """The kbapp user an assertion names, with every part checked live.

        The server only suggests candidates (for an assertion with no kbapp name);
        each is identified and each part must be a live proof in state `ok`."""
        parts = parse_assertion(assertion, generic_services=set(self.proof_config.generic))
        kb = {p.name for p in parts if p.service == "kbapp"}
        if len(kb) > 1:
            raise errors.NotFound(f"{assertion!r} names two kbapp users")
        if self.ctx.identifier is None:
            await self.ctx.connect()
        norm = []
        for p in parts:
            if p.service != "kbapp":
                svc = self.service(p.service)
                norm.append((svc.name, svc.normalize(p.name)))
        if kb:
            candidates = [check_username(next(iter(kb)))]
        else:       # the server's claimants, paged and checked live until one proves it (resolve.py)
            prover, checked = await find_prover(self, norm)
            if prover is None:
                raise errors.NotFound(f"no kbapp user proves {assertion!r} (checked {checked} candidate(s))")
            candidates = [prover]
        for cand in candidates:
            try:
                ident = await self.ctx.identify(cand)
            except errors.NotFound:
                continue
            matched = []
            for service, name in norm:
                hit = next((p for p in ident.proofs if p.service == service and p.name == name and p.state == OK),
                           None)
                if hit is None:
                    break
                matched.append(hit)
            else:
                return Resolved(assertion, ident.username, ident, matched)
        raise errors.NotFound(f"no kbapp user proves {assertion!r} (checked {len(candidates)} candidate(s))")

    # -- following --------------------------------------------------------------------------

    @operation(login=True, unlock=True, lock=USER)
    async def follow(self, username: str) -> FollowView:
        """Sign a `track` link: a snapshot of what we verified of `username` now."""
        uid, me = self.ctx.require_login()
        username = check_username(username)
        if username == me:
            raise errors.Conflict("you cannot follow yourself")
        ident = await self.ctx.identify(username)
        user = await self.ctx.identifier.identify(me)
        self.ctx.my_active_device(user)
        keys = await self.ctx.device_keys()
        body = track_body_of(ident)
        chain = chainops._Chain.after(user.state, int(self.ctx.clock()), self.ctx.logview.trusted())
        chain.add(build_link, keys.sibkey, link_type="track", body_fields=body)
        await self.ctx.api.post_links(uid, {"links": chain.links})
        await self.ctx.identifier.identify(me)
        self.ctx.events.emit(FollowChanged(username, True))
        return FollowView(ident.username, ident.uid, chain.seqno - 1, int(self.ctx.clock()))

    @operation(login=True, unlock=True, lock=USER)
    async def unfollow(self, username: str) -> FollowView:
        uid, me = self.ctx.require_login()
        username = check_username(username)
        user = await self.ctx.identifier.identify(me)
        self.ctx.my_active_device(user)
        target = uid_for(username)
        if target not in chain_statements(user.state)[1]:
            raise errors.NotFound(f"you do not follow {username}")
        keys = await self.ctx.device_keys()
        chain = chainops._Chain.after(user.state, int(self.ctx.clock()), self.ctx.logview.trusted())
        chain.add(build_link, keys.sibkey, link_type="untrack",
                  body_fields=untrack_body(uid=target, username=username))
        await self.ctx.api.post_links(uid, {"links": chain.links})
        await self.ctx.identifier.identify(me)
        self.ctx.events.emit(FollowChanged(username, False))
        return FollowView(username, target, chain.seqno - 1, int(self.ctx.clock()))

    async def following(self, username: str | None = None) -> list[FollowView]:
        """Whom `username` follows: read from their verified chain."""
        if username is None:
            _, username = self.ctx.require_login()
        if self.ctx.identifier is None:
            await self.ctx.connect()
        user = await self.ctx.identifier.identify(username)
        follows = chain_statements(user.state)[1]
        out = []
        for f in sorted(follows.values(), key=lambda f: f.seqno):
            try:
                name = check_username(f.username)
            except errors.KbappError:
                continue
            out.append(FollowView(name, f.uid, f.seqno, f.ctime, uid_for(name) == f.uid))
        return out

    async def followers(self, username: str | None = None) -> list[FollowView]:
        """Who follows `username`: the server's list, each checked in the follower's own chain."""
        if username is None:
            _, username = self.ctx.require_login()
        username = check_username(username)
        if self.ctx.identifier is None:
            await self.ctx.connect()
        target = uid_for(username)
        await self.ctx.identifier.identify(username)   # the followee must exist and verify
        hints = await self.ctx.api.followers(target)
        out = []
        for h in hints[:MAX_FOLLOWERS]:
            name = h.get("username") if isinstance(h, dict) else None
            if not isinstance(name, str):
                continue
            try:
                user = await self.ctx.identifier.identify(name)
            except errors.NotFound:
                continue
            f = chain_statements(user.state)[1].get(target)
            if f is not None:
                out.append(FollowView(user.username, user.uid, f.seqno, f.ctime))
        return sorted(out, key=lambda v: v.username)


def current_snapshot(state, proofs: list[ProofView]) -> Snapshot:
    return Snapshot(
        eldest_kid=kid_hex(state.eldest_kid) if state.eldest_kid else "",
        sibkeys={kid_hex(k) for k in state.sibkeys}, subkeys={kid_hex(k) for k in state.subkeys},
        devices={d.id: {"name": d.name or "", "revoked": d.revoked_seqno is not None}
                 for d in state.devices.values()},
        proofs={(p.service, p.name): {"sig_id": p.sig_id, "state": p.state} for p in proofs},
        tail_seqno=state.tail_seqno)


def track_body_of(ident: Identity) -> dict:
    return track_body(
        uid=ident.uid, username=ident.username, eldest_kid=ident.eldest_kid,
        sibkeys=[kid_hex(k.kid) for k in ident.keys if k.kind == "sibkey"],
        subkeys=[kid_hex(k.kid) for k in ident.keys if k.kind == "subkey"],
        devices=[{"id": d.id, "name": d.name, "revoked": d.revoked} for d in ident.devices],
        tail_seqno=ident.chain_length, tail_link_id=ident.tail_link_id,
        proofs=[{"service": p.service, "username": p.name, "sig_id": p.sig_id, "state": p.state}
                for p in ident.proofs])


__all__ = ["SocialService", "current_snapshot", "proof_http_client", "run_check", "track_body_of",
           "BROKEN", "CHANGED"]
