"""`App`: the one async facade over the client engine.

The CLI, the GUI and the tests call these methods and nothing below them.
Every method returns plain dataclasses (models.py) and raises typed errors
(core/errors.py); state changes are announced on `self.events`.
"""

from __future__ import annotations

import asyncio
import os
import time
from functools import partial
from pathlib import Path

from kbapp.core import errors
from kbapp.core.device_names import choose_device_name, live_device_names
from kbapp.core.encoding import b64decode, b64encode, pack, unpack
from kbapp.core.keys import DeviceKeys, EncryptionKeyPair, kid_hex, parse_kid
from kbapp.core.merkle.note import key_fingerprint
from kbapp.core import kex
from kbapp.core.paperkey import (new_paper_phrase, new_provision_phrase, paper_device_keys, paper_key_id,
                                 provision_secret)
from kbapp.core.puk import PerUserKey, box_seed, decrypt_prev_seed, encrypt_prev_seed, open_seed_box
from kbapp.core.uid import check_username, device_id as make_device_id, uid_for

from . import chainops
from .api import ServerAPI
from .crashpoint import crash_point
from .events import (CheckpointAdvanced, DevicesChanged, EventBus, IdentityVerified, LoggedIn,
                     VerificationFailed)
from .identify import Identifier, VerifiedUser
from .keystore import ENV_PASSPHRASE, KEYSTORE_FILE, Keystore, backend_for, open_keystore, require_throwaway
from .logview import LogAudit, LogView
from .models import Account, CheckpointView, DeviceView, Identity, ServerInfo, Status
from .paths import default_home, private_dir
from .pending import PendingMixin
from .social import SocialMixin
from .store import Store
from .sync import ChannelHints
from .team_access import ReadTokens
from .teams import TeamsMixin

DEFAULT_SERVER = "http://127.0.0.1:8470"
KEX_POLL = 5.0       # the slow fallback poll of a provisioning wait; push hints wake it sooner


