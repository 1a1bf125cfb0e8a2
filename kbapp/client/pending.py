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

A retry (the same command again, or any command of the profile: `finish_pending`)
finds the record. A signup whose account the verified log shows with our eldest key
is finished; one the log proves absent is posted again (the same body). A paper key
already in the chain is shown again; one not in it is posted again; one revoked since
is dropped. Until the user has seen a phrase (`paperkey_shown`), or the same process
has returned it and asks for another, it stays pending.
"""

from __future__ import annotations

import json

from kbapp.core import errors
from kbapp.core.keys import kid_hex

from .crashpoint import crash_point
from .events import LoggedIn
from .models import Account, ServerInfo

PENDING_SIGNUP = "pending.signup"        # store setting: JSON of the signup being posted
PENDING_PAPERKEY = "pending.paperkey"    # store setting: the paper key's sibkey kid
PAPERKEY_SECRET = "pending-paperkey"     # keystore entry: the phrase, until the user has seen it


class PendingMixin:
    """Part of `App` (app.py): the pending signup and how a retry finishes it (a pending
    paper key is the devices service's: devices.py)."""

    # -- signup ------------------------------------------------------------------

    def pending_signup(self) -> dict | None:
        raw = self.store.get(PENDING_SIGNUP)
        if raw is None:
            return None
        try:
            rec = json.loads(raw)
        except ValueError:
            rec = None
        if not isinstance(rec, dict) or not all(isinstance(rec.get(k), str) for k in (
                "username", "uid", "server_url", "device_id", "device_name", "eldest_kid")) \
                or not isinstance(rec.get("body"), dict):
            raise errors.KeystoreError(f"the pending signup record in {self.store.path} is damaged")
        return rec

    async def _hold_signup(self, rec: dict, secrets: dict[str, bytes]) -> None:
        """Step 1: the keys, then the record (a crash between leaves keys nobody uses)."""
        await self._store_secrets(secrets)
        await self.store.aio.set(PENDING_SIGNUP, json.dumps(rec, sort_keys=True))

    async def _post_signup(self, rec: dict, server: ServerInfo) -> Account:
        """Steps 2 and 3. A refused post may be our own earlier one that landed."""
        try:
            await self.api.signup(rec["body"])
        except errors.Conflict:
            acct = await self._resume_signup(rec)
            if acct is None:
                raise
            return acct
        crash_point("after-post")
        return await self._finish_signup(rec, server)

    async def _resume_signup(self, rec: dict) -> Account | None:
        """Finish an interrupted signup whose account is on the server; None when the
        verified log proves it absent (it was never posted: post it again)."""
        server = await self.connect(rec["server_url"])
        try:
            user = await self.identifier.identify(rec["username"])
        except errors.NotFound:
            return None
        if user.uid != rec["uid"] or kid_hex(user.state.eldest_kid or "") != rec["eldest_kid"]:
            await self.store.aio.delete_setting(PENDING_SIGNUP)
            raise errors.Conflict(
                f"{rec['username']} now belongs to another account (not the keys this profile made when "
                "its signup was interrupted): sign up with another name")
        keys = await self._device_keys()
        if kid_hex(keys.sibkey.kid) != rec["eldest_kid"]:
            raise errors.KeystoreError(
                f"the keystore no longer holds the keys of the interrupted signup of {rec['username']}")
        return await self._finish_signup(rec, server)

    async def _finish_signup(self, rec: dict, server: ServerInfo) -> Account:
        await self.store.aio.set_many({"uid": rec["uid"], "username": rec["username"], "device_id": rec["device_id"],
                             "device_name": rec["device_name"]}, drop=(PENDING_SIGNUP,))
        await self.identify(rec["username"])
        self.events.emit(LoggedIn(rec["username"], rec["device_name"]))
        return Account(rec["username"], rec["uid"], rec["device_id"], rec["device_name"], server)

    async def _retry_signup(self, rec: dict) -> Account:
        acct = await self._resume_signup(rec)
        if acct is not None:
            return acct
        return await self._post_signup(rec, self._server_info())

    async def finish_pending(self) -> Account | None:
        """Finish an interrupted signup, if this profile has one (start-up of any command)."""
        rec = self.pending_signup()
        if rec is None or self.store.get("uid"):
            return None
        await self.unlock()
        return await self._retry_signup(rec)
