"""outbox: a lease apart from the next try, the time a message stops being worth sending, failed tries

Revision ID: f001
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

import bot.store.tables

revision = "f001"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("leased_until", bot.store.tables.UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("expires_at", bot.store.tables.UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("failed_at", bot.store.tables.UtcDateTime(), nullable=True))
    op.create_index("ix_outbox_platform_state", "outbox", ["platform", "state"])


def downgrade() -> None:
    op.drop_index("ix_outbox_platform_state", "outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("failed_at")
        batch.drop_column("expires_at")
        batch.drop_column("leased_until")
