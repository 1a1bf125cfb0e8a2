"""Sealing and posting one outbox entry (the outbox's `send`).

What a message signs comes from state this client verified itself, at sealing time:
the team chain (its tail seqno and newest key generation) from a full team load, the
sender's eldest seqno from its own verified chain, the checkpoint from our log view,
and prev pointers to the newest stored messages nobody points at yet. The sealed
request is written to the outbox entry before it is posted, so a retry (lost answer,
crash) sends the very same bytes; the server's idempotency on outbox_id does the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from kbapp.core import errors
from kbapp.core.chat import seal as chat_seal
from kbapp.core.chat.header import MAX_PREV
from kbapp.core.encoding import b64decode
from kbapp.core.teams import Role

from . import ephemeral
from .models import ChatOutboxChanged
from .outbox import NOT_CLAIMED
from .permissions import check_may_post
from .store import ConvRow, OutboxRow


@dataclass(frozen=True)
class SendKeys:
    """What this device signs a message with, for one team, as verified now."""

    state: object            # the verified TeamState
    team_keys: dict          # generation -> TeamKey
    device: object           # our sibkey (SigningKeyPair)
    eldest_seqno: int
    checkpoint: tuple[int, bytes]


async def send_keys(svc, team_id: str, *, need: Role = Role.WRITER) -> SendKeys:
    """Load (verify) the team and gather our keys; refuse when we may not post."""
    ctx, teams = svc.ctx, svc.teams
    uid, username = ctx.require_login()
    await ctx.unlock()
    loaded, keys = await svc.team_for_chat(team_id)
    st = loaded.state
    check_may_post(st, uid, need=need)       # PostNotAllowed: the outbox marks it failed for good
    user, _signer = await teams._me(loaded.users)
    if st.generation not in keys:
        raise errors.BadTeamKey(f"no key of {st.name}'s newest generation {st.generation}")
    cp = ctx.logview.trusted()
    if cp is None:
        raise errors.NotLoggedIn("no verified log checkpoint yet: run `kbapp log verify`")
    device = (await ctx.device_keys()).sibkey
    return SendKeys(st, keys, device, user.state.eldest_seqno or 1, (cp.size, cp.root))


def seal_entry(svc, conv: ConvRow, entry: OutboxRow, keys: SendKeys, heads: list[tuple[int, str]],
               ek=None) -> dict:
    """The sealed POST body (plus the header hash) for one outbox entry; `ek` (an exploding
    message's team EK, client/chat/ephemeral.py) seals the body under its key instead."""
    p = entry.payload
    st = keys.state
    gen = st.generation
    conv_keys = chat_seal.ConvKeys.derive(chat_seal.chat_key(keys.team_keys[gen]), conv.conv_id)
    rng = svc.ctx.rng
    sealed = chat_seal.seal_message(
        body=p["body"], device=keys.device, keys=conv_keys, header_nonce=rng(24), body_nonce=rng(24),
        body_k=None if ek is None else ek.body_key(conv.conv_id),
        conv_id=bytes.fromhex(conv.conv_id), team_id=bytes.fromhex(conv.team_id), topic_type=conv.topic_type,
        topic_id=bytes.fromhex(conv.topic_id),
        prev=[(i, bytes.fromhex(h)) for i, h in heads[-MAX_PREV:]],
        sender_uid=bytes.fromhex(svc.ctx.uid), sender_eldest_seqno=keys.eldest_seqno, key_gen=gen,
        checkpoint=keys.checkpoint, team_seqno=st.seqno, supersedes=p.get("supersedes"),
        deletes=list(p.get("deletes") or ()), reply_to=p.get("reply_to"), thread_root=p.get("thread_root"),
        ephemeral=None if ek is None else {"lifetime": int(p["exploding"]), "ek_gen": ek.generation},
        nonce=rng(16), outbox_id=bytes.fromhex(entry.outbox_id),
        compose_time=int(p.get("compose_time") or 0))
    post = sealed.post()
    if p.get("blobs"):                       # unsigned cues of what the server may delete with the body
        post["blobs"] = list(p["blobs"])     # (server/chat_blobs.py): the attachment's own uploads
    if p["body"].get("kind") in ("delete_history", "delete_mine"):
        post["upto"] = p["body"]["upto"]
    return {"post": post, "header_hash": sealed.header_hash.hex()}


async def send_now(svc, row: ConvRow, outbox_id: str):
    """Post an entry just added (pending) with one store hop between (claim, read the heads,
    seal, keep the sealed post: store.outbox_claim_sealed) instead of four: the common case,
    online with nothing of its conversation ahead. The same guarantees as a flush: the entry
    is in the store before anything goes out (added by the caller, in call order), the
    sealed post is stored before it is posted (a crash resends those bytes), and messages
    of one conversation go in the order they were written. NOT_CLAIMED (outbox.py) when
    nothing was claimed: the caller flushes the usual way, which meets whatever stopped this
    (offline, no keys, an entry ahead) and records it on the entry; else the entry as the
    post left it (None: it left `sending` meanwhile)."""
    try:
        keys = await send_keys(svc, row.team_id)
    except errors.KbappError:
        return NOT_CLAIMED
    conv: list[ConvRow] = []

    async def claim() -> OutboxRow | None:
        hop = asyncio.ensure_future(svc.store.aio.outbox_claim_sealed(
            outbox_id, lambda entry, c, heads: seal_entry(svc, c, entry, keys, heads)))
        try:
            claimed = await asyncio.shield(hop)
        except asyncio.CancelledError:        # the hop runs on: what it claimed goes back to pending
            with contextlib.suppress(Exception):
                got = await hop
                if got is not None:
                    await svc.store.aio.outbox_update(outbox_id, expect=("sending",), state="pending")
            raise
        except errors.KbappError:
            return None
        if claimed is None:
            return None
        conv.append(claimed[1])
        return claimed[0]

    async def post(e: OutboxRow) -> int:
        svc.ctx.events.emit(ChatOutboxChanged(e.conv_id, e.outbox_id, "sending"))
        return await post_entry(svc, e, conv=conv[0])
    return await svc.outbox.send_now(claim, post)


async def post_entry(svc, entry: OutboxRow, conv: ConvRow | None = None) -> int:
    """The outbox's `send`: seal once (kept in the entry), post, return the server's msg_id.
    `conv`: the conversation, when the caller read it with the sealed entry (send_now)."""
    sealed = entry.sealed
    heads = []
    if conv is None or sealed is None:
        conv, heads = await svc.store.aio.conv_and_heads(entry.conv_id, heads=sealed is None)   # one hop
    if conv is None:
        raise errors.NotFound(f"no conversation {entry.conv_id} in the local store")
    if sealed is None:
        keys = await send_keys(svc, conv.team_id)    # prev pointers: what this device has stored
        ek = await ephemeral.of(svc).for_send(conv.team_id) if entry.payload.get("exploding") else None
        sealed = seal_entry(svc, conv, entry, keys, heads, ek)
        kept = await svc.store.aio.outbox_update(entry.outbox_id, expect=("sending",), sealed=sealed)
        if kept is None:
            raise errors.Conflict("the outbox entry changed while it was being sealed")
    ans = await svc.ctx.api.chat_post(conv.conv_id, sealed["post"])
    msg_id = ans.get("msg_id") if isinstance(ans, dict) else None
    if type(msg_id) is not int or msg_id < 1:
        raise errors.EncodingError("malformed chat post answer")
    if type(ans.get("ctime")) is int:
        posted = svc.__dict__.setdefault("_posted", {})
        while len(posted) >= 64:                 # entries the background outbox sent: nobody asks
            posted.pop(next(iter(posted)))
        posted[entry.outbox_id] = own_wire(conv.conv_id, msg_id, ans["ctime"], sealed["post"])
    return msg_id


def own_wire(conv_id: str, msg_id: int, ctime: int, post: dict) -> dict:
    """Our posted message as GET /v1/chat/{conv}/messages would serve it (the server's
    _wire): what the sync after a send judges instead of fetching it back."""
    return {"v": 1, "conv_id": conv_id, "msg_id": msg_id, "ctime": ctime, "key_gen": post["key_gen"],
            "ek_gen": post["ek_gen"], "header": post["header"], "body": post["body"], "hints": post["hints"],
            "superseded_by": None}


def sealed_size(sealed: dict) -> int:
    """Bytes of the sealed header and body (for tests and the bench)."""
    post = sealed["post"]
    return len(b64decode(post["header"])) + len(b64decode(post["body"] or ""))
