"""The organiser's per-meeting report (Excel): summary numbers, the list with comments kept as text, diners
as pseudonyms; downloaded from the console and the API by reception managers and admins only."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from console.auth import create_token
from core.clock import utcnow
from core.settings import Settings
from exports.meeting_report import ReportError, meeting_report
from feedback import review
from feedback.models import Feedback, Meeting
from feedback.service import pseudonym
from server.app import create_app
from tests.support.console_helpers import add_users, login

FORMULA = '=HYPERLINK("http://evil.example","点我")'


def add_meeting_feedback(session: Session) -> Meeting:
    m = Meeting(
        code="HY2026R",
        title="全市后勤工作会议",
        starts_on=date(2026, 11, 20),
        ends_on=date(2026, 11, 21),
        venue="第一会议室",
        organiser="办公室",
    )
    session.add(m)
    session.flush()
    now = utcnow()
    rows = [
        ("FK20261120-0001", "o_alice", 5, "服务周到"),
        ("FK20261120-0002", "o_bob", 4, FORMULA),
        ("FK20261120-0003", "o_carol", 2, "茶水不够热"),
        ("FK20261120-0004", "o_dave", None, "=1+1"),
    ]
    for i, (ref, sender, score, comment) in enumerate(rows):
        session.add(
            Feedback(
                reference=ref,
                channel="meeting",
                sender=sender,
                meeting_id=m.id,
                service_date=m.starts_on,
                score=score,
                comment=comment,
                created_at=now - timedelta(hours=10 - i),
            )
        )
    # someone else's meeting and a misuse row stay out
    session.add(
        Feedback(reference="FK20261120-0009", sender="o_x", service_date=m.starts_on, score=1, comment="食堂")
    )
    session.add(
        Feedback(
            reference="FK20261120-0010",
            channel="meeting",
            sender="o_y",
            meeting_id=m.id,
            service_date=m.starts_on,
            comment="广告",
            misuse=True,
        )
    )
    session.flush()
    fb3 = session.execute(select(Feedback).where(col(Feedback.reference) == "FK20261120-0003")).scalar_one()
    review.reply(session, feedback_id=fb3.id or 0, actor="赵会务", text="已通知会务组加热茶水")
    session.commit()
    return m


def test_the_report_sums_up_the_meeting_and_lists_its_feedback(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    m = add_meeting_feedback(session)
    path = meeting_report(session, meeting_id=m.id or 0, settings=settings, path=tmp_path / "r.xlsx")
    wb = load_workbook(path)
    assert wb.sheetnames == ["汇总", "反馈清单"]
    summary = {r[0]: r[1] for r in wb["汇总"].iter_rows(min_row=2, values_only=True)}
    assert summary["会议名称"] == "全市后勤工作会议"
    assert summary["会议日期"] == "2026-11-20 至 2026-11-21"
    assert (summary["会场"], summary["主办单位"]) == ("第一会议室", "办公室")
    assert summary["反馈条数"] == 4 and summary["有评分条数"] == 3
    assert summary["平均分"] == pytest.approx(3.67)
    assert summary["满意度（4–5分占比）"] == "66.7%（2/3，n=3）"
    assert summary["回复率"] == "25.0%（1/4）"
    ws = wb["汇总"]
    assert str(ws.page_setup.paperSize) == "9"  # A4
    assert ws["A1"].font.name == "黑体" and ws["B2"].font.name == "宋体"

    items = wb["反馈清单"]
    rows = list(items.iter_rows(values_only=True))
    assert rows[0][0] == "全市后勤工作会议 反馈清单"
    assert rows[1] == ("反馈编号", "反馈人", "时间", "评分", "意见内容", "处理状态", "回复")
    assert items.print_title_rows == "$1:$2"  # title and header on every page
    assert [r[0] for r in rows[2:]] == [f"FK20261120-000{i}" for i in (1, 2, 3, 4)]
    by_ref = {r[0]: r for r in rows[2:]}
    assert by_ref["FK20261120-0002"][4] == FORMULA
    assert by_ref["FK20261120-0003"][5] == "已受理" and by_ref["FK20261120-0001"][5] == "待处理"
    assert by_ref["FK20261120-0003"][6] == "已通知会务组加热茶水"
    assert by_ref["FK20261120-0004"][3] is None
    for row in items.iter_rows(min_row=3):
        assert row[4].data_type == "s"  # the comment is text, never a formula
    assert by_ref["FK20261120-0001"][1] == pseudonym("o_alice", secret=settings.pseudonym_secret)
    everything = repr(
        [list(ws.iter_rows(values_only=True)) for ws in wb.worksheets]  # openids never leave the database
    )
    assert "o_alice" not in everything and "o_bob" not in everything and "广告" not in everything


def test_an_empty_meeting_reports_zero_with_n_and_an_unknown_one_is_refused(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    m = Meeting(code="HY0", title="空会议", starts_on=date(2026, 11, 1), ends_on=date(2026, 11, 1))
    session.add(m)
    session.commit()
    wb = load_workbook(
        meeting_report(session, meeting_id=m.id or 0, settings=settings, path=tmp_path / "e.xlsx")
    )
    summary = {r[0]: r[1] for r in wb["汇总"].iter_rows(min_row=2, values_only=True)}
    assert summary["会议日期"] == "2026-11-01" and summary["反馈条数"] == 0
    assert summary["满意度（4–5分占比）"] == "—（n=0）"
    with pytest.raises(ReportError):
        meeting_report(session, meeting_id=9999, settings=settings, path=tmp_path / "x.xlsx")


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    add_users(engine)
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def test_reception_downloads_the_report_from_the_console_and_the_api(
    client: TestClient, engine: Engine, session: Session
) -> None:
    m = add_meeting_feedback(session)
    login(client, "reception")
    page = client.get("/console/meetings")
    assert "/console/meetings/HY2026R/report.xlsx" in page.text
    r = client.get("/console/meetings/HY2026R/report.xlsx")
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in r.headers["content-disposition"]
    assert load_workbook(io.BytesIO(r.content)).sheetnames == ["汇总", "反馈清单"]

    with Session(engine) as s:
        tokens = {u: create_token(s, username=u, name="t") for u in ("admin", "canteen", "reception")}
        s.commit()
    api = TestClient(client.app)
    for user in ("reception", "admin"):
        for key in (str(m.id), "HY2026R"):
            got = api.get(
                f"/api/v1/meetings/{key}/report", headers={"Authorization": f"Bearer {tokens[user]}"}
            )
            assert got.status_code == 200, (user, key, got.text[:200])
            assert load_workbook(io.BytesIO(got.content))["汇总"]["B2"].value == "全市后勤工作会议"
    canteen = {"Authorization": f"Bearer {tokens['canteen']}"}
    assert api.get(f"/api/v1/meetings/{m.id}/report", headers=canteen).status_code == 403
    reception = {"Authorization": f"Bearer {tokens['reception']}"}
    assert api.get("/api/v1/meetings/9999/report", headers=reception).status_code == 404


def test_control_characters_in_a_title_or_reply_never_break_the_report(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    """Issue 11: one control character made the meeting's report fail for good."""
    m = Meeting(code="HYC", title="会议\x07标题", starts_on=date(2026, 11, 1), ends_on=date(2026, 11, 1))
    session.add(m)
    session.flush()
    session.add(
        Feedback(
            reference="FK20261101-0001",
            channel="meeting",
            sender="o_c",
            meeting_id=m.id,
            service_date=m.starts_on,
            score=3,
            comment="茶水\x1b凉了",
        )
    )
    session.flush()
    fb = session.execute(select(Feedback).where(col(Feedback.reference) == "FK20261101-0001")).scalar_one()
    review.reply(session, feedback_id=fb.id or 0, actor="赵\x01会务", text="已\x0b处理")
    session.commit()
    wb = load_workbook(
        meeting_report(session, meeting_id=m.id or 0, settings=settings, path=tmp_path / "c.xlsx")
    )
    cells = [
        str(v) for ws in wb.worksheets for r in ws.iter_rows(values_only=True) for v in r if v is not None
    ]
    assert any("会议标题" in c for c in cells) and any("茶水凉了" in c for c in cells)
    assert not any(ch in c for c in cells for ch in "\x07\x1b\x01\x0b")
