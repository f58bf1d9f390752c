"""manual scorecard deductions (10分制): a supervisor's deduction with its reason

Revision ID: s001
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

from bot.store.tables import UtcDateTime

revision = "s001"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scorecard_deductions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("agent", sa.String(), nullable=False),
        sa.Column("month", sa.String(), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_scorecard_deductions_month_agent", "scorecard_deductions", ["month", "agent"])


def downgrade() -> None:
    op.drop_table("scorecard_deductions")
