"""reply feedback: how agents use suggestions

Revision ID: c001
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

import bot.store.tables

revision = "c001"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reply_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("agent", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("suggested_intent", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("used_intent", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", bot.store.tables.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_reply_feedback_conversation_id", "reply_feedback", ["conversation_id"])
    op.create_index("ix_reply_feedback_suggested_intent", "reply_feedback", ["suggested_intent"])


def downgrade() -> None:
    op.drop_table("reply_feedback")
