"""A covering index for the console's live days (feedback.live, issue 13): (service_date, channel, site_id,
meeting_id, meal, acknowledged_by, topics) — the live days' grouping, in its order — then misuse, the score
and the 三率's columns, so that one pass over the last days reads the index alone (an index-only scan in
grouping order on PostgreSQL, a covering index on SQLite) instead of a heap page per feedback.

Revision ID: 0019_console_live
Revises: 0018_console
Create Date: 2026-12-02 14:30:00.000000

A plain CREATE INDEX on feedback, no batch, so its SQLite FTS triggers stay. Keys stay well under
PostgreSQL's btree limit (topics ≤ 400 characters, acknowledged_by ≤ 128).
"""

from __future__ import annotations

from alembic import op

revision = "0019_console_live"
down_revision = "0018_console"
branch_labels = None
depends_on = None

COLUMNS = [
    "service_date",
    "channel",
    "site_id",
    "meeting_id",
    "meal",
    "acknowledged_by",
    "topics",
    "misuse",
    "score",
    "acknowledged_at",
    "ack_due_at",
    "rectified_at",
    "rectify_due_at",
    "revisit_answer",
]


def upgrade() -> None:
    op.create_index("ix_feedback_live", "feedback", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_feedback_live", table_name="feedback")