class App(PendingMixin, SocialMixin, TeamsMixin):
    def __init__(self, home: Path | None = None, *, keystore=None, passphrase_prompt=None,
                 clock=time.time, rng=os.urandom, throwaway: bool = False):
        self.home = Path(home) if home else default_home()
        self.throwaway = throwaway   # allows the in-memory keystore ($KBAPP_KEYSTORE=memory)
        self._handed_out: str | None = None   # the paper key phrase last returned (pending.py)
        self.clock, self.rng = clock, rng
        self.events = EventBus()
        self._keystore = keystore
        self._prompt = passphrase_prompt
        self.store: Store | None = None
        self.api: ServerAPI | None = None
        self.logview: LogView | None = None
        self.identifier: Identifier | None = None
        self._lock = asyncio.Lock()
        self._unlock_lock = asyncio.Lock()

    # -- life cycle -------------------------------------------------------

    async def __aenter__(self) -> "App":
        await self.open()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def open(self) -> None:
        private_dir(self.home)
        self.store = await Store.open(self.home / "client.sqlite3")   # opened and migrated off the loop
        url = self.store.get("server_url")
        if url:
            self._attach(url)

    async def close(self) -> None:
        if self.api is not None:
            await self.api.aclose()
        if self.store is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.store.close)   # drains queued writes

    def _attach(self, url: str) -> None:
        self.api = ServerAPI(url)
        self.api.read_tokens = ReadTokens(self)
        origin = self.store.get("server_origin")
        pub = b64decode(self.store.get("server_key") or "")
        self.logview = LogView(self.api, self.store, origin, pub)
        self.identifier = Identifier(self.api, self.store, self.logview, self.clock)

    # -- the keystore ------------------------------------------------------

    async def unlock(self) -> Keystore:
        """Open this profile's keystore, off the event loop; idempotent.

        Opening can be slow: the passphrase-sealed file runs argon2id (~0.65 s), and
        the OS keyring may wait on D-Bus or on the desktop's own unlock prompt. So it
        runs in a worker thread and the loop (the GUI's, the CLI's) keeps going.
        `passphrase_prompt(new_file)` is called on the caller's thread, before that:
        a terminal prompt in the CLI, the passphrase its dialog asked for in the GUI.
        Reading identities needs no secrets, so only the methods that sign or decrypt
        call this (first thing, before anything is posted). A failure (no or a wrong
        passphrase) leaves the keystore closed: call again to retry.
        """
        if self._keystore is not None:
            return self._keystore
        async with self._unlock_lock:
            if self._keystore is None:
                loop = asyncio.get_running_loop()
                kind = await loop.run_in_executor(None, backend_for, self.home)
                if kind == "memory":
                    require_throwaway(self.throwaway)
                passphrase = None
                if kind == "file" and not os.environ.get(ENV_PASSPHRASE) and self._prompt is not None:
                    passphrase = self._prompt(not (self.home / KEYSTORE_FILE).exists()) or None
                self._keystore = await loop.run_in_executor(
                    None, partial(open_keystore, self.home, backend=kind, passphrase=passphrase))
        return self._keystore

    @property
    def unlocked(self) -> bool:
        return self._keystore is not None

    @property
    def connected(self) -> bool:
        """A server is attached (`connect` ran): the CLI and GUI ask this, not `api`."""
        return self.api is not None

    @property
    def keystore(self) -> Keystore:
        """The open keystore: only after `await unlock()` (never opened here, on the loop)."""
        if self._keystore is None:
            raise errors.KeystoreError("the keystore is not open yet: await App.unlock() first")
        return self._keystore

    async def _secret(self, name: str) -> bytes | None:
        ks = await self.unlock()
        return await asyncio.get_running_loop().run_in_executor(None, ks.get, name)

    async def _store_secrets(self, entries: dict[str, bytes]) -> None:
        """Keystore writes in a worker thread: a file write is an fsync (and, for a new
        file, its first argon2id run); a keyring write is a D-Bus call."""
        ks = await self.unlock()

        def put_all() -> None:
            for name, value in entries.items():
                ks.put(name, value)
        await asyncio.get_running_loop().run_in_executor(None, put_all)

    # -- server -------------------------------------------------------------

    async def connect(self, server_url: str | None = None) -> ServerInfo:
        """Contact a server and pin its checkpoint key on first contact."""
        url = (server_url or self.store.get("server_url") or DEFAULT_SERVER).rstrip("/")
        pinned_url = self.store.get("server_url")
        if pinned_url and pinned_url != url:
            raise errors.Conflict(f"this profile is bound to {pinned_url}; use another --home for {url}")
        api = ServerAPI(url)
        try:
            info = await api.server_info()
        finally:
            await api.aclose()
        origin, key_b64 = info.get("origin"), info.get("public_key")
        if not isinstance(origin, str) or not isinstance(key_b64, str):
            raise errors.EncodingError("server info lacks origin or public key")
        key = b64decode(key_b64, max_size=64)
        if len(key) != 32:
            raise errors.EncodingError("server public key is not 32 bytes")
        pinned = self.store.get("server_key")
        first = pinned is None
        if not first and (pinned != key_b64 or self.store.get("server_origin") != origin):
            raise errors.ServerKeyMismatch(
                f"the server at {url} now signs with key {key_fingerprint(key)}, not the one pinned at first contact")
        if first:
            await self.store.aio.set_many({"server_url": url, "server_origin": origin, "server_key": key_b64})
        if self.api is None:
            self._attach(url)
        return ServerInfo(url, origin, key_fingerprint(key), first)

    async def forget_server(self) -> None:
        """Undo a first contact before any account exists (the welcome flow's "Back").

        Drops the pinned key with the checkpoint and identities verified against it,
        so that another server can be pinned from a clean slate.
        """
        if self.store.get("uid"):
            raise errors.Conflict(f"this profile is {self.store.get('username')}: its server cannot change")
        if self.api is not None:
            await self.api.aclose()
        self.api = self.logview = self.identifier = None
        await self.store.aio.forget_server()

    def _server_info(self) -> ServerInfo:
        key = b64decode(self.store.get("server_key") or "")
        return ServerInfo(self.store.get("server_url"), self.store.get("server_origin"), key_fingerprint(key), False)

    # -- secrets -------------------------------------------------------------

    async def _device_keys(self) -> DeviceKeys:
        raw = await self._secret("device")
        if raw is None:
            raise errors.NotLoggedIn("this profile has no device yet: run `kbapp signup` or `kbapp login`")
        seeds = unpack(raw, max_size=256)
        return DeviceKeys.from_seeds(seeds[0], seeds[1])

    async def _puk(self, generation: int) -> PerUserKey:
        seed = await self._secret(f"puk:{generation}")
        if seed is None:
            raise errors.KeystoreError(f"this device does not hold per-user key generation {generation}")
        return PerUserKey.derive(seed, generation)

    async def _current_puk(self, user: VerifiedUser) -> PerUserKey:
        """The newest PUK generation; fetched from this device's box when another
        device rotated it (a revocation made elsewhere), checked against the chain."""
        gen = max(user.state.puks)
        if await self._secret(f"puk:{gen}") is None:
            seeds = await self._recover_pukes(user, (await self._device_keys()).subkey)
            missing = {}
            for g, s in seeds.items():
                if await self._secret(f"puk:{g}") is None:
                    missing[f"puk:{g}"] = s
            await self._store_secrets(missing)
        return await self._puk(gen)

    def _require_login(self) -> tuple[str, str]:
        uid, username = self.store.get("uid"), self.store.get("username")
        if not uid or not username or self.api is None:
            raise errors.NotLoggedIn("not logged in: run `kbapp signup` or `kbapp login`")
        return uid, username

    def _my_active_device(self, user: VerifiedUser):
        """Signing needs this device to be active in the chain we just verified."""
        dev = user.state.devices.get(self.store.get("device_id") or "")
        if dev is None:
            raise errors.NotLoggedIn("this device is not in the account's chain")
        if dev.revoked_seqno is not None:
            raise errors.DeviceRevoked(f"this device ({dev.name}) was revoked at link {dev.revoked_seqno}; "
                                       "log in again with a paper key")
        return dev

    def _box_for(self, seed: bytes, generation: int, enc_kid: str) -> dict:
        box = box_seed(seed, generation, parse_kid(enc_kid).public,
                       ephemeral_secret=self.rng(32), nonce=self.rng(24))
        return {"generation": generation, "device_kid": kid_hex(enc_kid), "box": b64encode(box)}

    # -- account --------------------------------------------------------------

    async def signup(self, username: str, *, device_name: str | None = None,
                     server_url: str | None = None) -> Account:
        """Create the account and this device. Keys and a pending record are saved
        before anything is posted (pending.py), so an interrupted signup is finished,
        not orphaned, by the next try."""
        username = check_username(username)
        if self.store.get("uid"):
            raise errors.Conflict(f"this profile is already {self.store.get('username')}; use another --home")
        await self.unlock()  # before the account exists: a wrong passphrase must not orphan it
        rec = self.pending_signup()
        if rec is not None:
            if rec["username"] == username and (server_url is None or
                                                server_url.rstrip("/") == rec["server_url"]):
                return await self._retry_signup(rec)
            if await self._resume_signup(rec) is not None:   # that other one did happen: it stands
                raise errors.Conflict(f"this profile is already {rec['username']} (an interrupted signup, "
                                      "finished now); use another --home")
            await self.store.aio.delete_setting("pending.signup")      # never posted: drop it
        server = await self.connect(server_url)
        cp = await self.logview.fetch_latest()
        uid = uid_for(username)
        device_name = device_name or default_device_name()
        keys = DeviceKeys.from_seeds(self.rng(32), self.rng(32))
        dev_id = make_device_id(self.rng(16))
        puk_seed = self.rng(32)
        puk = PerUserKey.derive(puk_seed, 1)
        links = chainops.signup_links(uid=uid, username=username, keys=keys, device_id=dev_id,
                                      device_name=device_name, puk=puk, ctime=int(self.clock()),
                                      merkle_root=cp)
        body = {"uid": uid, "username": username, "links": links,
                "puk_boxes": [self._box_for(puk_seed, 1, kid_hex(keys.subkey.kid))]}
        rec = {"username": username, "uid": uid, "server_url": self.store.get("server_url"),
               "device_id": dev_id, "device_name": device_name, "eldest_kid": kid_hex(keys.sibkey.kid),
               "body": body}
        await self._hold_signup(rec, {"device": _device_secret(keys), "puk:1": puk_seed})
        crash_point("before-post")
        return await self._post_signup(rec, server)

    async def login_paperkey(self, username: str, phrase: str, *, device_name: str | None = None,
                             server_url: str | None = None) -> Account:
        """Provision this profile as a new device, vouched for by a paper key."""
        username = check_username(username)
        if self.store.get("uid"):
            raise errors.Conflict(f"this profile is already {self.store.get('username')}; use another --home")
        paper = await asyncio.get_running_loop().run_in_executor(None, paper_device_keys, phrase)
        await self.unlock()
        server = await self.connect(server_url)
        user = await self.identifier.identify(username, own=True)   # our own chain: in full
        state = user.state
        paper_kid = kid_hex(paper.sibkey.kid)
        if paper_kid not in {kid_hex(k) for k in state.sibkeys}:
            raise errors.BadPaperKey(f"this paper key is not (or no longer) a device of {username}")
        # one name per live device (the default, the machine's name, gets "-2" when taken)
        device_name = choose_device_name(device_name, default_device_name(), live_device_names(state))
        seeds = await self._recover_pukes(user, paper.subkey)
        gen = max(seeds)
        keys = DeviceKeys.from_seeds(self.rng(32), self.rng(32))
        dev_id = make_device_id(self.rng(16))
        cp = self.logview.trusted()
        links = chainops.device_links(state=state, signer=paper.sibkey, keys=keys, device_id=dev_id,
                                      device_name=device_name, device_type="desktop",
                                      ctime=int(self.clock()), merkle_root=cp)
        body = {"links": links, "puk_boxes": [self._box_for(seeds[gen], gen, kid_hex(keys.subkey.kid))]}
        await self.api.post_links(user.uid, body)
        return await self._become_device(user, keys, dev_id, device_name, seeds, server)

    async def _recover_pukes(self, user: VerifiedUser, enc: EncryptionKeyPair) -> dict[int, bytes]:
        """Open this device's newest PUK box and walk the prev-seed chain down."""
        answer = await self.api.puk_boxes(user.uid, kid_hex(enc.kid))
        boxes = answer.get("boxes") if isinstance(answer, dict) else None
        if not isinstance(boxes, list) or not boxes:
            raise errors.BadPerUserKey("the server has no per-user key box for this device")
        newest = max(user.state.puks)
        box = next((b for b in boxes if isinstance(b, dict) and b.get("generation") == newest), None)
        if box is None:
            raise errors.BadPerUserKey(f"no box of the current per-user key generation {newest} for this device")
        seeds = {newest: open_seed_box(b64decode(box["box"], max_size=4096), enc, newest)}
        chainops.check_puk(user.state, newest, seeds[newest])
        prev = {p.get("generation"): p.get("box") for p in answer.get("prev", []) if isinstance(p, dict)}
        for gen in range(newest, 1, -1):
            if gen not in prev:
                raise errors.BadPerUserKey(f"missing the link from generation {gen} to {gen - 1}")
            older = decrypt_prev_seed(PerUserKey.derive(seeds[gen], gen), b64decode(prev[gen], max_size=4096))
            chainops.check_puk(user.state, gen - 1, older)
            seeds[gen - 1] = older
        return seeds

    async def create_paperkey(self) -> str:
        """A new paper key device; the phrase is returned and never stored for good.

        It is held in the keystore from before the post until `paperkey_shown()`: a
        paper key interrupted before the user saw it is shown again by the next call in
        a new process (`interrupted_paperkey` says so beforehand), posted first if it
        never was."""
        uid, username = self._require_login()
        await self.unlock()
        loop = asyncio.get_running_loop()
        async with self._lock:
            user = await self.identifier.identify(username)
            self._my_active_device(user)
            me = await self._device_keys()
            phrase, state = await self._pending_paperkey_state(user)
            if state == "posted":
                return self._hand_out(phrase)
            if phrase is None:
                phrase = new_paper_phrase(self.rng(32))
            paper = await loop.run_in_executor(None, paper_device_keys, phrase)
            if state == "none":
                await self._hold_paperkey(phrase, kid_hex(paper.sibkey.kid))
            gen = max(user.state.puks)
            puk = await self._current_puk(user)
            links = chainops.device_links(state=user.state, signer=me.sibkey, keys=paper,
                                          device_id=make_device_id(self.rng(16)),
                                          device_name=paper_key_id(phrase), device_type="paper",
                                          ctime=int(self.clock()), merkle_root=self.logview.trusted())
            body = {"links": links, "puk_boxes": [self._box_for(puk.seed, gen, kid_hex(paper.subkey.kid))]}
            crash_point("paperkey-before-post")
            await self.api.post_links(uid, body)
            crash_point("paperkey-after-post")
            await self.identify(username)
        self.events.emit(DevicesChanged(username))
        return self._hand_out(phrase)

    async def revoke_device(self, which: str) -> DeviceView:
        """Revoke a device and rotate the per-user key for the devices left."""
        uid, username = self._require_login()
        await self.unlock()
        async with self._lock:
            user = await self.identifier.identify(username)
            my_id = self._my_active_device(user).id
            devices = [d for d in user.state.devices.values() if d.revoked_seqno is None]
            target = [d for d in devices if d.id == which] or [d for d in devices if d.name == which]
            if not target:
                raise errors.NotFound(f"no active device named or with id {which!r}")
            if len(target) > 1:
                raise errors.Conflict(f"several devices are named {which!r}: use the device id")
            dev = target[0]
            if dev.id == my_id:
                raise errors.Conflict("this is the current device: revoke it from another device")
            me = await self._device_keys()
            gen = max(user.state.puks)
            old_seed = (await self._current_puk(user)).seed
            new_seed = self.rng(32)
            new_puk = PerUserKey.derive(new_seed, gen + 1)
            links = chainops.revoke_links(state=user.state, signer=me.sibkey, device=dev, new_puk=new_puk,
                                          ctime=int(self.clock()), merkle_root=self.logview.trusted())
            remaining = [d for d in devices if d.id != dev.id and d.subkey]
            body = {"links": links,
                    "puk_boxes": [self._box_for(new_seed, gen + 1, d.subkey) for d in remaining],
                    "puk_prev": [{"generation": gen + 1,
                                  "box": b64encode(encrypt_prev_seed(new_puk, old_seed, self.rng(24)))}]}
            await self.api.post_links(uid, body)
            await self._store_secrets({f"puk:{gen + 1}": new_seed})
            ident = await self.identify(username)
        self.events.emit(DevicesChanged(username))
        return next(d for d in ident.devices if d.id == dev.id)

    # -- device provisioning with a phrase (kex) ------------------------------------

    async def _kex_wait(self, channel: str, secret: bytes, role: str, after: int,
                        timeout: float, poll: float) -> tuple[dict, int]:
        """Wait for the other device's `role` message: read the mailbox whenever the push
        channel hints at a post to it (sync.ChannelHints), and every `poll` seconds anyway
        (hints may be lost, or the push channel down)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with ChannelHints(self.api.base_url, channel) as hints:
            while True:
                for item in await self.api.kex_read(channel, after):
                    if not isinstance(item, dict) or not isinstance(item.get("index"), int):
                        raise errors.EncodingError("malformed mailbox message")
                    after = max(after, item["index"] + 1)
                    opened = kex.open_message(secret, b64decode(item.get("msg", ""), max_size=kex.MAX_MESSAGE))
                    if opened is not None and opened[0] == role:
                        return opened[1], after
                if loop.time() > deadline:
                    raise errors.ProvisioningError(f"no answer from the other device within {timeout:.0f} s")
                await hints.wait(min(poll, max(0.0, deadline - loop.time()) + 0.01))

    async def _kex_send(self, channel: str, secret: bytes, role: str, body: dict) -> None:
        await self.api.kex_post(channel, b64encode(kex.seal_message(secret, role, body, self.rng(24))))

    async def add_device_by_phrase(self, on_phrase, *, timeout: float = 300.0,
                                   poll: float = KEX_POLL) -> DeviceView:
        """Show a phrase (via `on_phrase`), wait for the new device, vouch for it."""
        uid, username = self._require_login()
        await self.unlock()
        async with self._lock:
            user = await self.identifier.identify(username)
            self._my_active_device(user)
            me = await self._device_keys()
            phrase = new_provision_phrase(self.rng(16))
            secret = provision_secret(phrase)
            channel = kex.channel_id(secret)
            await self._kex_send(channel, secret, "offer", {"uid": uid, "username": username,
                                                            "signer_kid": kid_hex(me.sibkey.kid)})
            on_phrase(phrase)
            reply, _ = await self._kex_wait(channel, secret, "reply", 0, timeout, poll)
            user = await self.identifier.identify(username)
            links, dev = await asyncio.get_running_loop().run_in_executor(None, partial(
                chainops.kex_countersign, state=user.state, chain=(await self.store.aio.identity(uid)).chain,
                signer=me.sibkey, reply=reply))  # plays the whole chain back: off the loop
            puk = await self._current_puk(user)
            await self.api.post_links(uid, {"links": links,
                                            "puk_boxes": [self._box_for(puk.seed, puk.generation, dev.subkey)]})
            await self._kex_send(channel, secret, "done", {"device_id": dev.id})
            ident = await self.identify(username)
        self.events.emit(DevicesChanged(username))
        return next(d for d in ident.devices if d.id == dev.id)

    async def login_phrase(self, username: str, phrase: str, *, device_name: str | None = None,
                           server_url: str | None = None, timeout: float = 300.0, poll: float = KEX_POLL) -> Account:
        """Provision this profile as a new device of `username`, vouched for by the
        device that showed `phrase`."""
        username = check_username(username)
        if self.store.get("uid"):
            raise errors.Conflict(f"this profile is already {self.store.get('username')}; use another --home")
        secret = provision_secret(phrase)
        await self.unlock()
        server = await self.connect(server_url)
        channel = kex.channel_id(secret)
        offer, after = await self._kex_wait(channel, secret, "offer", 0, timeout, poll)
        if offer.get("username") != username:
            raise errors.ProvisioningError(f"this phrase adds a device to {offer.get('username')!r}, not {username!r}")
        user = await self.identifier.identify(username, own=True)   # our own chain: in full
        device_name = choose_device_name(device_name, default_device_name(), live_device_names(user.state))
        keys = DeviceKeys.from_seeds(self.rng(32), self.rng(32))
        dev_id = make_device_id(self.rng(16))
        sib, subkey = chainops.kex_new_device(state=user.state, signer_kid=str(offer.get("signer_kid")),
                                              keys=keys, device_id=dev_id, device_name=device_name,
                                              ctime=int(self.clock()), merkle_root=self.logview.trusted())
        await self._kex_send(channel, secret, "reply", {"sibkey_payload": sib.payload_json.decode(),
                                                        "subkey": subkey})
        await self._kex_wait(channel, secret, "done", after, timeout, poll)
        user = await self.identifier.identify(username, own=True)
        dev = user.state.devices.get(dev_id)
        if dev is None or dev.revoked_seqno is not None or dev.sibkey != kid_hex(keys.sibkey.kid):
            raise errors.ProvisioningError("the other device said done, but this device is not in the chain")
        seeds = await self._recover_pukes(user, keys.subkey)
        return await self._become_device(user, keys, dev_id, device_name, seeds, server)

    async def _become_device(self, user: VerifiedUser, keys: DeviceKeys, dev_id: str, device_name: str,
                             seeds: dict[int, bytes], server: ServerInfo) -> Account:
        """Save a freshly provisioned device's secrets and identity, then check it."""
        await self._store_secrets({"device": _device_secret(keys), **{f"puk:{g}": s for g, s in seeds.items()}})
        await self.store.aio.set_many({"uid": user.uid, "username": user.username, "device_id": dev_id,
                             "device_name": device_name})
        await self.identify(user.username)
        self.events.emit(LoggedIn(user.username, device_name))
        return Account(user.username, user.uid, dev_id, device_name, server)

    # -- identity --------------------------------------------------------------

    async def identify(self, username: str, *, proofs: bool = True, force_proofs: bool = False) -> Identity:
        """Verify `username`'s chain, then (with `proofs`) check its live proofs and
        compare it with our follow of it (social.py)."""
        if self.identifier is None:
            await self.connect()
        before = self.logview.trusted()
        try:
            user = await self.identifier.identify(username)
        except errors.VerificationError as e:
            self.events.emit(VerificationFailed(username, e.code, str(e)))
            raise
        after = self.logview.trusted()
        if after is not None and (before is None or after.size != before.size):
            self.events.emit(CheckpointAdvanced(after.size, after.root.hex()))
        self.events.emit(IdentityVerified(user.username, user.uid, user.state.tail_seqno, user.changed))
        ident = chainops.identity_view(user, current_device=self.store.get("device_id")
                                       if user.uid == self.store.get("uid") else None)
        return await self._with_social(user, ident, force=force_proofs) if proofs else ident

    async def devices(self) -> list[DeviceView]:
        _, username = self._require_login()
        return (await self.identify(username)).devices

    async def status(self) -> Status:
        cp = self.store.checkpoint()
        key = self.store.get("server_key")
        return Status(
            home=str(self.home), logged_in=bool(self.store.get("uid")), username=self.store.get("username"),
            uid=self.store.get("uid"), device_id=self.store.get("device_id"),
            device_name=self.store.get("device_name"), server_url=self.store.get("server_url"),
            server_fingerprint=key_fingerprint(b64decode(key)) if key else None,
            checkpoint=CheckpointView(cp.size, cp.root.hex(), cp.seen_at) if cp else None,
            keystore=self._keystore.kind if self._keystore else await asyncio.get_running_loop().run_in_executor(
                None, backend_for, self.home))  # may probe the OS keyring (D-Bus): off the loop

    # -- preferences ---------------------------------------------------------------

    def preference(self, key: str, default: str | None = None) -> str | None:
        """A UI preference (theme, notifications, embedded server): plain, untrusted settings."""
        value = self.store.preference(key)   # from memory: safe on the GUI thread
        return default if value is None else value

    def set_preference(self, key: str, value: str) -> None:
        """Remembered at once; written in order on the profile's db thread (never here)."""
        self.store.set_preference(key, str(value))

    # -- transparency -----------------------------------------------------------

    async def verify_log(self) -> LogAudit:
        if self.logview is None:
            await self.connect()
        audit = await self.logview.audit()
        await self.identifier.advance_checkpoint()
        return audit

    async def check_peer_checkpoint(self, note: str) -> CheckpointView:
        if self.logview is None:
            await self.connect()
        cp = await self.logview.check_peer_note(note)
        await self.identifier.advance_checkpoint(cp)
        trusted = self.logview.trusted()
        return CheckpointView(trusted.size, trusted.root.hex(), trusted.seen_at)


def _device_secret(keys: DeviceKeys) -> bytes:
    return pack(list(keys.seeds()))


def default_device_name() -> str:
    import platform

    return (platform.node() or "computer")[:32]
