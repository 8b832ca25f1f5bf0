"""dialog: the question a feedback window waits on (awaiting: place / replace), the second score it asks
about (pending_score), and whether the place was asked already (asked_place)

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-01 23:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("dialog", sa.Column("awaiting", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
    op.add_column("dialog", sa.Column("pending_score", sa.Integer(), nullable=True))
    op.add_column(
        "dialog", sa.Column("asked_place", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    op.drop_column("dialog", "asked_place")
    op.drop_column("dialog", "pending_score")
    op.drop_column("dialog", "awaiting")
