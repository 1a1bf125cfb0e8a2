"""`App`: the composition root and the one async facade over the client engine.

It holds the account context (context.py) and the services composed on it:
`app.devices`, `app.social`, `app.teams`, `app.housekeeper`, `app.photos`, `app.chat`, `app.files`.
The CLI, the GUI and the tests call these (or the older `App` names, one-line
delegates to them) and nothing below them.
Every method returns plain dataclasses (models.py) and raises typed errors
(core/errors.py); state changes are announced on `self.events`.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from kbapp.core import errors
from kbapp.core.device_names import choose_device_name, live_device_names
from kbapp.core.encoding import b64decode, pack
from kbapp.core.keys import DeviceKeys, EncryptionKeyPair, kid_hex
from kbapp.core.merkle.note import key_fingerprint
from kbapp.core import kex
from kbapp.core.paperkey import paper_device_keys, provision_secret
from kbapp.core.puk import PerUserKey
from kbapp.core.uid import check_username, device_id as make_device_id, uid_for

from . import chainops
from .api import ServerAPI
from .context import AccountContext
from .crashpoint import crash_point
from .devices import KEX_POLL, DevicesService, kex_send, kex_wait
from .events import CheckpointAdvanced, IdentityVerified, LoggedIn, VerificationFailed
from .identify import VerifiedUser
from .housekeeper import Housekeeper
from .keystore import Keystore, backend_for
from .logview import LogAudit
from .models import Account, CheckpointView, DeviceView, Identity, ServerInfo, Status
from .paths import default_home, private_dir
from .pending import PendingSignup
from .chat.service import ChatService
from .fs import hints as fs_hints
from .fs.service import FilesService
from .photos import PhotoService
from .social import SocialService
from .store import Store
from .teams import TeamsService

DEFAULT_SERVER = "http://127.0.0.1:8470"


def _to(service: str, name: str):
    """A one-line delegate: `App.<name>` is `app.<service>.<name>` (the facade's old names)."""
    async def call(self, *args, **kwargs):
        return await getattr(getattr(self, service), name)(*args, **kwargs)
    call.__name__, call.__doc__ = name, f"`app.{service}.{name}`"
    return call


def _from_ctx(name: str) -> property:
    """An attribute that lives on the account context (kept on App for its callers)."""
    return property(lambda self: getattr(self.ctx, name), lambda self, value: setattr(self.ctx, name, value))


class App:
    """The composition root: an account context (context.py) and the services on it."""

    store = _from_ctx("store")
    api = _from_ctx("api")
    logview = _from_ctx("logview")
    identifier = _from_ctx("identifier")
    clock = _from_ctx("clock")
    rng = _from_ctx("rng")
    events = _from_ctx("events")
    throwaway = _from_ctx("throwaway")
    _keystore = _from_ctx("keystore_")

    def __init__(self, home: Path | None = None, *, keystore=None, passphrase_prompt=None,
                 clock=time.time, rng=os.urandom, throwaway: bool = False):
        self.home = Path(home) if home else default_home()
        self.ctx = AccountContext(self.home, keystore=keystore, passphrase_prompt=passphrase_prompt,
                                  clock=clock, rng=rng, throwaway=throwaway)
        self.ctx.identify, self.ctx.connect = self.identify, self.connect
        self.pending = PendingSignup(self.ctx)   # an interrupted signup, finished by a retry
        self.devices = DevicesService(self.ctx)   # also `await app.devices()`: the device list
        self.social = SocialService(self.ctx)
        self.teams = TeamsService(self.ctx, self.social)
        self.housekeeper = Housekeeper(self.ctx, self.teams)   # the chores reads no longer do
        self.photos = PhotoService(self.home, self)   # no login needed; the library opens on first use
        self.chat = ChatService(self.ctx, self.teams)   # its store (chat.sqlite3) opens on first use
        self.chat.photos = self.photos                    # chat images are indexed with their origin
        self.files = FilesService(self.ctx, self.teams)  # encrypted folders; fs.sqlite3 opens on first use
        fs_hints.listen(self.files)                       # push: a folder's `folder` hints mark it stale
        self.files.photos = self.photos                   # folder images go to the photo library (fs/photos.py)

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
            self.ctx.attach(url)

    async def close(self) -> None:
        photos, self.photos = self.photos, PhotoService(self.home, self)   # a fresh one if opened again
        self.chat.photos = self.photos
        await photos.close()   # stops its threads and closes the photo index
        await self.chat.close()    # stops its outbox runner, closes chat.sqlite3 (opened again on use)
        await self.files.close()   # closes fs.sqlite3 (opened again on use)
        if self.api is not None:
            await self.api.aclose()
        if self.store is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.store.close)   # drains queued writes

    # -- the keystore (context.py) -------------------------------------------------

    async def unlock(self) -> Keystore:
        """Open this profile's keystore, off the event loop; idempotent (see AccountContext.unlock)."""
        return await self.ctx.unlock()

    @property
    def unlocked(self) -> bool:
        return self.ctx.keystore_ is not None

    @property
    def connected(self) -> bool:
        """A server is attached (`connect` ran): the CLI and GUI ask this, not `api`."""
        return self.api is not None

    @property
    def keystore(self) -> Keystore:
        return self.ctx.keystore

    async def _secret(self, name: str) -> bytes | None:
        return await self.ctx.secret(name)

    async def _store_secrets(self, entries: dict[str, bytes]) -> None:
        await self.ctx.store_secrets(entries)

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
            self.ctx.attach(url)
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

    # -- secrets (context.py; these names stay for the mixins and tests) -------------

    async def _device_keys(self) -> DeviceKeys:
        return await self.ctx.device_keys()

    async def _puk(self, generation: int) -> PerUserKey:
        return await self.ctx.puk(generation)

    async def _current_puk(self, user: VerifiedUser) -> PerUserKey:
        return await self.ctx.current_puk(user)

    async def _recover_pukes(self, user: VerifiedUser, enc: EncryptionKeyPair) -> dict[int, bytes]:
        return await self.ctx.recover_pukes(user, enc)

    def _require_login(self) -> tuple[str, str]:
        return self.ctx.require_login()

    def _my_active_device(self, user: VerifiedUser):
        return self.ctx.my_active_device(user)

    def _box_for(self, seed: bytes, generation: int, enc_kid: str) -> dict:
        return self.ctx.box_for(seed, generation, enc_kid)

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
        rec = self.pending.record()
        if rec is not None:
            if rec["username"] == username and (server_url is None or
                                                server_url.rstrip("/") == rec["server_url"]):
                return await self.pending.retry(rec)
            if await self.pending.resume(rec) is not None:   # that other one did happen: it stands
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
        await self.pending.hold(rec, {"device": _device_secret(keys), "puk:1": puk_seed})
        crash_point("before-post")
        return await self.pending.post(rec, server)

    def pending_signup(self) -> dict | None:
        """The interrupted signup this profile holds, if any (pending.py)."""
        return self.pending.record()

    async def finish_pending(self) -> Account | None:
        """Finish an interrupted signup, if this profile has one (start-up of any command)."""
        return await self.pending.finish()

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

    # -- teams (teams.py): the facade's names for its operations -----------------------------

    create_team = _to("teams", "create_team")
    create_subteam = _to("teams", "create_subteam")
    add_member = _to("teams", "add_member")
    edit_member = _to("teams", "edit_member")
    remove_member = _to("teams", "remove_member")
    leave_team = _to("teams", "leave_team")
    rotate_team_key = _to("teams", "rotate_team_key")
    team_settings = _to("teams", "team_settings")
    join_requests = _to("teams", "join_requests")
    deny_join = _to("teams", "deny_join")
    approve_join = _to("teams", "approve_join")
    invite = _to("teams", "invite")
    cancel_invite = _to("teams", "cancel_invite")

    team = _to("teams", "team")                   # reads: they post nothing (the chores are
    list_members = _to("teams", "list_members")   # app.housekeeper's, run when asked)
    list_teams = _to("teams", "list_teams")
    team_key = _to("teams", "team_key")
    join_team = _to("teams", "join_team")
    accept_invite = _to("teams", "accept_invite")
    implicit_team = _to("teams", "implicit_team")
    leave = _to("teams", "leave_team")
    approve = _to("teams", "approve_join")
    deny = _to("teams", "deny_join")
    uninvite = _to("teams", "cancel_invite")
    rotate = _to("teams", "rotate_team_key")
    join = _to("teams", "join_team")
    request_join = _to("teams", "join_team")
    accept = _to("teams", "accept_invite")

    def _team_states(self) -> dict:
        return self.teams._team_states()

    async def _load_ref(self, team: str):
        return await self.teams._load_ref(team)

    @property
    def _team_key_cache(self) -> dict:
        return self.teams._team_key_cache

    # -- social (social.py): the facade's names for its operations --------------------------

    start_proof = _to("social", "start_proof")
    check_proof = _to("social", "check_proof")
    finish_proof = _to("social", "finish_proof")
    list_proofs = _to("social", "list_proofs")
    revoke_proof = _to("social", "revoke_proof")
    resolve = _to("social", "resolve")
    follow = _to("social", "follow")
    unfollow = _to("social", "unfollow")
    following = _to("social", "following")
    followers = _to("social", "followers")

    @property
    def proof_config(self):
        return self.social.proof_config

    @proof_config.setter
    def proof_config(self, cfg) -> None:
        self.social.proof_config = cfg

    def proof_services(self) -> dict:
        return self.social.proof_services()

    # -- devices (devices.py): the facade's names for them ---------------------------------

    async def create_paperkey(self) -> str:
        return await self.devices.create_paperkey()

    @property
    def interrupted_paperkey(self) -> bool:
        return self.devices.interrupted_paperkey

    async def paperkey_shown(self) -> None:
        await self.devices.paperkey_shown()

    async def revoke_device(self, which: str) -> DeviceView:
        return await self.devices.revoke(which)

    async def add_device_by_phrase(self, on_phrase, *, timeout: float = 300.0,
                                   poll: float = KEX_POLL) -> DeviceView:
        return await self.devices.add_by_phrase(on_phrase, timeout=timeout, poll=poll)

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
        offer, after = await kex_wait(self.ctx, channel, secret, "offer", 0, timeout, poll)
        if offer.get("username") != username:
            raise errors.ProvisioningError(f"this phrase adds a device to {offer.get('username')!r}, not {username!r}")
        user = await self.identifier.identify(username, own=True)   # our own chain: in full
        device_name = choose_device_name(device_name, default_device_name(), live_device_names(user.state))
        keys = DeviceKeys.from_seeds(self.rng(32), self.rng(32))
        dev_id = make_device_id(self.rng(16))
        sib, subkey = chainops.kex_new_device(state=user.state, signer_kid=str(offer.get("signer_kid")),
                                              keys=keys, device_id=dev_id, device_name=device_name,
                                              ctime=int(self.clock()), merkle_root=self.logview.trusted())
        await kex_send(self.ctx, channel, secret, "reply", {"sibkey_payload": sib.payload_json.decode(),
                                                        "subkey": subkey})
        await kex_wait(self.ctx, channel, secret, "done", after, timeout, poll)
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
        return await self.social.with_social(user, ident, force=force_proofs) if proofs else ident

    async def status(self) -> Status:
        cp = self.store.checkpoint()
        key = self.store.get("server_key")
        return Status(
            home=str(self.home), logged_in=bool(self.store.get("uid")), username=self.store.get("username"),
            uid=self.store.get("uid"), device_id=self.store.get("device_id"),
            device_name=self.store.get("device_name"), server_url=self.store.get("server_url"),
            server_fingerprint=key_fingerprint(b64decode(key)) if key else None,
            checkpoint=CheckpointView(cp.size, cp.root.hex(), cp.seen_at) if cp else None,
            keystore=self.ctx.keystore_.kind if self.ctx.keystore_ else await asyncio.get_running_loop().run_in_executor(
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
