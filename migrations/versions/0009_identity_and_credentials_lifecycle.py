"""identity and credentials (issue 11): one-time binding codes and binding attempts, an atomic login
throttle, token expiry, the approver's account and revocable access links on lookup requests

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-01 23:10:00.000000

New columns are nullable: tokens made before never expire until revoked, decisions made before name
only the approver.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None

UTC = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("window_start", UTC(), nullable=False),
        sa.Column("blocked_until", UTC(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "bind_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("issued_by", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("issued_at", UTC(), nullable=False),
        sa.Column("expires_at", UTC(), nullable=False),
        sa.Column("used_at", UTC(), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_bind_code_person_id"), "bind_code", ["person_id"], unique=False)
    op.create_table(
        "bind_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("staff_no", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("at", UTC(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_bind_attempt_sender"), "bind_attempt", ["sender"], unique=False)
    op.create_index(op.f("ix_bind_attempt_staff_no"), "bind_attempt", ["staff_no"], unique=False)
    op.create_index(op.f("ix_bind_attempt_at"), "bind_attempt", ["at"], unique=False)
    op.add_column("api_token", sa.Column("expires_at", UTC(), nullable=True))
    op.add_column(
        "lookup_request",
        sa.Column("approver_account", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    )
    op.add_column("lookup_request", sa.Column("revoked_at", UTC(), nullable=True))
    op.add_column(
        "lookup_request", sa.Column("revoked_by", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("lookup_request", "revoked_by")
    op.drop_column("lookup_request", "revoked_at")
    op.drop_column("lookup_request", "approver_account")
    op.drop_column("api_token", "expires_at")
    op.drop_index(op.f("ix_bind_attempt_at"), table_name="bind_attempt")
    op.drop_index(op.f("ix_bind_attempt_staff_no"), table_name="bind_attempt")
    op.drop_index(op.f("ix_bind_attempt_sender"), table_name="bind_attempt")
    op.drop_table("bind_attempt")
    op.drop_index(op.f("ix_bind_code_person_id"), table_name="bind_code")
    op.drop_table("bind_code")
    op.drop_table("login_throttle")
