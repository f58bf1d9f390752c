"""suggestions per buyer message; messages findable by push id

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "suggestions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("intent", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("question", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_suggestions_message_id", "suggestions", ["message_id"])
    op.create_index("ix_messages_platform_push", "messages", ["platform", "push_id"])


def downgrade() -> None:
    op.drop_index("ix_messages_platform_push", "messages")
    op.drop_index("ix_suggestions_message_id", "suggestions")
    op.drop_table("suggestions")
