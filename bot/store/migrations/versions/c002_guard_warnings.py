"""reply feedback records the compliance warnings a sent reply carried

Revision ID: c002
Revises: c001
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = "c002"
down_revision = "c001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reply_feedback") as batch:
        batch.add_column(sa.Column("guard_warnings", sqlmodel.sql.sqltypes.AutoString(), nullable=False,
                                   server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("reply_feedback") as batch:
        batch.drop_column("guard_warnings")
