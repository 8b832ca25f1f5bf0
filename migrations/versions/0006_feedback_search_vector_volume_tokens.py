"""feedback search: PostgreSQL's search_vector carries `zzopen` while the feedback is bound to no volume, else
`zzvol<volume id>`

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 10:00:00.000000

An archived-only query excludes `zzopen` (as on SQLite since 0004) and the token of every volume still being
built in the index, so those rows (the newest month's) are never read only to be rejected. PostgreSQL 15
cannot change a generated column's expression: the column and its GIN index are dropped and added again (a
table rewrite). SQLite: nothing to do.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_VECTOR = "to_tsvector('simple'::regconfig, {expr})"
_WITH_VOLUME = (
    "search_tokens || CASE WHEN volume_id IS NULL THEN ' zzopen' ELSE ' zzvol' || volume_id::text END"
)


def _vector(expr: str) -> None:
    op.execute("DROP INDEX IF EXISTS ix_feedback_search_vector")
    op.execute("ALTER TABLE feedback DROP COLUMN IF EXISTS search_vector")
    op.execute(
        f"ALTER TABLE feedback ADD COLUMN search_vector tsvector "
        f"GENERATED ALWAYS AS ({_VECTOR.format(expr=expr)}) STORED"
    )
    op.execute("CREATE INDEX ix_feedback_search_vector ON feedback USING gin (search_vector)")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _vector(_WITH_VOLUME)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _vector("search_tokens")
