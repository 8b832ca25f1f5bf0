"""feedback: when and by whom a feedback was first acknowledged and when rectified (the 三率), and indexes
for the worklist (今日待办) and the escalation job

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-01 23:10:00.000000

All nullable; plain ADD COLUMN (a batch migration would drop the SQLite FTS triggers of 0004).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("feedback", sa.Column("acknowledged_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.add_column(
        "feedback", sa.Column("acknowledged_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True)
    )
    op.add_column("feedback", sa.Column("rectified_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.create_index("ix_feedback_status_ack_due", "feedback", ["status", "ack_due_at"])
    op.create_index("ix_feedback_status_rectify_due", "feedback", ["status", "rectify_due_at"])
    op.create_index("ix_feedback_created_id", "feedback", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_feedback_created_id", table_name="feedback")
    op.drop_index("ix_feedback_status_rectify_due", table_name="feedback")
    op.drop_index("ix_feedback_status_ack_due", table_name="feedback")
    op.drop_column("feedback", "rectified_at")
    op.drop_column("feedback", "acknowledged_by")
    op.drop_column("feedback", "acknowledged_at")
