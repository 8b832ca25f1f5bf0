"""feedback_aspect (per-aspect stars from the tap-to-rate page) and feedback_form (its submissions:
idempotency keys, fingerprints for misuse, rate limits)

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-01 23:00:00.000000

New tables only: `feedback` itself is untouched (its SQLite FTS triggers stay).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0013"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback_aspect",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feedback_id", sa.Integer(), nullable=False),
        sa.Column("aspect", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["feedback_id"], ["feedback.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ux_feedback_aspect_feedback_aspect", "feedback_aspect", ["feedback_id", "aspect"], unique=True
    )
    op.create_table(
        "feedback_form",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("diner", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("place", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("feedback_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("edited", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["feedback_id"], ["feedback.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_feedback_form_diner_created", "feedback_form", ["diner", "created_at"])
    op.create_index("ix_feedback_form_place_created", "feedback_form", ["place", "created_at"])
    op.create_index("ix_feedback_form_feedback_id", "feedback_form", ["feedback_id"])


def downgrade() -> None:
    op.drop_table("feedback_form")
    op.drop_table("feedback_aspect")
