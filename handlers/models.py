"""Dialog: the open feedback window of one sender, kept in the database so every worker sees it."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from core.clock import utcnow


class Dialog(SQLModel, table=True):
    """A sender's feedback window (10 minutes by default): what it is about and which feedback it fills."""

    __tablename__ = "dialog"
    id: int | None = Field(default=None, primary_key=True)
    sender: str = Field(max_length=128, unique=True)
    channel: str = Field(default="canteen", max_length=20)
    site_id: int | None = Field(default=None, foreign_key="site.id")
    table_no: str | None = Field(default=None, max_length=40)
    meeting_id: int | None = Field(default=None, foreign_key="meeting.id")
    meal: str | None = Field(default=None, max_length=20)
    feedback_id: int | None = Field(default=None, foreign_key="feedback.id")
    opened_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(default_factory=utcnow)
    # a question the window waits on (issue 12): "place" (which canteen, 回复序号), "replace" (a second
    # score: replace the first?), or None
    awaiting: str | None = Field(default=None, max_length=20)
    pending_score: int | None = None  # the second score "replace" asks about
    asked_place: bool = False  # the place was asked once in this window: never again
