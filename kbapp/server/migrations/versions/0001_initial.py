"""Initial schema: users, chains, keys, PUK boxes, Merkle map and log.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "users",
        sa.Column("uid", sa.String(32), primary_key=True),
        sa.Column("username", sa.String(32), nullable=False, unique=True),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "links",
        sa.Column("uid", sa.String(32), primary_key=True),
        sa.Column("seqno", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("link_id", sa.String(64), nullable=False),
        sa.Column("wire", sa.Text, nullable=False),
        sa.Column("received", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "keys",
        sa.Column("kid", sa.String(70), primary_key=True),
        sa.Column("uid", sa.String(32), nullable=False, index=True),
    )
    op.create_table(
        "puk_boxes",
        sa.Column("uid", sa.String(32), primary_key=True),
        sa.Column("generation", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("device_kid", sa.String(70), primary_key=True),
        sa.Column("box", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "puk_prev",
        sa.Column("uid", sa.String(32), primary_key=True),
        sa.Column("generation", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("box", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "map_entries",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("epoch", sa.BigInteger, nullable=False, index=True),
    )
    op.create_table(
        "log_leaves",
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "checkpoints",
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("note", sa.Text, nullable=False),
    )


def downgrade():
    for name in ("checkpoints", "log_leaves", "map_entries", "puk_prev", "puk_boxes", "keys",
                 "links", "users"):
        op.drop_table(name)
