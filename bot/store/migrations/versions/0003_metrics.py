"""handovers of waiting buyers at shift changes (交接)

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

import bot.store.tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handovers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("from_agent", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("to_agent", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("shift_change_at", bot.store.tables.UtcDateTime(), nullable=False),
        sa.Column("waiting_since", bot.store.tables.UtcDateTime(), nullable=False),
        sa.Column("last_buyer_text", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id", "shift_change_at"),
    )
    with op.batch_alter_table("handovers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_handovers_conversation_id"), ["conversation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_handovers_to_agent"), ["to_agent"], unique=False)
        batch_op.create_index(batch_op.f("ix_handovers_shift_change_at"), ["shift_change_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("handovers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_handovers_shift_change_at"))
        batch_op.drop_index(batch_op.f("ix_handovers_to_agent"))
        batch_op.drop_index(batch_op.f("ix_handovers_conversation_id"))
    op.drop_table("handovers")
