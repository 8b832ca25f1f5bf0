"""feedback: the handling loop's deadlines (ack_due_at, rectify_due_at, escalated_at) and the return visit
(回访: revisit_asked_at, revisit_answer, revisit_answered_at)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 22:40:00.000000

All nullable: feedback taken before this revision has no deadlines and was never asked.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TIMES = ("ack_due_at", "rectify_due_at", "escalated_at", "revisit_asked_at", "revisit_answered_at")


# Plain ALTER TABLE ADD/DROP COLUMN on both databases: a batch (move-and-copy) migration would drop the
# SQLite FTS triggers of 0004.
def upgrade() -> None:
    for name in _TIMES:
        op.add_column("feedback", sa.Column(name, sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.add_column("feedback", sa.Column("revisit_answer", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("feedback", "revisit_answer")
    for name in reversed(_TIMES):
        op.drop_column("feedback", name)
