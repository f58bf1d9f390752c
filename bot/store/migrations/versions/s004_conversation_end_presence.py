"""an agent ends a conversation (conversations.ended_at, ended_by); the consoles' presence history
(agent_presence: one row per stretch a console was open with the agent online or busy)

Revision ID: s004
Revises: s003
"""
from alembic import op
import sqlalchemy as sa

from bot.store.tables import UtcDateTime

revision = "s004"
down_revision = "s003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("ended_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("ended_by", sa.String(), nullable=True))
    op.create_index("ix_conversations_ended_at", "conversations", ["ended_at"])
    op.create_table(
        "agent_presence",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("agent_id", sa.String(), nullable=False),
        sa.Column("since", UtcDateTime(), nullable=False),
        sa.Column("until", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_agent_presence_agent_until", "agent_presence", ["agent_id", "until"])


def downgrade() -> None:
    op.drop_table("agent_presence")
    op.drop_index("ix_conversations_ended_at", "conversations")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("ended_by")
        batch.drop_column("ended_at")
