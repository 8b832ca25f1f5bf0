"""inbound_message: message dedupe keys include the sender (app:m:<sender>:<MsgId>); feedback_media: the
download's attempts, next try and last error (a failing media download backs off and stops)

Revision ID: 0008
Revises: 0011
Create Date: 2026-12-01 23:30:00.000000

MsgIds are not unique across senders (WxJava#333): the old key `app:m:<MsgId>` answered a second sender
with the first one's stored reply. Existing rows are rekeyed in place, so a WeChat retry arriving across
the upgrade still finds its row.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0011"
branch_labels = None
depends_on = None

# "mp:m:123" → "mp:m:<sender>:123": the old key's tail after "<app>:m:" is the MsgId.
_REKEY = (
    "UPDATE inbound_message SET dedupe_key = app || ':m:' || sender || ':' || substr(dedupe_key, length(app) + 4) "
    "WHERE dedupe_key LIKE app || ':m:%'"
)
_UNKEY = (
    "UPDATE inbound_message SET dedupe_key = app || ':m:' || substr(dedupe_key, length(app) + length(sender) + 5) "
    "WHERE dedupe_key LIKE app || ':m:' || sender || ':%'"
)


def upgrade() -> None:
    op.execute(_REKEY)
    op.add_column("feedback_media", sa.Column("fetch_attempts", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("feedback_media", sa.Column("next_fetch_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.add_column(
        "feedback_media",
        sa.Column("fetch_error", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_column("feedback_media", "fetch_error")
    op.drop_column("feedback_media", "next_fetch_at")
    op.drop_column("feedback_media", "fetch_attempts")
    op.execute(_UNKEY)
