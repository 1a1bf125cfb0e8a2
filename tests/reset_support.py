"""An account reset as the tests make one: a fresh eldest key at the chain's next seqno,
posted with the owner's authorization (kbapp/core/sigchain/reset.py) unless a test plays
a stranger. Not a test module; tests/ is on sys.path."""

from __future__ import annotations

import os
import time

from kbapp.core.keys import DeviceKeys
from kbapp.core.sigchain import authorize_reset, build_eldest
from kbapp.core.uid import device_id as make_device_id


async def reset_body(app, username: str, *, authorize: bool = True, signer=None) -> tuple[str, dict]:
    """(uid, JSON body for POST /v1/chain/<uid>/links) resetting `username`, as `app` sees it.

    `authorize`: sign with `signer`, by default `app`'s own device key (the owner's)."""
    ident = await app.identify(username, proofs=False)
    keys = DeviceKeys.from_seeds(os.urandom(32), os.urandom(32))
    link = build_eldest(keys.sibkey, uid=ident.uid, username=username, ctime=int(time.time()),
                        device_id=make_device_id(os.urandom(16)), device_name="fresh",
                        seqno=ident.chain_length + 1, prev=bytes.fromhex(ident.tail_link_id))
    body: dict = {"links": [link]}
    if authorize:
        key = signer if signer is not None else (await app._device_keys()).sibkey
        body["reset_authorization"] = authorize_reset(key, uid=ident.uid, eldest_link=link)
    return ident.uid, body
