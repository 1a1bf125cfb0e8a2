"""Devices: the device list, paper keys, revocation and vouching for a new device (kex).

A service on the account context (`app.devices`); account creation and login
(signup, login with a paper key or a phrase) stay in app.py. Every write here
goes to our own user chain, so it holds the `user:<uid>` lock (ops.py).

A paper key's phrase is held in the keystore from before its post until
`paperkey_shown()` (pending.py says why): one interrupted before the user saw it
is shown again by the next call in a new process, posted first if it never was.
"""

from __future__ import annotations

import asyncio
from functools import partial

from kbapp.core import errors, kex
from kbapp.core.encoding import b64decode, b64encode, pack, unpack
from kbapp.core.keys import kid_hex
from kbapp.core.paperkey import new_paper_phrase, new_provision_phrase, paper_device_keys, paper_key_id, \
    provision_secret
from kbapp.core.puk import PerUserKey, encrypt_prev_seed
from kbapp.core.uid import device_id as make_device_id

from . import chainops
from .context import AccountContext
from .crashpoint import crash_point
from .events import DevicesChanged
from .models import DeviceView
from .ops import USER, operation
from .pending import PAPERKEY_SECRET, PENDING_PAPERKEY
from .sync import ChannelHints

KEX_POLL = 5.0       # the slow fallback poll of a provisioning wait; push hints wake it sooner


