"""volume_plan: the feedback a building volume is still being bound with, so that the plan runs in short
transactions (exports.plan) and a crash between them is finished by resume (issue 11)

Revision ID: 0017_plan
Revises: 0016
Create Date: 2026-12-02 08:00:00.000000

A new table, empty: a volume left in building by a compile before this revision was planned whole in one
transaction and has no row here, which is what resume expects of a fully planned volume.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0017_plan"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "volume_plan",
        sa.Column("volume_id", sa.Integer(), nullable=False),
        sa.Column("feedback_ids", sa.LargeBinary(), nullable=False),
        sa.Column("taken", sa.Integer(), nullable=False),
        sa.Column("bound", sa.Integer(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["volume_id"], ["volume.id"]),
        sa.PrimaryKeyConstraint("volume_id"),
    )


def downgrade() -> None:
    op.drop_table("volume_plan")
