"""volume: canonical line version, chain series, 立卷单位, the names items were sealed with, the PDF/A copy's
digests (issue 14, and issue 11 finding 11)

Revision ID: 0012
Revises: 0013
Create Date: 2026-12-01 23:00:00.000000

Volumes sealed before this revision keep line_version 1 and verify as they did; their series is filled
from their 档号's 全宗号 and channel, so the per-series chain continues from them.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0012"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a 四性 check's result may be `not_checked` (11 characters)
    with op.batch_alter_table("fixity_event") as batch:
        batch.alter_column(
            "outcome",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=10),
            type_=sqlmodel.sql.sqltypes.AutoString(length=20),
            existing_nullable=False,
        )
    op.add_column("volume", sa.Column("line_version", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("volume", sa.Column("series", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True))
    op.create_index(op.f("ix_volume_series"), "volume", ["series"], unique=False)
    op.add_column(
        "volume",
        sa.Column(
            "compiler_unit", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False, server_default=""
        ),
    )
    op.add_column("volume", sa.Column("names", sa.Text(), nullable=False, server_default=""))
    op.add_column(
        "volume", sa.Column("pdf_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
    )
    op.add_column("volume", sa.Column("pdf_sm3", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, scope, channel FROM volume")).all()
    for vid, scope, channel in rows:
        bind.execute(
            sa.text("UPDATE volume SET series = :s WHERE id = :i"),
            {"s": f"{scope.split('-')[0]}-WS-{channel}", "i": vid},
        )


def downgrade() -> None:
    with op.batch_alter_table("fixity_event") as batch:
        batch.alter_column(
            "outcome",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=20),
            type_=sqlmodel.sql.sqltypes.AutoString(length=10),
            existing_nullable=False,
        )
    for name in ("pdf_sm3", "pdf_sha256", "names", "compiler_unit"):
        op.drop_column("volume", name)
    op.drop_index(op.f("ix_volume_series"), table_name="volume")
    op.drop_column("volume", "series")
    op.drop_column("volume", "line_version")
