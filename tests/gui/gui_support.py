"""Helpers for the GUI tests (not a test module): profiles, other users, a tampering server.

Imported as a plain module: pytest puts this folder on sys.path (no __init__.py here).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from kbapp.client.app import App

TIMEOUT_MS = 60_000


async def new_profile_with_embedded_server(home: Path, username: str, device: str = "laptop",
                                           others=()) -> str:
    """What the welcome flow leaves behind (the welcome test drives the real flow), and
    `others` ((home, username, device, paper?) ...) signed up while its server runs."""
    from kbapp.gui.session import Session

    s = Session(home)
    await s.open()
    try:
        url = await s.start_embedded()
        await s.app.signup(username, device_name=device, server_url=url)
        s.remember_embedded()
        for other in others:
            await other_user(other[0], url, *other[1:])
    finally:
        await s.close()
    return url


async def other_user(home: Path, url: str, username: str, device: str, paper: bool = False) -> None:
    """Someone else, on another "machine" (profile), using the same server."""
    app = App(home)
    await app.open()
    try:
        await app.signup(username, device_name=device, server_url=url)
        if paper:
            await app.create_paperkey()
            await app.paperkey_shown()     # the user wrote it down
    finally:
        await app.close()


async def add_paper_key(home: Path) -> None:
    """That someone else grows their chain: a new paper key (two links)."""
    app = App(home)
    await app.open()
    try:
        await app.create_paperkey()
        await app.paperkey_shown()
    finally:
        await app.close()


def tamper_link(db_path: Path, needle: str, replacement: str, *, newest: bool = False) -> int:
    """A malicious server: edit a signed link's payload in place (the first link containing
    `needle`, or the newest with `newest=True`)."""
    db = sqlite3.connect(db_path)
    order = "DESC" if newest else "ASC"
    try:
        row = db.execute(f"SELECT uid, seqno, wire FROM links WHERE wire LIKE ? ORDER BY seqno {order} LIMIT 1",
                         (f"%{needle}%",)).fetchone()
        assert row is not None, f"no link mentions {needle!r}"
        uid, seqno, wire = row
        link = json.loads(wire)
        link["payload_json"] = link["payload_json"].replace(needle, replacement)
        db.execute("UPDATE links SET wire = ? WHERE uid = ? AND seqno = ?", (json.dumps(link), uid, seqno))
        db.commit()
        return seqno
    finally:
        db.close()
