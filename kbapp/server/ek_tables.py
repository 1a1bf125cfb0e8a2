"""Ephemeral key storage for exploding messages (migration 0009): device EK statements,
team EK statements and their boxes, on db.metadata (one Alembic history, one schema check).

The server keeps opaque signed statements and boxes: it checks their shape and size only;
clients verify every signature against the chains. Rows are keyed first by uid or team id
(the sharding keys of docs/server.md). Nothing here opens a message: a box is for a device
EK whose secret only that device holds, and deletes on its own schedule.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, LargeBinary, String, Table

from .db import metadata

device_eks = Table(
    "ek_device", metadata,
    Column("uid", String(32), primary_key=True),
    Column("device_kid", String(70), primary_key=True),
    Column("generation", Integer, primary_key=True, autoincrement=False),
    Column("statement", LargeBinary, nullable=False),      # the signed statement bytes (core/chat/ephemeral.py)
    Column("sig", LargeBinary, nullable=False),
    Column("ctime", BigInteger, nullable=False),           # the server's clock at publication
)

team_eks = Table(
    "ek_team", metadata,
    Column("team_id", String(32), primary_key=True),
    Column("generation", Integer, primary_key=True, autoincrement=False),
    Column("ptk_generation", Integer, nullable=False),
    Column("statement", LargeBinary, nullable=False),
    Column("sig", LargeBinary, nullable=False),
    Column("creator_uid", String(32), nullable=False),
    Column("creator_kid", String(70), nullable=False),
    Column("ctime", BigInteger, nullable=False),
)

team_ek_boxes = Table(
    "ek_team_box", metadata,
    Column("team_id", String(32), primary_key=True),
    Column("generation", Integer, primary_key=True, autoincrement=False),
    Column("recipient_kid", String(70), primary_key=True),   # the device's sibkey KID (hex)
    Column("recipient_uid", String(32), nullable=False),
    Column("device_ek_gen", Integer, nullable=False),         # the device EK generation it is boxed to
    Column("box", LargeBinary, nullable=False),
)
