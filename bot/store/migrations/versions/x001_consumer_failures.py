"""consumer failures: a consumer's own error on one push, recorded to be replayed (issue 14)

Revision ID: x001
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

from bot.store.tables import UtcDateTime

revision = "x001"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consumer_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("push_id", sa.String(), nullable=False),
        sa.Column("consumer", sa.String(), nullable=False),
        sa.Column("error", sa.String(), nullable=False),
        sa.Column("failed_at", UtcDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("replay", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("replayed_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "push_id", "consumer"),
    )


def downgrade() -> None:
    op.drop_table("consumer_failures")
