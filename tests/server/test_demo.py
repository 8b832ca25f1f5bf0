"""Demo data (`houqin demo`): counts, reference numbers, scores, dates, meetings, photos, handling, determinism, CLI."""

from __future__ import annotations

import os
import re
import statistics
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select
from sqlmodel import Session, col
from typer.testing import CliRunner

from core.db import make_engine
from core.settings import Settings, get_settings
from feedback.models import Feedback, FeedbackEvent, FeedbackMedia, Meeting, Site
from server.cli import app as cli
from server.demo import data as demo
from server.demo.data import CANTEEN_ACTORS, MEETING_ACTORS
from server.demo.fill import DemoSummary, demo_feedback_count, demo_period, fill_demo

TODAY = date(2026, 11, 24)  # a Tuesday
REFERENCE = re.compile(r"^FK(\d{8})-(\d{4})$")


def fill(
    session: Session, settings: Settings, *, count: int = 200, seed: int = 2026, today: date = TODAY
) -> DemoSummary:
    summary = fill_demo(session, settings=settings, count=count, seed=seed, today=today)
    session.commit()
    return summary


def feedbacks(session: Session) -> list[Feedback]:
    session.expire_all()
    return list(session.execute(select(Feedback).order_by(col(Feedback.id))).scalars())


def local(dt: datetime, settings: Settings) -> datetime:
    assert dt.tzinfo is not None
    return dt.astimezone(settings.tz)


# --- what is made ----------------------------------------------------------------------------------------


def test_counts_are_as_requested(session: Session, settings: Settings) -> None:
    summary = fill(session, settings, count=150)
    rows = feedbacks(session)
    assert len(rows) == summary.feedbacks == 150
    assert {r.source for r in rows} == {"demo"}
    sites = list(session.execute(select(Site)).scalars())
    assert sorted((s.code, s.name, s.kind) for s in sites) == [
        ("est", "机关二食堂", "canteen"),
        ("hys", "第一会议室", "venue"),
        ("yst", "机关一食堂", "canteen"),
        ("zgct", "职工餐厅", "canteen"),
    ]
    meetings = list(session.execute(select(Meeting)).scalars())
    assert len(meetings) == summary.meetings == 4
    assert all(m.title and m.venue and m.organiser and m.qr_ticket is None for m in meetings)
    assert summary.sites == 4
    assert summary.photos == session.execute(select(func.count()).select_from(FeedbackMedia)).scalar_one()
    assert summary.events == session.execute(select(func.count()).select_from(FeedbackEvent)).scalar_one()
    assert demo_feedback_count(session) == 150


def test_default_count(session: Session, settings: Settings) -> None:
    fill(session, settings, count=400)
    assert demo_feedback_count(session) == 400


def test_zero_count_makes_sites_and_meetings_only(session: Session, settings: Settings) -> None:
    summary = fill(session, settings, count=0)
    assert (summary.sites, summary.meetings, summary.feedbacks, summary.photos) == (4, 4, 0, 0)
    with pytest.raises(ValueError):
        fill_demo(session, settings=settings, count=-1, seed=1, today=TODAY)


def test_references_are_unique_and_dated_by_the_local_day(session: Session, settings: Settings) -> None:
    fill(session, settings, count=300)
    rows = feedbacks(session)
    assert len({r.reference for r in rows}) == len(rows)
    by_day: dict[str, list[tuple[datetime, int]]] = {}
    for r in rows:
        m = REFERENCE.match(r.reference)
        assert m, r.reference
        created = local(r.created_at, settings)
        assert m.group(1) == created.strftime("%Y%m%d")
        assert r.service_date == created.date()
        by_day.setdefault(m.group(1), []).append((r.created_at, int(m.group(2))))
    for day, items in by_day.items():
        items.sort()
        assert [n for _, n in items] == list(range(1, len(items) + 1)), day  # gap-free, in time order


def test_scores_are_skewed_positive(session: Session, settings: Settings) -> None:
    fill(session, settings, count=400)
    rows = feedbacks(session)
    scores = [r.score for r in rows if r.score is not None]
    assert all(1 <= s <= 5 for s in scores)
    assert 3.5 <= statistics.mean(scores) <= 4.6
    unscored = [r for r in rows if r.score is None]
    assert 0.04 <= len(unscored) / len(rows) <= 0.18
    assert all(r.comment for r in unscored)  # unscored feedback is free text
    counts = Counter(scores)
    assert counts[5] + counts[4] > 2 * (counts[1] + counts[2] + counts[3])
    assert counts[1] + counts[2] > 0 and counts[3] > 0


