"""This device's read tokens (kbapp/core/tokens.py), minted on demand and cached.

Team reads (chains, key boxes, requests, acceptances, the list of our teams)
and, later, chat and folders need a short-lived token signed by this device's
key for the pinned server origin. One token serves every such read until it
is close to expiry; `ServerAPI` asks for a fresh one after a 401 (a server
whose clock runs ahead, say). Tokens use the wall clock, not the app's
injected clock: it is the server's clock they are checked against.
"""

from __future__ import annotations

import time

from kbapp.core import errors
from kbapp.core.tokens import make_read_token

LIFETIME = 300            # seconds a token lives (the server accepts up to 600)
REFRESH_MARGIN = 60       # a cached token is replaced this long before it expires


class ReadTokens:
    def __init__(self, ctx, *, wall_clock=time.time):
        self.ctx = ctx
        self.wall_clock = wall_clock
        self._cached: tuple[tuple, str, int] | None = None    # (who, header, expires)

    async def header(self) -> str:
        app = self.ctx
        uid, _ = app.require_login()
        origin = app.store.get("server_origin")
        if not origin:
            raise errors.NotLoggedIn("no server pinned yet: connect first")
        keys = await app.device_keys()
        who = (uid, keys.sibkey.kid, origin)
        now = int(self.wall_clock())
        if self._cached is not None and self._cached[0] == who and now < self._cached[2] - REFRESH_MARGIN:
            return self._cached[1]
        value, token = make_read_token(keys.sibkey, uid=uid, origin=origin, ctime=now, lifetime=LIFETIME,
                                       nonce=app.rng(16))
        self._cached = (who, value, token.expires)
        return value

    def forget(self) -> None:
        self._cached = None
