"""Teams: team sigchains, per-team key boxes, names, join requests, invites.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "teams",
        sa.Column("team_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("parent_id", sa.String(32), nullable=True, index=True),
        sa.Column("implicit", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "team_links",
        sa.Column("team_id", sa.String(32), primary_key=True),
        sa.Column("seqno", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("link_id", sa.String(64), nullable=False),
        sa.Column("wire", sa.Text, nullable=False),
        sa.Column("received", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "team_names",
        sa.Column("name", sa.String(1024), primary_key=True),
        sa.Column("team_id", sa.String(32), nullable=False, index=True),
        sa.Column("implicit", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "ptk_boxes",
        sa.Column("team_id", sa.String(32), primary_key=True),
        sa.Column("generation", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("recipient_uid", sa.String(32), primary_key=True),
        sa.Column("puk_generation", sa.Integer, nullable=False),
        sa.Column("box", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "ptk_prev",
        sa.Column("team_id", sa.String(32), primary_key=True),
        sa.Column("generation", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("box", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.String(32), primary_key=True),
        sa.Column("uid", sa.String(32), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
    )
    op.create_index("ix_team_members_uid", "team_members", ["uid"])
    op.create_table(
        "team_join_requests",
        sa.Column("team_id", sa.String(32), primary_key=True),
        sa.Column("uid", sa.String(32), primary_key=True),
        sa.Column("username", sa.String(32), nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "team_invite_acceptances",
        sa.Column("team_id", sa.String(32), primary_key=True),
        sa.Column("invite_id", sa.String(64), primary_key=True),
        sa.Column("uid", sa.String(32), primary_key=True),
        sa.Column("acceptance", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
    )


def downgrade():
    op.drop_index("ix_team_members_uid", "team_members")
    for name in ("team_invite_acceptances", "team_join_requests", "team_members", "ptk_prev", "ptk_boxes",
                 "team_names", "team_links", "teams"):
        op.drop_table(name)
