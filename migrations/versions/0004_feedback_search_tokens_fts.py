"""feedback search: search_tokens column; SQLite FTS5 table + triggers, PostgreSQL generated tsvector + GIN

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 17:00:00.000000

The FTS5 table (and its shadow tables feedback_fts_*) and the column feedback.search_vector are not in
the models: the schema comparison skips them (core.migrate.include_object). The tokens are
computed in Python (feedback.tokens.search_tokens); existing rows are filled here.

SQLite note: a later batch migration that recreates `feedback` (move-and-copy) drops its triggers; such
a migration must create FTS_TRIGGERS again and refill the FTS table (feedback.tokens.rebuild_fts).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# What FTS5 indexes: the tokens, plus `zzopen` while the feedback is bound to no volume (so an archived-only
# count needs no row lookups). The content table is feedback itself, whose column lacks `zzopen`: never
# run FTS5's 'rebuild' (or 'integrity-check' with rank 1); FTS_FILL (feedback.tokens.rebuild_fts) refills.
# (A view as the content table would break every later batch migration of feedback: SQLite refuses to
# rename a table while a view names a missing one.)
_OPEN = "CASE WHEN {t}.volume_id IS NULL THEN ' zzopen' ELSE '' END"
FTS_TABLE = (
    "CREATE VIRTUAL TABLE feedback_fts USING fts5(search_tokens, content='feedback', "
    "content_rowid='id', tokenize='ascii', columnsize=0)"
)
FTS_FILL = (
    f"INSERT INTO feedback_fts(rowid, search_tokens) SELECT id, search_tokens || {_OPEN.format(t='feedback')} "
    "FROM feedback"
)
_ADD = f"INSERT INTO feedback_fts(rowid, search_tokens) VALUES (new.id, new.search_tokens || {_OPEN.format(t='new')});"
_REMOVE = (
    "INSERT INTO feedback_fts(feedback_fts, rowid, search_tokens) "
    f"VALUES ('delete', old.id, old.search_tokens || {_OPEN.format(t='old')});"
)
FTS_TRIGGERS = (
    f"CREATE TRIGGER feedback_fts_insert AFTER INSERT ON feedback BEGIN {_ADD} END",
    f"CREATE TRIGGER feedback_fts_delete AFTER DELETE ON feedback BEGIN {_REMOVE} END",
    "CREATE TRIGGER feedback_fts_update AFTER UPDATE OF search_tokens, volume_id ON feedback "
    "WHEN old.search_tokens IS NOT new.search_tokens OR (old.volume_id IS NULL) <> (new.volume_id IS NULL) "
    f"BEGIN {_REMOVE} {_ADD} END",
)


def _backfill() -> None:
    from core.fastsql import parse_date
    from feedback.tokens import search_tokens

    conn = op.get_bind()
    after = 0
    while True:
        rows = conn.execute(
            sa.text(
                "SELECT f.id, f.comment, s.name, m.title, f.service_date, f.meal, f.site_id, f.meeting_id "
                "FROM feedback f "
                "LEFT JOIN site s ON s.id = f.site_id LEFT JOIN meeting m ON m.id = f.meeting_id "
                "WHERE f.id > :after ORDER BY f.id LIMIT 5000"
            ),
            {"after": after},
        ).all()
        if not rows:
            return
        conn.execute(
            sa.text("UPDATE feedback SET search_tokens = :t WHERE id = :id"),
            [
                {
                    "id": r[0],
                    "t": search_tokens(
                        r[1],
                        r[2],
                        r[3],
                        service_date=parse_date(r[4]),
                        meal=r[5],
                        site_id=r[6],
                        meeting_id=r[7],
                    ),
                }
                for r in rows
            ],
        )
        after = rows[-1][0]


def upgrade() -> None:
    op.add_column("feedback", sa.Column("search_tokens", sa.Text(), nullable=False, server_default=""))
    _backfill()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE feedback ADD COLUMN search_vector tsvector "
            "GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, search_tokens)) STORED"
        )
        op.execute("CREATE INDEX ix_feedback_search_vector ON feedback USING gin (search_vector)")
    else:
        op.execute(FTS_TABLE)
        op.execute(FTS_FILL)
        for ddl in FTS_TRIGGERS:
            op.execute(ddl)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_feedback_search_vector")
        op.execute("ALTER TABLE feedback DROP COLUMN IF EXISTS search_vector")
    else:
        for name in ("feedback_fts_insert", "feedback_fts_delete", "feedback_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS feedback_fts")
    with op.batch_alter_table("feedback") as batch_op:
        batch_op.drop_column("search_tokens")
