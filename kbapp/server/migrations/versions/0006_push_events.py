"""Push hints: one small row per write (topic, kind, subject), numbered by a cursor.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "push_events",
        sa.Column("cursor", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("topic", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(70), nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False, index=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_push_events_topic_cursor", "push_events", ["topic", "cursor"])


def downgrade():
    op.drop_table("push_events")
