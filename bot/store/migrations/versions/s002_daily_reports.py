"""daily reports pushed to the team: one row per day and channel (sent exactly once), with retries

Revision ID: s002
Revises: s001
"""
from alembic import op
import sqlalchemy as sa

from bot.store.tables import UtcDateTime

revision = "s002"
down_revision = "s001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daily_reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
        sa.Column("claimed_at", UtcDateTime(), nullable=True),
        sa.Column("sent_at", UtcDateTime(), nullable=True),
        sa.Column("last_error", sa.String(), nullable=False),
        sa.UniqueConstraint("day", "channel", name="uq_daily_reports_day_channel"),
    )
    op.create_index("ix_daily_reports_state", "daily_reports", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("daily_reports")
