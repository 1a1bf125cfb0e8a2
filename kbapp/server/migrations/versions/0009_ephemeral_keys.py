"""Ephemeral keys of exploding messages: device EK statements, team EK statements and their
boxes per recipient device (kbapp/server/ek_tables.py).

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ek_device",
        sa.Column("uid", sa.String(32), primary_key=True),
        sa.Column("device_kid", sa.String(70), primary_key=True),
        sa.Column("generation", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("statement", sa.LargeBinary, nullable=False),
        sa.Column("sig", sa.LargeBinary, nullable=False),
        sa.Column("ctime", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "ek_team",
        sa.Column("team_id", sa.String(32), primary_key=True),
        sa.Column("generation", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("ptk_generation", sa.Integer, nullable=False),
        sa.Column("statement", sa.LargeBinary, nullable=False),
        sa.Column("sig", sa.LargeBinary, nullable=False),
        sa.Column("creator_uid", sa.String(32), nullable=False),
        sa.Column("creator_kid", sa.String(70), nullable=False),
        sa.Column("ctime", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "ek_team_box",
        sa.Column("team_id", sa.String(32), primary_key=True),
        sa.Column("generation", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("recipient_kid", sa.String(70), primary_key=True),
        sa.Column("recipient_uid", sa.String(32), nullable=False),
        sa.Column("device_ek_gen", sa.Integer, nullable=False),
        sa.Column("box", sa.LargeBinary, nullable=False),
    )


def downgrade():
    op.drop_table("ek_team_box")
    op.drop_table("ek_team")
    op.drop_table("ek_device")
