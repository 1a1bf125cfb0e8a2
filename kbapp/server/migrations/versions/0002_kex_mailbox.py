"""Mailbox for device provisioning (kex): short-lived, end-to-end encrypted messages.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "kex_messages",
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("msg", sa.LargeBinary, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False, index=True),
    )


def downgrade():
    op.drop_table("kex_messages")
