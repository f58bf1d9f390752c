"""per-buyer metric facts for the period report, kept current by triggers on messages

Revision ID: m001
Revises: 0003

Every buyer with messages is marked stale here: the bot builds their facts in the background
after start (or `csbot metrics rebuild` does it at once), and a report builds what is still
stale before it sums.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

import bot.store.tables

revision = "m001"
down_revision = "0003"
branch_labels = None
depends_on = None

_STALE = ("INSERT INTO metric_stale (buyer_id, changes) VALUES ({row}.buyer_id, 1) "
          "ON CONFLICT (buyer_id) DO UPDATE SET changes = metric_stale.changes + 1")


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString()
    at = bot.store.tables.UtcDateTime()
    op.create_table(
        "metric_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("agent", text, nullable=False),
        sa.Column("platform", text, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("answered_at", at, nullable=False),
        sa.Column("response_us", sa.BigInteger(), nullable=False),
        sa.Column("first", sa.Boolean(), nullable=False),
        sa.Column("conversation_started_at", at, nullable=False),
        sa.Column("conversation_last_at", at, nullable=False),
        sa.ForeignKeyConstraint(["buyer_id"], ["buyers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_metric_responses_day", "metric_responses", ["day", "agent", "platform", "response_us", "first"])
    op.create_index("ix_metric_responses_agent", "metric_responses", ["agent", "platform", "response_us", "day"])
    op.create_index("ix_metric_responses_buyer", "metric_responses", ["buyer_id", "answered_at"])
    op.create_table(
        "metric_contacts",
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("agent", text, nullable=False),
        sa.Column("platform", text, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("first_at", at, nullable=False),
        sa.Column("replied", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["buyer_id"], ["buyers.id"]),
        sa.PrimaryKeyConstraint("buyer_id", "agent", "platform", "day"),
    )
    op.create_index("ix_metric_contacts_day", "metric_contacts",
                    ["day", "buyer_id", "agent", "platform", "replied", "first_at"])
    op.create_table(
        "metric_days",
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("platform", text, nullable=False),
        sa.Column("in_window", sa.Boolean(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("open_deadline", at, nullable=True),
        sa.ForeignKeyConstraint(["buyer_id"], ["buyers.id"]),
        sa.PrimaryKeyConstraint("buyer_id", "day"),
    )
    op.create_index("ix_metric_days_day", "metric_days",
                    ["day", "platform", "buyer_id", "in_window", "late", "open_deadline"])
    op.create_table(
        "metric_stale",
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("changes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("buyer_id"),
    )
    op.create_table(
        "metric_basis",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rules", text, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # Any change to a buyer's messages marks the buyer stale, in the same transaction: the upsert
    # also locks the row (PostgreSQL), so a rebuild cannot claim it before that transaction ends.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION metric_mark_stale() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF TG_OP <> 'INSERT' THEN {_STALE.format(row='OLD')}; END IF; "
            f"IF TG_OP <> 'DELETE' THEN {_STALE.format(row='NEW')}; END IF; "
            "RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER messages_metric_stale AFTER INSERT OR DELETE "
            "OR UPDATE OF buyer_id, sender, agent_account, sent_at ON messages "
            "FOR EACH ROW EXECUTE FUNCTION metric_mark_stale()"
        )
    else:
        op.execute(f"CREATE TRIGGER messages_metric_stale_insert AFTER INSERT ON messages "
                   f"BEGIN {_STALE.format(row='NEW')}; END")
        op.execute(f"CREATE TRIGGER messages_metric_stale_delete AFTER DELETE ON messages "
                   f"BEGIN {_STALE.format(row='OLD')}; END")
        op.execute(f"CREATE TRIGGER messages_metric_stale_update AFTER UPDATE OF buyer_id, sender, agent_account, "
                   f"sent_at ON messages BEGIN {_STALE.format(row='OLD')}; {_STALE.format(row='NEW')}; END")
    op.execute("INSERT INTO metric_stale (buyer_id, changes) SELECT DISTINCT buyer_id, 1 FROM messages")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS messages_metric_stale ON messages")
        op.execute("DROP FUNCTION IF EXISTS metric_mark_stale()")
    else:
        for action in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS messages_metric_stale_{action}")
    op.drop_table("metric_basis")
    op.drop_table("metric_stale")
    op.drop_index("ix_metric_days_day", "metric_days")
    op.drop_table("metric_days")
    op.drop_index("ix_metric_contacts_day", "metric_contacts")
    op.drop_table("metric_contacts")
    for name in ("ix_metric_responses_buyer", "ix_metric_responses_agent", "ix_metric_responses_day"):
        op.drop_index(name, "metric_responses")
    op.drop_table("metric_responses")
