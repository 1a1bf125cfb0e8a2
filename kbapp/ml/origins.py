"""Where a photo in the index came from, when it is not the user's own folder.

A chat image (client/chat/media.py) is indexed from the profile's chat cache like any
photo, but a hit must say where it was posted: "bob in acme#general, #5". The origin is
written by the chat side (which verified the message) before the file is indexed, so it
is keyed by the stored path, not the photo id, and is dropped with the file when the
message is deleted or explodes. Its own table (photo index schema step 3), additive:
an index without origins simply has none.
"""

from __future__ import annotations

import time
from typing import Iterable

from pathlib import Path

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text, delete, insert, select

metadata = MetaData()

origins = Table(
    "origins", metadata,
    Column("path", Text, primary_key=True),              # photodb.db_path form, like photos.path
    Column("source", String(16), nullable=False),        # "chat"
    Column("conv", Text, nullable=False),                # the conversation's name when it was posted
    Column("conv_id", String(64), nullable=False),
    Column("msg_id", Integer, nullable=False),
    Column("sender", Text, nullable=False),
    Column("added_at", BigInteger, nullable=False),
)

FIELDS = ("source", "conv", "conv_id", "msg_id", "sender")


def create(conn) -> None:
    """Photo index schema step 3."""
    origins.create(conn, checkfirst=True)
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS origins_by_message ON origins (conv_id, msg_id)")


def put(conn, path: str, *, source: str, conv: str, conv_id: str, msg_id: int, sender: str) -> None:
    conn.execute(delete(origins).where(origins.c.path == path))
    conn.execute(insert(origins).values(path=path, source=source, conv=conv, conv_id=conv_id, msg_id=int(msg_id),
                                        sender=sender, added_at=int(time.time())))


def of_paths(conn, paths: Iterable[str]) -> dict[str, dict]:
    paths = list(paths)
    if not paths:
        return {}
    rows = conn.execute(select(origins).where(origins.c.path.in_(paths))).all()
    return {r.path: {f: getattr(r, f) for f in FIELDS} for r in rows}


def drop_message(conn, conv_id: str, msg_ids: Iterable[int]) -> list[str]:
    """Forget the origins of these messages; returns their stored paths."""
    ids = [int(i) for i in msg_ids]
    if not ids:
        return []
    q = (origins.c.conv_id == conv_id) & origins.c.msg_id.in_(ids)
    paths = [r.path for r in conn.execute(select(origins.c.path).where(q))]
    conn.execute(delete(origins).where(q))
    return paths


def describe(origin: dict | None) -> str:
    """One line for a hit: 'from bob in acme#general (#5)'."""
    if not origin:
        return ""
    if origin.get("source") == "folder":          # an encrypted folder's file (client/fs/photos.py)
        return f"in {origin['conv']} (revision {origin['msg_id']}, by {origin['sender']})"
    return f"from {origin['sender']} in {origin['conv']} (#{origin['msg_id']})"


# -- the library's side (PhotoLibrary calls attach; the chat side calls add and forget) ----------

def attach(db, hits: list) -> list:
    """Fill each hit's `origin` (None: the user's own photo)."""
    from kbapp.ml.photodb import db_path
    with db.engine.connect() as conn:
        found = of_paths(conn, [db_path(h.path) for h in hits])
    for h in hits:
        h.origin = found.get(db_path(h.path))
    return hits


def add(lib, path: Path, **origin):
    """Index one image file the app keeps (a chat image), its origin noted first."""
    from kbapp.ml.photodb import db_path
    path = Path(path).resolve()
    with lib.db.write_lock, lib.db.engine.begin() as conn:
        put(conn, db_path(path), **origin)
    return lib.index([path])


def forget(lib, conv_id: str, msg_ids) -> int:
    """A deleted or exploded message's images leave the index: row, tags, vectors, origin."""
    from kbapp.ml.photodb import fs_path
    with lib.db.write_lock, lib.db.engine.begin() as conn:
        paths = drop_message(conn, conv_id, msg_ids)
    for p in paths:
        lib._forget(Path(fs_path(p)))
    return len(paths)
