"""Chat blob references: which blobs a message's attachment names, so the server deletes
them with the message's body (exploded, deleted, history deleted; kbapp/server/chat_blobs.py).

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "chat_blob_refs",
        sa.Column("conv_id", sa.String(32), primary_key=True),
        sa.Column("msg_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("blob_id", sa.String(64), primary_key=True),
        sa.Column("uid", sa.String(32), nullable=False),
    )
    op.create_index("ix_chat_blob_refs_blob_id", "chat_blob_refs", ["blob_id"])


def downgrade():
    op.drop_table("chat_blob_refs")
