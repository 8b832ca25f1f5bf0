"""lookup_request: 利用效果反馈 — when and how the requester was asked how the use served, and the answer
(1 解决问题, 2 部分解决, 3 未解决), its note and time (issue 14)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 04:30:00.000000

All nullable; rows that exist keep NULL, which is what the register's replay expects of a request never
asked (lookups/register.py).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "lookup_request", sa.Column("effect_asked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
    )
    op.add_column(
        "lookup_request",
        sa.Column("effect_asked_via", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True),
    )
    op.add_column("lookup_request", sa.Column("effect", sa.Integer(), nullable=True))
    op.add_column(
        "lookup_request", sa.Column("effect_note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True)
    )
    op.add_column("lookup_request", sa.Column("effect_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    for name in ("effect_at", "effect_note", "effect", "effect_asked_via", "effect_asked_at"):
        op.drop_column("lookup_request", name)
