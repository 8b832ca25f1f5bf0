"""feedback_rollup_state.generation (one more at every rebuild of the rollups: what the process caches of the
console's figures are keyed by, feedback.live), and the worklist's two deadline indexes made covering for
its counts — (status, deadline, misuse, channel) instead of (status, deadline) — issue 13

Revision ID: 0018_console
Revises: 0017_plan
Create Date: 2026-12-02 08:00:00.000000

A NOT NULL column with a server default: existing rows get 0, no table rewrite on PostgreSQL, and on SQLite
a plain ADD COLUMN (the state table has no triggers). The indexes replace the two of migration 0011 (the same
number on the write path; the escalation job's (status, ack_due_at) prefix still leads): plain DROP and
CREATE INDEX on feedback, no batch, so its SQLite FTS triggers stay.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_console"
down_revision = "0017_plan"
branch_labels = None
depends_on = None


_DEADLINES = (("ack", "ack_due_at"), ("rectify", "rectify_due_at"))


def upgrade() -> None:
    op.add_column(
        "feedback_rollup_state",
        sa.Column("generation", sa.Integer(), nullable=False, server_default="0"),
    )
    for name, column in _DEADLINES:
        op.drop_index(f"ix_feedback_status_{name}_due", table_name="feedback")
        op.create_index(
            f"ix_feedback_status_{name}_due_open", "feedback", ["status", column, "misuse", "channel"]
        )


def downgrade() -> None:
    for name, column in _DEADLINES:
        op.drop_index(f"ix_feedback_status_{name}_due_open", table_name="feedback")
        op.create_index(f"ix_feedback_status_{name}_due", "feedback", ["status", column])
    with op.batch_alter_table("feedback_rollup_state") as batch:
        batch.drop_column("generation")
