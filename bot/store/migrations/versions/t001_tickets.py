"""complaint tickets and their append-only history

Revision ID: t001
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

import bot.store.tables

revision = "t001"
down_revision = "0002"
branch_labels = None
depends_on = None

_OPEN = sa.text("state != 'closed'")


def _str(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(), nullable=nullable)


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, bot.store.tables.UtcDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        _str("platform"), _str("shop"), _str("buyer"),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        _str("agent_account"), _str("order_id", True), _str("category"), _str("severity"), _str("rule"),
        _str("reason"), _str("summary"),
        sa.Column("complaints", sa.Integer(), nullable=False),
        _str("state"), _str("owner", True), _str("resolution", True), _str("resolution_note", True),
        sa.Column("rating", sa.Integer(), nullable=True),
        _str("created_by"),
        _at("created_at"), _at("updated_at"), _at("assigned_at", True), _at("first_response_at", True),
        _at("resolved_at", True), _at("callback_at", True), _at("closed_at", True),
        _at("first_response_due_at"), _at("resolution_due_at"), _at("escalated_at", True),
        _str("escalations"),
        sa.ForeignKeyConstraint(["buyer_id"], ["buyers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ux_tickets_open_buyer_category", "tickets", ["buyer_id", "category"], unique=True,
                    sqlite_where=_OPEN, postgresql_where=_OPEN)
    op.create_index("ix_tickets_state_severity", "tickets", ["state", "severity"])
    op.create_index("ix_tickets_buyer_state", "tickets", ["buyer_id", "state"])
    op.create_index("ix_tickets_state", "tickets", ["state"])
    op.create_index("ix_tickets_owner", "tickets", ["owner"])
    op.create_table(
        "ticket_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        _at("at"), _str("actor"), _str("kind"), _str("from_state", True), _str("to_state"), _str("note"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ticket_history_ticket_id", "ticket_history", ["ticket_id"])
    # The history is append-only, whoever writes to the database.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION ticket_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'ticket_history is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER ticket_history_append_only BEFORE UPDATE OR DELETE ON ticket_history "
            "FOR EACH ROW EXECUTE FUNCTION ticket_history_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER ticket_history_no_{action.lower()} BEFORE {action} ON ticket_history "
                "BEGIN SELECT RAISE(ABORT, 'ticket_history is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ticket_history_append_only ON ticket_history")
        op.execute("DROP FUNCTION IF EXISTS ticket_history_append_only()")
    op.drop_index("ix_ticket_history_ticket_id", "ticket_history")
    op.drop_table("ticket_history")
    for name in ("ix_tickets_owner", "ix_tickets_state", "ix_tickets_buyer_state", "ix_tickets_state_severity",
                 "ux_tickets_open_buyer_category"):
        op.drop_index(name, "tickets")
    op.drop_table("tickets")
