"""payment reminders: one row per (order, slot), and buyers who opted out

Revision ID: r001
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

import bot.store.tables

revision = "r001"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_pk", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("shop", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("order_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("slot", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("scheduled_at", bot.store.tables.UtcDateTime(), nullable=False),
        sa.Column("due_at", bot.store.tables.UtcDateTime(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("decided_at", bot.store.tables.UtcDateTime(), nullable=True),
        sa.Column("client_msg_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(["order_pk"], ["orders.id"]),
        sa.ForeignKeyConstraint(["buyer_id"], ["buyers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_pk", "slot"),
    )
    op.create_index("ix_reminders_due", "reminders", ["state", "due_at"])
    op.create_index("ix_reminders_buyer_decided", "reminders", ["buyer_id", "decided_at"])
    op.create_index("ix_reminders_order_pk", "reminders", ["order_pk"])
    op.create_index("ix_reminders_client_msg_id", "reminders", ["client_msg_id"])
    op.create_table(
        "reminder_optouts",
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("at", bot.store.tables.UtcDateTime(), nullable=False),
        sa.Column("push_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(["buyer_id"], ["buyers.id"]),
        sa.PrimaryKeyConstraint("buyer_id"),
    )


def downgrade() -> None:
    op.drop_table("reminder_optouts")
    op.drop_index("ix_reminders_client_msg_id", "reminders")
    op.drop_index("ix_reminders_order_pk", "reminders")
    op.drop_index("ix_reminders_buyer_decided", "reminders")
    op.drop_index("ix_reminders_due", "reminders")
    op.drop_table("reminders")
