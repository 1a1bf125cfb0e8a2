"""Proof and follow hints (resolve assertions, list followers).

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "statements",
        sa.Column("uid", sa.String(32), primary_key=True),
        sa.Column("seqno", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False, index=True),
    )


def downgrade():
    op.drop_table("statements")