def test_comments_match_the_score(session: Session, settings: Settings) -> None:
    fill(session, settings, count=400)
    pools = [demo.BREAKFAST_COMMENTS, demo.MAIN_MEAL_COMMENTS, demo.CANTEEN_COMMENTS, demo.MEETING_COMMENTS]
    pos = {c for p in pools for c in p["pos"]}
    neg = {c for p in pools for c in p["neg"]}
    rows = feedbacks(session)
    for r in rows:
        if r.score == 5 and r.comment:
            assert all(part in pos for part in r.comment.split("，")), r.comment
        if r.score is not None and r.score <= 2:
            assert any(c in r.comment for c in neg), r.comment
    meeting_words = {c for kind in demo.MEETING_COMMENTS.values() for c in kind}
    for r in rows:
        if r.channel == "meeting" and r.comment:
            assert any(c in r.comment for c in meeting_words), r.comment
    assert len({r.comment for r in rows}) > 60  # varied


def test_dates_fall_within_the_previous_month_to_today(session: Session, settings: Settings) -> None:
    fill(session, settings, count=400)
    first, last = demo_period(TODAY)
    assert (first, last) == (date(2026, 10, 1), date(2026, 11, 23))
    rows = feedbacks(session)
    days = [local(r.created_at, settings).date() for r in rows]
    assert all(first <= d <= TODAY for d in days)
    assert {d.month for d in days} == {10, 11}
    workdays = [d for d in days if d.weekday() < 5]
    assert len(workdays) / len(days) > 0.85
    windows = {
        "breakfast": (time(7, 0), time(9, 0)),
        "lunch": (time(11, 30), time(13, 0)),
        "dinner": (time(17, 30), time(19, 0)),
    }
    meals = Counter(r.meal for r in rows if r.channel == "canteen")
    assert meals["lunch"] > meals["breakfast"] > 0 and meals["dinner"] > 0
    for r in rows:
        if r.meal:
            start, end = windows[r.meal]
            assert start <= local(r.created_at, settings).time() <= end, (r.meal, r.created_at)


@pytest.mark.parametrize("today", [date(2026, 11, 1), date(2027, 1, 15), date(2026, 3, 31)])
def test_period_crosses_month_and_year_ends(session: Session, settings: Settings, today: date) -> None:
    fill(session, settings, count=80, today=today)
    first, last = demo_period(today)
    assert first.day == 1 and first < today.replace(day=1) and last == today - timedelta(days=1)
    days = [local(r.created_at, settings).date() for r in feedbacks(session)]
    assert all(first <= d <= last for d in days)
    for m in session.execute(select(Meeting)).scalars():
        assert first <= m.starts_on <= m.ends_on <= last


def test_meeting_feedback_has_a_meeting_and_no_meal(session: Session, settings: Settings) -> None:
    fill(session, settings, count=300)
    meetings = {m.id: m for m in session.execute(select(Meeting)).scalars()}
    canteens = {s.id for s in session.execute(select(Site).where(col(Site.kind) == "canteen")).scalars()}
    rows = feedbacks(session)
    on_meetings = [r for r in rows if r.channel == "meeting"]
    assert 0.05 < len(on_meetings) / len(rows) < 0.2
    assert {r.meeting_id for r in on_meetings} == set(meetings)  # every meeting got some
    for r in on_meetings:
        assert r.meeting_id is not None and r.meal is None and r.table_no is None
        m = meetings[r.meeting_id]
        assert m.starts_on <= local(r.created_at, settings).date() <= m.ends_on + timedelta(days=1)
    for r in rows:
        if r.channel == "canteen":
            assert (
                r.meeting_id is None and r.meal in ("breakfast", "lunch", "dinner") and r.site_id in canteens
            )
    senders = Counter(r.sender for r in rows)
    assert all(re.fullmatch(r"o_demo_[0-9A-F]{4}", s) for s in senders)
    assert len(senders) <= 90 and max(senders.values()) > 1  # a few diners, reused
    assert any(r.table_no for r in rows) and any(r.table_no is None for r in rows if r.channel == "canteen")


def test_photos_are_real_pngs_under_the_data_dir(session: Session, settings: Settings) -> None:
    summary = fill(session, settings, count=250)
    media = list(session.execute(select(FeedbackMedia)).scalars())
    assert len(media) == summary.photos == 20  # 8 %
    refs = {r.id: r for r in feedbacks(session)}
    for m in media:
        fb = refs[m.feedback_id]
        assert m.kind == "image" and m.media_id == f"demo-{fb.reference}"
        assert m.local_path == f"media/demo/{fb.reference}.png"
        path = settings.data_dir / m.local_path
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(path) as img:
            img.load()
            assert img.format == "PNG" and img.size == (320, 240)
        assert m.created_at >= fb.created_at and fb.updated_at >= fb.created_at
        assert m.created_at - fb.created_at < timedelta(minutes=5)


