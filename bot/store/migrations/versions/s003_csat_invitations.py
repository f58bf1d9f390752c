"""satisfaction (服务评价) invitations: one per ended conversation, at most one per buyer and day, with the rating

Revision ID: s003
Revises: s002
"""
from alembic import op
import sqlalchemy as sa

from bot.store.tables import UtcDateTime

revision = "s003"
down_revision = "s002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "csat_invitations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("buyer_id", sa.Integer(), sa.ForeignKey("buyers.id"), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("agent", sa.String(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("invited_at", UtcDateTime(), nullable=False),
        sa.Column("client_msg_id", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("answered_at", UtcDateTime(), nullable=True),
        sa.UniqueConstraint("conversation_id", name="uq_csat_invitations_conversation"),
        sa.UniqueConstraint("buyer_id", "day", name="uq_csat_invitations_buyer_day"),
    )
    op.create_index("ix_csat_invitations_state", "csat_invitations", ["state", "invited_at"])
    op.create_index("ix_csat_invitations_answered", "csat_invitations", ["answered_at"])


def downgrade() -> None:
    op.drop_table("csat_invitations")
