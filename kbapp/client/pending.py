"""Crash-safe signup and paper keys: what was decided is saved before it is posted.

A signup posts an account whose eldest key only this profile holds; a paper key
posts a device whose phrase only the screen shows. If the process dies after the
post and before the save (kill -9, Ctrl-C, a power cut, or the ~0.65 s argon2id run
of a new keystore file), the server has an account nobody can sign for ("username is
taken" forever) or a paper device nobody saw. So both go in three steps:

1. keys (and a paper key's phrase) into the keystore, and a pending record into the
   profile's store: username, server, device, and the very body to post;
2. the post;
3. the state that finishes it, in the same transaction that drops the record.

A retry (the same command again, or any command of the profile: `App.finish_pending`)
finds the record. A signup whose account the verified log shows with our eldest key
is finished; one the log proves absent is posted again (the same body). A paper key
already in the chain is shown again; one not in it is posted again; one revoked since
is dropped. Until the user has seen a phrase (`paperkey_shown`), or the same process
has returned it and asks for another, it stays pending.
"""

from __future__ import annotations

import json

from kbapp.core import errors
from kbapp.core.encoding import b64decode
from kbapp.core.keys import kid_hex
from kbapp.core.merkle.note import key_fingerprint

from .crashpoint import crash_point
from .events import LoggedIn
from .models import Account, ServerInfo

PENDING_SIGNUP = "pending.signup"        # store setting: JSON of the signup being posted
PENDING_PAPERKEY = "pending.paperkey"    # store setting: the paper key's sibkey kid
PAPERKEY_SECRET = "pending-paperkey"     # keystore entry: the phrase, until the user has seen it


class PendingSignup:
    """`app.pending` (app.py): the pending signup and how a retry finishes it (a pending
    paper key is the devices service's: devices.py). On the account context; it uses the
    facade's `connect` and `identify` through it."""

    def __init__(self, ctx):
        self.ctx = ctx

    def record(self) -> dict | None:
        """The signup being posted, if any (a damaged record: KeystoreError)."""
        store = self.ctx.store
        raw = store.get(PENDING_SIGNUP)
        if raw is None:
            return None
        try:
            rec = json.loads(raw)
        except ValueError:
            rec = None
        if not isinstance(rec, dict) or not all(isinstance(rec.get(k), str) for k in (
                "username", "uid", "server_url", "device_id", "device_name", "eldest_kid")) \
                or not isinstance(rec.get("body"), dict):
            raise errors.KeystoreError(f"the pending signup record in {store.path} is damaged")
        return rec

    async def hold(self, rec: dict, secrets: dict[str, bytes]) -> None:
        """Step 1: the keys, then the record (a crash between leaves keys nobody uses)."""
        await self.ctx.store_secrets(secrets)
        await self.ctx.store.aio.set(PENDING_SIGNUP, json.dumps(rec, sort_keys=True))

    async def post(self, rec: dict, server: ServerInfo) -> Account:
        """Steps 2 and 3. A refused post may be our own earlier one that landed."""
        try:
            await self.ctx.api.signup(rec["body"])
        except errors.Conflict:
            acct = await self.resume(rec)
            if acct is None:
                raise
            return acct
        crash_point("after-post")
        return await self._finish(rec, server)

    async def resume(self, rec: dict) -> Account | None:
        """Finish an interrupted signup whose account is on the server; None when the
        verified log proves it absent (it was never posted: post it again)."""
        ctx = self.ctx
        server = await ctx.connect(rec["server_url"])
        try:
            user = await ctx.identifier.identify(rec["username"])
        except errors.NotFound:
            return None
        if user.uid != rec["uid"] or kid_hex(user.state.eldest_kid or "") != rec["eldest_kid"]:
            await ctx.store.aio.delete_setting(PENDING_SIGNUP)
            raise errors.Conflict(
                f"{rec['username']} now belongs to another account (not the keys this profile made when "
                "its signup was interrupted): sign up with another name")
        keys = await ctx.device_keys()
        if kid_hex(keys.sibkey.kid) != rec["eldest_kid"]:
            raise errors.KeystoreError(
                f"the keystore no longer holds the keys of the interrupted signup of {rec['username']}")
        return await self._finish(rec, server)

    async def _finish(self, rec: dict, server: ServerInfo) -> Account:
        ctx = self.ctx
        await ctx.store.aio.set_many({"uid": rec["uid"], "username": rec["username"], "device_id": rec["device_id"],
                                      "device_name": rec["device_name"]}, drop=(PENDING_SIGNUP,))
        await ctx.identify(rec["username"])
        ctx.events.emit(LoggedIn(rec["username"], rec["device_name"]))
        return Account(rec["username"], rec["uid"], rec["device_id"], rec["device_name"], server)

    async def retry(self, rec: dict) -> Account:
        acct = await self.resume(rec)
        if acct is not None:
            return acct
        return await self.post(rec, server_info(self.ctx.store))

    async def finish(self) -> Account | None:
        """Finish an interrupted signup, if this profile has one (start-up of any command)."""
        rec = self.record()
        if rec is None or self.ctx.store.get("uid"):
            return None
        await self.ctx.unlock()
        return await self.retry(rec)


def server_info(store) -> ServerInfo:
    """The pinned server as the profile's store has it (not a first contact)."""
    key = b64decode(store.get("server_key") or "")
    return ServerInfo(store.get("server_url"), store.get("server_origin"), key_fingerprint(key), False)
