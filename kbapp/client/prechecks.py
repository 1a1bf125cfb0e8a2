"""Checks a signup or a paper-key login makes before the key file's passphrase is asked.

Why: asking a passphrase (and making a key file) for a name that is taken, or for a
paper key with a typo, wastes the user's effort and leaves a key file behind. These
checks are advisory: the server is untrusted, so the real signup and login still verify
everything; a lying server can only make the check say "taken" or "free" wrongly,
which the real operation then contradicts. Nothing here needs the keystore.
"""

from __future__ import annotations

import asyncio

from kbapp.core import errors
from kbapp.core.keys import kid_hex
from kbapp.core.paperkey import KIND_PAPER, normalise_phrase, paper_device_keys
from kbapp.core.uid import check_username

from .api import ServerAPI


async def username_free(server_url: str, username: str) -> bool:
    """True when the server knows no user by that name (False: taken). A bad name raises
    BadUsername without a round trip."""
    name = check_username(username)
    api = ServerAPI(server_url)
    try:
        await api.user(name)
    except errors.NotFound:
        return True
    finally:
        await api.aclose()
    return False


async def require_username_free(server_url: str, username: str) -> None:
    if not await username_free(server_url, username):
        raise errors.UsernameTaken(f"the username {check_username(username)} is taken on this server; "
                                   "choose another name")


async def check_paper_key(app, username: str, phrase: str, server_url: str | None) -> None:
    """The words are a paper key (known words, right checksum) and open a live device of
    `username`, as its verified chain says: BadPaperKey otherwise. The server is contacted
    (and pinned, as the login would) but nothing is stored for the account."""
    name = check_username(username)
    words = " ".join(normalise_phrase(phrase, KIND_PAPER))
    paper = await asyncio.get_running_loop().run_in_executor(None, paper_device_keys, words)
    await app.connect(server_url)
    user = await app.identifier.identify(name, own=True)
    if kid_hex(paper.sibkey.kid) not in {kid_hex(k) for k in user.state.sibkeys}:
        raise errors.BadPaperKey(f"this paper key is not (or no longer) a device of {name}")
