"""Encrypted folders' storage (migration 0010): folders, revisions, the blocks each folder
holds, and bytes used per uploader and per team (quotas).

Block bytes live in the BlobStore (content addressed); `folder_blocks` scopes them: a block
is served under a folder only if a row says that folder holds it. Envelopes are stored as
posted (readers verify them again); the columns beside them are the server's parsed copies.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, LargeBinary, String, Table, UniqueConstraint

from .db import metadata

folders = Table(
    "folders", metadata,
    Column("folder_id", String(32), primary_key=True),
    Column("team_id", String(32), nullable=False, index=True),
    Column("kind", Integer, nullable=False),
    Column("head", BigInteger, nullable=False),            # 0 until revision 1 lands
    Column("head_id", String(64), nullable=True),
    Column("bytes", BigInteger, nullable=False),
    Column("ctime", BigInteger, nullable=False),
)

folder_revisions = Table(
    "folder_revisions", metadata,
    Column("folder_id", String(32), primary_key=True),
    Column("revision", BigInteger, primary_key=True, autoincrement=False),
    Column("revision_id", String(64), nullable=False),
    Column("writer_uid", String(32), nullable=False),
    Column("writer_kid", String(70), nullable=False),
    Column("envelope", LargeBinary, nullable=False),
    Column("size", Integer, nullable=False),
    Column("ctime", BigInteger, nullable=False),           # the server's clock (`--time`): a hint
    UniqueConstraint("folder_id", "revision_id", name="uq_folder_revisions_id"),
)

folder_blocks = Table(
    "folder_blocks", metadata,
    Column("folder_id", String(32), primary_key=True),
    Column("block_id", String(64), primary_key=True),
    Column("size", Integer, nullable=False),
    Column("uploader_uid", String(32), nullable=False),
    Column("ctime", BigInteger, nullable=False),
)

# owner: "u:<uid>" (bytes an account uploaded) or "t:<team_id>" (bytes in a team's folders)
folder_usage = Table(
    "folder_usage", metadata,
    Column("owner", String(40), primary_key=True),
    Column("bytes", BigInteger, nullable=False),
)
