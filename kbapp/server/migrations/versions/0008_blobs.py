"""Blobs: who uploaded which blob, its size and time (kbapp/server/blob_tables.py), for
the per-account quota and a later sweep of unreferenced blobs.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "blobs",
        sa.Column("uid", sa.String(32), primary_key=True),
        sa.Column("blob_id", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("ctime", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_blobs_blob_id", "blobs", ["blob_id"])


def downgrade():
    op.drop_table("blobs")
