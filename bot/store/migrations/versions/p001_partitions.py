"""pushes get a partition (the buyer's); the settings every process must agree on; the change log

Revision ID: p001
Revises: m001
"""
from alembic import op
import sqlalchemy as sa

from bot.store.tables import UtcDateTime

revision = "p001"
down_revision = "m001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pushes") as batch:
        # 0 until the first start with a partition count fills it in for pending pushes (store.partitions)
        batch.add_column(sa.Column("partition", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_pushes_partition_pending", "pushes", ["partition", "event_at"],
                    postgresql_where=sa.text("processed_at IS NULL"), sqlite_where=sa.text("processed_at IS NULL"))
    op.create_table(
        "settings",
        sa.Column("key", sa.String(), primary_key=True),
        sa.Column("value", sa.String(), nullable=False),
    )
    op.create_table(
        "changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("shop", sa.String(), nullable=False),
        sa.Column("buyer", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("agent_account", sa.String(), nullable=False, server_default=""),
        sa.Column("push_id", sa.String(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("changes")
    op.drop_table("settings")
    op.drop_index("ix_pushes_partition_pending", table_name="pushes")
    with op.batch_alter_table("pushes") as batch:
        batch.drop_column("partition")