class DevicesService:
    def __init__(self, ctx: AccountContext):
        self.ctx = ctx
        self._handed_out: str | None = None   # the paper key phrase last returned

    @operation(login=True)
    async def __call__(self) -> list[DeviceView]:
        """Our devices, from our verified chain (`await app.devices()`)."""
        return (await self.ctx.identify(self.ctx.username)).devices

    # -- paper keys ----------------------------------------------------------------

    @operation(login=True, unlock=True, lock=USER)
    async def create_paperkey(self) -> str:
        """A new paper key device; the phrase is returned and never stored for good."""
        ctx = self.ctx
        uid, username = ctx.require_login()
        user = await ctx.identifier.identify(username)
        ctx.my_active_device(user)
        me = await ctx.device_keys()
        phrase, state = await self._pending_paperkey_state(user)
        if state == "posted":
            return self._hand_out(phrase)
        if phrase is None:
            phrase = new_paper_phrase(ctx.rng(32))
        paper = await asyncio.get_running_loop().run_in_executor(None, paper_device_keys, phrase)
        if state == "none":
            await self._hold_paperkey(phrase, kid_hex(paper.sibkey.kid))
        gen = max(user.state.puks)
        puk = await ctx.current_puk(user)
        links = chainops.device_links(state=user.state, signer=me.sibkey, keys=paper,
                                      device_id=make_device_id(ctx.rng(16)),
                                      device_name=paper_key_id(phrase), device_type="paper",
                                      ctime=int(ctx.clock()), merkle_root=ctx.logview.trusted())
        body = {"links": links, "puk_boxes": [ctx.box_for(puk.seed, gen, kid_hex(paper.subkey.kid))]}
        crash_point("paperkey-before-post")
        await ctx.api.post_links(uid, body)
        crash_point("paperkey-after-post")
        await ctx.identify(username)
        ctx.events.emit(DevicesChanged(username))
        return self._hand_out(phrase)

    @property
    def interrupted_paperkey(self) -> bool:
        """A paper key was made (and maybe posted) but the user may never have seen it."""
        return self.ctx.store.get(PENDING_PAPERKEY) is not None

    async def paperkey_shown(self) -> None:
        """The user has the phrase: forget it (paper keys are never stored)."""
        ks = await self.ctx.unlock()
        ks.delete(PAPERKEY_SECRET)
        await self.ctx.store.aio.delete_setting(PENDING_PAPERKEY)

    async def _held_paperkey(self) -> str | None:
        raw = await self.ctx.secret(PAPERKEY_SECRET)
        if raw is None:
            return None
        try:
            phrase = unpack(raw, max_size=4096)
        except errors.EncodingError:
            phrase = None
        if not isinstance(phrase, str):
            raise errors.KeystoreError("the pending paper key in the keystore is damaged")
        return phrase

    async def _hold_paperkey(self, phrase: str, kid: str) -> None:
        """The phrase into the keystore (sealed like the device keys) before the post."""
        await self.ctx.store_secrets({PAPERKEY_SECRET: pack(phrase)})
        await self.ctx.store.aio.set(PENDING_PAPERKEY, kid)

    async def _pending_paperkey_state(self, user) -> tuple[str | None, str]:
        """(phrase, state): state "posted" (active in the chain: show it again), "unposted"
        (post it now) or "none" (no pending key, or one revoked since: dropped)."""
        phrase = await self._held_paperkey() if self.interrupted_paperkey else None
        if phrase is not None and phrase == self._handed_out:
            phrase = None   # this process returned it: not a crash, the caller has it
            await self.paperkey_shown()
        if phrase is None:
            if self.interrupted_paperkey:
                await self.ctx.store.aio.delete_setting(PENDING_PAPERKEY)
            return None, "none"
        paper = await asyncio.get_running_loop().run_in_executor(None, paper_device_keys, phrase)
        kid = kid_hex(paper.sibkey.kid)
        dev = next((d for d in user.state.devices.values() if d.sibkey and kid_hex(d.sibkey) == kid), None)
        if dev is None:
            return phrase, "unposted"
        if dev.revoked_seqno is None:
            return phrase, "posted"
        await self.paperkey_shown()
        return None, "none"

    def _hand_out(self, phrase: str) -> str:
        """A phrase returned to this process's caller: its next paper key is a new one
        even if `paperkey_shown` was never called; only a new process shows it again."""
        self._handed_out = phrase
        return phrase

    # -- revocation ----------------------------------------------------------------

    @operation(login=True, unlock=True, lock=USER)
    async def revoke(self, which: str) -> DeviceView:
        """Revoke a device and rotate the per-user key for the devices left."""
        ctx = self.ctx
        uid, username = ctx.require_login()
        user = await ctx.identifier.identify(username)
        my_id = ctx.my_active_device(user).id
        devices = [d for d in user.state.devices.values() if d.revoked_seqno is None]
        target = [d for d in devices if d.id == which] or [d for d in devices if d.name == which]
        if not target:
            raise errors.NotFound(f"no active device named or with id {which!r}")
        if len(target) > 1:
            raise errors.Conflict(f"several devices are named {which!r}: use the device id")
        dev = target[0]
        if dev.id == my_id:
            raise errors.Conflict("this is the current device: revoke it from another device")
        me = await ctx.device_keys()
        gen = max(user.state.puks)
        old_seed = (await ctx.current_puk(user)).seed
        new_seed = ctx.rng(32)
        new_puk = PerUserKey.derive(new_seed, gen + 1)
        links = chainops.revoke_links(state=user.state, signer=me.sibkey, device=dev, new_puk=new_puk,
                                      ctime=int(ctx.clock()), merkle_root=ctx.logview.trusted())
        remaining = [d for d in devices if d.id != dev.id and d.subkey]
        body = {"links": links,
                "puk_boxes": [ctx.box_for(new_seed, gen + 1, d.subkey) for d in remaining],
                "puk_prev": [{"generation": gen + 1,
                              "box": b64encode(encrypt_prev_seed(new_puk, old_seed, ctx.rng(24)))}]}
        await ctx.api.post_links(uid, body)
        await ctx.store_secrets({f"puk:{gen + 1}": new_seed})
        ident = await ctx.identify(username)
        ctx.events.emit(DevicesChanged(username))
        return next(d for d in ident.devices if d.id == dev.id)

    # -- provisioning a new device with a phrase (kex) ---------------------------------

    @operation(login=True, unlock=True, lock=USER)
    async def add_by_phrase(self, on_phrase, *, timeout: float = 300.0, poll: float = KEX_POLL) -> DeviceView:
        """Show a phrase (via `on_phrase`), wait for the new device, vouch for it."""
        ctx = self.ctx
        uid, username = ctx.require_login()
        user = await ctx.identifier.identify(username)
        ctx.my_active_device(user)
        me = await ctx.device_keys()
        phrase = new_provision_phrase(ctx.rng(16))
        secret = provision_secret(phrase)
        channel = kex.channel_id(secret)
        await kex_send(ctx, channel, secret, "offer", {"uid": uid, "username": username,
                                                       "signer_kid": kid_hex(me.sibkey.kid)})
        on_phrase(phrase)
        reply, _ = await kex_wait(ctx, channel, secret, "reply", 0, timeout, poll)
        user = await ctx.identifier.identify(username)
        links, dev = await asyncio.get_running_loop().run_in_executor(None, partial(
            chainops.kex_countersign, state=user.state, chain=(await ctx.store.aio.identity(uid)).chain,
            signer=me.sibkey, reply=reply))  # plays the whole chain back: off the loop
        puk = await ctx.current_puk(user)
        await ctx.api.post_links(uid, {"links": links,
                                       "puk_boxes": [ctx.box_for(puk.seed, puk.generation, dev.subkey)]})
        await kex_send(ctx, channel, secret, "done", {"device_id": dev.id})
        ident = await ctx.identify(username)
        ctx.events.emit(DevicesChanged(username))
        return next(d for d in ident.devices if d.id == dev.id)


async def kex_wait(ctx: AccountContext, channel: str, secret: bytes, role: str, after: int,
                   timeout: float, poll: float) -> tuple[dict, int]:
    """Wait for the other device's `role` message: read the mailbox whenever the push
    channel hints at a post to it (sync.ChannelHints), and every `poll` seconds anyway
    (hints may be lost, or the push channel down)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with ChannelHints(ctx.api.base_url, channel) as hints:
        while True:
            for item in await ctx.api.kex_read(channel, after):
                if not isinstance(item, dict) or not isinstance(item.get("index"), int):
                    raise errors.EncodingError("malformed mailbox message")
                after = max(after, item["index"] + 1)
                opened = kex.open_message(secret, b64decode(item.get("msg", ""), max_size=kex.MAX_MESSAGE))
                if opened is not None and opened[0] == role:
                    return opened[1], after
            if loop.time() > deadline:
                raise errors.ProvisioningError(f"no answer from the other device within {timeout:.0f} s")
            await hints.wait(min(poll, max(0.0, deadline - loop.time()) + 0.01))


async def kex_send(ctx: AccountContext, channel: str, secret: bytes, role: str, body: dict) -> None:
    await ctx.api.kex_post(channel, b64encode(kex.seal_message(secret, role, body, ctx.rng(24))))
