"""Chat: conversations, messages (opaque sealed headers and bodies, server-visible hints)
and the one-row inbox version counter (kbapp/server/chat_tables.py).

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "chat_conversations",
        sa.Column("conv_id", sa.String(32), primary_key=True),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("topic_type", sa.Integer, nullable=False),
        sa.Column("topic_id", sa.String(32), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("ctime", sa.BigInteger, nullable=False),
        sa.Column("last_msg_id", sa.BigInteger, nullable=False),
        sa.Column("vers", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_chat_conversations_team_vers", "chat_conversations", ["team_id", "vers"])
    op.create_table(
        "chat_messages",
        sa.Column("conv_id", sa.String(32), primary_key=True),
        sa.Column("msg_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("ctime", sa.BigInteger, nullable=False),
        sa.Column("sender_uid", sa.String(32), nullable=False),
        sa.Column("sender_kid", sa.String(70), nullable=False),
        sa.Column("outbox_id", sa.String(32), nullable=False),
        sa.Column("key_gen", sa.Integer, nullable=False),
        sa.Column("ek_gen", sa.Integer, nullable=True),
        sa.Column("type", sa.String(24), nullable=False),
        sa.Column("header", sa.LargeBinary, nullable=True),
        sa.Column("body", sa.LargeBinary, nullable=True),
        sa.Column("hints", sa.Text, nullable=False),
        sa.Column("superseded_by", sa.BigInteger, nullable=True),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("conv_id", "outbox_id", name="uq_chat_messages_outbox"),
    )
    op.create_index("ix_chat_messages_expires_at", "chat_messages", ["expires_at"])
    vers = op.create_table(
        "chat_vers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("vers", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(vers, [{"id": 1, "vers": 0}])


def downgrade():
    op.drop_table("chat_vers")
    op.drop_index("ix_chat_messages_expires_at", table_name="chat_messages")
    op.drop_table("chat_messages")
    op.drop_index("ix_chat_conversations_team_vers", table_name="chat_conversations")
    op.drop_table("chat_conversations")
