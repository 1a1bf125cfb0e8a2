"""Keep each checkpoint in its leaf's row: one insert less per write.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("log_leaves") as batch:
        batch.add_column(sa.Column("note", sa.Text, nullable=True))
    op.execute("UPDATE log_leaves SET note = (SELECT note FROM checkpoints WHERE checkpoints.size = log_leaves.idx + 1)")
    with op.batch_alter_table("log_leaves") as batch:
        batch.alter_column("note", existing_type=sa.Text, nullable=False)
    op.drop_table("checkpoints")


def downgrade():
    op.create_table(
        "checkpoints",
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.execute("INSERT INTO checkpoints (size, note) SELECT idx + 1, note FROM log_leaves")
    with op.batch_alter_table("log_leaves") as batch:
        batch.drop_column("note")
