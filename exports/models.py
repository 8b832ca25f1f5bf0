"""Volume tables: Volume, VolumeItem, FixityEvent (the archival regime: docs/archival.md).

A volume moves building → sealed → received. Its number (件号) and its items' numbers (条目序号) are
allocated when it is created (status building) and never reused; the next compile run finishes a volume a
crash left in building (`exports.seal.resume`).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.clock import utcnow


class VolumeStatus(StrEnum):
    """Where a volume is: files being written, sealed and handed over, or received by an archivist."""

    building = "building"
    sealed = "sealed"
    received = "received"


# An archived volume: sealed, whether an archivist has received it yet or not (audited, searched, served).
ARCHIVED = (VolumeStatus.sealed, VolumeStatus.received)


class Volume(SQLModel, table=True):
    """One bound volume (案卷) of one period, channel and retention code."""

    __tablename__ = "volume"
    __table_args__ = (UniqueConstraint("scope", "volume_no", name="uq_volume_scope_no"),)
    id: int | None = Field(default=None, primary_key=True)
    archival_code: str = Field(max_length=80, unique=True)  # 档号
    scope: str = Field(max_length=80, index=True)  # the 件号 sequence: fonds, year, retention, problem code
    volume_no: int  # 件号
    period: str = Field(max_length=20, index=True)  # 2026-10
    channel: str = Field(max_length=20)
    retention: str = Field(max_length=10)  # 保管期限: Y, D30, D10
    problem_code: str = Field(max_length=10)  # 问题代码: CYF, HWF
    part: int = 1  # the n-th volume of this period and channel
    title: str = Field(max_length=300)  # 案卷题名
    # 密级: 秘密/机密/绝密, or empty; a classified volume is never served over chat
    classification: str = Field(default="", max_length=10, sa_column_kwargs={"server_default": ""})
    item_count: int
    date_from: date
    date_to: date
    status: str = Field(default=VolumeStatus.building, max_length=20, index=True)
    file_name: str = Field(max_length=200)
    open_items: str = Field(
        default="", sa_column=Column(Text, nullable=False, default="")
    )  # references still open
    notes: str = Field(
        default="[]", sa_column=Column(Text, nullable=False, default="[]")
    )  # 备考 entries, JSON
    content_sha256: str | None = Field(default=None, max_length=64)
    content_sm3: str | None = Field(default=None, max_length=64)
    file_sha256: str | None = Field(default=None, max_length=64)
    file_sm3: str | None = Field(default=None, max_length=64)
    prev_archival_code: str | None = Field(default=None, max_length=80)
    prev_seal: str | None = Field(default=None, max_length=64)
    seal: str | None = Field(default=None, max_length=64)  # SHA-256 over the seal record
    compiler: str = Field(default="houqin", max_length=100)  # 立卷人
    generator: str = Field(default="", max_length=100)
    created_at: datetime = Field(default_factory=utcnow)
    sealed_at: datetime | None = None
    received_at: datetime | None = None
    received_by: str | None = Field(default=None, max_length=100)  # 检查人
    # --- issue 14 (migration 0012) ---------------------------------------------------------------------
    # the canonical line format: 1 the first (明细 without the handling record), 2 with it (exports/lines.py)
    line_version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    # the hash chain's series: 全宗 + 门类 + channel (J001-WS-canteen); NULL on volumes before 0012
    series: str | None = Field(default=None, max_length=80, index=True)
    compiler_unit: str = Field(
        default="", max_length=200, sa_column_kwargs={"server_default": ""}
    )  # 立卷单位
    # the names the items were sealed with (sites, meetings, organisers), JSON; "" on volumes before 0012
    names: str = Field(default="", sa_column=Column(Text, nullable=False, default="", server_default=""))
    pdf_sha256: str | None = Field(default=None, max_length=64)  # the PDF/A copy's file digests
    pdf_sm3: str | None = Field(default=None, max_length=64)


class VolumeItem(SQLModel, table=True):
    """One feedback bound into a volume, with its 条目序号 (its digest lives in the workbook and the seal)."""

    __tablename__ = "volume_item"
    __table_args__ = (UniqueConstraint("volume_id", "seq", name="uq_volume_item_seq"),)
    id: int | None = Field(default=None, primary_key=True)
    volume_id: int = Field(foreign_key="volume.id", index=True)
    seq: int  # 条目序号
    item_code: str = Field(max_length=100, unique=True)  # 档号/条目序号
    feedback_id: int = Field(foreign_key="feedback.id", unique=True)


class VolumePlan(SQLModel, table=True):
    """The feedback a building volume is still being bound with (`exports.plan`): the planned ids in 条目
    order, how many of them the short plan transactions have taken so far, and how many they bound. Deleted
    in the transaction that completes the volume's plan; a row left by a crash is finished by `resume`."""

    __tablename__ = "volume_plan"
    volume_id: int = Field(foreign_key="volume.id", primary_key=True)
    # the planned ids, int64 little-endian, in 条目 order
    feedback_ids: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    taken: int = 0  # ids of feedback_ids handled (bound, or skipped as no longer closed)
    bound: int = 0  # items inserted so far: the last 条目序号
    actor: str = Field(default="", max_length=100)  # who the archived events name
    at: datetime = Field(default_factory=utcnow)  # the archived events' time


class FixityEvent(SQLModel, table=True):
    """A PREMIS-style event on a volume: compile, fixity_check, receipt, and one `4x:<stage>` per 四性 check;
    outcome pass or fail (or not_checked, for a 四性 check that could not run)."""

    __tablename__ = "fixity_event"
    id: int | None = Field(default=None, primary_key=True)
    volume_id: int | None = Field(default=None, foreign_key="volume.id", index=True)
    archival_code: str = Field(max_length=80)
    event_type: str = Field(max_length=30)
    outcome: str = Field(max_length=20)  # pass, fail, not_checked (a 四性 check that could not run)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    agent: str = Field(default="houqin", max_length=100)
    at: datetime = Field(default_factory=utcnow)
