"""Encrypted folders: folders, revisions, blocks per folder and usage for quotas
(kbapp/server/folder_tables.py).

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "folders",
        sa.Column("folder_id", sa.String(32), primary_key=True),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.Integer, nullable=False),
        sa.Column("head", sa.BigInteger, nullable=False),
        sa.Column("head_id", sa.String(64), nullable=True),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("ctime", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_folders_team_id", "folders", ["team_id"])
    op.create_table(
        "folder_revisions",
        sa.Column("folder_id", sa.String(32), primary_key=True),
        sa.Column("revision", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("revision_id", sa.String(64), nullable=False),
        sa.Column("writer_uid", sa.String(32), nullable=False),
        sa.Column("writer_kid", sa.String(70), nullable=False),
        sa.Column("envelope", sa.LargeBinary, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("ctime", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("folder_id", "revision_id", name="uq_folder_revisions_id"),
    )
    op.create_table(
        "folder_blocks",
        sa.Column("folder_id", sa.String(32), primary_key=True),
        sa.Column("block_id", sa.String(64), primary_key=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("uploader_uid", sa.String(32), nullable=False),
        sa.Column("ctime", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "folder_usage",
        sa.Column("owner", sa.String(40), primary_key=True),
        sa.Column("bytes", sa.BigInteger, nullable=False),
    )


def downgrade():
    op.drop_table("folder_usage")
    op.drop_table("folder_blocks")
    op.drop_table("folder_revisions")
    op.drop_index("ix_folders_team_id", "folders")
    op.drop_table("folders")