def test_handling_history_matches_the_status(session: Session, settings: Settings) -> None:
    fill(session, settings, count=400)
    rows = feedbacks(session)
    events: dict[int, list[FeedbackEvent]] = {}
    for e in session.execute(
        select(FeedbackEvent).order_by(col(FeedbackEvent.at), col(FeedbackEvent.id))
    ).scalars():
        events.setdefault(e.feedback_id, []).append(e)
    cutoff = datetime.combine(TODAY, time(0), tzinfo=settings.tz)
    order = ["new", "acknowledged", "rectifying", "resolved", "closed"]
    status_of = {"acknowledged": "acknowledged", "rectification": "rectifying", "resolved": "resolved",
                 "closed": "closed"}  # fmt: skip
    managers = set(CANTEEN_ACTORS + MEETING_ACTORS)
    for r in rows:
        assert r.id is not None
        history = events.get(r.id, [])
        steps = [status_of[e.action] for e in history if e.action in status_of]
        reopened = any(e.action == "reopened" for e in history)
        assert r.status == ("rectifying" if reopened else steps[-1] if steps else "new")
        assert [order.index(s) for s in steps] == sorted({order.index(s) for s in steps})
        assert all(r.created_at < e.at < cutoff for e in history)
        assert all(e.actor in managers for e in history if e.action not in ("revisit_answered", "reopened"))
        if history:
            assert history[0].action == "acknowledged" and r.updated_at == history[-1].at
            assert r.acknowledged_at == history[0].at and r.acknowledged_by in managers
        if r.revisit_answer is not None:
            assert r.score is not None and r.score <= 3 and r.revisit_answered_at is not None
    # a working canteen: replies, rectifications, answered return visits, open items past their deadline
    actions = Counter(e.action for h in events.values() for e in h)
    assert actions["replied"] > len(rows) / 2 and actions["rectification"] > 10
    assert actions["revisit_answered"] > 5 and actions["reopened"] >= 1
    assert all(r.ack_due_at is not None for r in rows)
    old = [r.status for r in rows if (TODAY - r.service_date).days > 21]
    recent = [r.status for r in rows if (TODAY - r.service_date).days <= 3]
    assert sum(s in ("closed", "resolved") for s in old) / len(old) > 0.8
    assert recent and sum(s in ("new", "acknowledged") for s in recent) / len(recent) > 0.6
    assert Counter(r.status for r in rows)["closed"] > len(rows) / 2


def test_existing_sites_are_reused(session: Session, settings: Settings) -> None:
    session.add(Site(code="yst", name="一食堂", kind="canteen"))
    session.commit()
    fill(session, settings, count=40)
    assert (
        session.execute(select(func.count()).select_from(Site).where(col(Site.code) == "yst")).scalar_one()
        == 1
    )
    assert session.execute(select(func.count()).select_from(Site)).scalar_one() == 4


def test_same_seed_same_data(session: Session, settings: Settings) -> None:
    def run(seed: int) -> list[tuple[str, str, int | None, str]]:
        fill_demo(session, settings=settings, count=120, seed=seed, today=TODAY)
        session.flush()
        got = [(r.reference, r.comment, r.score, r.sender) for r in feedbacks(session)]
        session.rollback()
        return got

    first = run(2026)
    assert run(2026) == first
    assert run(7) != first


def test_a_second_fill_continues_the_numbering(session: Session, settings: Settings) -> None:
    fill(session, settings, count=60)
    fill(session, settings, count=60)
    rows = feedbacks(session)
    assert len(rows) == 120 and len({r.reference for r in rows}) == 120
    assert session.execute(select(func.count()).select_from(Meeting)).scalar_one() == 4  # same seed, reused


# --- CLI -------------------------------------------------------------------------------------------------


def _demo_count(db_url: str) -> int:
    engine = make_engine(db_url)
    try:
        with Session(engine) as s:
            return demo_feedback_count(s)
    finally:
        engine.dispose()


def test_cli_demo_fills_then_refuses_without_force(
    cli_env: dict[str, str], db_url: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["demo", "--count", "50", "--seed", "3"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "50 条反馈" in result.output and "feedbacks" in result.output
    assert "/simulator" in result.output
    assert _demo_count(db_url) == 50
    photos = list((tmp_path / "data" / "media" / "demo").glob("FK*.png"))
    assert len(photos) == 4

    again = runner.invoke(cli, ["demo", "--count", "50"], env=cli_env)
    assert again.exit_code == 1
    assert len(again.output.strip().splitlines()) == 1
    assert "--force" in again.output
    assert _demo_count(db_url) == 50

    forced = runner.invoke(cli, ["demo", "--count", "20", "--force"], env=cli_env)
    assert forced.exit_code == 0, forced.output
    assert _demo_count(db_url) == 70


def test_cli_demo_migrates_a_new_embedded_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("HOUQIN_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["demo", "--count", "30"], env={})
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert _demo_count(f"sqlite:///{tmp_path / 'var' / 'houqin.db'}") == 30
    assert len(list((tmp_path / "var" / "media" / "demo").glob("*.png"))) == 2


def test_demo_dates_use_aware_utc(session: Session, settings: Settings) -> None:
    fill(session, settings, count=30)
    for r in feedbacks(session):
        assert r.created_at.tzinfo is not None and r.created_at.utcoffset() == UTC.utcoffset(None)
