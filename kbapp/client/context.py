"""The account context: what every client service is composed on.

One per profile: the local store, the server API, our view of the log, the
identifier, the keystore (opened off the loop, on first need), this device's
keys and per-user keys, the login checks, the event bus, the clock, the rng and
the per-resource locks (ops.py). Services (devices, social, teams, photos) take
a context and never reach into each other's private state.
"""

from __future__ import annotations

import asyncio
import os
from functools import partial
from pathlib import Path

from kbapp.core import errors
from kbapp.core.encoding import b64decode, b64encode, unpack
from kbapp.core.keys import DeviceKeys, EncryptionKeyPair, kid_hex, parse_kid
from kbapp.core.puk import PerUserKey, box_seed, decrypt_prev_seed, open_seed_box

from . import chainops
from .api import ServerAPI
from .events import EventBus
from .identify import Identifier, VerifiedUser
from .keystore import ENV_PASSPHRASE, KEYSTORE_FILE, Keystore, backend_for, open_keystore, require_throwaway
from .logview import LogView
from .ops import Locks
from .store import Store
from .team_access import ReadTokens


class AccountContext:
    def __init__(self, home: Path, *, keystore=None, passphrase_prompt=None, clock, rng,
                 throwaway: bool = False, events: EventBus | None = None):
        self.home = home
        self.throwaway = throwaway   # allows the in-memory keystore ($KBAPP_KEYSTORE=memory)
        self.clock, self.rng = clock, rng
        self.events = events or EventBus()
        self.keystore_: Keystore | None = keystore
        self.prompt = passphrase_prompt
        self.store: Store | None = None
        self.api: ServerAPI | None = None
        self.logview: LogView | None = None
        self.identifier: Identifier | None = None
        self.locks = Locks()
        self._unlock_lock = asyncio.Lock()
        self.identify = None   # the facade's identify (chain, proofs, follow): set by App
        self.connect = None    # the facade's connect (pins the server key on first contact): set by App

    def attach(self, url: str) -> None:
        self.api = ServerAPI(url)
        self.api.read_tokens = ReadTokens(self)
        origin = self.store.get("server_origin")
        pub = b64decode(self.store.get("server_key") or "")
        self.logview = LogView(self.api, self.store, origin, pub)
        self.identifier = Identifier(self.api, self.store, self.logview, self.clock)

    # -- login ------------------------------------------------------------------------

    def require_login(self) -> tuple[str, str]:
        uid, username = self.store.get("uid"), self.store.get("username")
        if not uid or not username or self.api is None:
            raise errors.NotLoggedIn("not logged in: run `kbapp signup` or `kbapp login`")
        return uid, username

    @property
    def uid(self) -> str:
        return self.require_login()[0]

    @property
    def username(self) -> str:
        return self.require_login()[1]

    def my_active_device(self, user: VerifiedUser):
        """Signing needs this device to be active in the chain we just verified."""
        dev = user.state.devices.get(self.store.get("device_id") or "")
        if dev is None:
            raise errors.NotLoggedIn("this device is not in the account's chain")
        if dev.revoked_seqno is not None:
            raise errors.DeviceRevoked(f"this device ({dev.name}) was revoked at link {dev.revoked_seqno}; "
                                       "log in again with a paper key")
        return dev

    # -- the keystore -------------------------------------------------------------------

    async def unlock(self) -> Keystore:
        """Open this profile's keystore, off the event loop; idempotent.

        Opening can be slow: the passphrase-sealed file runs argon2id (~0.65 s), and
        the OS keyring may wait on D-Bus or on the desktop's own unlock prompt. So it
        runs in a worker thread and the loop (the GUI's, the CLI's) keeps going.
        `passphrase_prompt(new_file)` is called on the caller's thread, before that.
        A failure (no or a wrong passphrase) leaves the keystore closed: call again.
        """
        if self.keystore_ is not None:
            return self.keystore_
        async with self._unlock_lock:
            if self.keystore_ is None:
                loop = asyncio.get_running_loop()
                kind = await loop.run_in_executor(None, backend_for, self.home)
                if kind == "memory":
                    require_throwaway(self.throwaway)
                passphrase = None
                if kind == "file" and not os.environ.get(ENV_PASSPHRASE) and self.prompt is not None:
                    passphrase = self.prompt(not (self.home / KEYSTORE_FILE).exists()) or None
                self.keystore_ = await loop.run_in_executor(
                    None, partial(open_keystore, self.home, backend=kind, passphrase=passphrase))
        return self.keystore_

    @property
    def keystore(self) -> Keystore:
        """The open keystore: only after `await unlock()` (never opened here, on the loop)."""
        if self.keystore_ is None:
            raise errors.KeystoreError("the keystore is not open yet: await App.unlock() first")
        return self.keystore_

    async def secret(self, name: str) -> bytes | None:
        ks = await self.unlock()
        return await asyncio.get_running_loop().run_in_executor(None, ks.get, name)

    async def store_secrets(self, entries: dict[str, bytes]) -> None:
        """Keystore writes in a worker thread: a file write is an fsync (and, for a new
        file, its first argon2id run); a keyring write is a D-Bus call."""
        ks = await self.unlock()

        def put_all() -> None:
            for name, value in entries.items():
                ks.put(name, value)
        await asyncio.get_running_loop().run_in_executor(None, put_all)

    # -- this device's keys and per-user keys ----------------------------------------------

    async def device_keys(self) -> DeviceKeys:
        raw = await self.secret("device")
        if raw is None:
            raise errors.NotLoggedIn("this profile has no device yet: run `kbapp signup` or `kbapp login`")
        seeds = unpack(raw, max_size=256)
        return DeviceKeys.from_seeds(seeds[0], seeds[1])

    async def puk(self, generation: int) -> PerUserKey:
        seed = await self.secret(f"puk:{generation}")
        if seed is None:
            raise errors.KeystoreError(f"this device does not hold per-user key generation {generation}")
        return PerUserKey.derive(seed, generation)

    async def current_puk(self, user: VerifiedUser) -> PerUserKey:
        """The newest PUK generation; fetched from this device's box when another
        device rotated it (a revocation made elsewhere), checked against the chain."""
        gen = max(user.state.puks)
        if await self.secret(f"puk:{gen}") is None:
            seeds = await self.recover_pukes(user, (await self.device_keys()).subkey)
            missing = {}
            for g, s in seeds.items():
                if await self.secret(f"puk:{g}") is None:
                    missing[f"puk:{g}"] = s
            await self.store_secrets(missing)
        return await self.puk(gen)

    async def recover_pukes(self, user: VerifiedUser, enc: EncryptionKeyPair) -> dict[int, bytes]:
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

    def box_for(self, seed: bytes, generation: int, enc_kid: str) -> dict:
        """A PUK seed boxed to one device's encryption key."""
        box = box_seed(seed, generation, parse_kid(enc_kid).public,
                       ephemeral_secret=self.rng(32), nonce=self.rng(24))
        return {"generation": generation, "device_kid": kid_hex(enc_kid), "box": b64encode(box)}
