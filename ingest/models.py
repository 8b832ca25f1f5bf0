"""The message path's table: `InboundMessage`, the log of every verified delivery (the dedupe key)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from core.clock import utcnow


class InboundMessage(SQLModel, table=True):
    """A verified inbound message or event; `dedupe_key` is unique so WeChat's retries store nothing twice."""

    __tablename__ = "inbound_message"
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=300, unique=True)
    app: str = Field(default="mp", max_length=10)
    sender: str = Field(max_length=128)
    msg_type: str = Field(max_length=40)
    event: str | None = Field(default=None, max_length=60)
    created_at: datetime  # WeChat's CreateTime
    received_at: datetime = Field(default_factory=utcnow)
    raw_xml: str = Field(sa_column=Column(Text, nullable=False))
    reply: str | None = Field(default=None, sa_column=Column(Text))
    feedback_id: int | None = Field(default=None, foreign_key="feedback.id")
    outcome: str = Field(default="handled", max_length=20)  # handled, failed
