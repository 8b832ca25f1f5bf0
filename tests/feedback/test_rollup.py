"""The per-day rollups (feedback.rollup, issue 13): the dashboard, its aspects and the 三率 read from them give
exactly what the live computation over `feedback` gives, on the same data — after a bulk fill, after
acknowledgements, replies, rectifications, closes, return-visit answers, a diner's late score and misuse, and
after deadlines pass with the clock; through a read-only console session too."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import time_machine
from sqlalchemy import Engine, func, select, update
from sqlmodel import Session, col

from core.clock import utcnow
from core.db import read_unit
from core.settings import Settings
from feedback import rates, review, revisit, rollup, stats
from feedback.models import Feedback, FeedbackAspect, FeedbackDaily, Revisit, Status
from server.demo.bulk import fill_bulk

TZ = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 6, 15)
NOW = datetime(2026, 6, 15, 10, 0, tzinfo=TZ)
LATE_DAY = TODAY - timedelta(days=40)  # a feedback about a meal 40 days ago, received today
RANGES = [
    (TODAY - timedelta(days=30), TODAY - timedelta(days=1)),
    (TODAY - timedelta(days=730), TODAY - timedelta(days=1)),
    (TODAY - timedelta(days=300), TODAY - timedelta(days=200)),
    (TODAY - timedelta(days=20), TODAY),
]


def _both(session: Session, settings: Settings, now: datetime) -> list[tuple[Any, Any]]:
    """(rollup-backed, live) pairs of every figure for every range and channel."""
    out = []
    for start, end in RANGES:
        for channel in (None, "canteen", "meeting"):
            args: dict[str, Any] = {"start": start, "end": end, "channel": channel}
            rolled = stats.dashboard(session, settings=settings, now=now, **args).as_dict()
            live = stats.dashboard(session, settings=settings, now=now, rollups=False, **args).as_dict()
            out.append((rolled, live))
            out.append(
                (
                    rates.rates(session, now=now, **args).as_dict(),
                    rates.rates(session, now=now, rollups=False, **args).as_dict(),
                )
            )
    return out


def _same(session: Session, settings: Settings, now: datetime) -> None:
    for rolled, live in _both(session, settings, now):
        assert rolled == live


def _old(session: Session, *, status: str, n: int, min_days: int = 60, **where: Any) -> list[Feedback]:
    query = select(Feedback).where(
        col(Feedback.status) == status,
        col(Feedback.service_date) < TODAY - timedelta(days=min_days),
        *[getattr(Feedback, k) == v for k, v in where.items()],
    )
    return list(session.execute(query.order_by(col(Feedback.id)).limit(n)).scalars())


def _aspects(session: Session) -> None:
    """Form aspects on some canteen and meeting feedbacks (the bulk fill writes none), their feedbacks
    stamped as changed (as the form's edit does)."""
    every7 = col(Feedback.id) % 7 == 0
    rows = session.execute(select(col(Feedback.id), col(Feedback.channel)).where(every7)).all()
    session.execute(update(Feedback).where(every7).values(updated_at=utcnow()))
    for fid, channel in rows:
        names = ("口味", "卫生") if channel == "canteen" else ("会场", "餐饮")
        for k, name in enumerate(names):
            session.add(FeedbackAspect(feedback_id=fid, aspect=name, score=1 + (fid + k) % 5))


def test_rollup_matches_live(engine: Engine, settings: Settings) -> None:
    with time_machine.travel(NOW, tick=False):
        fill_bulk(engine, settings=settings, count=3000, months=24, seed=5, today=TODAY)
        with Session(engine, expire_on_commit=False) as s:
            _aspects(s)
            s.commit()
            rollup.rebuild(s, now=utcnow())
            s.commit()
            assert s.execute(select(func.count()).select_from(FeedbackDaily)).scalar_one() > 100
            _same(s, settings, utcnow())
            s.commit()

            # the rollup is what answers: a tampered rollup row shows in the figures (and only there)
            years = (TODAY - timedelta(days=730), TODAY - timedelta(days=1))
            before = stats.dashboard(s, settings=settings, start=years[0], end=years[1]).overall.n
            one = (
                s.execute(
                    select(col(FeedbackDaily.id)).where(
                        col(FeedbackDaily.service_date) < TODAY - timedelta(days=30)
                    )
                )
                .scalars()
                .first()
            )
            s.execute(
                update(FeedbackDaily).where(col(FeedbackDaily.id) == one).values(n=FeedbackDaily.n + 1000)
            )
            after = stats.dashboard(s, settings=settings, start=years[0], end=years[1]).overall.n
            assert after == before + 1000
            rollup.rebuild(s, now=utcnow())
            s.commit()

    # the handling of old feedbacks, an hour later
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        with Session(engine, expire_on_commit=False) as s:
            new = _old(s, status=Status.new, n=6)
            assert len(new) == 6
            review.acknowledge(s, feedback_id=new[0].id, actor="王经理")  # type: ignore[arg-type]
            review.reply(s, feedback_id=new[1].id, actor="李经理", text="已收到，马上整改")  # type: ignore[arg-type]
            review.record_rectification(
                s,
                feedback_id=new[2].id,  # type: ignore[arg-type]
                actor="王经理",
                measure="加强口味把关",
                owner="王厨师长",
                deadline=str(TODAY),
            )
            low = [f for f in _old(s, status=Status.new, n=50) if (f.score or 5) <= 3][:2]
            for f in low:
                review.close(s, feedback_id=f.id, actor="赵经理", note="已整改")  # type: ignore[arg-type]
            asked = _old(s, status=Status.closed, n=40)
            answered = [f for f in asked if f.revisit_asked_at is not None][:2]
            for f, answer in zip(answered, (Revisit.unsatisfied, Revisit.satisfied), strict=False):
                revisit.record_answer(s, feedback=f, answer=answer, actor=f.sender, now=utcnow())
            late = _old(s, status=Status.new, n=1, score=None)
            if late:
                late[0].score = 1
                late[0].updated_at = utcnow()
                s.add(late[0])
            s.add(
                Feedback(
                    reference="FK-LATE-1",
                    sender="o_late",
                    site_id=new[0].site_id,
                    meal="lunch",
                    service_date=LATE_DAY,
                    score=2,
                    comment="上个月的菜太咸",
                    ack_due_at=utcnow() + timedelta(days=2),
                    rectify_due_at=utcnow() + timedelta(days=5),
                )
            )
            new[4].misuse = True
            new[4].updated_at = utcnow()
            s.add(new[4])
            s.commit()
            _same(s, settings, utcnow())
            s.commit()
        # a console GET's read-only session brings the rollup up to date in a transaction of its own
        with Session(engine) as s:
            review.close(s, feedback_id=new[5].id, actor="钱经理")  # type: ignore[arg-type]
            s.commit()
        with read_unit(engine) as r:
            _same(r, settings, utcnow())

    # three days on: the late feedback's deadlines have passed (the 三率 judge it now), which the rollup
    # learns from the deadline it kept as still ahead (ack_pending), not from a write
    with time_machine.travel(NOW + timedelta(days=3), tick=False), Session(engine) as s:
        kept = s.execute(
            select(col(FeedbackDaily.ack_pending)).where(
                col(FeedbackDaily.service_date) == LATE_DAY, col(FeedbackDaily.ack_pending).is_not(None)
            )
        ).scalar_one()
        assert kept <= utcnow()
        month = (LATE_DAY - timedelta(days=5), LATE_DAY + timedelta(days=5))
        then = rates.rates(s, start=month[0], end=month[1], now=NOW + timedelta(hours=1)).overall
        now = rates.rates(s, start=month[0], end=month[1], now=utcnow()).overall
        assert now.now[0].n == then.now[0].n + 1
        _same(s, settings, utcnow())


def test_aspects_on_the_dashboard(engine: Engine, settings: Settings) -> None:
    """Average and n per aspect, overall, per canteen and per meeting (from the form's stars)."""
    with time_machine.travel(NOW, tick=False):
        fill_bulk(engine, settings=settings, count=400, months=2, seed=3, today=TODAY)
        with Session(engine) as s:
            _aspects(s)
            s.commit()
            start = TODAY - timedelta(days=60)
            d = stats.dashboard(s, settings=settings, start=start, end=TODAY).as_dict()["aspects"]
            rows = s.execute(
                select(col(FeedbackAspect.aspect), func.count(), func.avg(col(FeedbackAspect.score)))
                .join(Feedback, col(Feedback.id) == col(FeedbackAspect.feedback_id))
                .where(col(Feedback.misuse).is_(False), col(Feedback.service_date) >= start)
                .group_by(col(FeedbackAspect.aspect))
            ).all()
            expected = {name: (int(n), round(float(avg), 2)) for name, n, avg in rows}
            assert {a["label"]: (a["n"], a["mean"]) for a in d["overall"]} == expected
            assert [a["label"] for a in d["overall"]] == ["口味", "卫生", "会场", "餐饮"]
            assert d["by_site"] and all(
                {a["label"] for a in site["aspects"]} <= {"口味", "卫生"} for site in d["by_site"]
            )
            assert d["by_meeting"] and all(
                {a["label"] for a in m["aspects"]} <= {"会场", "餐饮"} for m in d["by_meeting"]
            )
            assert sum(a["n"] for site in d["by_site"] for a in site["aspects"]) == sum(
                n for name, (n, _m) in expected.items() if name in ("口味", "卫生")
            )
