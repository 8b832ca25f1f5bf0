"""feedback_daily and feedback_daily_part (per-day rollups of the dashboard, its topics and aspects, and the
三率), feedback_rollup_state (what they hold), and the index (updated_at, service_date) that finds the days
changed since (feedback.rollup)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 04:30:00.000000

New tables and a plain CREATE INDEX on feedback (no batch: its SQLite FTS triggers stay). The rollup starts
empty; the first dashboard after the upgrade builds it (one pass over the feedback).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _place() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("meeting_id", sa.Integer(), nullable=True),
    ]


def _sums(*names: str) -> list[sa.Column]:
    return [sa.Column(name, sa.Integer(), nullable=False) for name in names]


def upgrade() -> None:
    op.create_table(
        "feedback_daily",
        *_place(),
        sa.Column("meal", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("manager", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        *_sums(
            "n",
            "scored",
            "total",
            "satisfied",
            "response_hits",
            "response_n",
            "resolution_hits",
            "resolution_n",
            "satisfaction_hits",
            "satisfaction_n",
        ),
        sa.Column("ack_pending", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("rectify_pending", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_feedback_daily_service_date", "feedback_daily", ["service_date"])
    op.create_index("ix_feedback_daily_ack_pending", "feedback_daily", ["ack_pending"])
    op.create_index("ix_feedback_daily_rectify_pending", "feedback_daily", ["rectify_pending"])
    op.create_table(
        "feedback_daily_part",
        *_place(),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        *_sums("n", "scored", "total", "satisfied"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_feedback_daily_part_service_date", "feedback_daily_part", ["service_date"])
    op.create_table(
        "feedback_rollup_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("covered_until", sa.Date(), nullable=True),
        sa.Column("judged_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("marked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO feedback_rollup_state (id) VALUES (1)")
    op.create_index("ix_feedback_updated_service", "feedback", ["updated_at", "service_date"])


def downgrade() -> None:
    op.drop_index("ix_feedback_updated_service", table_name="feedback")
    op.drop_table("feedback_rollup_state")
    op.drop_table("feedback_daily_part")
    op.drop_table("feedback_daily")
