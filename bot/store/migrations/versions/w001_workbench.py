"""the agent's workbench: transfers (转接), agent status and heartbeat, quick phrases (快捷短语)

Revision ID: w001
Revises: m001
"""
from alembic import op
import sqlalchemy as sa

from bot.store.tables import UtcDateTime

revision = "w001"
down_revision = "m001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transfers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("from_agent", sa.String(), nullable=False),
        sa.Column("from_account", sa.String(), nullable=False, server_default=""),
        sa.Column("to_agent", sa.String(), nullable=False),
        sa.Column("group", sa.String(), nullable=False, server_default=""),
        sa.Column("note", sa.String(), nullable=False, server_default=""),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id", "seq"),
    )
    op.create_index("ix_transfers_conversation_id", "transfers", ["conversation_id"])
    op.create_index("ix_transfers_to_agent", "transfers", ["to_agent"])
    op.create_table(
        "agent_status",
        sa.Column("agent_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False, server_default="online"),
        sa.Column("changed_at", UtcDateTime(), nullable=False),
        sa.Column("heartbeat_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("agent_id"),
    )
    op.create_table(
        "phrases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False, server_default=""),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False, server_default=""),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner", "code"),
    )


def downgrade() -> None:
    op.drop_table("phrases")
    op.drop_table("agent_status")
    op.drop_index("ix_transfers_to_agent", table_name="transfers")
    op.drop_index("ix_transfers_conversation_id", table_name="transfers")
    op.drop_table("transfers")
